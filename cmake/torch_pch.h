// The LibTorch headers our torch-heavy targets include, parsed once per build (CMakeLists.txt,
// vlm_torch_pch) instead of once per translation unit.
#pragma once
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
