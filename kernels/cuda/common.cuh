// Shared device helpers for bench's CUDA kernels. Written against raw PTX (inline asm) so the
// sources need no CUDA headers: NVRTC compiles them at run time for the device's compute
// capability (sm_80 or newer: bf16 conversions, cp.async, ldmatrix, mma.sync), and CI compiles
// them to PTX with clang to check syntax and kernel names (see backends/tests/cuda_sources.rs).
// NVRTC prepends this file to each kernel source (it has no include path). Every intrinsic is
// a small inline-asm helper here, so that a CPU test can swap in host emulations of the same
// semantics (check/emulate.h, under BENCH_EMULATE) and run the kernels' index math on the CPU.
#pragma once

typedef unsigned short u16;
typedef unsigned int u32;

#ifdef BENCH_EMULATE
#include "check/emulate.h"  // host emulations of the helpers below (CPU tests only)
#else
// Conversions between f32 and the 16-bit storage types (round to nearest even).
__device__ __forceinline__ float bits_to_f32(u32 b) {
    float f;
    asm("mov.b32 %0, %1;" : "=f"(f) : "r"(b));
    return f;
}
__device__ __forceinline__ float bf16_to_f32(u16 h) { return bits_to_f32(((u32)h) << 16); }
__device__ __forceinline__ float f16_to_f32(u16 h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}
__device__ __forceinline__ u16 f32_to_bf16(float f) {
    u16 h;
    asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}
__device__ __forceinline__ u16 f32_to_f16(float f) {
    u16 h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}
// Two floats packed as bf16x2 / f16x2 (lo in the low half), the mma.sync operand format.
__device__ __forceinline__ u32 pack_bf16x2(float lo, float hi) {
    u32 r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}
__device__ __forceinline__ u32 pack_f16x2(float lo, float hi) {
    u32 r;
    asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}
__device__ __forceinline__ float ex2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}
__device__ __forceinline__ float lg2(float x) {
    float y;
    asm("lg2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}
// Square root rounded to nearest (IEEE), and the approximate reciprocal square root (not
// correctly rounded; subnormal inputs and results flushed to zero). The host emulation computes
// both with std::sqrt (rsqrt_approx as 1/std::sqrt).
__device__ __forceinline__ float sqrt_rn(float x) {
    float y;
    asm("sqrt.rn.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}
__device__ __forceinline__ float rsqrt_approx(float x) {
    float y;
    asm("rsqrt.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}
__device__ __forceinline__ float shfl_xor(float v, int mask) {
    float r;
    asm volatile("shfl.sync.bfly.b32 %0, %1, %2, 0x1f, 0xffffffff;" : "=f"(r) : "f"(v), "r"(mask));
    return r;
}
__device__ __forceinline__ void red_add(float* addr, float v) {
    asm volatile("red.global.add.f32 [%0], %1;" ::"l"(addr), "f"(v) : "memory");
}

// Shared-memory, tensor-core and async-copy helpers of the attention kernel (sm_80+).
__device__ __forceinline__ u32 smem_addr(const void* p) {
    u32 a;
    asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(p));
    return a;
}
// Copies 16 bytes global → shared asynchronously; src_bytes 0 zero-fills instead.
__device__ __forceinline__ void cp_async16(void* dst, const void* src, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(smem_addr(dst)), "l"(src),
                 "r"(src_bytes)
                 : "memory");
}
__device__ __forceinline__ void cp_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_wait() {
    asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
}
// Four 8×8 b16 matrices from shared memory; lane l gives the address of row (l & 7) of matrix
// l >> 3, and receives in r[i] the pair (row l >> 2, cols 2·(l & 3), +1) of matrix i.
__device__ __forceinline__ void ldsm_x4(u32* r, const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p)));
}
// The same, each matrix transposed: r[i] holds (rows 2·(l & 3), +1; col l >> 2) of matrix i.
__device__ __forceinline__ void ldsm_x4_t(u32* r, const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p)));
}
// D(16×8, f32) += A(16×16, row) · B(16×8, col), operands bf16 or f16, per warp.
__device__ __forceinline__ void mma_bf16(float* d, const u32* a, const u32* b) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
__device__ __forceinline__ void mma_f16(float* d, const u32* a, const u32* b) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
#endif  // BENCH_EMULATE

__device__ __forceinline__ float fmax2(float a, float b) { return a > b ? a : b; }

// Element storage types, by the dtype code the host passes: 0 f32, 1 bf16, 2 f16.
// Loads element i of a buffer of storage type `dt` (0 f32, 1 bf16, 2 f16) as f32.
__device__ __forceinline__ float load_as_f32(const void* p, long i, int dt) {
    if (dt == 0) return ((const float*)p)[i];
    u16 h = ((const u16*)p)[i];
    return dt == 1 ? bf16_to_f32(h) : f16_to_f32(h);
}
// Stores an f32 into element i of a buffer of storage type `dt`, rounding to nearest even.
__device__ __forceinline__ void store_from_f32(void* p, long i, int dt, float v) {
    if (dt == 0) {
        ((float*)p)[i] = v;
    } else {
        ((u16*)p)[i] = dt == 1 ? f32_to_bf16(v) : f32_to_f16(v);
    }
}
