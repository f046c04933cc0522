#include "models/vora.h"

#include <c10/core/GradMode.h>

#include <string>
#include <tuple>
#include <vector>

#include "common/error.h"
#include "common/files.h"
#include "models/aimv2.h"
#include "models/hf_folder.h"
#include "models/init.h"
#include "models/model_impl.h"
#include "models/safetensors.h"

namespace vlm::models {

AuxHeadImpl::AuxHeadImpl(int64_t llm_width, int64_t teacher_width, double eps) {
  norm = register_module("norm", RmsNorm(llm_width, eps));
  proj = register_module("proj", Linear(llm_width, teacher_width, false));
}

at::Tensor AuxHeadImpl::forward(const at::Tensor& hidden) { return proj(norm(hidden)); }

AuxHeadsImpl::AuxHeadsImpl(const std::vector<int64_t>& blocks, int64_t llm_width,
                           int64_t teacher_width, double eps, int64_t student_lag)
    : blocks_(blocks), student_lag_(student_lag) {
  VLM_CHECK(student_lag == 0 || student_lag == 1, ConfigError,
            "the aux heads' student lag must be 0 or 1 block, got ", student_lag);
  for (const int64_t block : blocks_) {
    heads_.push_back(
        register_module(std::to_string(block), AuxHead(llm_width, teacher_width, eps)));
  }
}

void AuxHeadsImpl::initialize(at::Generator& gen) {
  for (AuxHead& head : heads_) {
    init::ones(head->norm->weight);
    head->proj->init_torch_default(gen);
  }
}

std::vector<int64_t> distilled_blocks(const recipes::DistillConfig& config,
                                      int64_t teacher_layers) {
  VLM_CHECK(teacher_layers > 0, ConfigError,
            "distillation needs a teacher with layers, but model.vision.num_layers is ",
            teacher_layers);
  if (config.mode == recipes::DistillMode::kLastBlock) return {teacher_layers};
  std::vector<int64_t> blocks;
  for (int64_t i = 1; i <= teacher_layers; ++i) blocks.push_back(i);
  return blocks;
}

int64_t student_lag(const recipes::DistillConfig& config) {
  return config.pairing == recipes::DistillPairing::kPublicCode ? 1 : 0;
}

VisionEmbedding make_vision_embedding(const recipes::ModelSection& model, uint64_t seed) {
  VLM_CHECK(model.vision.type != recipes::VisionType::kNone, ConfigError,
            "model.architecture vora needs model.vision (the distillation teacher, whose patch "
            "grid the vision embedding uses), but model.vision.type is none");
  VLM_CHECK(model.projector.type == recipes::ProjectorType::kNone, ConfigError,
            "model.projector.type must be none for model.architecture vora, got ",
            recipes::name_of(model.projector.type));
  // LLM block i is distilled onto teacher layer i and LoRA covers the first N_vit blocks.
  VLM_CHECK(model.vision.num_layers <= model.llm.num_layers, ConfigError,
            "model.vision.num_layers (", model.vision.num_layers,
            ") must not exceed model.llm.num_layers (", model.llm.num_layers,
            ") for model.architecture vora: LLM block i learns from teacher layer i");
  if (model.vision_embedding.init == recipes::VisionEmbeddingInit::kTeacher) {
    // CLIP's embedding (class token, LayerNorm, no patch bias) has another layout.
    VLM_CHECK(model.vision.type == recipes::VisionType::kAimv2, ConfigError,
              "model.vision_embedding.init teacher copies an AIMv2 teacher's preprocessor, but "
              "model.vision.type is ",
              recipes::name_of(model.vision.type));
    VLM_CHECK(model.vision_embedding.hidden_size == model.vision.hidden_size, ConfigError,
              "model.vision_embedding.init teacher copies the teacher's patch embedding, so "
              "model.vision_embedding.hidden_size (",
              model.vision_embedding.hidden_size, ") must be the teacher's width (",
              model.vision.hidden_size, ")");
  }
  VisionEmbedding embedding(model.vision_embedding, model.vision, model.llm);
  // Drawn for teacher as well: proj then gets the same values either way.
  at::Generator gen = init::generator(seed, "vision_embedding");
  embedding->initialize(gen);
  return embedding;
}

void init_vision_embedding_from_teacher(VisionEmbeddingImpl& embedding, VisionTowerImpl& teacher,
                                        const std::string& teacher_folder) {
  if (embedding.position_embedding.is_meta()) return;
  auto* aimv2 = dynamic_cast<Aimv2VisionImpl*>(&teacher);
  VLM_CHECK(aimv2 != nullptr, ConfigError,
            "model.vision_embedding.init teacher copies an AIMv2 teacher's preprocessor, but "
            "model.vision.type is ",
            recipes::name_of(teacher.config().type));
  c10::NoGradGuard no_grad;
  Aimv2PreprocessorImpl& source = *aimv2->preprocessor;
  // (teacher tensor, its live copy, where it goes)
  const std::vector<std::tuple<std::string, at::Tensor, std::string, at::Tensor>> pairs = {
      {"preprocessor.patchifier.proj.weight", source.patchifier->proj->weight, "patch_embed.weight",
       embedding.patch_embed->weight},
      {"preprocessor.patchifier.proj.bias", source.patchifier->proj->bias, "patch_embed.bias",
       embedding.patch_embed->bias},
      {"preprocessor.patchifier.norm.weight", source.patchifier->norm->weight, "norm.weight",
       embedding.norm->weight},
      {"preprocessor.pos_embed", source.pos_embed, "position_embedding",
       embedding.position_embedding.unsqueeze(0)},
  };
  if (teacher_folder.empty()) {
    for (const auto& [name, live, target_name, target] : pairs) {
      VLM_CHECK(live.sizes() == target.sizes(), ShapeError, "the teacher's ", name, " is ",
                live.sizes(), " but vision_embedding.", target_name, " needs ", target.sizes());
      target.copy_(live);
    }
    return;
  }
  const HfWeights weights(teacher_folder);
  for (const auto& [name, live, target_name, target] : pairs) {
    const SafetensorsEntry* entry = weights.find(name);
    VLM_CHECK(entry != nullptr, ShapeError, "model.vision_embedding.init teacher: the safetensors ",
              "of ", teacher_folder, " (model.vision.hf_path) hold no tensor '", name,
              "' for vision_embedding.", target_name);
    VLM_CHECK(target.sizes() == at::IntArrayRef(entry->shape), ShapeError,
              "model.vision_embedding.init teacher: tensor '", name, "' in the safetensors of ",
              teacher_folder, " (model.vision.hf_path) is ", at::IntArrayRef(entry->shape),
              " but vision_embedding.", target_name, " needs ", target.sizes());
  }
  for (const auto& [name, live, target_name, target] : pairs) weights.read_into(name, target);
}

namespace {

const char kVisionEmbeddingFile[] = "vision_embedding.safetensors";
const char kVisionEmbeddingPrefix[] = "vision_embedding.";

NamedTensors prefixed_parameters(const torch::nn::Module& module, const std::string& prefix) {
  NamedTensors out;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    out.emplace_back(prefix + item.key(), item.value());
  }
  return out;
}

}  // namespace

