#include "models/cross_entropy.h"

#include <torch/csrc/autograd/custom_function.h>

#include "common/error.h"

namespace vlm::models {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Rows per chunk: a chunk's float temporaries stay a few MiB for vocabularies up to ~150K.
int64_t chunk_rows(int64_t vocab) { return std::max<int64_t>(1, (int64_t{4} << 20) / (4 * vocab)); }

// At least float (bf16 logits are reduced in float); double stays double, so the reference
// checks in double precision see no float rounding.
at::ScalarType compute_type(const at::Tensor& logits) {
  return at::promote_types(logits.scalar_type(), at::kFloat);
}

struct Chunk {
  at::Tensor logits;        // [n, V] in compute_type
  at::Tensor safe_targets;  // [n, 1], ignored rows pointing at column 0
  at::Tensor valid;         // [n] float, 1 where the row counts
};

Chunk chunk(const at::Tensor& logits, const at::Tensor& targets, int64_t ignore_index,
            int64_t begin, int64_t rows) {
  const at::Tensor t = targets.narrow(0, begin, rows);
  const at::Tensor valid = t.ne(ignore_index);
  const at::ScalarType type = compute_type(logits);
  return {logits.narrow(0, begin, rows).to(type), t.masked_fill(~valid, 0).unsqueeze(1),
          valid.to(type)};
}

class CrossEntropySum : public torch::autograd::Function<CrossEntropySum> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& logits,
                            const at::Tensor& targets, int64_t ignore_index) {
    const int64_t rows = logits.size(0);
    at::Tensor log_sum_exp = at::empty({rows}, logits.options().dtype(compute_type(logits)));
    at::Tensor total = at::zeros({}, log_sum_exp.options().dtype(at::kDouble));
    const int64_t step = chunk_rows(logits.size(1));
    for (int64_t begin = 0; begin < rows; begin += step) {
      const int64_t n = std::min(step, rows - begin);
      const Chunk c = chunk(logits, targets, ignore_index, begin, n);
      const at::Tensor lse = c.logits.logsumexp(1);
      log_sum_exp.narrow(0, begin, n).copy_(lse);
      total += ((lse - c.logits.gather(1, c.safe_targets).squeeze(1)) * c.valid).sum();
    }
    ctx->save_for_backward({logits, targets, log_sum_exp});
    ctx->saved_data["ignore_index"] = ignore_index;
    return total.to(compute_type(logits));
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor& logits = saved[0];
    const at::Tensor& log_sum_exp = saved[2];
    const int64_t ignore_index = ctx->saved_data["ignore_index"].toInt();
    const at::Tensor scale = grad_outputs[0].to(compute_type(logits));
    // The gradient overwrites the logits, which nothing else reads after the loss (the head's
    // backward needs its input and weight, not its output): one logits-sized tensor less at
    // the peak. Were anything else to read them, the version bump makes its backward fail
    // loudly instead of reading the gradient.
    at::Tensor grad = logits;
    const int64_t rows = logits.size(0);
    const int64_t step = chunk_rows(logits.size(1));
    for (int64_t begin = 0; begin < rows; begin += step) {
      const int64_t n = std::min(step, rows - begin);
      const Chunk c = chunk(logits, saved[1], ignore_index, begin, n);
      // d/dlogits = softmax - one_hot(target), for the rows that count.
      at::Tensor g = (c.logits - log_sum_exp.narrow(0, begin, n).unsqueeze(1)).exp_();
      g.scatter_add_(1, c.safe_targets, -c.valid.unsqueeze(1));
      g.mul_((c.valid * scale).unsqueeze(1));
      grad.narrow(0, begin, n).copy_(g);
    }
    return {grad, at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor cross_entropy_sum(const at::Tensor& logits, const at::Tensor& targets,
                             int64_t ignore_index) {
  VLM_CHECK(logits.dim() == 2 && targets.dim() == 1 && targets.size(0) == logits.size(0),
            InternalError, "cross_entropy_sum: logits [N, V] and targets [N] expected, got ",
            logits.sizes(), " and ", targets.sizes());
  return CrossEntropySum::apply(logits, targets.to(at::kLong), ignore_index);
}

}  // namespace vlm::models
