#include "sharding/engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <map>

#include "common/error.h"
#include "common/log.h"
#include "sharding/adamw.h"
#include "sharding/flat_layout.h"

namespace vlm::sharding {
namespace {

// One unit's trainable or frozen parameters as one flat buffer, and what the rank keeps of it.
struct Group {
  bool trainable = false;
  std::vector<FlatSlot> slots;
  int64_t padded = 0;
  at::Tensor full;  // compute dtype, padded; the parameters view it (stage 3: only in use)
  // Stage 3: this rank's slice of the parameters, between uses. Not kept for trainable
  // parameters computed in bf16: their gathers round the fp32 master instead.
  at::Tensor owned;
  // Trainable only:
  at::Tensor grad_full;  // compute dtype, padded; the parameters' .grad view it
  at::Tensor reduced;    // fp32: the optimizer's gradient (stage 0: padded, else the slice)
  at::Tensor master;     // fp32 weights the optimizer updates (a view of full/owned in fp32)
  at::Tensor exp_avg, exp_avg_sq;
  std::vector<Segment> segments;  // of the optimizer's range

  at::Device device = at::kCPU;  // where its parameters live

  bool empty() const { return slots.empty(); }
  // Elements without the padding.
  int64_t count() const { return empty() ? 0 : slots.back().offset + slots.back().numel; }
};

struct Unit {
  std::string name;
  std::vector<size_t> reads;
  Group trainable, frozen;
  bool needs_backward = false;            // some parameter at or before it in forward order trains
  bool backward_reads_parameters = true;  // else stage 3 does not gather it for backward
  std::vector<cluster::Pending> gathers;  // stage 3: in flight
  bool gathered = true;                   // the full buffers hold the parameters
};

at::TensorOptions flat_options(const Group& group, at::ScalarType dtype) {
  return at::TensorOptions().dtype(dtype).device(group.device);
}

// A reduction in flight and the buffers it must keep alive.
struct Reduction {
  size_t unit = 0;
  cluster::Pending pending;
  at::Tensor scratch;  // fp32 copy of a bf16 gradient
  at::Tensor partial;  // a later micro batch's reduced slice, added to the step's on arrival
};

// AdamW goes over flat buffers in pieces of this many elements: the unfused path's temporaries
// stay small (the memory plan does not count them).
constexpr int64_t kPiece = 1 << 20;

}  // namespace

class ShardedEngine::State : public models::UnitObserver {
 public:
  State(models::VisionLanguageModel& model, cluster::Communicator& comm, EngineOptions options)
      : model_(model), comm_(comm), options_(std::move(options)) {
    VLM_CHECK(options_.stage >= 0 && options_.stage <= 3, ConfigError,
              "sharding.stage must be 0, 1, 2 or 3, got ", options_.stage);
    world_ = comm_.size();
    rank_ = comm_.rank();
    plan_ = plan_memory(unit_sizes(model_), options_, world_);
    build_units();
    model_.set_unit_observer(this);
  }

  ~State() override { model_.set_unit_observer(nullptr); }

  // ---- the step ----------------------------------------------------------------------------

  void begin_step(int64_t step) {
    step_ = step;
    for (auto& unit : units_) {
      Group& group = unit.trainable;
      if (group.empty()) continue;
      if (has_storage(group.grad_full)) group.grad_full.zero_();
    }
  }

  void begin_micro_batch(bool last) {
    sync_ = last;
    forward_next_ = 0;
    backward_next_ = static_cast<int64_t>(units_.size()) - 1;
    backward_started_ = false;
  }

  void end_micro_batch() {
    finish_forward_sweep();
    sweep_backward_to(-1);
    wait_reductions(0);
  }

