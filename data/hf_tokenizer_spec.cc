// Reading tokenizer.json: see data/hf_tokenizer_spec.h.
#include "data/hf_tokenizer_spec.h"

#include <nlohmann/json.hpp>

#include <cstdio>

#include "common/bounded_json.h"
#include "common/error.h"
#include "common/files.h"

namespace vlm::data {
namespace {

using Json = nlohmann::json;

constexpr char kMetaspace[] = "\xe2\x96\x81";  // "▁", SentencePiece's space

// Quoted JSON for a message, cut to a few hundred bytes (a file may hold anything there).
std::string quote(const Json& value) {
  constexpr size_t kMaxQuoted = 200;
  std::string text = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (text.size() > kMaxQuoted) text = text.substr(0, kMaxQuoted) + "...";
  return text;
}

std::string byte_token(int byte) {
  char text[8];
  std::snprintf(text, sizeof(text), "<0x%02X>", byte);
  return text;
}

// Reads one JSON document and names the file and the key in every error.
class SpecReader {
 public:
  explicit SpecReader(std::string path) : path_(std::move(path)) {}

  HfTokenizerSpec read() const { return read_text(read_file()); }

  HfTokenizerSpec read_text(const std::string& text) const {
    const Json root = parse_bounded_json<Json>(text, path_);
    check_object(root, "the top level");
    HfTokenizerSpec spec;
    const bool byte_fallback = read_model(member(root, "model", "model"), spec);
    const std::string normalized_token = read_added_tokens(root, spec);
    const Json* pre_tokenizer = optional_member(root, "pre_tokenizer");
    if (pre_tokenizer != nullptr) {
      spec.kind = BpeKind::kByteLevel;
      spec.splits = read_pre_tokenizer(*pre_tokenizer);
      if (byte_fallback) fail("model.byte_fallback", "is true: byte-level BPE needs none");
      spec.nfc = read_byte_level_normalizer(root);
      check_byte_level_decoder(root);
    } else {
      spec.kind = BpeKind::kSentencePiece;
      if (!byte_fallback) {
        fail("model.byte_fallback",
             "is false: without a pre_tokenizer only SentencePiece-style BPE with byte_fallback "
             "is supported (unknown characters would become <unk>, which does not decode)");
      }
      check_byte_tokens(spec);
      check_sentencepiece_normalizer(root);
      check_sentencepiece_decoder(root);
    }
    // A "normalized" added token is matched in the normalized text: the same as in the raw
    // text only when there is no normalizer.
    if (!normalized_token.empty() && optional_member(root, "normalizer") != nullptr) {
      fail(normalized_token + ".normalized",
           "is true: added tokens matched after the normalizer are not supported");
    }
    spec.bos_token = read_bos_token(root);
    return spec;
  }

 private:
  [[noreturn]] void fail(const std::string& key, const std::string& problem) const {
    VLM_THROW(FormatError, path_, ": ", key, " ", problem);
  }

  std::string read_file() const {
    VLM_CHECK(files::exists(path_), IoError, "tokenizer ", path_,
              " not found (give a Hugging Face tokenizer.json, as the model's repository has it)");
    return files::read_all(path_);
  }

  void check_object(const Json& value, const std::string& key) const {
    if (!value.is_object()) fail(key, "must be a JSON object");
  }

  const Json& member(const Json& object, const char* name, const std::string& key) const {
    const auto found = object.find(name);
    if (found == object.end()) fail(key, "is missing");
    return *found;
  }

  // A member that may be absent or null.
  const Json* optional_member(const Json& object, const char* name) const {
    const auto found = object.find(name);
    return found == object.end() || found->is_null() ? nullptr : &*found;
  }

  std::string string_member(const Json& object, const char* name, const std::string& key) const {
    const Json& value = member(object, name, key);
    if (!value.is_string()) fail(key, "must be a string");
    return value.get<std::string>();
  }

  bool bool_member(const Json& object, const char* name, const std::string& key,
                   bool default_value) const {
    const Json* value = optional_member(object, name);
    if (value == nullptr) return default_value;
    if (!value->is_boolean()) fail(key, "must be true or false");
    return value->get<bool>();
  }

