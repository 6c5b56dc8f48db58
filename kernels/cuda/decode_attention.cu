// The KV cache and decode attention of prefill and decode (kernels/src/infer.rs; f64 reference
// in infer_ref.rs). The GEMMs, LayerNorm, GELU, embeddings and head split are cuBLASLt and
// gpt.cu's kernels (the inference module is gpt.cu followed by this file, common.cuh once).
// Storage type codes `dt`: 0 f32, 1 bf16, 2 f16; arithmetic is f32.
//
// The decode cache of one layer is K and V, each [batch, heads, cap, hd] (cap = the positions a
// point can hold), in one allocation [layers, 2, batch, heads, cap, hd] of storage type dt, so
// the positions of one head are contiguous rows of hd elements.
//
// Decode attention is split across blocks over the context (flash-decoding): one query row per
// (sequence, head) leaves a kernel with one block per head mostly idle, so decode_attn_partial
// gives each of `splits` blocks per head a chunk of positions, each with its own online softmax
// (running max and sum, base 2 with the scale folded in), and writes the chunk's normalised
// output and log-sum-exp; decode_attn_combine then merges the splits of each head by their
// log-sum-exps. Scores never reach global memory.
#include "common.cuh"

#define DA_THREADS 128  // threads per decode_attn_partial block (4 warps)
#define DA_WARPS 4
#define DA_MAX_HD 256  // head dims up to this (8 channels per lane)
#define DA_EMPTY (-3.0e38f)  // the max and lse of no position

#define DA_GRID_STRIDE(i, n)                                             \
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (long)gridDim.x * blockDim.x)

__device__ __forceinline__ float da_warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += shfl_xor(v, o);
    return v;
}
__device__ __forceinline__ float da_warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmax2(v, shfl_xor(v, o));
    return v;
}
// Copies element `from` of src to element `to` of dst, bit for bit (4-byte or 2-byte elements).
__device__ __forceinline__ void da_copy(const void* src, long from, void* dst, long to, int dt) {
    if (dt == 0)
        ((u32*)dst)[to] = ((const u32*)src)[from];
    else
        ((u16*)dst)[to] = ((const u16*)src)[from];
}

// Fills positions 0..context−1 of the whole cache from a pool of rows: pool is
// [layers, 2, batch, pool_rows, heads·hd] (K then V; head h at channels h·hd..), and position p
// of each (layer, K|V, sequence) gets pool row p mod pool_rows (kernels/src/infer.rs's `kv`).
// Positions context..cap−1 are left as they are. A bit-exact copy. Grid-stride over
// layers·2·batch·heads·context·hd; block 256.
extern "C" __global__ void __launch_bounds__(256)
    kv_fill(const void* pool, void* cache, int groups, int heads, int hd, int pool_rows,
            int context, int cap, int dt) {
    // groups = layers·2·batch: one (layer, K|V, sequence) each
    const long n = (long)groups * heads * context * hd;
    const long d = (long)heads * hd;
    DA_GRID_STRIDE(i, n) {
        const long e = i % hd;
        long rest = i / hd;
        const long p = rest % context;
        rest /= context;  // (group, head)
        const long h = rest % heads, g = rest / heads;
        const long from = (g * pool_rows + p % pool_rows) * d + h * hd + e;
        da_copy(pool, from, cache, (rest * cap + p) * hd + e, dt);
    }
}

// Appends one position to a layer's cache: qkv is [batch, 3·heads·hd] (q, k, v, each with head
// h at channels h·hd..), k and v the layer's [batch, heads, cap, hd]; row b's k and v go to
// position pos of sequence b. A bit-exact copy. Grid-stride over batch·heads·hd; block 256.
extern "C" __global__ void __launch_bounds__(256)
    kv_append(const void* qkv, void* k, void* v, int batch, int heads, int hd, int cap, int pos,
              int dt) {
    const long d = (long)heads * hd;
    const long n = (long)batch * d;
    DA_GRID_STRIDE(i, n) {
        const long b = i / d, c = i % d;
        const long to = ((b * heads + c / hd) * cap + pos) * hd + c % hd;
        da_copy(qkv, b * 3 * d + d + c, k, to, dt);
        da_copy(qkv, b * 3 * d + 2 * d + c, v, to, dt);
    }
}