  double clip_grad_norm(double max_norm) {
    double sum_squares = 0.0;
    for (auto& unit : units_) {
      if (unit.trainable.empty()) continue;
      VLM_CHECK(has_storage(unit.trainable.reduced), InternalError, "unit ", unit.name,
                ": no reduced gradient (the step's last micro batch did not run backward)");
      sum_squares += sum_of_squares(unit.trainable.reduced);
    }
    if (options_.stage > 0) sum_squares = comm_.all_reduce(sum_squares, cluster::ReduceOp::kSum);
    const double norm = std::sqrt(sum_squares);
    if (max_norm > 0 && std::isfinite(norm) && norm > max_norm) {
      const double scale = max_norm / (norm + 1e-6);
      for (auto& unit : units_) {
        if (!unit.trainable.empty()) unit.trainable.reduced.mul_(scale);
      }
    }
    return norm;
  }

  void optimizer_step(double lr) {
    ++optimizer_steps_;
    at::NoGradGuard no_grad;
    const bool mixed = options_.compute_dtype != at::kFloat;
    for (auto& unit : units_) {
      Group& group = unit.trainable;
      // Mixed precision: the update writes the compute-dtype copy in the same pass.
      const at::Tensor rounded = mixed && !group.empty() ? computed_master(group) : at::Tensor();
      for (const Segment& s : group.segments) {
        for (int64_t begin = s.begin; begin < s.end; begin += kPiece) {
          const int64_t n = std::min(kPiece, s.end - begin);
          adamw_update(group.master.narrow(0, begin, n), group.reduced.narrow(0, begin, n),
                       group.exp_avg.narrow(0, begin, n), group.exp_avg_sq.narrow(0, begin, n),
                       options_.optimizer, optimizer_steps_, lr * s.lr_scale, s.weight_decay,
                       rounded.defined() ? rounded.narrow(0, begin, n) : at::Tensor());
        }
      }
    }
    publish_parameters(/*rounded=*/true);
    if (options_.stage >= 1) {
      for (auto& unit : units_) {
        if (!unit.trainable.empty()) free_storage(unit.trainable.reduced);
      }
    }
  }

  // ---- UnitObserver: forward and backward around units ---------------------------------------

  void before(const std::string& name) override {
    const auto it = index_.find(name);
    if (it == index_.end()) return;
    const int64_t k = static_cast<int64_t>(it->second);
    if (k < forward_next_) forward_next_ = 0;  // a new forward pass (evaluation) without a step
    // Units the model skipped (no images in this micro batch) are gathered and freed all the
    // same: every rank must start the same collectives in the same order.
    while (forward_next_ <= k) {
      arrive_forward(static_cast<size_t>(forward_next_));
      if (forward_next_ < k) release(static_cast<size_t>(forward_next_));
      ++forward_next_;
    }
  }

  at::Tensor after(const std::string& name, at::Tensor output) override {
    const auto it = index_.find(name);
    if (it == index_.end()) return output;
    const size_t k = it->second;
    release(k);
    for (size_t read : units_[k].reads) release(read);
    if (output.requires_grad() && c10::GradMode::is_enabled()) {
      output.register_hook([this, k](const at::Tensor&) { on_backward(k); });
    }
    return output;
  }

  bool recompute(const std::string& /*unit*/) const override { return options_.recompute_blocks; }

  // ---- whole-model views ---------------------------------------------------------------------

  std::vector<std::pair<std::string, at::Tensor>> full_parameters() {
    std::vector<std::pair<std::string, at::Tensor>> out;
    for (size_t k = 0; k < units_.size(); ++k) {
      gather(k);
      wait_gathers(k);
      for (Group* group : {&units_[k].trainable, &units_[k].frozen}) {
        for (const auto& slot : group->slots)
          out.emplace_back(slot.name, slot.param.detach().clone());
      }
      release(k);
    }
    return out;
  }

  void release_to_model() {
    for (size_t k = 0; k < units_.size(); ++k) {
      gather(k);
      wait_gathers(k);
    }
    released_ = true;
    for (auto& unit : units_) {
      for (const auto& slot : unit.trainable.slots) slot.param.mutable_grad().reset();
    }
    model_.set_unit_observer(nullptr);
  }