  int32_t token_id(const Json& value, const std::string& key) const {
    if (!value.is_number_integer() || value.get<int64_t>() < 0 ||
        value.get<int64_t>() >= kMaxTokenId) {
      fail(key, "must be a token id (an integer in [0, " + std::to_string(kMaxTokenId) + "))");
    }
    return static_cast<int32_t>(value.get<int64_t>());
  }

  // The list a key holds, each element an object; fails unless there are exactly `count` when
  // count > 0.
  std::vector<std::pair<const Json*, std::string>> steps(const Json& list, const std::string& key,
                                                         size_t count = 0) const {
    if (!list.is_array()) fail(key, "must be a list");
    if (count > 0 && list.size() != count) {
      fail(key, "has " + std::to_string(list.size()) + " steps, expected " + std::to_string(count));
    }
    std::vector<std::pair<const Json*, std::string>> out;
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string step_key = key + "[" + std::to_string(i) + "]";
      check_object(list[i], step_key);
      out.emplace_back(&list[i], step_key);
    }
    return out;
  }

  // A step whose members must have exactly these values (other members are not read).
  void check_step(const Json& step, const std::string& key,
                  const std::vector<std::pair<const char*, Json>>& expected) const {
    check_object(step, key);
    for (const auto& [name, value] : expected) {
      const std::string member_key = key + "." + name;
      const Json& actual = member(step, name, member_key);
      if (actual != value) fail(member_key, "is " + quote(actual) + ", expected " + quote(value));
    }
  }

  // ----- model -----------------------------------------------------------------------------

  // Returns model.byte_fallback.
  bool read_model(const Json& model, HfTokenizerSpec& spec) const {
    check_object(model, "model");
    const std::string type = string_member(model, "type", "model.type");
    if (type != "BPE") fail("model.type", "is " + quote(type) + ": only BPE is supported");
    for (const char* name : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      const Json* affix = optional_member(model, name);
      if (affix && !(affix->is_string() && affix->get<std::string>().empty())) {
        fail(std::string("model.") + name, "is set: not supported");
      }
    }
    const Json* dropout = optional_member(model, "dropout");
    if (dropout && !(dropout->is_number() && dropout->get<double>() == 0.0)) {
      fail("model.dropout", "is set: BPE dropout (random merges) is not supported");
    }
    spec.ignore_merges = bool_member(model, "ignore_merges", "model.ignore_merges", false);
    read_vocab(member(model, "vocab", "model.vocab"), spec);
    read_merges(member(model, "merges", "model.merges"), spec);
    return bool_member(model, "byte_fallback", "model.byte_fallback", false);
  }

  void read_vocab(const Json& vocab, HfTokenizerSpec& spec) const {
    check_object(vocab, "model.vocab");
    spec.vocab.reserve(vocab.size());
    std::unordered_map<int32_t, std::string> token_of;
    for (const auto& [token, value] : vocab.items()) {
      const std::string key = "model.vocab[" + quote(token) + "]";
      const int32_t id = token_id(value, key);
      const auto [other, fresh] = token_of.emplace(id, token);
      if (!fresh) fail(key, "has id " + std::to_string(id) + ", as " + quote(other->second));
      spec.vocab.emplace(token, id);
    }
  }

  // Each merge: "a b" (one space) or ["a", "b"]; both parts and their join must be in the vocab.
  void read_merges(const Json& merges, HfTokenizerSpec& spec) const {
    if (!merges.is_array()) fail("model.merges", "must be a list");
    spec.merges.reserve(merges.size());
    spec.merged_ids.reserve(merges.size());
    for (size_t rank = 0; rank < merges.size(); ++rank) {
      const std::string key = "model.merges[" + std::to_string(rank) + "]";
      const auto [left, right] = merge_parts(merges[rank], key);
      const int32_t left_id = vocab_id(spec, left, key);
      const int32_t right_id = vocab_id(spec, right, key);
      spec.merges.emplace_back(left_id, right_id);
      spec.merged_ids.push_back(vocab_id(spec, left + right, key));
    }
  }

