// Runs bench's CUDA kernels on the CPU through check/emulate.h and compares them with plain
// double-precision references: the fused attention kernel (bf16/f16, d 64/128, causal or
// not, s a multiple of 64 or not, several heads) and the training-step kernels (cross-entropy,
// ReLU backward with bias-gradient sums, SGD momentum). Prints one line per case and exits 1
// if any case is outside its tolerance. Build: c++ -std=c++20 -O2 -pthread -DBENCH_EMULATE
// -I kernels/cuda kernels/cuda/check/emulate_test.cpp (backends/tests/cuda_emulated.rs).
#include <cstdio>
#include <random>

#include "attention.cu"
#include "mlp.cu"

static int failures = 0;

static void report(const char* what, double err, double tol) {
    const bool ok = std::isfinite(err) && err <= tol;
    std::printf("%s %s max_rel_err=%.3e tol=%.1e\n", ok ? "ok  " : "FAIL", what, err, tol);
    if (!ok) ++failures;
}

// bench's error metric: max |x − ref| / (|ref| + rms(ref)).
static double rel_err(const std::vector<double>& x, const std::vector<double>& ref) {
    double rms = 0;
    for (double r : ref) rms += r * r;
    rms = std::sqrt(rms / ref.size());
    double m = 0;
    for (size_t i = 0; i < x.size(); ++i) {
        double e = std::fabs(x[i] - ref[i]) / (std::fabs(ref[i]) + rms);
        if (!(e <= m)) m = e;  // NaN propagates
    }
    return m;
}

static u16 to_dt(float v, bool bf16) { return bf16 ? f32_to_bf16(v) : f32_to_f16(v); }
static float from_dt(u16 h, bool bf16) { return bf16 ? bf16_to_f32(h) : f16_to_f32(h); }

static void attention_case(bool bf16, int d, bool causal, int s, int heads) {
    std::mt19937 rng(1234 + d + s + causal);
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    const size_t n = (size_t)heads * s * d;
    std::vector<u16> q(n), k(n), v(n), o(n, 0xffff);
    for (size_t i = 0; i < n; ++i) q[i] = to_dt(u(rng), bf16), k[i] = to_dt(u(rng), bf16), v[i] = to_dt(u(rng), bf16);
    const float scale_log2 = (float)(1.4426950408889634 / std::sqrt((double)d));
    auto kernel = bf16 ? (d == 64 ? flash_fwd_bf16_d64 : flash_fwd_bf16_d128)
                       : (d == 64 ? flash_fwd_f16_d64 : flash_fwd_f16_d128);
    emu_launch(kernel, emu_dim3{(unsigned)((s + 63) / 64), (unsigned)heads, 1}, 128,
               (const u16*)q.data(), (const u16*)k.data(), (const u16*)v.data(), o.data(), s,
               (int)causal, scale_log2);
    std::vector<double> got(n), ref(n);
    for (int hd = 0; hd < heads; ++hd) {
        const size_t base = (size_t)hd * s * d;
        for (int i = 0; i < s; ++i) {
            std::vector<double> p(s, 0.0);
            double mx = -1e300, den = 0;
            const int last = causal ? i : s - 1;
            for (int j = 0; j <= last; ++j) {
                double dot = 0;
                for (int c = 0; c < d; ++c)
                    dot += (double)from_dt(q[base + i * d + c], bf16) * from_dt(k[base + j * d + c], bf16);
                p[j] = dot / std::sqrt((double)d);
                mx = std::max(mx, p[j]);
            }
            for (int j = 0; j <= last; ++j) den += (p[j] = std::exp(p[j] - mx));
            for (int c = 0; c < d; ++c) {
                double acc = 0;
                for (int j = 0; j <= last; ++j) acc += p[j] * from_dt(v[base + j * d + c], bf16);
                ref[base + i * d + c] = acc / den;
                got[base + i * d + c] = from_dt(o[base + i * d + c], bf16);
            }
        }
    }
    char what[128];
    std::snprintf(what, sizeof what, "attention %s d=%d causal=%d s=%d heads=%d", bf16 ? "bf16" : "f16", d,
                  (int)causal, s, heads);
    report(what, rel_err(got, ref), bf16 ? 3e-2 : 5e-3);  // kernels/src/attention.rs tolerances
}

static void xent_case(int dt, int rows, int classes) {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(-3.f, 3.f);
    const size_t n = (size_t)rows * classes;
    std::vector<float> lf(n);
    std::vector<u16> lh(n), dh(n);
    std::vector<float> df(n);
    std::vector<int> y(rows);
    for (auto& x : lf) x = u(rng);
    for (int r = 0; r < rows; ++r) y[r] = (r * 7) % classes;
    for (size_t i = 0; i < n; ++i) lh[i] = dt == 1 ? f32_to_bf16(lf[i]) : f32_to_f16(lf[i]), lf[i] = dt ? load_as_f32(lh.data(), i, dt) : lf[i];
    float loss = 0;
    const void* logits = dt ? (const void*)lh.data() : (const void*)lf.data();
    void* dlog = dt ? (void*)dh.data() : (void*)df.data();
    emu_launch(xent_fwd_bwd, emu_dim3{(unsigned)((rows + 7) / 8), 1, 1}, 256, logits, (const int*)y.data(), dlog,
               &loss, rows, classes, dt);
    double ref_loss = 0;
    std::vector<double> gref(n), got(n);
    for (int r = 0; r < rows; ++r) {
        double mx = -1e300, sum = 0;
        for (int j = 0; j < classes; ++j) mx = std::max(mx, (double)lf[r * classes + j]);
        for (int j = 0; j < classes; ++j) sum += std::exp(lf[r * classes + j] - mx);
        const double lse = mx + std::log(sum);
        ref_loss += (lse - lf[r * classes + y[r]]) / rows;
        for (int j = 0; j < classes; ++j) {
            gref[r * classes + j] = (std::exp(lf[r * classes + j] - lse) - (j == y[r])) / rows;
            got[r * classes + j] = load_as_f32(dlog, r * classes + j, dt);
        }
    }
    char what[96];
    std::snprintf(what, sizeof what, "xent dt=%d rows=%d classes=%d loss", dt, rows, classes);
    report(what, std::fabs(loss - ref_loss) / std::fabs(ref_loss), 1e-5);
    std::snprintf(what, sizeof what, "xent dt=%d rows=%d classes=%d dlogits", dt, rows, classes);
    report(what, rel_err(got, gref), dt == 0 ? 1e-5 : dt == 1 ? 1e-2 : 2e-3);
}

