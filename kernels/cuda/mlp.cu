// The non-GEMM parts of one train-mlp step (kernels/src/mlp.rs): softmax cross-entropy with its
// gradient, the ReLU backward fused with the bias-gradient column sums, and the SGD-momentum
// update (v ← μ·v + g, p ← p − lr·v, PyTorch's convention). The GEMMs (with bias and ReLU fused
// into the forward ones as cuBLASLt epilogues) run in cuBLASLt. Storage type codes `dt`:
// 0 f32, 1 bf16, 2 f16; arithmetic is f32.
#include "common.cuh"

// One warp per row of logits [rows, classes]: adds the row's loss / rows into *loss and writes
// dlogits = (softmax − onehot(label)) / rows in the logits' storage type.
extern "C" __global__ void __launch_bounds__(256)
    xent_fwd_bwd(const void* logits, const int* labels, void* dlogits, float* loss, int rows,
                 int classes, int dt) {
    const int warp = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    if (warp >= rows) return;
    const long base = (long)warp * classes;
    float mx = -3.0e38f;
    for (int j = lane; j < classes; j += 32) mx = fmax2(mx, load_as_f32(logits, base + j, dt));
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) mx = fmax2(mx, shfl_xor(mx, o));
    const float log2e = 1.4426950408889634f;
    float sum = 0.f;
    for (int j = lane; j < classes; j += 32)
        sum += ex2((load_as_f32(logits, base + j, dt) - mx) * log2e);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) sum += shfl_xor(sum, o);
    const float lse = mx + lg2(sum) / log2e;
    const int y = labels[warp];
    const float inv_rows = 1.f / (float)rows;
    for (int j = lane; j < classes; j += 32) {
        const float p = ex2((load_as_f32(logits, base + j, dt) - lse) * log2e);
        store_from_f32(dlogits, base + j, dt, (p - (j == y ? 1.f : 0.f)) * inv_rows);
    }
    if (lane == 0) red_add(loss, (lse - load_as_f32(logits, base + y, dt)) * inv_rows);
}

// grad [rows, cols]: when `act` is not null (the layer's post-ReLU output), zeroes grad where
// act <= 0 (ReLU backward, in place); then adds each column's sum over this block's rows into
// bias_grad[col] (f32, zeroed by the host before the step).
// Launch: grid (ceil(cols/256), ceil(rows/rows_per_block)), block 256.
extern "C" __global__ void __launch_bounds__(256)
    relu_bwd_colsum(void* grad, const void* act, float* bias_grad, int rows, int cols,
                    int rows_per_block, int dt) {
    const int col = blockIdx.x * blockDim.x + threadIdx.x;
    if (col >= cols) return;
    const int r0 = blockIdx.y * rows_per_block;
    const int r1 = r0 + rows_per_block < rows ? r0 + rows_per_block : rows;
    float sum = 0.f;
    for (int r = r0; r < r1; ++r) {
        const long i = (long)r * cols + col;
        float g = load_as_f32(grad, i, dt);
        if (act != 0 && load_as_f32(act, i, dt) <= 0.f) {
            g = 0.f;
            store_from_f32(grad, i, dt, 0.f);
        }
        sum += g;
    }
    red_add(bias_grad + col, sum);
}

// SGD with momentum over n elements: v ← μ·v + g; p ← p − lr·v. `param`, `vel` have storage type
// `dt`; `grad` has storage type `gdt` (weights: dt, from the GEMM; biases: 0, f32 sums).
extern "C" __global__ void __launch_bounds__(256)
    sgd_momentum(void* param, void* vel, const void* grad, long n, float lr, float momentum,
                 int dt, int gdt) {
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (long)gridDim.x * blockDim.x) {
        const float g = load_as_f32(grad, i, gdt);
        const float v = momentum * load_as_f32(vel, i, dt) + g;
        store_from_f32(vel, i, dt, v);
        store_from_f32(param, i, dt, load_as_f32(param, i, dt) - lr * v);
    }
}