void save_vision_embedding(const torch::nn::Module& embedding, const std::string& folder) {
  write_safetensors(files::join(folder, kVisionEmbeddingFile),
                    prefixed_parameters(embedding, kVisionEmbeddingPrefix));
}

void load_vision_embedding(const torch::nn::Module& embedding, const std::string& folder) {
  load_weights(HfWeights::from_file(files::join(folder, kVisionEmbeddingFile)),
               prefixed_parameters(embedding, kVisionEmbeddingPrefix),
               [](const std::string&) { return false; });
}

// ---- VisionLanguageModel's VoRA steps -------------------------------------------------------

void VisionLanguageModel::add_aux_heads(const recipes::DistillConfig& config, uint64_t seed) {
  VisionLanguageModelImpl& m = *impl_;
  VLM_CHECK(m.vision_embedding, ConfigError,
            "aux heads (objective vora) need model.architecture vora, got '",
            recipes::name_of(m.config.architecture), "'");
  VLM_CHECK(m.vision, ConfigError,
            "aux heads need the distillation teacher, but drop_teacher() removed it");
  VLM_CHECK(!m.aux_heads, ConfigError, "the aux heads are already added to this model");
  const at::Tensor& reference = m.llm->model->embed_tokens->weight;
  // Made where the LLM is (a GPU, or the meta device for a plan), then in its dtype.
  const ParameterPlacement placement(reference.device());
  AuxHeads heads(distilled_blocks(config, m.config.vision.num_layers), m.config.llm.hidden_size,
                 m.config.vision.hidden_size, m.config.llm.rms_norm_eps, student_lag(config));
  at::Generator gen = init::generator(seed, "aux_heads");
  heads->initialize(gen);
  heads->to(reference.scalar_type());
  m.aux_heads = m.root->register_module("aux_heads", heads);
}

void VisionLanguageModel::drop_aux_heads() {
  VisionLanguageModelImpl& m = *impl_;
  if (!m.aux_heads) return;
  m.root->unregister_module("aux_heads");
  m.aux_heads = nullptr;
}

