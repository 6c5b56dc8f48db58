// The non-GEMM parts of one train-gpt step (kernels/src/gpt.rs, f64 reference in gpt_ref.rs):
// token + position embeddings and their gradients, LayerNorm forward and backward, the tanh
// GELU and its derivative, the head split/merge around the attention GEMMs, the causal
// softmax of the score matrices and its backward, and AdamW. The GEMMs (projections, Q·Kᵀ,
// P·V, the tied head, all backward GEMMs) run in cuBLASLt; cross-entropy is mlp.cu's
// xent_fwd_bwd (the train-gpt module is mlp.cu followed by this file, common.cuh once).
// Storage type codes `dt`: 0 f32, 1 bf16, 2 f16; arithmetic is f32, one rounding per store.
// Matrices are row-major. Every kernel runs with 256 threads per block:
//   grid-stride kernels: any grid (the host clamps it); element i covers i, i + grid·256, ...
//   warp-per-row kernels: 8 rows per block, grid = ceil(rows / 8); lane l covers columns
//     l, l + 32, ...; a whole warp returns together past the last row (full-mask shuffles).
#include "common.cuh"

// Sum and max over the 32 lanes of a warp; every lane gets the result. The butterfly's
// shuffles also order each lane's reads of a row before any lane's writes that follow.
__device__ __forceinline__ float gpt_warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += shfl_xor(v, o);
    return v;
}
__device__ __forceinline__ float gpt_warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmax2(v, shfl_xor(v, o));
    return v;
}
// The warp's row in a warp-per-row launch and the lane within the warp.
__device__ __forceinline__ int gpt_warp_row() { return (int)((blockIdx.x * blockDim.x + threadIdx.x) >> 5); }
__device__ __forceinline__ int gpt_lane() { return (int)(threadIdx.x & 31); }

// The grid-stride loop over element indices 0..n−1 (long, so n may exceed 2^31).
#define GPT_GRID_STRIDE(i, n)                                            \
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (long)gridDim.x * blockDim.x)

// ---------------------------------------------------------------------------------------------
// Embeddings. ids: [rows] token ids (rows = batch·seq, row r at position r % seq);
// wte: [vocab, d]; wpe: [seq, d]; x: [rows, d]; all of storage type dt.

// x[r, c] = wte[ids[r], c] + wpe[r % seq, c], summed in f32 and rounded once. Grid-stride over
// rows·d.
extern "C" __global__ void __launch_bounds__(256)
    embed_fwd(const int* ids, const void* wte, const void* wpe, void* x, int rows, int seq, int d,
              int dt) {
    const long n = (long)rows * d;
    GPT_GRID_STRIDE(i, n) {
        const long r = i / d, c = i % d;
        const float v = load_as_f32(wte, (long)ids[r] * d + c, dt) +
                        load_as_f32(wpe, (r % seq) * d + c, dt);
        store_from_f32(x, i, dt, v);
    }
}

// dwte[ids[r], c] += dx[r, c] (atomically: ids repeat). dwte is f32 [vocab, d] and already holds
// the tied output head's gradient. Grid-stride over rows·d.
extern "C" __global__ void __launch_bounds__(256)
    embed_bwd_wte(const int* ids, const void* dx, float* dwte, int rows, int d, int dt) {
    const long n = (long)rows * d;
    GPT_GRID_STRIDE(i, n) {
        const long r = i / d, c = i % d;
        red_add(dwte + (long)ids[r] * d + c, load_as_f32(dx, i, dt));
    }
}

// dwpe[t, c] += Σ_b dx[b·seq + t, c]; dwpe is f32 [seq, d]; one thread per element of dwpe (a
// plain read-modify-write, no atomics). Grid-stride over seq·d.
extern "C" __global__ void __launch_bounds__(256)
    embed_bwd_wpe(const void* dx, float* dwpe, int batch, int seq, int d, int dt) {
    const long n = (long)seq * d;
    const long batch_stride = (long)seq * d;
    GPT_GRID_STRIDE(i, n) {
        float s = 0.f;
        for (int b = 0; b < batch; ++b) s += load_as_f32(dx, b * batch_stride + i, dt);
        dwpe[i] += s;
    }
}