static void colsum_case(int dt, int rows, int cols, bool relu) {
    std::mt19937 rng(11);
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    const size_t n = (size_t)rows * cols;
    std::vector<float> gf(n), af(n), gin(n);
    std::vector<u16> gh(n), ah(n);
    for (size_t i = 0; i < n; ++i) {
        gf[i] = u(rng);
        af[i] = std::max(0.f, u(rng));
        if (dt) gh[i] = dt == 1 ? f32_to_bf16(gf[i]) : f32_to_f16(gf[i]), ah[i] = dt == 1 ? f32_to_bf16(af[i]) : f32_to_f16(af[i]);
    }
    void* grad = dt ? (void*)gh.data() : (void*)gf.data();
    const void* act = dt ? (const void*)ah.data() : (const void*)af.data();
    for (size_t i = 0; i < n; ++i) gin[i] = load_as_f32(grad, i, dt);
    std::vector<float> db(cols, 0.f);
    const int rpb = 32;
    emu_launch(relu_bwd_colsum, emu_dim3{(unsigned)((cols + 255) / 256), (unsigned)((rows + rpb - 1) / rpb), 1}, 256,
               grad, relu ? act : (const void*)nullptr, db.data(), rows, cols, rpb, dt);
    std::vector<double> ref(cols, 0.0), got(cols), gref(n), ggot(n);
    for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c) {
            const size_t i = (size_t)r * cols + c;
            double g = gin[i];
            if (relu && load_as_f32(act, i, dt) <= 0) g = 0;
            gref[i] = g;
            ggot[i] = load_as_f32(grad, i, dt);
            ref[c] += g;
        }
    for (int c = 0; c < cols; ++c) got[c] = db[c];
    char what[96];
    std::snprintf(what, sizeof what, "relu_bwd_colsum dt=%d rows=%d cols=%d relu=%d sums", dt, rows, cols, relu);
    report(what, rel_err(got, ref), 1e-5);
    std::snprintf(what, sizeof what, "relu_bwd_colsum dt=%d rows=%d cols=%d relu=%d grad", dt, rows, cols, relu);
    report(what, rel_err(ggot, gref), 0.0);
}

static void sgd_case(int dt, int gdt, long n) {
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    std::vector<float> p(n), v(n), g(n);
    for (long i = 0; i < n; ++i) p[i] = u(rng), v[i] = u(rng), g[i] = u(rng);
    std::vector<u16> ph(n), vh(n), gh(n);
    auto st = [&](std::vector<float>& f, std::vector<u16>& h, int d) -> void* {
        if (d == 0) return f.data();
        for (long i = 0; i < n; ++i) store_from_f32(h.data(), i, d, f[i]), f[i] = load_as_f32(h.data(), i, d);
        return h.data();
    };
    void* pp = st(p, ph, dt);
    void* vp = st(v, vh, dt);
    void* gp = st(g, gh, gdt);
    const std::vector<float> p0 = p, v0 = v;  // f32 buffers are updated in place
    emu_launch(sgd_momentum, emu_dim3{3, 1, 1}, 256, pp, vp, (const void*)gp, n, 0.01f, 0.9f, dt, gdt);
    std::vector<double> pr(n), pg(n), vr(n), vg(n);
    for (long i = 0; i < n; ++i) {
        vr[i] = 0.9 * v0[i] + g[i];
        pr[i] = p0[i] - 0.01 * vr[i];
        vg[i] = load_as_f32(vp, i, dt);
        pg[i] = load_as_f32(pp, i, dt);
    }
    char what[96];
    const double tol = dt == 0 ? 1e-6 : dt == 1 ? 8e-3 : 1e-3;
    std::snprintf(what, sizeof what, "sgd_momentum dt=%d gdt=%d n=%ld velocity", dt, gdt, n);
    report(what, rel_err(vg, vr), tol);
    std::snprintf(what, sizeof what, "sgd_momentum dt=%d gdt=%d n=%ld params", dt, gdt, n);
    report(what, rel_err(pg, pr), tol);
}

int main() {
    for (bool bf16 : {true, false})
        for (int d : {64, 128})
            for (bool causal : {false, true})
                for (int s : {64, 100, 192}) attention_case(bf16, d, causal, s, 2);
    for (int dt : {0, 1, 2}) {
        xent_case(dt, 13, 37);
        colsum_case(dt, 70, 300, true);
        colsum_case(dt, 70, 300, false);
        sgd_case(dt, dt, 2000);
        sgd_case(dt, 0, 1000);
    }
    std::printf("%d failures\n", failures);
    return failures ? 1 : 0;
}
