// Scaled dot-product attention with an arbitrary additive mask (LibTorch 1.13 has no public
// fused kernel). On CPU in fp32/fp64 it is one autograd node whose products are BLAS calls per
// head on the tensors as they lie; other types and devices take matmul + mask + softmax +
// matmul. Grouped-query attention shares each key/value head among num_heads / num_kv_heads
// query heads without copying K and V.
#pragma once

#include <ATen/ATen.h>

namespace vlm::models {

// q: [B, T, H, D]; k, v: [B, S, Hkv, D] with H a multiple of Hkv (query head h reads key/value
// head h / (H / Hkv), as HF's repeat_kv). mask: additive [B or 1, 1, T, S] (ShapeError otherwise),
// or undefined for full attention. Softmax runs in fp32 for bf16/fp16 inputs. Returns [B, T, H *
// D].
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const at::Tensor& mask);

}  // namespace vlm::models
