// Runs bench's CUDA kernels on the CPU through check/emulate.h and compares them with plain
// double-precision references: the fused attention kernel (bf16/f16, d 64/128, causal or
// not, s a multiple of 64 or not, several heads), the train-mlp step kernels (cross-entropy,
// ReLU backward with bias-gradient sums, SGD momentum) and the train-gpt kernels (embeddings,
// LayerNorm with finite-difference gradients, GELU, head split, causal softmax and its
// backward, AdamW over several steps). Prints one line per case and exits 1
// if any case is outside its tolerance. Build: c++ -std=c++20 -O2 -pthread -DBENCH_EMULATE
// -I kernels/cuda kernels/cuda/check/emulate_test.cpp (backends/tests/cuda_emulated.rs).
#include <cstdio>
#include <random>

#include "attention.cu"
#include "mlp.cu"
#include "gpt.cu"

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

// ---------------------------------------------------------------------------------------------
// train-gpt kernels (gpt.cu). Inputs are stored in the kernel's dtype first and the double
// references read the stored values back, so a tolerance covers only the kernel's f32
// arithmetic and its one rounding on store: f32 as stated per case, bf16 2^-8, f16 2^-10.

// A device buffer of storage type dt (0 f32, 1 bf16, 2 f16), held on the host.
struct DtBuf {
    int dt;
    std::vector<float> f;
    std::vector<u16> h;
    DtBuf(int dt_, size_t n, float fill = NAN) : dt(dt_), f(dt_ == 0 ? n : 0), h(dt_ == 0 ? 0 : n) {
        for (size_t i = 0; i < n; ++i) set(i, fill);
    }
    size_t size() const { return dt == 0 ? f.size() : h.size(); }
    void* ptr() { return dt == 0 ? (void*)f.data() : (void*)h.data(); }
    const void* cptr() const { return dt == 0 ? (const void*)f.data() : (const void*)h.data(); }
    float get(size_t i) const { return load_as_f32(cptr(), (long)i, dt); }
    void set(size_t i, float v) { store_from_f32(ptr(), (long)i, dt, v); }  // rounds to dt
    std::vector<double> all() const {
        std::vector<double> r(size());
        for (size_t i = 0; i < r.size(); ++i) r[i] = get(i);
        return r;
    }
};

static void fill(DtBuf& b, std::mt19937& rng, float lo, float hi) {
    std::uniform_real_distribution<float> u(lo, hi);
    for (size_t i = 0; i < b.size(); ++i) b.set(i, u(rng));
}
static void fill(std::vector<float>& b, std::mt19937& rng, float lo, float hi) {
    std::uniform_real_distribution<float> u(lo, hi);
    for (auto& x : b) x = u(rng);
}
static std::vector<double> to_f64(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }
static double round_dt(int dt, double v) {  // v stored in dt (through f32) and read back
    DtBuf b(dt, 1);
    b.set(0, (float)v);
    return b.get(0);
}
static double dt_tol(int dt, double f32_tol) { return dt == 0 ? f32_tol : dt == 1 ? 0x1p-8 : 0x1p-10; }
// Warp-per-row launches: 8 rows per 256-thread block.
static emu_dim3 row_grid(int rows) { return emu_dim3{(unsigned)((rows + 7) / 8), 1, 1}; }