  const MemoryPlan& plan() const { return plan_; }
  int64_t trainable_count() const { return trainable_count_; }
  int64_t optimizer_steps() const { return optimizer_steps_; }

  void skip_step() {
    wait_reductions(0);
    for (auto& unit : units_) {
      Group& group = unit.trainable;
      if (group.empty()) continue;
      if (options_.stage >= 1) free_storage(group.reduced);
      if (has_storage(group.grad_full)) group.grad_full.zero_();
    }
  }

  // ---- checkpoints ---------------------------------------------------------------------------

  std::vector<state::FlatSlice> snapshot_state(bool copy) const {
    std::vector<state::FlatSlice> out;
    for (const auto& unit : units_) {
      const Group& group = unit.trainable;
      if (group.empty()) continue;
      const auto [begin, count] = saved_share(group);
      const int64_t local = begin - optimizer_range_begin(group);
      for (const auto& [suffix, tensor] : state_tensors(group)) {
        const at::Tensor slice = tensor.narrow(0, local, count);
        // Written from host memory: a device's state is copied over whatever `copy` says.
        const at::Tensor values =
            slice.is_cpu() ? (copy ? slice.clone() : slice) : slice.to(at::kCPU);
        out.push_back({unit.name + suffix, group.count(), begin, values});
      }
    }
    return out;
  }

  std::vector<state::BufferLayout> buffer_layout() const {
    std::vector<state::BufferLayout> out;
    for (const auto& unit : units_) {
      if (unit.trainable.empty()) continue;
      std::vector<state::ParamSpan> params;
      for (const auto& slot : unit.trainable.slots) {
        params.push_back({slot.name, slot.offset, slot.numel});
      }
      for (const char* suffix : kStateSuffixes) {
        out.push_back({unit.name + suffix, unit.trainable.count(), params});
      }
    }
    return out;
  }

  void load_state(const state::SliceReader& read, int64_t optimizer_steps) {
    at::NoGradGuard no_grad;
    for (auto& unit : units_) {
      Group& group = unit.trainable;
      if (group.empty()) continue;
      // The whole optimizer range that holds elements (the padding stays zero).
      const int64_t begin = optimizer_range_begin(group);
      const int64_t count =
          std::max<int64_t>(0, std::min(group.count() - begin, group.master.numel()));
      for (const auto& [suffix, tensor] : state_tensors(group)) {
        if (count == 0) continue;
        const at::Tensor values = read(unit.name + suffix, begin, count);
        VLM_CHECK(values.numel() == count, InternalError, unit.name, suffix, ": read ",
                  values.numel(), " elements, wanted ", count);
        at::Tensor target = tensor;
        target.narrow(0, 0, count).copy_(values);
      }
    }
    optimizer_steps_ = optimizer_steps;
    publish_parameters(/*rounded=*/false);
  }

 private:
  // ---- construction --------------------------------------------------------------------------

  static constexpr const char* kStateSuffixes[] = {"/params", "/exp_avg", "/exp_avg_sq"};

  std::vector<std::pair<std::string, at::Tensor>> state_tensors(const Group& group) const {
    return {{kStateSuffixes[0], group.master},
            {kStateSuffixes[1], group.exp_avg},
            {kStateSuffixes[2], group.exp_avg_sq}};
  }

  // The element the optimizer's range of this rank starts at (stage 0: the whole buffer).
  int64_t optimizer_range_begin(const Group& group) const {
    return options_.stage == 0 ? 0 : rank_ * (group.padded / world_);
  }

  // This rank's block of the partition into world-size blocks, padding included: what it owns
  // of the full buffer.
  at::Tensor own_block(const Group& group) const {
    const int64_t slice = group.padded / world_;
    return group.full.narrow(0, rank_ * slice, slice);
  }