  std::pair<std::string, std::string> merge_parts(const Json& merge, const std::string& key) const {
    if (merge.is_string()) {
      const std::string text = merge.get<std::string>();
      const size_t space = text.find(' ');
      if (space != std::string::npos && space > 0 && space + 1 < text.size() &&
          text.find(' ', space + 1) == std::string::npos) {
        return {text.substr(0, space), text.substr(space + 1)};
      }
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() &&
               merge[1].is_string() && !merge[0].get<std::string>().empty() &&
               !merge[1].get<std::string>().empty()) {
      return {merge[0].get<std::string>(), merge[1].get<std::string>()};
    }
    fail(key, "must be \"a b\" or [\"a\", \"b\"], got " + quote(merge));
  }

  int32_t vocab_id(const HfTokenizerSpec& spec, const std::string& token,
                   const std::string& key) const {
    const auto found = spec.vocab.find(token);
    if (found == spec.vocab.end()) fail(key, "uses " + quote(token) + ", not in model.vocab");
    return found->second;
  }

  void check_byte_tokens(const HfTokenizerSpec& spec) const {
    for (int byte = 0; byte < 256; ++byte) {
      if (spec.vocab.count(byte_token(byte)) == 0) {
        fail("model.vocab", "has no " + byte_token(byte) + ": byte_fallback needs all 256");
      }
    }
  }

  // ----- added tokens ------------------------------------------------------------------------

  // Returns the key of the first added token marked "normalized", or "".
  std::string read_added_tokens(const Json& root, HfTokenizerSpec& spec) const {
    std::string normalized_token;
    const Json* added = optional_member(root, "added_tokens");
    if (added == nullptr) return normalized_token;
    for (const auto& [token, key] : steps(*added, "added_tokens")) {
      const int32_t id = token_id(member(*token, "id", key + ".id"), key + ".id");
      const std::string content = string_member(*token, "content", key + ".content");
      if (content.empty()) fail(key + ".content", "is empty");
      // Hugging Face matches these around the token (whitespace, word boundaries): not done here.
      for (const char* flag : {"lstrip", "rstrip", "single_word"}) {
        if (bool_member(*token, flag, key + "." + flag, false)) {
          fail(key + "." + flag, "is true: not supported");
        }
      }
      if (bool_member(*token, "normalized", key + ".normalized", false) &&
          normalized_token.empty()) {
        normalized_token = key;
      }
      spec.added_tokens.push_back({content, id});
    }
    return normalized_token;
  }

  // ----- byte-level pipeline -----------------------------------------------------------------

  // Returns whether the normalizer is NFC (else there is none).
  bool read_byte_level_normalizer(const Json& root) const {
    const Json* normalizer = optional_member(root, "normalizer");
    if (normalizer == nullptr) return false;
    check_object(*normalizer, "normalizer");
    const std::string type = string_member(*normalizer, "type", "normalizer.type");
    if (type != "NFC") {
      fail("normalizer.type", "is " + quote(type) + ": byte-level BPE supports NFC or none");
    }
    return true;
  }

  // ByteLevel, alone or last in a Sequence after Split steps.
  std::vector<SplitRegex> read_pre_tokenizer(const Json& pre) const {
    check_object(pre, "pre_tokenizer");
    std::vector<std::pair<const Json*, std::string>> list = {{&pre, "pre_tokenizer"}};
    const std::string type = string_member(pre, "type", "pre_tokenizer.type");
    if (type == "Sequence") {
      list = steps(member(pre, "pretokenizers", "pre_tokenizer.pretokenizers"),
                   "pre_tokenizer.pretokenizers");
    }
    std::vector<SplitRegex> splits;
    for (size_t i = 0; i < list.size(); ++i) {
      const auto& [step, key] = list[i];
      const std::string step_type = string_member(*step, "type", key + ".type");
      const bool last = i + 1 == list.size();
      if (step_type == "Split" && !last) {
        splits.push_back(read_split(*step, key));
      } else if (step_type == "ByteLevel" && last) {
        if (bool_member(*step, "add_prefix_space", key + ".add_prefix_space", true)) {
          fail(key + ".add_prefix_space", "is true: not supported (text is encoded as it is)");
        }
        if (bool_member(*step, "use_regex", key + ".use_regex", true)) {
          splits.push_back(SplitRegex::kGpt2);
        }
      } else {
        fail(key + ".type", "is " + quote(step_type) +
                                ": expected ByteLevel (after Split steps), or no pre_tokenizer "
                                "(SentencePiece-style BPE)");
      }
    }
    return splits;
  }