static void embed_case(int dt, int batch, int seq, int d, int vocab) {
    std::mt19937 rng(21 + dt);
    const int rows = batch * seq;
    std::vector<int> ids(rows);
    for (int r = 0; r < rows; ++r) ids[r] = (int)(rng() % vocab);
    ids[1] = ids[0];  // repeated ids: the backward's atomics add into the same row
    ids[rows - 1] = ids[0];
    DtBuf wte(dt, (size_t)vocab * d), wpe(dt, (size_t)seq * d), x(dt, (size_t)rows * d), dx(dt, (size_t)rows * d);
    fill(wte, rng, -1, 1), fill(wpe, rng, -1, 1), fill(dx, rng, -1, 1);
    emu_launch(embed_fwd, emu_dim3{2, 1, 1}, 256, (const int*)ids.data(), wte.cptr(), wpe.cptr(), x.ptr(), rows, seq, d, dt);
    std::vector<double> ref(x.size());
    for (int r = 0; r < rows; ++r)
        for (int c = 0; c < d; ++c)
            ref[(size_t)r * d + c] = (double)wte.get((size_t)ids[r] * d + c) + wpe.get((size_t)(r % seq) * d + c);
    char what[128];
    std::snprintf(what, sizeof what, "embed_fwd dt=%d batch=%d seq=%d d=%d", dt, batch, seq, d);
    report(what, rel_err(x.all(), ref), dt_tol(dt, 1e-6));

    // Backward: both gradients are f32 and already hold something (the tied head's gradient).
    std::vector<float> dwte((size_t)vocab * d), dwpe((size_t)seq * d);
    fill(dwte, rng, -1, 1), fill(dwpe, rng, -1, 1);
    std::vector<double> rte = to_f64(dwte), rpe = to_f64(dwpe);
    emu_launch(embed_bwd_wte, emu_dim3{2, 1, 1}, 256, (const int*)ids.data(), dx.cptr(), dwte.data(), rows, d, dt);
    emu_launch(embed_bwd_wpe, emu_dim3{1, 1, 1}, 256, dx.cptr(), dwpe.data(), batch, seq, d, dt);
    for (int r = 0; r < rows; ++r)
        for (int c = 0; c < d; ++c) {
            rte[(size_t)ids[r] * d + c] += dx.get((size_t)r * d + c);
            rpe[(size_t)(r % seq) * d + c] += dx.get((size_t)r * d + c);
        }
    std::snprintf(what, sizeof what, "embed_bwd_wte dt=%d rows=%d d=%d repeated ids", dt, rows, d);
    report(what, rel_err(to_f64(dwte), rte), 1e-6);
    std::snprintf(what, sizeof what, "embed_bwd_wpe dt=%d batch=%d seq=%d d=%d", dt, batch, seq, d);
    report(what, rel_err(to_f64(dwpe), rpe), 1e-6);
}

// LayerNorm in double: y = (x − μ)·rstd·g + b per row.
static void ln_ref(const std::vector<double>& x, const std::vector<double>& g, const std::vector<double>& b, int rows,
                   int d, std::vector<double>& y, std::vector<double>& mean, std::vector<double>& rstd) {
    y.assign(x.size(), 0), mean.assign(rows, 0), rstd.assign(rows, 0);
    for (int r = 0; r < rows; ++r) {
        double mu = 0, var = 0;
        for (int c = 0; c < d; ++c) mu += x[(size_t)r * d + c];
        mu /= d;
        for (int c = 0; c < d; ++c) var += (x[(size_t)r * d + c] - mu) * (x[(size_t)r * d + c] - mu);
        const double rs = 1 / std::sqrt(var / d + 1e-5);
        for (int c = 0; c < d; ++c) y[(size_t)r * d + c] = (x[(size_t)r * d + c] - mu) * rs * g[c] + b[c];
        mean[r] = mu, rstd[r] = rs;
    }
}