// One split of decode attention. Grid (splits, batch·heads), block DA_THREADS; dynamic shared
// memory decode_attn_smem bytes (DA_WARPS·(DA_MAX_HD + 2) floats). Block (s, b·heads + h)
// attends the query of sequence b, head h — q = qkv[b, h·hd..(h+1)·hd] — over positions
// [s·chunk, min((s+1)·chunk, len)) of k and v ([batch, heads, cap, hd]). Warp w takes
// positions w, w + 4, ... of the chunk, lane l channels l, l + 32, ... (hd ≤ DA_MAX_HD), each
// warp keeping its own online softmax; the block then merges its warps. Writes
// part_o[(b·heads + h)·splits + s, 0..hd) = Σ_j p_j·v_j / Σ_j p_j (f32) and
// part_lse[(b·heads + h)·splits + s] = log2 Σ_j 2^(x_j) with x_j = scale_log2·q·k_j
// (DA_EMPTY and zeros for a split with no position).
extern "C" __global__ void __launch_bounds__(DA_THREADS)
    decode_attn_partial(const void* qkv, const void* k, const void* v, float* part_o,
                        float* part_lse, int heads, int hd, int cap, int len, int chunk,
                        float scale_log2, int dt) {
    extern __shared__ __align__(16) u16 smem[];
    float* s_acc = (float*)smem;                  // [DA_WARPS][DA_MAX_HD]
    float* s_m = s_acc + DA_WARPS * DA_MAX_HD;    // [DA_WARPS]
    float* s_l = s_m + DA_WARPS;                  // [DA_WARPS]
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int split = blockIdx.x, splits = gridDim.x, bh = blockIdx.y;
    const long d = (long)heads * hd;
    const long b = bh / heads, h = bh % heads;
    const long head = (long)bh * cap * hd;  // row 0 of this head in k and v
    float q[DA_MAX_HD / 32], acc[DA_MAX_HD / 32];
#pragma unroll
    for (int i = 0; i < DA_MAX_HD / 32; ++i) {
        const int c = lane + 32 * i;
        q[i] = c < hd ? scale_log2 * load_as_f32(qkv, b * 3 * d + h * hd + c, dt) : 0.f;
        acc[i] = 0.f;
    }
    float m = DA_EMPTY, l = 0.f;
    const int j0 = split * chunk;
    const int j1 = j0 + chunk < len ? j0 + chunk : len;
    for (int j = j0 + warp; j < j1; j += DA_WARPS) {
        const long row = head + (long)j * hd;
        float dot = 0.f;
#pragma unroll
        for (int i = 0; i < DA_MAX_HD / 32; ++i) {
            const int c = lane + 32 * i;
            if (c < hd) dot += q[i] * load_as_f32(k, row + c, dt);
        }
        const float x = da_warp_sum(dot);
        const float mn = fmax2(m, x);
        const float corr = ex2(m - mn), p = ex2(x - mn);
        l = l * corr + p;
#pragma unroll
        for (int i = 0; i < DA_MAX_HD / 32; ++i) {
            const int c = lane + 32 * i;
            acc[i] = acc[i] * corr + (c < hd ? p * load_as_f32(v, row + c, dt) : 0.f);
        }
        m = mn;
    }
#pragma unroll
    for (int i = 0; i < DA_MAX_HD / 32; ++i) {
        const int c = lane + 32 * i;
        if (c < hd) s_acc[warp * DA_MAX_HD + c] = acc[i];
    }
    if (lane == 0) {
        s_m[warp] = m;
        s_l[warp] = l;
    }
    __syncthreads();
    float mx = DA_EMPTY;
    for (int w = 0; w < DA_WARPS; ++w) mx = fmax2(mx, s_m[w]);
    float sum = 0.f, wt[DA_WARPS];
    for (int w = 0; w < DA_WARPS; ++w) {
        wt[w] = s_l[w] > 0.f ? ex2(s_m[w] - mx) : 0.f;
        sum += wt[w] * s_l[w];
    }
    const long out = (long)bh * splits + split;
    for (int c = threadIdx.x; c < hd; c += DA_THREADS) {
        float o = 0.f;
        for (int w = 0; w < DA_WARPS; ++w)
            if (wt[w] > 0.f) o += wt[w] * s_acc[w * DA_MAX_HD + c];
        part_o[out * hd + c] = sum > 0.f ? o / sum : 0.f;
    }
    if (threadIdx.x == 0) part_lse[out] = sum > 0.f ? mx + lg2(sum) : DA_EMPTY;
}

// Merges the splits of each (sequence, head): warp per row of rows = batch·heads, 8 rows per
// block (block 256). out[b, h·hd + c] = Σ_s 2^(lse_s − M)·o_s[c] / Σ_s 2^(lse_s − M),
// M = max_s lse_s, over the splits that saw a position; out is [batch, heads·hd] of storage
// type dt, the heads merged as the output projection takes them.
extern "C" __global__ void __launch_bounds__(256)
    decode_attn_combine(const float* part_o, const float* part_lse, void* out, int rows,
                        int heads, int hd, int splits, int dt) {
    const int row = (int)((blockIdx.x * blockDim.x + threadIdx.x) >> 5), lane = threadIdx.x & 31;
    if (row >= rows) return;
    const float* lse = part_lse + (long)row * splits;
    float mx = DA_EMPTY;
    for (int s = lane; s < splits; s += 32) mx = fmax2(mx, lse[s]);
    mx = da_warp_max(mx);
    float sum = 0.f;
    for (int s = lane; s < splits; s += 32) sum += lse[s] > DA_EMPTY ? ex2(lse[s] - mx) : 0.f;
    sum = da_warp_sum(sum);
    const long b = row / heads, h = row % heads, d = (long)heads * hd;
    for (int c = lane; c < hd; c += 32) {
        float o = 0.f;
        for (int s = 0; s < splits; ++s)
            if (lse[s] > DA_EMPTY) o += ex2(lse[s] - mx) * part_o[((long)row * splits + s) * hd + c];
        store_from_f32(out, b * d + h * hd + c, dt, o / sum);
    }
}

// dst[r, ·] = src[idx[r], ·] for rows of d elements (prefill's output rows before the final
// LayerNorm). A bit-exact copy. Grid-stride over rows·d; block 256.
extern "C" __global__ void __launch_bounds__(256)
    gather_rows(const void* src, const int* idx, void* dst, int rows, int d, int dt) {
    const long n = (long)rows * d;
    DA_GRID_STRIDE(i, n) {
        const long r = i / d, c = i % d;
        da_copy(src, (long)idx[r] * d + c, dst, i, dt);
    }
}