  SplitRegex read_split(const Json& step, const std::string& key) const {
    const Json& pattern = member(step, "pattern", key + ".pattern");
    check_object(pattern, key + ".pattern");
    const std::string regex = string_member(pattern, "Regex", key + ".pattern.Regex");
    const std::string behavior = string_member(step, "behavior", key + ".behavior");
    if (behavior != "Isolated") fail(key + ".behavior", "is " + quote(behavior) + ", not Isolated");
    if (bool_member(step, "invert", key + ".invert", false)) fail(key + ".invert", "is true");
    if (const auto known = known_split_regex(regex)) return *known;
    fail(key + ".pattern.Regex",
         "is not a regex this reader implements (GPT-2's, Qwen2's or "
         "cl100k's/Llama 3's)");
  }

  void check_byte_level_decoder(const Json& root) const {
    const Json* decoder = optional_member(root, "decoder");
    if (decoder == nullptr) return;
    check_object(*decoder, "decoder");
    const std::string type = string_member(*decoder, "type", "decoder.type");
    if (type != "ByteLevel") {
      fail("decoder.type", "is " + quote(type) + ": byte-level BPE decodes with ByteLevel");
    }
  }

  // ----- SentencePiece-style pipeline --------------------------------------------------------

  void check_sentencepiece_normalizer(const Json& root) const {
    const Json* normalizer = optional_member(root, "normalizer");
    if (normalizer == nullptr) fail("normalizer", "is missing: expected Prepend and Replace");
    check_step(*normalizer, "normalizer", {{"type", "Sequence"}});
    const auto list = steps(member(*normalizer, "normalizers", "normalizer.normalizers"),
                            "normalizer.normalizers", 2);
    check_step(*list[0].first, list[0].second, {{"type", "Prepend"}, {"prepend", kMetaspace}});
    check_step(*list[1].first, list[1].second,
               {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kMetaspace}});
  }

  void check_sentencepiece_decoder(const Json& root) const {
    const Json* decoder = optional_member(root, "decoder");
    if (decoder == nullptr) fail("decoder", "is missing: expected SentencePiece's decoders");
    check_step(*decoder, "decoder", {{"type", "Sequence"}});
    const auto list =
        steps(member(*decoder, "decoders", "decoder.decoders"), "decoder.decoders", 4);
    check_step(*list[0].first, list[0].second,
               {{"type", "Replace"}, {"pattern", {{"String", kMetaspace}}}, {"content", " "}});
    check_step(*list[1].first, list[1].second, {{"type", "ByteFallback"}});
    check_step(*list[2].first, list[2].second, {{"type", "Fuse"}});
    check_step(*list[3].first, list[3].second,
               {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
  }

  // ----- post-processor ----------------------------------------------------------------------

  // The special token a TemplateProcessing post-processor puts before a single sequence, if any.
  std::string read_bos_token(const Json& root) const {
    const Json* post = optional_member(root, "post_processor");
    if (post == nullptr) return {};
    check_object(*post, "post_processor");
    std::vector<std::pair<const Json*, std::string>> processors = {{post, "post_processor"}};
    const Json* list = optional_member(*post, "processors");
    if (list != nullptr) processors = steps(*list, "post_processor.processors");
    for (const auto& [processor, key] : processors) {
      if (string_member(*processor, "type", key + ".type") != "TemplateProcessing") continue;
      const Json& single = member(*processor, "single", key + ".single");
      if (!single.is_array()) fail(key + ".single", "must be a list");
      if (single.empty() || !single[0].is_object() || !single[0].contains("SpecialToken")) continue;
      const Json& first = single[0]["SpecialToken"];
      if (!first.is_object()) fail(key + ".single[0].SpecialToken", "must be an object");
      const std::string id_key = key + ".single[0].SpecialToken.id";
      const std::string token = string_member(first, "id", id_key);
      if (token.empty()) fail(id_key, "is empty");
      return token;
    }
    return {};
  }

  std::string path_;
};

}  // namespace

HfTokenizerSpec read_hf_tokenizer_spec(const std::string& path) { return SpecReader(path).read(); }

HfTokenizerSpec parse_hf_tokenizer_spec(const std::string& text, const std::string& source) {
  return SpecReader(source).read_text(text);
}

}  // namespace vlm::data