static void layernorm_case(int dt, int rows, int d) {
    std::mt19937 rng(31 + dt + d);
    DtBuf x(dt, (size_t)rows * d), g(dt, d), b(dt, d), y(dt, (size_t)rows * d), dy(dt, (size_t)rows * d);
    fill(x, rng, -1.5f, 2.5f);  // rows with a nonzero mean: the variance is a second pass
    fill(g, rng, 0.5f, 1.5f), fill(b, rng, -0.5f, 0.5f), fill(dy, rng, -1, 1);
    std::vector<float> mean(rows, NAN), rstd(rows, NAN);
    emu_launch(layernorm_fwd, row_grid(rows), 256, x.cptr(), g.cptr(), b.cptr(), y.ptr(), mean.data(), rstd.data(),
               rows, d, dt);
    const std::vector<double> xd = x.all(), gd = g.all(), bd = b.all(), dyd = dy.all();
    std::vector<double> yr, mr, rr;
    ln_ref(xd, gd, bd, rows, d, yr, mr, rr);
    char what[128];
    std::snprintf(what, sizeof what, "layernorm_fwd dt=%d rows=%d d=%d y", dt, rows, d);
    report(what, rel_err(y.all(), yr), dt_tol(dt, 2e-6));
    std::snprintf(what, sizeof what, "layernorm_fwd dt=%d rows=%d d=%d mean,rstd", dt, rows, d);
    report(what, std::max(rel_err(to_f64(mean), mr), rel_err(to_f64(rstd), rr)), 2e-6);

    // Backward references by central finite differences of L = Σ dy·y in double (h = 1e-6:
    // truncation ~h², cancellation ~1e-16/h), independent of the closed form the kernel uses.
    const double h = 1e-6;
    std::vector<double> xv = xd, gv = gd, bv = bd;  // perturbed one element at a time
    auto loss = [&] {
        std::vector<double> yy, m_, r_;
        ln_ref(xv, gv, bv, rows, d, yy, m_, r_);
        double l = 0;
        for (size_t i = 0; i < yy.size(); ++i) l += dyd[i] * yy[i];
        return l;
    };
    auto fd = [&](std::vector<double>& v, size_t i) {
        const double v0 = v[i];
        v[i] = v0 + h;
        const double lp = loss();
        v[i] = v0 - h;
        const double lm = loss();
        v[i] = v0;
        return (lp - lm) / (2 * h);
    };
    std::vector<double> dx_fd(xd.size()), dg_fd(d), db_fd(d);
    for (size_t i = 0; i < xd.size(); ++i) dx_fd[i] = fd(xv, i);
    for (int c = 0; c < d; ++c) dg_fd[c] = fd(gv, c), db_fd[c] = fd(bv, c);

    std::vector<float> mf(rows), rf(rows);  // the forward's saved statistics, as f32
    for (int r = 0; r < rows; ++r) mf[r] = (float)mr[r], rf[r] = (float)rr[r];
    for (int acc : {0, 1}) {
        DtBuf dx(dt, (size_t)rows * d);
        std::vector<double> ref = dx_fd;
        if (acc) {
            fill(dx, rng, -1, 1);  // the residual stream's gradient, added to
            for (size_t i = 0; i < ref.size(); ++i) ref[i] += dx.get(i);
        }
        emu_launch(layernorm_bwd_dx, row_grid(rows), 256, dy.cptr(), x.cptr(), (const float*)mf.data(),
                   (const float*)rf.data(), g.cptr(), dx.ptr(), rows, d, acc, dt);
        std::snprintf(what, sizeof what, "layernorm_bwd_dx dt=%d rows=%d d=%d accumulate=%d", dt, rows, d, acc);
        report(what, rel_err(dx.all(), ref), dt_tol(dt, 1e-5));
    }
    std::vector<float> dg(d, 0.f), db(d, 0.f);
    const int rpb = 4;
    emu_launch(layernorm_bwd_params, emu_dim3{(unsigned)((d + 255) / 256), (unsigned)((rows + rpb - 1) / rpb), 1}, 256,
               dy.cptr(), x.cptr(), (const float*)mf.data(), (const float*)rf.data(), dg.data(), db.data(), rows, d,
               rpb, dt);
    std::snprintf(what, sizeof what, "layernorm_bwd_params dt=%d rows=%d d=%d dg", dt, rows, d);
    report(what, rel_err(to_f64(dg), dg_fd), 1e-5);
    std::snprintf(what, sizeof what, "layernorm_bwd_params dt=%d rows=%d d=%d db", dt, rows, d);
    report(what, rel_err(to_f64(db), db_fd), 1e-5);
}

static double gelu_ref(double u) { return 0.5 * u * (1 + std::tanh(0.7978845608028654 * (u + 0.044715 * u * u * u))); }
static double gelu_grad_ref(double u) {
    const double th = std::tanh(0.7978845608028654 * (u + 0.044715 * u * u * u));
    return 0.5 * (1 + th) + 0.5 * u * (1 - th * th) * 0.7978845608028654 * (1 + 3 * 0.044715 * u * u);
}