  // What this rank saves: its share of the partition into world-size blocks, without padding.
  std::pair<int64_t, int64_t> saved_share(const Group& group) const {
    const int64_t slice = group.padded / world_;
    const int64_t begin = std::min(rank_ * slice, group.count());
    return {begin, std::min(slice, group.count() - begin)};
  }

  void build_units() {
    std::map<std::string, at::Tensor> params;
    for (const auto& [name, param] : model_.named_parameters()) params[name] = param;
    const std::vector<models::ShardingUnit> declared = model_.sharding_units();
    for (size_t k = 0; k < declared.size(); ++k) index_[declared[k].name] = k;
    bool trains_so_far = false;
    units_.resize(declared.size());
    arrived_.assign(declared.size(), false);
    for (size_t k = 0; k < declared.size(); ++k) {
      Unit& unit = units_[k];
      unit.name = declared[k].name;
      unit.backward_reads_parameters = declared[k].backward_reads_parameters;
      for (const auto& read : declared[k].reads) unit.reads.push_back(index_.at(read));
      for (const auto& name : declared[k].param_names) {
        const at::Tensor& param = params.at(name);
        Group& group = param.requires_grad() ? unit.trainable : unit.frozen;
        const ParamSettings settings = param_settings(name, param, options_.optimizer);
        group.slots.push_back(
            {name, param, 0, param.numel(), settings.lr_scale, settings.weight_decay});
      }
      unit.trainable.trainable = true;
      trains_so_far = trains_so_far || !unit.trainable.empty();
      // Over-approximated (an embedding after a trainable projector needs none): a gather too
      // many costs time, a gather too few would make ranks disagree on the collective order.
      unit.needs_backward = trains_so_far;
      flatten(unit.trainable);
      flatten(unit.frozen);
      unit.gathered = options_.stage < 3;
    }
  }

  void flatten(Group& group) {
    if (group.empty()) return;
    at::NoGradGuard no_grad;
    int64_t offset = 0;
    for (auto& slot : group.slots) {
      slot.offset = offset;
      offset += slot.numel;
    }
    group.padded = padded_count(offset, world_);
    // On the device the model was built on (ParameterPlacement): the CPU, or the rank's GPU.
    group.device = group.slots.front().param.device();
    group.full = at::zeros({group.padded}, flat_options(group, options_.compute_dtype));
    for (auto& slot : group.slots) {
      at::Tensor view = group.full.narrow(0, slot.offset, slot.numel);
      view.copy_(slot.param.detach().reshape({-1}));
      slot.param.set_data(view.view(slot.param.sizes()));
    }
    if (options_.stage == 3) {
      group.owned = own_block(group).clone();
      free_storage(group.full);
    }
    if (group.trainable) make_trainable_state(group);
  }

  void make_trainable_state(Group& group) {
    const bool mixed = options_.compute_dtype != at::kFloat;
    const int64_t slice = group.padded / world_;
    const int64_t begin = optimizer_range_begin(group);
    const int64_t count = options_.stage == 0 ? group.padded : slice;
    const auto fp32 = flat_options(group, at::kFloat);
    group.grad_full = at::zeros({group.padded}, flat_options(group, options_.compute_dtype));
    for (auto& slot : group.slots) {
      slot.param.mutable_grad() =
          group.grad_full.narrow(0, slot.offset, slot.numel).view(slot.param.sizes());
      trainable_count_ += slot.numel;
    }
    if (options_.stage >= 2) free_storage(group.grad_full);
    group.reduced = options_.stage == 0 && !mixed ? group.grad_full : at::zeros({count}, fp32);
    // A reduced slice lives from its unit's reduction to the update (see reduce()): during the
    // forward and most of the backward it takes no memory.
    if (options_.stage >= 1) free_storage(group.reduced);
    if (mixed) {
      const at::Tensor source =
          options_.stage == 3 ? group.owned : group.full.narrow(0, begin, count);
      group.master = source.to(at::kFloat);
      if (options_.stage == 3) group.owned = at::Tensor();  // the master's rounding stands for it
    } else {
      group.master = options_.stage == 3 ? group.owned : group.full.narrow(0, begin, count);
    }
    group.exp_avg = at::zeros({count}, fp32);
    group.exp_avg_sq = at::zeros({count}, fp32);
    group.segments = slice_segments(group.slots, begin, count);
  }