// ---------------------------------------------------------------------------------------------
// LayerNorm over the last dimension d of x [rows, d], eps 1e-5. g, b: [d] (storage type dt);
// mean, rstd: f32 [rows], saved by the forward for the backward.

// Warp per row: μ = mean(x), var = mean((x − μ)²) (two passes over the row, f32),
// rstd = 1/sqrt(var + 1e-5); y = (x − μ)·rstd·g + b. Writes mean[r] and rstd[r].
extern "C" __global__ void __launch_bounds__(256)
    layernorm_fwd(const void* x, const void* g, const void* b, void* y, float* mean, float* rstd,
                  int rows, int d, int dt) {
    const int row = gpt_warp_row(), lane = gpt_lane();
    if (row >= rows) return;
    const long base = (long)row * d;
    float s = 0.f;
    for (int c = lane; c < d; c += 32) s += load_as_f32(x, base + c, dt);
    const float mu = gpt_warp_sum(s) / (float)d;
    float q = 0.f;
    for (int c = lane; c < d; c += 32) {
        const float e = load_as_f32(x, base + c, dt) - mu;
        q += e * e;
    }
    const float rs = rsqrt_approx(gpt_warp_sum(q) / (float)d + 1e-5f);
    for (int c = lane; c < d; c += 32) {
        const float xh = (load_as_f32(x, base + c, dt) - mu) * rs;
        store_from_f32(y, base + c, dt, xh * load_as_f32(g, c, dt) + load_as_f32(b, c, dt));
    }
    if (lane == 0) {
        mean[row] = mu;
        rstd[row] = rs;
    }
}

// Warp per row, the input gradient: x̂ = (x − μ)·rstd, h = dy·g,
// dx = rstd·(h − mean(h) − x̂·mean(h·x̂)). accumulate != 0: dx ← dx + that (the residual
// stream's gradient already in dx); otherwise dx ← that. dy and dx never alias.
extern "C" __global__ void __launch_bounds__(256)
    layernorm_bwd_dx(const void* dy, const void* x, const float* mean, const float* rstd,
                     const void* g, void* dx, int rows, int d, int accumulate, int dt) {
    const int row = gpt_warp_row(), lane = gpt_lane();
    if (row >= rows) return;
    const long base = (long)row * d;
    const float mu = mean[row], rs = rstd[row];
    float sh = 0.f, shx = 0.f;
    for (int c = lane; c < d; c += 32) {
        const float h = load_as_f32(dy, base + c, dt) * load_as_f32(g, c, dt);
        sh += h;
        shx += h * (load_as_f32(x, base + c, dt) - mu) * rs;
    }
    const float mh = gpt_warp_sum(sh) / (float)d, mhx = gpt_warp_sum(shx) / (float)d;
    for (int c = lane; c < d; c += 32) {
        const float h = load_as_f32(dy, base + c, dt) * load_as_f32(g, c, dt);
        const float xh = (load_as_f32(x, base + c, dt) - mu) * rs;
        float v = rs * (h - mh - xh * mhx);
        if (accumulate != 0) v += load_as_f32(dx, base + c, dt);
        store_from_f32(dx, base + c, dt, v);
    }
}

// The parameter gradients: dg[c] += Σ_r dy[r, c]·x̂[r, c], db[c] += Σ_r dy[r, c] (f32 [d], zeroed
// by the host). Launch: grid (ceil(d/256), ceil(rows/rows_per_block)), block 256; the thread
// owns column c and sums its block's rows, then adds atomically.
extern "C" __global__ void __launch_bounds__(256)
    layernorm_bwd_params(const void* dy, const void* x, const float* mean, const float* rstd,
                         float* dg, float* db, int rows, int d, int rows_per_block, int dt) {
    const int col = blockIdx.x * blockDim.x + threadIdx.x;
    if (col >= d) return;
    const int r0 = blockIdx.y * rows_per_block;
    const int r1 = r0 + rows_per_block < rows ? r0 + rows_per_block : rows;
    float sg = 0.f, sb = 0.f;
    for (int r = r0; r < r1; ++r) {
        const long i = (long)r * d + col;
        const float gy = load_as_f32(dy, i, dt);
        sg += gy * (load_as_f32(x, i, dt) - mean[r]) * rstd[r];
        sb += gy;
    }
    red_add(dg + col, sg);
    red_add(db + col, sb);
}