static void gelu_case(int dt, long n) {
    std::mt19937 rng(41 + dt);
    DtBuf u(dt, n), out(dt, n), dout(dt, n), du(dt, n);
    fill(u, rng, -6, 6), fill(dout, rng, -1, 1);
    const float extremes[] = {-100.f, -30.f, -9.f, 0.f, 1e-4f, 9.f, 30.f, 100.f};  // tanh saturates
    for (int k = 0; k < 8; ++k) u.set(k, extremes[k]);
    emu_launch(gelu_fwd, emu_dim3{2, 1, 1}, 256, u.cptr(), out.ptr(), n, dt);
    std::vector<double> yr(n), gr(n);
    for (long i = 0; i < n; ++i) yr[i] = gelu_ref(u.get(i)), gr[i] = dout.get(i) * gelu_grad_ref(u.get(i));
    char what[128];
    std::snprintf(what, sizeof what, "gelu_fwd dt=%d n=%ld", dt, n);
    report(what, rel_err(out.all(), yr), dt_tol(dt, 1e-6));
    emu_launch(gelu_bwd, emu_dim3{2, 1, 1}, 256, dout.cptr(), u.cptr(), du.ptr(), n, dt);
    std::snprintf(what, sizeof what, "gelu_bwd dt=%d n=%ld", dt, n);
    report(what, rel_err(du.all(), gr), dt_tol(dt, 1e-6));
    emu_launch(gelu_bwd, emu_dim3{2, 1, 1}, 256, dout.cptr(), u.cptr(), dout.ptr(), n, dt);  // du aliases dout
    std::snprintf(what, sizeof what, "gelu_bwd dt=%d n=%ld in place", dt, n);
    report(what, rel_err(dout.all(), gr), dt_tol(dt, 1e-6));
}

static void split_heads_case(int dt, int batch, int seq, int parts, int heads, int hd) {
    std::mt19937 rng(51 + dt + parts);
    const size_t n = (size_t)batch * seq * parts * heads * hd;
    DtBuf src(dt, n), dst(dt, n), back(dt, n);
    fill(src, rng, -1, 1);
    emu_launch(split_heads, emu_dim3{2, 1, 1}, 256, src.cptr(), dst.ptr(), batch, seq, parts, heads, hd, 0, dt);
    double err = 0;  // 1 where an element is not the one the layout maps there, bit for bit
    for (int b = 0; b < batch; ++b)
        for (int t = 0; t < seq; ++t)
            for (int p = 0; p < parts; ++p)
                for (int h = 0; h < heads; ++h)
                    for (int e = 0; e < hd; ++e) {
                        const size_t i = ((((size_t)b * seq + t) * parts + p) * heads + h) * hd + e;
                        const size_t j = ((((size_t)p * batch + b) * heads + h) * seq + t) * hd + e;
                        if (f32_bits(src.get(i)) != f32_bits(dst.get(j))) err = 1;
                    }
    char what[128];
    std::snprintf(what, sizeof what, "split_heads dt=%d batch=%d seq=%d parts=%d heads=%d hd=%d", dt, batch, seq, parts,
                  heads, hd);
    report(what, err, 0.0);
    emu_launch(split_heads, emu_dim3{1, 1, 1}, 256, dst.cptr(), back.ptr(), batch, seq, parts, heads, hd, 1, dt);
    const bool same = dt == 0 ? std::memcmp(src.f.data(), back.f.data(), n * 4) == 0
                              : std::memcmp(src.h.data(), back.h.data(), n * 2) == 0;
    std::snprintf(what, sizeof what, "split_heads dt=%d parts=%d then inverse: identity", dt, parts);
    report(what, same ? 0.0 : 1.0, 0.0);
}

