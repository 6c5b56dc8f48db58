// Runs the KV-cache and decode-attention kernels of decode_attention.cu on the CPU through
// check/emulate.h and compares them with plain references: kv_fill (pool rows wrapping,
// positions past the context untouched), kv_append, gather_rows (bit-exact copies), and the
// split decode attention (decode_attn_partial + decode_attn_combine) against a double-precision
// softmax over the cache, for f32, bf16 and f16 storage, head dims 64, 40 (a ragged lane) and
// 256, one split or many, splits left empty, and a context of one position. Prints one line per
// case and exits 1 if any case is outside its tolerance. Build: c++ -std=c++20 -O2 -pthread
// -DBENCH_EMULATE -I kernels/cuda kernels/cuda/check/decode_test.cpp
// (backends/tests/cuda_emulated.rs).
#include <cstdio>
#include <random>

#include "decode_attention.cu"

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

// A buffer of storage type dt (0 f32, 1 bf16, 2 f16), filled with NaN bytes.
struct Buf {
    int dt;
    std::vector<unsigned char> bytes;
    Buf(int dt, size_t n) : dt(dt), bytes(n * (dt == 0 ? 4 : 2), 0xff) {}
    size_t size() const { return bytes.size() / (dt == 0 ? 4 : 2); }
    void* ptr() { return bytes.data(); }
    const void* cptr() const { return bytes.data(); }
    float get(size_t i) const { return load_as_f32(cptr(), (long)i, dt); }
    void set(size_t i, float v) { store_from_f32(ptr(), (long)i, dt, v); }
    void fill(std::mt19937& rng, float lo, float hi) {
        std::uniform_real_distribution<float> u(lo, hi);
        for (size_t i = 0; i < size(); ++i) set(i, u(rng));
    }
    // Bits of element i (for exact comparisons).
    unsigned bits(size_t i) const {
        unsigned v = 0;
        std::memcpy(&v, bytes.data() + i * (dt == 0 ? 4 : 2), dt == 0 ? 4 : 2);
        return v;
    }
};

static void exact(const char* what, bool same) {
    std::printf("%s %s\n", same ? "ok  " : "FAIL", what);
    if (!same) ++failures;
}

static void fill_case(int dt, int groups, int heads, int hd, int pool, int context, int cap) {
    std::mt19937 rng(5 + dt);
    Buf src(dt, (size_t)groups * pool * heads * hd), cache(dt, (size_t)groups * heads * cap * hd);
    src.fill(rng, -1, 1);
    emu_launch(kv_fill, emu_dim3{3, 1, 1}, 256, src.cptr(), cache.ptr(), groups, heads, hd, pool,
               context, cap, dt);
    bool same = true;
    for (int g = 0; g < groups; ++g)
        for (int h = 0; h < heads; ++h)
            for (int p = 0; p < cap; ++p)
                for (int e = 0; e < hd; ++e) {
                    const size_t at = (((size_t)g * heads + h) * cap + p) * hd + e;
                    const unsigned want =
                        p < context ? src.bits(((size_t)g * pool + p % pool) * heads * hd + h * hd + e)
                                    : (dt == 0 ? 0xffffffffu : 0xffffu);
                    same = same && cache.bits(at) == want;
                }
    char what[160];
    std::snprintf(what, sizeof what, "kv_fill dt=%d heads=%d hd=%d pool=%d context=%d cap=%d", dt,
                  heads, hd, pool, context, cap);
    exact(what, same);
}

static void append_case(int dt, int batch, int heads, int hd, int cap, int pos) {
    std::mt19937 rng(9 + dt);
    const int d = heads * hd;
    Buf qkv(dt, (size_t)batch * 3 * d), k(dt, (size_t)batch * heads * cap * hd), v(dt, k.size());
    qkv.fill(rng, -1, 1);
    emu_launch(kv_append, emu_dim3{2, 1, 1}, 256, qkv.cptr(), k.ptr(), v.ptr(), batch, heads, hd,
               cap, pos, dt);
    bool same = true;
    const unsigned nan = dt == 0 ? 0xffffffffu : 0xffffu;
    for (int b = 0; b < batch; ++b)
        for (int h = 0; h < heads; ++h)
            for (int p = 0; p < cap; ++p)
                for (int e = 0; e < hd; ++e) {
                    const size_t at = (((size_t)b * heads + h) * cap + p) * hd + e;
                    const size_t c = (size_t)b * 3 * d + h * hd + e;
                    same = same && k.bits(at) == (p == pos ? qkv.bits(c + d) : nan);
                    same = same && v.bits(at) == (p == pos ? qkv.bits(c + 2 * d) : nan);
                }
    char what[128];
    std::snprintf(what, sizeof what, "kv_append dt=%d batch=%d heads=%d hd=%d pos=%d", dt, batch,
                  heads, hd, pos);
    exact(what, same);
}