  // ---- gathering (stage 3) -------------------------------------------------------------------

  std::string what(size_t k) const {
    return fmt::format("unit {} at step {}", units_[k].name, step_ + 1);  // 1-based, as metrics
  }

  // Starts the all-gather of unit k's parameters unless they are there or on their way.
  void gather(size_t k) {
    Unit& unit = units_[k];
    if (unit.gathered || !unit.gathers.empty()) return;
    for (Group* group : {&unit.trainable, &unit.frozen}) {
      if (group->empty()) continue;
      allocate_storage(group->full);
      at::Tensor own = group->owned;
      if (!own.defined()) {
        // Rounded from the master into the rank's own block, gathered in place.
        own = own_block(*group);
        at::NoGradGuard no_grad;
        own.copy_(group->master);
      }
      unit.gathers.push_back(comm_.all_gather(flat_view(own), flat_view(group->full), what(k)));
    }
  }

  void wait_gathers(size_t k) {
    Unit& unit = units_[k];
    if (unit.gathers.empty()) return;
    for (auto& pending : unit.gathers) pending->wait();
    unit.gathers.clear();
    unit.gathered = true;
  }

  // Gives unit k's full parameters back (stage 3), once nothing in flight writes them.
  void release(size_t k) {
    Unit& unit = units_[k];
    if (options_.stage < 3 || released_ || !unit.gathered) return;
    for (Group* group : {&unit.trainable, &unit.frozen}) {
      if (!group->empty()) free_storage(group->full);
    }
    unit.gathered = false;
  }

  void arrive_forward(size_t k) {
    gather(k);
    for (size_t read : units_[k].reads) gather(read);
    if (options_.prefetch && k + 1 < units_.size()) gather(k + 1);
    wait_gathers(k);
    for (size_t read : units_[k].reads) wait_gathers(read);
  }

  // Units after the last one the model ran: the same gathers and frees as on other ranks.
  void finish_forward_sweep() {
    if (options_.stage < 3) return;
    while (forward_next_ < static_cast<int64_t>(units_.size())) {
      arrive_forward(static_cast<size_t>(forward_next_));
      release(static_cast<size_t>(forward_next_));
      ++forward_next_;
    }
  }

  // ---- backward ------------------------------------------------------------------------------

  // Autograd reached unit k's output: every unit after k has finished its backward.
  void on_backward(size_t k) {
    if (!backward_started_) finish_forward_sweep();
    backward_started_ = true;
    sweep_backward_to(static_cast<int64_t>(k));
    wait_gathers(k);
    for (size_t read : units_[k].reads) wait_gathers(read);
  }

  // Walks down from the last unit: arrive at each (gather, gradient buffer), leave each one
  // above `k` (reduce its gradient, free its parameters). The walk is the same on every rank;
  // only where it pauses depends on which units ran.
  void sweep_backward_to(int64_t k) {
    while (backward_next_ >= k && backward_next_ >= 0) {
      const auto j = static_cast<size_t>(backward_next_);
      if (!arrived_[j]) arrive_backward(j);
      if (backward_next_ == k) return;
      leave_backward(j);
      --backward_next_;
    }
  }

