// Host emulation of the CUDA features bench's kernels use, for running them on a CPU in tests
// (check/emulate_test.cpp, driven by backends/tests/cuda_emulated.rs). A block's threads are
// real threads; __syncthreads is a block barrier; warp collectives (shfl, ldmatrix, mma.sync)
// exchange values through per-warp slots between warp barriers, following the PTX ISA's
// fragment layouts; cp.async copies land at wait_group. It checks the kernels' index math, masking and
// online-softmax logic against references — not timing, not the PTX assembler, not the
// hardware. Never seen by NVRTC (common.cuh includes it only under BENCH_EMULATE).
#pragma once

#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __shared__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))

struct emu_dim3 {
    unsigned x = 0, y = 0, z = 0;
};
inline thread_local emu_dim3 threadIdx, blockIdx;
inline emu_dim3 blockDim, gridDim;

// Dynamic shared memory of the running block (blocks run one after another).
alignas(16) inline u16 smem[1 << 17];

struct EmuWarp {
    const void* ptr[32];
    float f[32];
    u32 a[32][4];
    u32 b[32][2];
    float c[32][4];
};

struct EmuBlock {
    std::unique_ptr<std::barrier<>> block;
    std::vector<std::unique_ptr<std::barrier<>>> warps;
    std::vector<EmuWarp> x;
};
inline EmuBlock emu_block;

inline void __syncthreads() { emu_block.block->arrive_and_wait(); }
inline unsigned emu_lane() { return threadIdx.x & 31; }
inline void emu_warp_sync() { emu_block.warps[threadIdx.x >> 5]->arrive_and_wait(); }
inline EmuWarp& emu_warp() { return emu_block.x[threadIdx.x >> 5]; }

inline float bits_to_f32(u32 b) {
    float f;
    std::memcpy(&f, &b, 4);
    return f;
}
inline u32 f32_bits(float f) {
    u32 b;
    std::memcpy(&b, &f, 4);
    return b;
}
inline float bf16_to_f32(u16 h) { return bits_to_f32(((u32)h) << 16); }
inline float f16_to_f32(u16 h) {  // IEEE binary16 → binary32, exact
    const u32 sign = (u32)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0) return (sign ? -1.f : 1.f) * std::ldexp((float)mant, -24);
    if (exp == 31) return bits_to_f32(sign | 0x7f800000 | (mant << 13));
    return bits_to_f32(sign | ((exp + 112) << 23) | (mant << 13));
}
inline u16 f32_to_bf16(float f) {  // round to nearest even (finite inputs)
    u32 u = f32_bits(f);
    u += 0x7fff + ((u >> 16) & 1);
    return (u16)(u >> 16);
}
inline u16 f32_to_f16(float f) {  // round to nearest even, saturating to ±inf
    const u16 sign = (f32_bits(f) >> 16) & 0x8000;
    float a = std::fabs(f);
    if (!(a < 65520.f)) return sign | (std::isnan(a) ? 0x7e00 : 0x7c00);
    if (a < 6.103515625e-05f) {  // subnormal: multiples of 2^-24
        return sign | (u16)std::nearbyint(std::ldexp(a, 24));
    }
    int e;
    std::frexp(a, &e);  // a = m · 2^e, m in [0.5, 1)
    const float step = std::ldexp(1.f, e - 11);
    const float r = std::nearbyint(a / step) * step;  // default rounding: to nearest even
    std::frexp(r, &e);
    const u32 mant = (u32)(std::ldexp(r, 11 - e)) & 0x3ff;
    return sign | (u16)(((e + 14) << 10) | mant);
}
inline u32 pack_bf16x2(float lo, float hi) { return f32_to_bf16(lo) | ((u32)f32_to_bf16(hi) << 16); }
inline u32 pack_f16x2(float lo, float hi) { return f32_to_f16(lo) | ((u32)f32_to_f16(hi) << 16); }
inline float ex2(float x) { return std::exp2(x); }
inline float lg2(float x) { return std::log2(x); }
inline float sqrt_rn(float x) { return std::sqrt(x); }  // IEEE sqrt, correctly rounded
inline float rsqrt_approx(float x) { return 1.f / std::sqrt(x); }
inline void red_add(float* addr, float v) { std::atomic_ref<float>(*addr).fetch_add(v); }

inline float shfl_xor(float v, int mask) {
    EmuWarp& w = emu_warp();
    w.f[emu_lane()] = v;
    emu_warp_sync();
    float r = w.f[emu_lane() ^ mask];
    emu_warp_sync();
    return r;
}

// cp.async is modelled as deferred: a copy lands in shared memory only when a wait_group
// retires its group, so a kernel that reads a tile before waiting for it reads stale data
// (shared memory starts filled with NaNs) and fails its reference check.
struct EmuCopy {
    void* dst;
    unsigned char bytes[16];
};
inline thread_local std::vector<EmuCopy> emu_open_group;
inline thread_local std::vector<std::vector<EmuCopy>> emu_groups;