bool VisionLanguageModel::has_aux_heads() const { return static_cast<bool>(impl_->aux_heads); }

void VisionLanguageModel::drop_teacher() {
  VisionLanguageModelImpl& m = *impl_;
  VLM_CHECK(m.vision_embedding, ConfigError,
            "drop_teacher: only a model.architecture vora model runs without its vision tower, "
            "this one is '",
            recipes::name_of(m.config.architecture), "'");
  VLM_CHECK(!m.aux_heads, ConfigError,
            "drop_teacher: the aux heads still distill from the teacher; drop_aux_heads() first");
  if (!m.vision) return;
  m.root->unregister_module("vision");
  m.vision = nullptr;
}

bool VisionLanguageModel::has_teacher() const { return impl_->vision_embedding && impl_->vision; }

// ---- distillation ---------------------------------------------------------------------------

namespace {

// The teacher's hidden states 1..last at its patch tokens, [N * P, d_vit] each, under no-grad.
std::vector<at::Tensor> teacher_targets(VisionLanguageModelImpl& m, const at::Tensor& images,
                                        int64_t last) {
  c10::NoGradGuard no_grad;
  const at::Tensor pixels = images.to(m.vision->options());
  std::vector<at::Tensor> states;
  m.observed("vision", [&] {
    states = m.vision->hidden_states(pixels, last + 1);
    return states.back();
  });
  std::vector<at::Tensor> targets;
  for (const at::Tensor& state : states) {
    // CLIP's token 0 is its class token, which no image slot pairs with; AIMv2 has none.
    targets.push_back(m.vision->patch_tokens(state).reshape({-1, state.size(2)}));
  }
  return targets;
}

}  // namespace

DistillationTerms distillation_terms(VisionLanguageModel& model, const ModelOutputs& outputs,
                                     const ModelInputs& inputs) {
  VisionLanguageModelImpl& m = model.impl();
  VLM_CHECK(m.aux_heads, ConfigError,
            "distillation needs the aux heads: add_aux_heads() for a stage with objective vora");
  const std::vector<int64_t>& blocks = m.aux_heads->blocks();
  DistillationTerms terms;
  if (!inputs.images.defined() || inputs.images.size(0) == 0) {
    // A text-only micro batch adds only its caption loss.
    const at::TensorOptions options = outputs.logits.options().dtype(at::kFloat);
    for (const int64_t block : blocks) {
      terms.block_sums.emplace_back(block, at::zeros({}, options));
    }
    return terms;
  }
  VLM_CHECK(m.vision, ConfigError,
            "distillation needs the teacher (model.vision), but drop_teacher() removed it");
  const int64_t last = blocks.back();
  const int64_t last_state = m.aux_heads->student_state(blocks.size() - 1);
  VLM_CHECK(static_cast<int64_t>(outputs.block_hiddens.size()) >= last_state, ShapeError,
            "distillation from the output of LLM block ", last_state,
            " needs the block hiddens: run forward(inputs, ", "/*want_block_hiddens=*/true), got ",
            outputs.block_hiddens.size(), " of them");

  const at::Tensor positions =
      (inputs.input_ids.reshape({-1}) == kImageSlot).nonzero().reshape({-1});
  const std::vector<at::Tensor> targets = teacher_targets(m, inputs.images, last);
  VLM_CHECK(targets[0].size(0) == positions.size(0), ShapeError, "input_ids hold ",
            positions.size(0), " image slots but the teacher gives ", targets[0].size(0),
            " patch tokens for the ", inputs.images.size(0), " images");

  const int64_t width = outputs.input_embeds.size(-1);
  const at::Tensor students = m.observed("aux_heads", [&] {
    std::vector<at::Tensor> mapped;
    for (size_t k = 0; k < blocks.size(); ++k) {
      const int64_t state = m.aux_heads->student_state(k);
      const at::Tensor& source =
          state == 0 ? outputs.input_embeds : outputs.block_hiddens[state - 1];
      const at::Tensor hidden = source.reshape({-1, width}).index_select(0, positions);
      mapped.push_back(m.aux_heads->head(k)(hidden));
    }
    return at::stack(mapped);  // [blocks, S, d_vit]: one output for the observer's hook
  });

  const at::ScalarType wide = at::promote_types(students.scalar_type(), at::kFloat);
  for (size_t k = 0; k < blocks.size(); ++k) {
    const at::Tensor cosine =
        at::cosine_similarity(students[k].to(wide), targets[blocks[k]].to(wide), /*dim=*/1);
    terms.block_sums.emplace_back(blocks[k], (1.0 - cosine).sum());
  }
  terms.image_tokens = positions.size(0);
  return terms;
}

}  // namespace vlm::models