// ---------------------------------------------------------------------------------------------
// GELU, tanh form: gelu(u) = 0.5·u·(1 + tanh(√(2/π)·(u + 0.044715·u³))).

#define GPT_GELU_C 0.7978845608028654f  // √(2/π)
#define GPT_GELU_A 0.044715f

// s = 1 − tanh|z| = 2/(e^{2|z|} + 1) ∈ [0, 1], through ex2 (no libm): 0 at large |z|, where
// e^{2|z|} → inf. From s, without cancellation: tanh z = ±(1 − s), 1 + tanh z = 2 − s (z ≥ 0)
// or s (z < 0), and 1 − tanh² z = s·(2 − s).
__device__ __forceinline__ float gpt_one_minus_tanh_abs(float z) {
    return 2.f / (ex2(2.f * 1.4426950408889634f * (z < 0.f ? -z : z)) + 1.f);
}

// out[i] = gelu(u[i]). Grid-stride over n.
extern "C" __global__ void __launch_bounds__(256)
    gelu_fwd(const void* u, void* out, long n, int dt) {
    GPT_GRID_STRIDE(i, n) {
        const float x = load_as_f32(u, i, dt);
        const float z = GPT_GELU_C * (x + GPT_GELU_A * x * x * x);
        const float s = gpt_one_minus_tanh_abs(z);
        store_from_f32(out, i, dt, 0.5f * x * (z < 0.f ? s : 2.f - s));
    }
}

// du[i] = dout[i]·gelu'(u[i]), gelu'(u) = 0.5(1 + th) + 0.5·u·(1 − th²)·√(2/π)(1 + 3·0.044715·u²)
// with th = tanh(√(2/π)(u + 0.044715·u³)). du may alias dout: each thread reads element i of
// both before writing element i. Grid-stride over n.
extern "C" __global__ void __launch_bounds__(256)
    gelu_bwd(const void* dout, const void* u, void* du, long n, int dt) {
    GPT_GRID_STRIDE(i, n) {
        const float go = load_as_f32(dout, i, dt);
        const float x = load_as_f32(u, i, dt);
        const float z = GPT_GELU_C * (x + GPT_GELU_A * x * x * x);
        const float s = gpt_one_minus_tanh_abs(z);
        const float dg = 0.5f * (z < 0.f ? s : 2.f - s) +
                         0.5f * x * (s * (2.f - s)) * GPT_GELU_C * (1.f + 3.f * GPT_GELU_A * x * x);
        store_from_f32(du, i, dt, go * dg);
    }
}

// ---------------------------------------------------------------------------------------------
// Head split and merge around the attention GEMMs (a pure copy, bit-exact).
// inverse == 0: src [batch, seq, parts, heads, hd] → dst [parts, batch, heads, seq, hd]
//   (parts = 3 splits the fused QKV projection into Q, K, V, each [batch·heads, seq, hd]);
// inverse != 0: src [parts, batch, heads, seq, hd] → dst [batch, seq, parts, heads, hd]
//   (parts = 1 merges the heads' outputs back; parts = 3 the Q, K, V gradients).
// Elements are 4 bytes (dt 0) or 2 bytes (dt 1, 2). Grid-stride over all elements, i running
// over the [batch, seq, parts, heads, hd] layout.
extern "C" __global__ void __launch_bounds__(256)
    split_heads(const void* src, void* dst, int batch, int seq, int parts, int heads, int hd,
                int inverse, int dt) {
    const long n = (long)batch * seq * parts * heads * hd;
    GPT_GRID_STRIDE(i, n) {
        long rest = i;
        const long e = rest % hd;
        rest /= hd;
        const long h = rest % heads;
        rest /= heads;
        const long p = rest % parts;
        rest /= parts;
        const long t = rest % seq;
        const long b = rest / seq;
        const long j = (((p * batch + b) * heads + h) * seq + t) * hd + e;
        const long from = inverse != 0 ? j : i, to = inverse != 0 ? i : j;
        if (dt == 0)
            ((u32*)dst)[to] = ((const u32*)src)[from];
        else
            ((u16*)dst)[to] = ((const u16*)src)[from];
    }
}