  void arrive_backward(size_t j) {
    arrived_[j] = true;
    Unit& unit = units_[j];
    if (options_.stage == 3 && unit.needs_backward) {
      if (unit.backward_reads_parameters) gather(j);
      for (size_t read : unit.reads) gather(read);
      if (options_.prefetch) {
        for (size_t below = j; below-- > 0;) {
          if (units_[below].needs_backward && units_[below].backward_reads_parameters) {
            gather(below);
            break;
          }
        }
      }
    }
    for (size_t u : with_reads(j)) ensure_grad_buffer(units_[u].trainable);
  }

  void leave_backward(size_t j) {
    arrived_[j] = false;
    Unit& unit = units_[j];
    if (!unit.trainable.empty()) ensure_grad_buffer(unit.trainable);
    // Stages 2 and 3 reduce every micro batch into the owner's fp32 slice, so no unit's full
    // gradient outlives its backward; stages 0 and 1 keep full gradients and reduce once a step.
    const bool reduce_now = sync_ || options_.stage >= 2;
    if (reduce_now && !unit.trainable.empty()) reduce(j);
    if (options_.stage == 3) {
      wait_gathers(j);  // a prefetch may still be writing into it
      release(j);
    }
  }

  std::vector<size_t> with_reads(size_t j) const {
    std::vector<size_t> all = {j};
    all.insert(all.end(), units_[j].reads.begin(), units_[j].reads.end());
    return all;
  }

  void ensure_grad_buffer(Group& group) {
    if (group.empty() || has_storage(group.grad_full)) return;
    allocate_storage(group.grad_full);
    group.grad_full.zero_();
  }

  void reduce(size_t j) {
    Group& group = units_[j].trainable;
    Reduction reduction{j, nullptr, at::Tensor(), at::Tensor()};
    const bool mixed = group.grad_full.scalar_type() != at::kFloat;
    if (options_.stage == 0) {
      // Reduced in place in fp32: the gradient itself, or an fp32 copy of a bf16 one.
      if (mixed) group.reduced.copy_(group.grad_full);
      reduction.pending =
          comm_.all_reduce(flat_view(group.reduced), cluster::ReduceOp::kSum, what(j));
    } else {
      // bf16 is summed in fp32 either way: by the communicator, or after widening here.
      const bool widen_here =
          mixed && !(group.grad_full.scalar_type() == at::kBFloat16 && comm_.widens_bf16());
      const at::Tensor source =
          widen_here ? (reduction.scratch = group.grad_full.to(at::kFloat)) : group.grad_full;
      // The step's first reduction of this unit writes the slice; later micro batches' go to a
      // slice-sized buffer that is added once it arrives.
      at::Tensor target = group.reduced;
      if (has_storage(group.reduced)) {
        target = reduction.partial = at::empty_like(group.reduced);
      } else {
        allocate_storage(group.reduced);
      }
      reduction.pending = comm_.reduce_scatter(flat_view(source), flat_view(target),
                                               cluster::ReduceOp::kSum, what(j));
    }
    reductions_.push_back(std::move(reduction));
    // Each reduction in flight holds a unit's full gradient.
    wait_reductions(static_cast<size_t>(options_.reductions_in_flight));
  }

  void wait_reductions(size_t keep) {
    while (reductions_.size() > keep) {
      Reduction& front = reductions_.front();
      front.pending->wait();
      Group& group = units_[front.unit].trainable;
      if (front.partial.defined()) group.reduced.add_(front.partial);
      if (options_.stage >= 2) free_storage(group.grad_full);
      reductions_.pop_front();
    }
  }

  // ---- after the update ----------------------------------------------------------------------

  // The compute-dtype parameters the rank's fp32 master stands for, element by element; none at
  // stage 3, whose gathers round the master.
  at::Tensor computed_master(Group& group) const {
    if (options_.stage == 3) return at::Tensor();
    return group.full.narrow(0, optimizer_range_begin(group), group.master.numel());
  }

