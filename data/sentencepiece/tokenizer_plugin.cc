// SentencePiece behind the Tokenizer interface, plus in-process training.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <optional>
#include <string_view>
#include <unordered_map>

#include "common/error.h"
#include "common/files.h"
#include "data/sentencepiece/model_info.h"
#include "data/special_tokens.h"
#include "data/tokenizer.h"

namespace vlm::data {
namespace {

class SentencePieceTokenizer : public Tokenizer {
 public:
  SentencePieceTokenizer(const std::string& path, const std::vector<std::string>& added_tokens) {
    VLM_CHECK(files::exists(path), IoError, "tokenizer model ", path, " not found");
    const std::string bytes = files::read_all(path);
    const auto status = processor_.LoadFromSerializedProto(bytes);
    VLM_CHECK(status.ok(), FormatError, path, " is not a SentencePiece model: ", status.ToString());
    const SentencePieceModelInfo info = read_model_info(bytes, path);
    model_adds_prefix_ = info.add_dummy_prefix;
    specials_.add("<image>", kImageToken);
    if (processor_.bos_id() >= 0)
      specials_.add(processor_.IdToPiece(processor_.bos_id()), bos_id());
    if (processor_.eos_id() >= 0)
      specials_.add(processor_.IdToPiece(processor_.eos_id()), eos_id());
    for (const auto& [text, id] : info.user_defined) specials_.add(text, id);
    const auto in_model = [&](const std::string& text) -> std::optional<int32_t> {
      const int id = processor_.PieceToId(text);
      if (id == processor_.unk_id() && processor_.IdToPiece(id) != text) return std::nullopt;
      return id;
    };
    vocab_size_ =
        processor_.GetPieceSize() +
        add_requested_tokens(added_tokens, in_model, processor_.GetPieceSize(), specials_);
  }

  std::vector<int32_t> encode(const std::string& text) const override {
    std::vector<int32_t> ids;
    specials_.scan(
        text,
        [&](std::string_view run) {
          append_text(std::string(run), run.data() == text.data(), ids);
        },
        [&](const SpecialToken& token) { ids.push_back(token.id); });
    return ids;
  }

  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string text;
    std::vector<int> run;
    size_t run_start = 0;
    for (size_t i = 0; i <= ids.size(); ++i) {
      const std::string* special = i < ids.size() ? specials_.text(ids[i]) : nullptr;
      if (i < ids.size() && special == nullptr) {
        check_id(ids[i]);
        if (run.empty()) run_start = i;
        run.push_back(ids[i]);
        continue;
      }
      text += decode_run(run, run_start == 0);
      run.clear();
      if (special != nullptr) text += *special;
    }
    return text;
  }

  std::string piece(int32_t id) const override {
    if (const std::string* special = specials_.text(id)) return *special;
    check_id(id);
    return processor_.IdToPiece(id);
  }

  int32_t bos_id() const override { return processor_.bos_id(); }
  int32_t eos_id() const override { return processor_.eos_id(); }
  int32_t pad_id() const override {
    return processor_.pad_id() >= 0 ? processor_.pad_id() : processor_.eos_id();
  }
  int64_t vocab_size() const override { return vocab_size_; }

  int32_t special_id(const std::string& token) const override {
    if (const auto id = specials_.id(token)) return *id;
    VLM_THROW(ConfigError, "the tokenizer has no special token ", token);
  }

 private:
  // A run of ordinary text. Our models carry no dummy prefix, so we add it at the start of the
  // call only; models that add it themselves do so on every run.
  void append_text(const std::string& run, bool at_start, std::vector<int32_t>& ids) const {
    if (run.empty()) return;
    std::vector<int> pieces;
    const auto status =
        processor_.Encode(at_start && !model_adds_prefix_ ? " " + run : run, &pieces);
    VLM_CHECK(status.ok(), InternalError, "SentencePiece encode failed: ", status.ToString());
    ids.insert(ids.end(), pieces.begin(), pieces.end());
  }

  std::string decode_run(const std::vector<int>& run, bool at_start) const {
    if (run.empty()) return {};
    std::string text = processor_.DecodeIds(run);
    if (at_start && !model_adds_prefix_ && !text.empty() && text[0] == ' ') text.erase(0, 1);
    return text;
  }

  void check_id(int32_t id) const {
    VLM_CHECK(id >= 0 && id < processor_.GetPieceSize(), InternalError, "token id ", id,
              " is outside the vocabulary (", vocab_size(), ")");
  }

  sentencepiece::SentencePieceProcessor processor_;
  bool model_adds_prefix_ = true;
  int64_t vocab_size_ = 0;
  SpecialTokens specials_;
};

class LineIterator : public sentencepiece::SentenceIterator {
 public:
  explicit LineIterator(const std::vector<std::string>& lines) : lines_(lines) { load(); }
  bool done() const override { return index_ >= lines_.size(); }
  void Next() override {
    ++index_;
    load();
  }
  const std::string& value() const override { return current_; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  // The model has no dummy prefix of its own: give every line the one encode() adds.
  void load() {
    if (!done()) current_ = " " + lines_[index_];
  }
  const std::vector<std::string>& lines_;
  size_t index_ = 0;
  std::string current_;
};

std::string join_symbols(const std::vector<std::string>& symbols) {
  std::string joined;
  for (const auto& symbol : symbols) {
    VLM_CHECK(!symbol.empty() && symbol.find(',') == std::string::npos, ConfigError,
              "user symbol '", symbol, "' must be non-empty and contain no comma");
    joined += (joined.empty() ? "" : ",") + symbol;
  }
  return joined;
}

}  // namespace

}  // namespace vlm::data

// The plugin's entry points (see data/sentencepiece_plugin.h). Exceptions propagate to the caller.
extern "C" vlm::data::Tokenizer* vlm_sentencepiece_load(
    const std::string& model_path, const std::vector<std::string>& added_tokens) {
  return new vlm::data::SentencePieceTokenizer(model_path, added_tokens);
}

extern "C" void vlm_sentencepiece_train(const std::vector<std::string>& lines,
                                        const std::string& model_prefix, int vocab_size,
                                        const std::vector<std::string>& user_symbols,
                                        bool byte_fallback) {
  using namespace vlm;
  using namespace vlm::data;
  VLM_CHECK(!lines.empty(), ConfigError, "no text to train the tokenizer on");
  std::unordered_map<std::string, std::string> settings = {
      {"model_type", "bpe"},
      {"vocab_size", std::to_string(vocab_size)},
      {"hard_vocab_limit", "false"},
      {"byte_fallback", byte_fallback ? "true" : "false"},
      {"character_coverage", "1.0"},
      {"normalization_rule_name", "identity"},
      {"remove_extra_whitespaces", "false"},
      {"add_dummy_prefix", "false"},
      {"num_threads", "1"},  // one thread: the same lines give the same model bytes
      {"minloglevel", "2"},  // errors only: no progress chatter, no "No valid symbol found"
  };
  if (!user_symbols.empty()) settings["user_defined_symbols"] = join_symbols(user_symbols);
  LineIterator iterator(lines);
  std::string model;
  const auto status = sentencepiece::SentencePieceTrainer::Train(settings, &iterator, &model);
  VLM_CHECK(status.ok(), ConfigError, "SentencePiece training for ", model_prefix,
            ".model failed: ", status.ToString());
  files::write_atomically(model_prefix + ".model", model);
}