// ---------------------------------------------------------------------------------------------
// Causal softmax of attention scores. s: f32 [rows, seq], rows = groups·seq (one seq×seq score
// matrix per batch·head); row r is query i = r % seq. p: [rows, seq] of storage type dt.

// Warp per row: p[r, j] = exp(scale·s[r, j] − lse) for j ≤ i, with lse = log Σ_{j≤i}
// exp(scale·s[r, j]) (max-shifted, in base 2 with the scale folded in); p[r, j] = 0 for j > i.
// Every j < seq is written.
extern "C" __global__ void __launch_bounds__(256)
    causal_softmax(const float* s, void* p, int rows, int seq, float scale, int dt) {
    const int row = gpt_warp_row(), lane = gpt_lane();
    if (row >= rows) return;
    const long base = (long)row * seq;
    const int last = row % seq;  // the query index: keys 0..last are visible
    const float k = scale * 1.4426950408889634f;
    float mx = -3.0e38f;
    for (int j = lane; j <= last; j += 32) mx = fmax2(mx, k * s[base + j]);
    mx = gpt_warp_max(mx);
    float sum = 0.f;
    for (int j = lane; j <= last; j += 32) sum += ex2(k * s[base + j] - mx);
    const float lse2 = mx + lg2(gpt_warp_sum(sum));
    for (int j = lane; j < seq; j += 32)
        store_from_f32(p, base + j, dt, j <= last ? ex2(k * s[base + j] - lse2) : 0.f);
}

// Warp per row, in place: p_ds holds P (storage type dt) on entry and dS on exit; dp: f32
// [rows, seq], the gradient with respect to P. D = Σ_{j≤i} p[r, j]·dp[r, j];
// dS[r, j] = scale·p[r, j]·(dp[r, j] − D) for j ≤ i (the gradient with respect to the unscaled
// scores), 0 for j > i. The warp reduction for D separates the reads from the writes.
extern "C" __global__ void __launch_bounds__(256)
    softmax_bwd(void* p_ds, const float* dp, int rows, int seq, float scale, int dt) {
    const int row = gpt_warp_row(), lane = gpt_lane();
    if (row >= rows) return;
    const long base = (long)row * seq;
    const int last = row % seq;
    float dot = 0.f;
    for (int j = lane; j <= last; j += 32) dot += load_as_f32(p_ds, base + j, dt) * dp[base + j];
    const float D = gpt_warp_sum(dot);
    for (int j = lane; j < seq; j += 32) {
        float v = 0.f;
        if (j <= last) v = scale * load_as_f32(p_ds, base + j, dt) * (dp[base + j] - D);
        store_from_f32(p_ds, base + j, dt, v);
    }
}

// ---------------------------------------------------------------------------------------------
// AdamW with decoupled weight decay over n elements (PyTorch's AdamW, bias-corrected):
// m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²; upd = (m/c1)/(sqrt(v/c2) + eps);
// p ← p − lr·(upd + wd·p). c1 = 1 − β1^t, c2 = 1 − β2^t come from the host (step t ≥ 1).
// param: storage type dt (read as f32, stored rounded); grad, m, v: f32. An element with
// p = g = m = v = 0 (padding) stays 0. Grid-stride over n.
extern "C" __global__ void __launch_bounds__(256)
    adamw(void* param, const float* grad, float* m, float* v, long n, float lr, float beta1,
          float beta2, float eps, float wd, float c1, float c2, int dt) {
    GPT_GRID_STRIDE(i, n) {
        const float g = grad[i];
        const float mi = beta1 * m[i] + (1.f - beta1) * g;
        const float vi = beta2 * v[i] + (1.f - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        const float upd = (mi / c1) / (sqrt_rn(vi / c2) + eps);
        const float p = load_as_f32(param, i, dt);
        store_from_f32(param, i, dt, p - lr * (upd + wd * p));
    }
}