  // Brings every rank's copy of the parameters up to date with the owners' new values. rounded:
  // the update already wrote the compute-dtype copy of the rank's own part.
  void publish_parameters(bool rounded) {
    at::NoGradGuard no_grad;
    const bool mixed = options_.compute_dtype != at::kFloat && !rounded;
    std::vector<cluster::Pending> pending;
    for (size_t k = 0; k < units_.size(); ++k) {
      Group& group = units_[k].trainable;
      if (group.empty()) continue;
      if (options_.stage == 0) {
        if (mixed) group.full.copy_(group.master);
      } else if (options_.stage == 3) {
        continue;  // its next gather rounds the master (the fp32 master is the parameters)
      } else {
        // In place: the rank's own block of the full buffer is what it sends (in fp32 it is
        // the master itself).
        at::Tensor own = own_block(group);
        if (mixed) own.copy_(group.master);
        pending.push_back(comm_.all_gather(flat_view(own), flat_view(group.full), what(k)));
      }
    }
    for (auto& p : pending) p->wait();
  }

  models::VisionLanguageModel& model_;
  cluster::Communicator& comm_;
  EngineOptions options_;
  int world_ = 1;
  int rank_ = 0;
  std::vector<Unit> units_;
  std::map<std::string, size_t> index_;
  std::vector<bool> arrived_;
  std::deque<Reduction> reductions_;
  MemoryPlan plan_;
  int64_t trainable_count_ = 0;
  int64_t step_ = 0;
  int64_t optimizer_steps_ = 0;
  int64_t forward_next_ = 0;
  int64_t backward_next_ = -1;
  bool backward_started_ = false;
  bool sync_ = true;
  bool released_ = false;
};

EngineOptions engine_options(const recipes::ShardingSection& sharding, const recipes::Stage& stage,
                             int64_t accumulation_steps) {
  EngineOptions options;
  options.stage = sharding.stage;
  options.compute_dtype =
      stage.training.dtype == recipes::ComputeDtype::kBf16 ? at::kBFloat16 : at::kFloat;
  options.optimizer = stage.optimizer;
  options.prefetch = sharding.prefetch;
  options.reductions_in_flight = sharding.reductions_in_flight;
  options.recompute_blocks = sharding.activation_checkpointing;
  options.accumulation_steps = accumulation_steps;
  return options;
}

ShardedEngine::ShardedEngine(models::VisionLanguageModel& model, cluster::Communicator& comm,
                             EngineOptions options)
    : state_(std::make_unique<State>(model, comm, std::move(options))) {}
ShardedEngine::~ShardedEngine() = default;

void ShardedEngine::begin_step(int64_t step) { state_->begin_step(step); }
void ShardedEngine::skip_step() { state_->skip_step(); }
std::vector<state::FlatSlice> ShardedEngine::snapshot_state(bool copy) const {
  return state_->snapshot_state(copy);
}
std::vector<state::BufferLayout> ShardedEngine::buffer_layout() const {
  return state_->buffer_layout();
}
void ShardedEngine::load_state(const state::SliceReader& read, int64_t optimizer_steps) {
  state_->load_state(read, optimizer_steps);
}
int64_t ShardedEngine::optimizer_steps() const { return state_->optimizer_steps(); }
void ShardedEngine::begin_micro_batch(bool last) { state_->begin_micro_batch(last); }
void ShardedEngine::end_micro_batch() { state_->end_micro_batch(); }
double ShardedEngine::clip_grad_norm(double max_norm) { return state_->clip_grad_norm(max_norm); }
void ShardedEngine::optimizer_step(double lr) { state_->optimizer_step(lr); }
std::vector<std::pair<std::string, at::Tensor>> ShardedEngine::full_parameters() {
  return state_->full_parameters();
}
void ShardedEngine::release_to_model() { state_->release_to_model(); }
const MemoryPlan& ShardedEngine::memory_plan() const { return state_->plan(); }
int64_t ShardedEngine::trainable_count() const { return state_->trainable_count(); }

}  // namespace vlm::sharding
