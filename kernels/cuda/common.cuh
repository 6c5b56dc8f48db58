// Shared device helpers for bench's CUDA kernels. Written against raw PTX (inline asm) so the
// sources need no CUDA headers: NVRTC compiles them at run time for the device's compute
// capability (sm_80 or newer: bf16 conversions, cp.async, ldmatrix, mma.sync), and CI compiles
// them to PTX with clang to check syntax and kernel names (see backends/tests/cuda_sources.rs).
// NVRTC prepends this file to each kernel source (it has no include path).
#pragma once

typedef unsigned short u16;
typedef unsigned int u32;

// Element storage types, by the dtype code the host passes: 0 f32, 1 bf16, 2 f16.
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
__device__ __forceinline__ float fmax2(float a, float b) { return a > b ? a : b; }
__device__ __forceinline__ float shfl_xor(float v, int mask) {
    float r;
    asm volatile("shfl.sync.bfly.b32 %0, %1, %2, 0x1f, 0xffffffff;" : "=f"(r) : "f"(v), "r"(mask));
    return r;
}
__device__ __forceinline__ void red_add(float* addr, float v) {
    asm volatile("red.global.add.f32 [%0], %1;" ::"l"(addr), "f"(v) : "memory");
}

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