inline void cp_async16(void* dst, const void* src, int src_bytes) {
    EmuCopy c{dst, {}};
    if (src_bytes == 16) std::memcpy(c.bytes, src, 16);
    emu_open_group.push_back(c);
}
inline void cp_commit() {
    emu_groups.push_back(std::move(emu_open_group));
    emu_open_group.clear();
}
template <int N>
inline void cp_wait() {
    while (emu_groups.size() > (size_t)N) {
        for (const EmuCopy& c : emu_groups.front()) std::memcpy(c.dst, c.bytes, 16);
        emu_groups.erase(emu_groups.begin());
    }
}

// ldmatrix .x4: lanes 8i..8i+7 give the row addresses of matrix i.
inline void emu_ldsm(u32* r, const void* p, bool trans) {
    EmuWarp& w = emu_warp();
    const unsigned l = emu_lane(), g = l >> 2, t = l & 3;
    w.ptr[l] = p;
    emu_warp_sync();
    for (int i = 0; i < 4; ++i) {
        u16 lo, hi;
        if (!trans) {
            const u16* row = (const u16*)w.ptr[8 * i + g];
            lo = row[2 * t];
            hi = row[2 * t + 1];
        } else {
            lo = ((const u16*)w.ptr[8 * i + 2 * t])[g];
            hi = ((const u16*)w.ptr[8 * i + 2 * t + 1])[g];
        }
        r[i] = lo | ((u32)hi << 16);
    }
    emu_warp_sync();
}
inline void ldsm_x4(u32* r, const void* p) { emu_ldsm(r, p, false); }
inline void ldsm_x4_t(u32* r, const void* p) { emu_ldsm(r, p, true); }

inline float emu_half(u32 reg, int hi, bool bf16) {
    u16 h = hi ? (u16)(reg >> 16) : (u16)(reg & 0xffff);
    return bf16 ? bf16_to_f32(h) : f16_to_f32(h);
}

// mma.sync m16n8k16 row.col, f32 accumulate, fragment layouts of the PTX ISA.
inline void emu_mma(float* d, const u32* a, const u32* b, bool bf16) {
    EmuWarp& w = emu_warp();
    const unsigned l = emu_lane();
    for (int i = 0; i < 4; ++i) w.a[l][i] = a[i], w.c[l][i] = d[i];
    w.b[l][0] = b[0];
    w.b[l][1] = b[1];
    emu_warp_sync();
    auto A = [&](int r, int k) {
        int reg = (r >= 8 ? 1 : 0) + (k >= 8 ? 2 : 0);
        return emu_half(w.a[(r & 7) * 4 + ((k & 7) >> 1)][reg], k & 1, bf16);
    };
    auto B = [&](int k, int n) {
        return emu_half(w.b[n * 4 + ((k & 7) >> 1)][k >= 8 ? 1 : 0], k & 1, bf16);
    };
    const unsigned g = l >> 2, t = l & 3;
    float out[4];
    for (int e = 0; e < 4; ++e) {
        const int r = g + (e >> 1) * 8, n = 2 * t + (e & 1);
        float acc = w.c[l][e];
        for (int k = 0; k < 16; ++k) acc += A(r, k) * B(k, n);
        out[e] = acc;
    }
    emu_warp_sync();
    for (int e = 0; e < 4; ++e) d[e] = out[e];
}
inline void mma_bf16(float* d, const u32* a, const u32* b) { emu_mma(d, a, b, true); }
inline void mma_f16(float* d, const u32* a, const u32* b) { emu_mma(d, a, b, false); }

// Runs kernel(args...) over the grid, one block at a time, `block` threads per block.
template <class... P, class... A>
void emu_launch(void (*kernel)(P...), emu_dim3 grid, unsigned block, A... args) {
    blockDim = {block, 1, 1};
    gridDim = grid;
    for (unsigned by = 0; by < grid.y; ++by) {
        for (unsigned bx = 0; bx < grid.x; ++bx) {
            emu_block.block = std::make_unique<std::barrier<>>(block);
            emu_block.warps.clear();
            for (unsigned w = 0; w < (block + 31) / 32; ++w)
                emu_block.warps.push_back(std::make_unique<std::barrier<>>(32));
            emu_block.x.assign((block + 31) / 32, EmuWarp{});
            std::memset(smem, 0xff, sizeof smem);  // NaN in bf16 and f16
            std::vector<std::thread> threads;
            for (unsigned t = 0; t < block; ++t) {
                threads.emplace_back([=] {
                    threadIdx = {t, 0, 0};
                    blockIdx = {bx, by, 0};
                    emu_open_group.clear();
                    emu_groups.clear();
                    kernel(args...);
                });
            }
            for (auto& th : threads) th.join();
        }
    }
}