static void causal_softmax_case(int dt, int groups, int seq) {
    std::mt19937 rng(61 + dt + seq);
    const int rows = groups * seq;
    std::vector<float> s((size_t)rows * seq);
    fill(s, rng, -4, 4);
    for (int r = 0; r < rows; ++r)  // above the diagonal: never read
        for (int j = r % seq + 1; j < seq; ++j) s[(size_t)r * seq + j] = NAN;
    const float scale = 0.35f;
    DtBuf p(dt, (size_t)rows * seq);  // NaN-filled: every element must be written
    emu_launch(causal_softmax, row_grid(rows), 256, (const float*)s.data(), p.ptr(), rows, seq, scale, dt);
    std::vector<double> ref((size_t)rows * seq, 0.0);
    double upper = 0, sum_err = 0;
    for (int r = 0; r < rows; ++r) {
        const int i = r % seq;
        double mx = -1e300, den = 0, sum = 0;
        for (int j = 0; j <= i; ++j) mx = std::max(mx, (double)scale * s[(size_t)r * seq + j]);
        for (int j = 0; j <= i; ++j) den += std::exp((double)scale * s[(size_t)r * seq + j] - mx);
        for (int j = 0; j <= i; ++j) ref[(size_t)r * seq + j] = std::exp((double)scale * s[(size_t)r * seq + j] - mx) / den;
        for (int j = 0; j < seq; ++j) {
            const float v = p.get((size_t)r * seq + j);
            if (j > i && f32_bits(v) != 0) upper = 1;  // exactly +0
            sum += v;
        }
        sum_err = std::max(sum_err, std::fabs(sum - 1));
    }
    char what[128];
    std::snprintf(what, sizeof what, "causal_softmax dt=%d groups=%d seq=%d", dt, groups, seq);
    report(what, rel_err(p.all(), ref), dt_tol(dt, 2e-6));
    std::snprintf(what, sizeof what, "causal_softmax dt=%d seq=%d rows sum to 1", dt, seq);
    report(what, sum_err, dt_tol(dt, 2e-6));
    std::snprintf(what, sizeof what, "causal_softmax dt=%d seq=%d upper triangle exactly 0", dt, seq);
    report(what, upper, 0.0);
}

static void softmax_bwd_case(int dt, int groups, int seq) {
    std::mt19937 rng(71 + dt + seq);
    const int rows = groups * seq;
    const float scale = 0.35f;
    DtBuf p(dt, (size_t)rows * seq);
    std::vector<float> dp((size_t)rows * seq);
    fill(dp, rng, -1, 1);
    for (int r = 0; r < rows; ++r) {  // a causal softmax row (random logits), zeros above the diagonal
        const int i = r % seq;
        std::vector<double> e(i + 1);
        double den = 0;
        for (int j = 0; j <= i; ++j) den += (e[j] = std::exp(std::uniform_real_distribution<double>(-2, 2)(rng)));
        for (int j = 0; j < seq; ++j) p.set((size_t)r * seq + j, j <= i ? (float)(e[j] / den) : 0.f);
        for (int j = i + 1; j < seq; ++j) dp[(size_t)r * seq + j] = NAN;  // never read
    }
    const std::vector<double> pd = p.all();
    // dS = scale·J·dP per row, J[j][k] = p_j(δ_jk − p_k) for j, k ≤ i: the softmax Jacobian.
    std::vector<double> ref((size_t)rows * seq, 0.0);
    for (int r = 0; r < rows; ++r) {
        const int i = r % seq;
        const size_t o = (size_t)r * seq;
        for (int j = 0; j <= i; ++j) {
            double acc = 0;
            for (int k = 0; k <= i; ++k) acc += pd[o + j] * ((j == k) - pd[o + k]) * dp[o + k];
            ref[o + j] = scale * acc;
        }
    }
    emu_launch(softmax_bwd, row_grid(rows), 256, p.ptr(), (const float*)dp.data(), rows, seq, scale, dt);
    double upper = 0;
    for (int r = 0; r < rows; ++r)
        for (int j = r % seq + 1; j < seq; ++j)
            if (f32_bits(p.get((size_t)r * seq + j)) != 0) upper = 1;
    char what[128];
    std::snprintf(what, sizeof what, "softmax_bwd dt=%d groups=%d seq=%d vs Jacobian", dt, groups, seq);
    report(what, rel_err(p.all(), ref), dt_tol(dt, 2e-6));
    std::snprintf(what, sizeof what, "softmax_bwd dt=%d seq=%d upper triangle exactly 0", dt, seq);
    report(what, upper, 0.0);
}

