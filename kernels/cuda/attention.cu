// Fused attention forward, FlashAttention-2 style: O = softmax(Q·Kᵀ·scale, causal or not)·V for
// [b, h, s, d] tensors in bf16 or f16, d = 64 or 128. One block of 4 warps owns 64 query rows
// (16 per warp) and streams 64-key tiles of K and V through shared memory (cp.async, XOR
// swizzled for conflict-free ldmatrix); scores live only in registers, with an online softmax
// (running row max and sum, exp2 with the scale folded in), so no s×s matrix ever reaches
// global memory. Tensor cores via mma.sync m16n8k16 with f32 accumulation. Causal blocks skip
// key tiles wholly above the diagonal and run longest-first. Rows or keys past s are masked.
//
// Launch: grid (ceil(s/64), b·h), block 128 threads, dynamic shared memory 3·64·d·2 bytes.
#include "common.cuh"

#define BM 64
#define BN 64
#define NTHREADS 128
#define MASKED (-1.0e30f)

template <bool BF16>
__device__ __forceinline__ void mma16816(float* d, const u32* a, const u32* b) {
    if (BF16)
        mma_bf16(d, a, b);
    else
        mma_f16(d, a, b);
}
template <bool BF16>
__device__ __forceinline__ u32 pack2(float lo, float hi) {
    return BF16 ? pack_bf16x2(lo, hi) : pack_f16x2(lo, hi);
}

// Element offset of (row, col) in a swizzled [rows][D] tile: 16-byte chunk c of row r is
// stored at chunk c ^ (r & 7), so the 8 rows an ldmatrix reads hit 8 different bank groups.
template <int D>
__device__ __forceinline__ int swz(int row, int col) {
    return row * D + ((((col >> 3) ^ (row & 7))) << 3) + (col & 7);
}

// Copies rows [row0, row0+64) of a [s][D] matrix into a swizzled tile; rows past s read as 0.
template <int D>
__device__ __forceinline__ void load_tile(u16* dst, const u16* src, int row0, int s, int tid) {
    const int chunks = D / 8;
    for (int i = tid; i < BM * chunks; i += NTHREADS) {
        const int r = i / chunks, c = i % chunks, gr = row0 + r;
        const u16* g = src + (long)(gr < s ? gr : 0) * D + c * 8;
        cp_async16(dst + swz<D>(r, c * 8), g, gr < s ? 16 : 0);
    }
}

template <bool BF16, int D>
__device__ __forceinline__ void flash_fwd(const u16* __restrict__ Q, const u16* __restrict__ K,
                                          const u16* __restrict__ V, u16* __restrict__ O, int s,
                                          int causal, float scale_log2) {
    extern __shared__ __align__(16) u16 smem[];
    u16* sQ = smem;
    u16* sK = sQ + BM * D;
    u16* sV = sK + BN * D;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int nmb = (s + BM - 1) / BM;
    // Causal: the longest blocks (most key tiles) start first, for a shorter tail.
    const int mb = causal ? (nmb - 1 - (int)blockIdx.x) : (int)blockIdx.x;
    const long head = (long)blockIdx.y * s * D;
    const u16* q = Q + head;
    const u16* k = K + head;
    const u16* v = V + head;
    u16* o = O + head;
    const int m0 = mb * BM;

    int nkb = (s + BN - 1) / BN;
    if (causal) {
        const int last = (m0 + BM - 1) / BN + 1;
        nkb = last < nkb ? last : nkb;
    }
    load_tile<D>(sQ, q, m0, s, tid);
    load_tile<D>(sK, k, 0, s, tid);
    cp_commit();
    cp_wait<0>();
    __syncthreads();

    u32 qf[D / 16][4];
#pragma unroll
    for (int ks = 0; ks < D / 16; ++ks)
        ldsm_x4(qf[ks], sQ + swz<D>(warp * 16 + (lane & 15), ks * 16 + (lane >> 4) * 8));

    float acc[D / 8][4];
#pragma unroll
    for (int i = 0; i < D / 8; ++i) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.f;
    float mrow[2] = {MASKED, MASKED};
    float lrow[2] = {0.f, 0.f};
    const int row_a = m0 + warp * 16 + (lane >> 2);  // this thread's rows: row_a, row_a + 8

    for (int j = 0; j < nkb; ++j) {
        const int n0 = j * BN;
        load_tile<D>(sV, v, n0, s, tid);
        cp_commit();

        // S = Q·Kᵀ for this warp's 16 rows and 64 keys.
        float sc[BN / 8][4];
#pragma unroll
        for (int i = 0; i < BN / 8; ++i) sc[i][0] = sc[i][1] = sc[i][2] = sc[i][3] = 0.f;
#pragma unroll
        for (int ks = 0; ks < D / 16; ++ks) {
#pragma unroll
            for (int nb = 0; nb < BN / 16; ++nb) {
                u32 b[4];
                ldsm_x4(b, sK + swz<D>(nb * 16 + (lane & 7) + ((lane >> 4) << 3),
                                       ks * 16 + ((lane >> 3) & 1) * 8));
                mma16816<BF16>(sc[2 * nb], qf[ks], b);
                mma16816<BF16>(sc[2 * nb + 1], qf[ks], b + 2);
            }
        }
        __syncthreads();  // every warp is done with sK
        if (j + 1 < nkb) load_tile<D>(sK, k, n0 + BN, s, tid);
        cp_commit();

        // Scale and mask (only tiles that reach past s or the diagonal need the mask), then
        // the online softmax update of the running max and sum.
        const bool masked_tile = n0 + BN > s || (causal && n0 + BN - 1 > m0);
#pragma unroll
        for (int nb = 0; nb < BN / 8; ++nb) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int col = n0 + nb * 8 + 2 * (lane & 3) + (e & 1);
                const int row = row_a + (e >> 1) * 8;
                float x = sc[nb][e] * scale_log2;
                if (masked_tile && (col >= s || (causal && col > row))) x = MASKED;
                sc[nb][e] = x;
            }
        }
