#include "models/recompute.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/ivalue.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include "common/error.h"

namespace vlm::models {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// What backward needs that is not a tensor input: the block and the random state.
struct Recipe : torch::CustomClassHolder {
  std::function<at::Tensor(const at::Tensor&)> block;
  at::Tensor rng_state;
};

class Recompute : public torch::autograd::Function<Recompute> {
 public:
  static variable_list forward(AutogradContext* ctx, at::Tensor input, at::TensorList params,
                               c10::intrusive_ptr<Recipe> recipe) {
    ctx->saved_data["recipe"] = c10::IValue::make_capsule(recipe);
    ctx->saved_data["params"] = c10::IValue(params.vec());
    ctx->save_for_backward({input});
    at::NoGradGuard no_grad;
    return {recipe->block(input)};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto recipe = c10::static_intrusive_pointer_cast<Recipe>(ctx->saved_data["recipe"].toCapsule());
    const at::Tensor saved = ctx->get_saved_variables()[0];
    at::Tensor input = saved.detach().requires_grad_(saved.requires_grad());
    at::Generator generator = at::detail::getDefaultCPUGenerator();
    const at::Tensor rng_now = generator.get_state();
    generator.set_state(recipe->rng_state);
    at::Tensor output;
    {
      at::AutoGradMode grad_mode(true);
      output = recipe->block(input);
    }
    generator.set_state(rng_now);
    variable_list wrt;
    if (input.requires_grad()) wrt.push_back(input);
    const std::vector<at::Tensor> params = ctx->saved_data["params"].toTensorVector();
    wrt.insert(wrt.end(), params.begin(), params.end());
    variable_list grads = torch::autograd::grad({output}, wrt, {grad_outputs[0]},
                                                /*retain_graph=*/false, /*create_graph=*/false,
                                                /*allow_unused=*/true);
    variable_list result;
    size_t next = 0;
    result.push_back(input.requires_grad() ? grads[next++] : at::Tensor());
    for (size_t i = 0; i < params.size(); ++i) result.push_back(grads[next++]);
    result.push_back(at::Tensor());  // the recipe
    return result;
  }
};

}  // namespace

at::Tensor recomputed(const std::function<at::Tensor(const at::Tensor&)>& block,
                      const at::Tensor& input, const std::vector<at::Tensor>& params) {
  auto recipe = c10::make_intrusive<Recipe>();
  recipe->block = block;
  recipe->rng_state = at::detail::getDefaultCPUGenerator().get_state();
  return Recompute::apply(input, at::TensorList(params), recipe)[0];
}

}  // namespace vlm::models
