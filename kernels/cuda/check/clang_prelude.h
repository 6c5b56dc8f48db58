// For checking the kernels without CUDA: clang compiles kernels/cuda/*.cu to PTX with
// `-nocudainc -nocudalib` (no CUDA headers), and this prelude supplies the few CUDA keywords
// NVRTC builds in. Used only by backends/tests/cuda_sources.rs; NVRTC never sees it.
#define __global__ __attribute__((global))
#define __device__ __attribute__((device))
#define __shared__ __attribute__((shared))
#define __forceinline__ __inline__ __attribute__((always_inline))
#define __launch_bounds__(...) __attribute__((launch_bounds(__VA_ARGS__)))
#define __align__(n) __attribute__((aligned(n)))
#define __restrict__ __restrict
#include <__clang_cuda_builtin_vars.h>