#pragma unroll
        for (int hr = 0; hr < 2; ++hr) {
            float mx = MASKED;
#pragma unroll
            for (int nb = 0; nb < BN / 8; ++nb)
                mx = fmax2(mx, fmax2(sc[nb][2 * hr], sc[nb][2 * hr + 1]));
            mx = fmax2(mx, shfl_xor(mx, 1));
            mx = fmax2(mx, shfl_xor(mx, 2));
            const float mnew = fmax2(mrow[hr], mx);
            const float alpha = ex2(mrow[hr] - mnew);
            mrow[hr] = mnew;
            float sum = 0.f;
#pragma unroll
            for (int nb = 0; nb < BN / 8; ++nb) {
                const float p0 = ex2(sc[nb][2 * hr] - mnew);
                const float p1 = ex2(sc[nb][2 * hr + 1] - mnew);
                sc[nb][2 * hr] = p0;
                sc[nb][2 * hr + 1] = p1;
                sum += p0 + p1;
            }
            lrow[hr] = lrow[hr] * alpha + sum;
#pragma unroll
            for (int nd = 0; nd < D / 8; ++nd) {
                acc[nd][2 * hr] *= alpha;
                acc[nd][2 * hr + 1] *= alpha;
            }
        }

        cp_wait<1>();  // V tile j has landed (K tile j+1 may still be in flight)
        __syncthreads();
        // O += P·V: the score accumulators are already in the A-operand layout.
#pragma unroll
        for (int kk = 0; kk < BN / 16; ++kk) {
            u32 a[4];
            a[0] = pack2<BF16>(sc[2 * kk][0], sc[2 * kk][1]);
            a[1] = pack2<BF16>(sc[2 * kk][2], sc[2 * kk][3]);
            a[2] = pack2<BF16>(sc[2 * kk + 1][0], sc[2 * kk + 1][1]);
            a[3] = pack2<BF16>(sc[2 * kk + 1][2], sc[2 * kk + 1][3]);
#pragma unroll
            for (int nd = 0; nd < D / 16; ++nd) {
                u32 b[4];
                ldsm_x4_t(b, sV + swz<D>(kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8,
                                         nd * 16 + (lane >> 4) * 8));
                mma16816<BF16>(acc[2 * nd], a, b);
                mma16816<BF16>(acc[2 * nd + 1], a, b + 2);
            }
        }
        cp_wait<0>();  // K tile j+1 has landed
        __syncthreads();  // and every warp is done with sV
    }

#pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
        float l = lrow[hr];
        l += shfl_xor(l, 1);
        l += shfl_xor(l, 2);
        const float inv = 1.f / l;
        const int row = row_a + hr * 8;
        if (row < s) {
#pragma unroll
            for (int nd = 0; nd < D / 8; ++nd) {
                const int col = nd * 8 + 2 * (lane & 3);
                *(u32*)(o + (long)row * D + col) =
                    pack2<BF16>(acc[nd][2 * hr] * inv, acc[nd][2 * hr + 1] * inv);
            }
        }
    }
}

#define FLASH_ENTRY(NAME, BF16, D)                                                          \
    extern "C" __global__ void __launch_bounds__(NTHREADS)                                  \
        NAME(const u16* q, const u16* k, const u16* v, u16* o, int s, int causal,           \
             float scale_log2) {                                                            \
        flash_fwd<BF16, D>(q, k, v, o, s, causal, scale_log2);                              \
    }

FLASH_ENTRY(flash_fwd_bf16_d64, true, 64)
FLASH_ENTRY(flash_fwd_bf16_d128, true, 128)
FLASH_ENTRY(flash_fwd_f16_d64, false, 64)
FLASH_ENTRY(flash_fwd_f16_d128, false, 128)