static void gather_case(int dt, int rows, int d) {
    std::mt19937 rng(13 + dt);
    Buf src(dt, (size_t)20 * d), dst(dt, (size_t)rows * d);
    src.fill(rng, -1, 1);
    std::vector<int> idx(rows);
    for (int r = 0; r < rows; ++r) idx[r] = (int)(rng() % 20);
    emu_launch(gather_rows, emu_dim3{2, 1, 1}, 256, src.cptr(), (const int*)idx.data(), dst.ptr(),
               rows, d, dt);
    bool same = true;
    for (int r = 0; r < rows; ++r)
        for (int c = 0; c < d; ++c) same = same && dst.bits((size_t)r * d + c) == src.bits((size_t)idx[r] * d + c);
    char what[96];
    std::snprintf(what, sizeof what, "gather_rows dt=%d rows=%d d=%d", dt, rows, d);
    exact(what, same);
}

// The split decode attention against softmax(q·Kᵀ/√hd)·V in double over positions 0..len−1.
static void attention_case(int dt, int batch, int heads, int hd, int cap, int len, int splits) {
    std::mt19937 rng(17 + dt + hd + len + splits);
    const int d = heads * hd, chunk = (cap + splits - 1) / splits;
    Buf qkv(dt, (size_t)batch * 3 * d), k(dt, (size_t)batch * heads * cap * hd), v(dt, k.size());
    qkv.fill(rng, -1, 1), k.fill(rng, -1, 1), v.fill(rng, -1, 1);
    // Positions at and past len hold NaN: a read of one poisons the result.
    for (size_t bh = 0; bh < (size_t)batch * heads; ++bh)
        for (size_t i = (bh * cap + len) * hd; i < (bh + 1) * cap * hd; ++i) k.set(i, NAN), v.set(i, NAN);
    std::vector<float> part_o((size_t)batch * heads * splits * hd, NAN), part_lse((size_t)batch * heads * splits, NAN);
    Buf out(dt, (size_t)batch * d);
    const float scale_log2 = (float)(1.4426950408889634 / std::sqrt((double)hd));
    emu_launch(decode_attn_partial, emu_dim3{(unsigned)splits, (unsigned)(batch * heads), 1}, DA_THREADS,
               qkv.cptr(), k.cptr(), v.cptr(), part_o.data(), part_lse.data(), heads, hd, cap, len, chunk,
               scale_log2, dt);
    const int rows = batch * heads;
    emu_launch(decode_attn_combine, emu_dim3{(unsigned)((rows + 7) / 8), 1, 1}, 256,
               (const float*)part_o.data(), (const float*)part_lse.data(), out.ptr(), rows, heads, hd,
               splits, dt);
    std::vector<double> got(out.size()), ref(out.size());
    for (int b = 0; b < batch; ++b)
        for (int h = 0; h < heads; ++h) {
            const size_t row0 = ((size_t)b * heads + h) * cap * hd;
            std::vector<double> p(len);
            double mx = -1e300, den = 0;
            for (int j = 0; j < len; ++j) {
                double dot = 0;
                for (int e = 0; e < hd; ++e)
                    dot += (double)qkv.get((size_t)b * 3 * d + h * hd + e) * k.get(row0 + (size_t)j * hd + e);
                p[j] = dot / std::sqrt((double)hd);
                mx = std::max(mx, p[j]);
            }
            for (int j = 0; j < len; ++j) den += (p[j] = std::exp(p[j] - mx));
            for (int e = 0; e < hd; ++e) {
                double acc = 0;
                for (int j = 0; j < len; ++j) acc += p[j] * v.get(row0 + (size_t)j * hd + e);
                const size_t at = (size_t)b * d + h * hd + e;
                ref[at] = acc / den;
                got[at] = out.get(at);
            }
        }
    char what[160];
    std::snprintf(what, sizeof what, "decode_attention dt=%d batch=%d heads=%d hd=%d len=%d splits=%d",
                  dt, batch, heads, hd, len, splits);
    // One rounding of the output to dt, ex2.approx emulated exactly: f32 is near exact.
    report(what, rel_err(got, ref), dt == 0 ? 1e-5 : dt == 1 ? 0x1p-8 : 0x1p-10);
}

int main() {
    for (int dt : {0, 1, 2}) {
        fill_case(dt, 4, 2, 8, 5, 13, 16);  // pool rows wrap; positions 13..15 untouched
        fill_case(dt, 2, 3, 40, 251, 20, 24);
        append_case(dt, 3, 2, 40, 9, 7);
        gather_case(dt, 7, 72);
        attention_case(dt, 2, 3, 64, 300, 300, 1);
        attention_case(dt, 2, 3, 64, 300, 173, 7);  // the last splits see no position
        attention_case(dt, 1, 2, 40, 64, 37, 4);    // hd not a multiple of 32
        attention_case(dt, 1, 2, 128, 40, 1, 5);    // one position: one split sees it
    }
    attention_case(1, 1, 1, 256, 96, 90, 3);
    attention_case(0, 1, 1, 256, 200, 200, 2);
    std::printf("%d failures\n", failures);
    return failures ? 1 : 0;
}