// Several AdamW steps against a double loop. The reference rounds the parameters to the storage
// type after each step, as the buffer does; the moments stay f32 in the kernel, double here.
static void adamw_case(int dt, long n, long pad, int steps) {
    std::mt19937 rng(81 + dt);
    const long total = n + pad;  // the last `pad` elements are padding: all zero throughout
    DtBuf p(dt, total, 0.f);
    std::vector<float> m(total, 0.f), v(total, 0.f), g(total, 0.f);
    std::uniform_real_distribution<float> u(-1, 1);
    for (long i = 0; i < n; ++i) p.set(i, u(rng));
    std::vector<double> pr = p.all(), mr(total, 0.0), vr(total, 0.0);
    const double lr = 1e-2, b1 = 0.9, b2 = 0.95, eps = 1e-8, wd = 0.1;
    for (int t = 1; t <= steps; ++t) {
        for (long i = 0; i < n; ++i) g[i] = u(rng) * (i % 3 == 0 ? 1e-3f : 1.f);  // mixed scales
        const double c1 = 1 - std::pow(b1, t), c2 = 1 - std::pow(b2, t);
        emu_launch(adamw, emu_dim3{2, 1, 1}, 256, p.ptr(), (const float*)g.data(), m.data(), v.data(), total,
                   (float)lr, (float)b1, (float)b2, (float)eps, (float)wd, (float)c1, (float)c2, dt);
        for (long i = 0; i < total; ++i) {
            mr[i] = b1 * mr[i] + (1 - b1) * g[i];
            vr[i] = b2 * vr[i] + (1 - b2) * (double)g[i] * g[i];
            const double upd = (mr[i] / c1) / (std::sqrt(vr[i] / c2) + eps);
            pr[i] -= lr * (upd + wd * pr[i]);
            if (dt) pr[i] = round_dt(dt, pr[i]);
        }
    }
    double pad_nonzero = 0;
    for (long i = n; i < total; ++i)
        if (f32_bits(p.get(i)) != 0 || f32_bits(m[i]) != 0 || f32_bits(v[i]) != 0) pad_nonzero = 1;
    char what[128];
    std::snprintf(what, sizeof what, "adamw dt=%d n=%ld steps=%d params", dt, n, steps);
    report(what, rel_err(p.all(), pr), dt_tol(dt, 1e-5));
    std::snprintf(what, sizeof what, "adamw dt=%d n=%ld steps=%d moments", dt, n, steps);
    report(what, std::max(rel_err(to_f64(m), mr), rel_err(to_f64(v), vr)), 1e-5);
    std::snprintf(what, sizeof what, "adamw dt=%d padding stays exactly 0", dt);
    report(what, pad_nonzero, 0.0);
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
    for (int dt : {0, 1, 2}) {
        embed_case(dt, 2, 7, 40, 11);
        layernorm_case(dt, 13, 72);
        gelu_case(dt, 1000);
        causal_softmax_case(dt, 2, 13);
        softmax_bwd_case(dt, 2, 13);
        adamw_case(dt, 1000, 37, 5);
    }
    layernorm_case(0, 9, 300);  // two column blocks in layernorm_bwd_params
    for (int dt : {0, 1}) {
        split_heads_case(dt, 2, 7, 3, 2, 5);
        causal_softmax_case(dt, 1, 40);  // rows longer than a warp
        softmax_bwd_case(dt, 1, 40);
    }
    split_heads_case(2, 2, 7, 1, 3, 8);
    std::printf("%d failures\n", failures);
    return failures ? 1 : 0;
}
