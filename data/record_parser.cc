// parse_record: one corpus record straight into a Conversation, by SAX events (no JSON document
// is built); the only reader of the record schema. A JSON object; "id" a string, an integer or
// null; "image" a string or a list of strings (or null), likewise "frames", their paths in that
// order; "conversations" a list of objects with string "from" and "value" (other keys ignored);
// "category" a string or null; other keys ignored. A repeated key keeps its last value, as a
// document parse does (and Python's json, which LLaVA's loader uses): a bad value is held against
// its key and forgotten when the key comes again, and the record is refused at its end for what is
// still held. Nesting is bounded (kMaxJsonDepth counting a JSON array around the record), even in
// keys the schema ignores. tests/support/record_reference.h holds the rules as a document parse,
// and the tests and the fuzzer hold this parser to it.
#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <stdexcept>
#include <string_view>

#include "common/bounded_json.h"
#include "common/error.h"
#include "data/corpus.h"

namespace vlm::data {
namespace {

using Json = nlohmann::json;

class RecordHandler : public nlohmann::json_sax<Json> {
 public:
  Conversation take() {
    // In the order a document reader checks them, so the message names the first problem.
    for (const char* key : {"id", "image", "frames", "conversations", "category"}) {
      const auto refusal = refused_.find(key);
      if (refusal != refused_.end()) fail(refusal->second);
      if (key == std::string_view("conversations") && !saw_conversations_) {
        fail("\"conversations\" must be a list");
      }
    }
    conversation_.images = std::move(image_);
    conversation_.images.insert(conversation_.images.end(), frames_.begin(), frames_.end());
    return std::move(conversation_);
  }

  bool null() override { return scalar(Kind::kNull, {}); }
  bool boolean(bool) override { return scalar(Kind::kOther, {}); }
  bool number_integer(number_integer_t value) override {
    return scalar(Kind::kInteger, std::to_string(value));
  }
  bool number_unsigned(number_unsigned_t value) override {
    return scalar(Kind::kInteger, std::to_string(value));
  }
  bool number_float(number_float_t, const string_t&) override { return scalar(Kind::kOther, {}); }
  bool string(string_t& value) override { return scalar(Kind::kString, std::move(value)); }
  bool binary(binary_t&) override { return scalar(Kind::kOther, {}); }

  bool start_object(std::size_t) override {
    check_depth();
    if (depth_ > 0 && skip_depth_ == 0) {
      if (in_turns() && depth_ == 2) {
        turn_ = Turn{};
        turn_has_from_ = turn_has_value_ = false;
        turn_refused_.clear();
      } else {
        container_in_field();
      }
    }
    ++depth_;
    return true;
  }

  bool end_object() override {
    --depth_;
    if (skip_depth_ == 0 && in_turns() && depth_ == 2) {
      if (!turn_has_from_ || !turn_has_value_ || !turn_refused_.empty()) {
        turn_failure();
      } else {
        conversation_.turns.push_back(std::move(turn_));
      }
    }
    end_skip();
    return true;
  }

  bool start_array(std::size_t) override {
    check_depth();
    if (depth_ == 0) fail("a record must be a JSON object");
    if (skip_depth_ == 0) {
      if (depth_ == 1 && (key_ == "image" || key_ == "frames")) {
        paths_for(key_).clear();
        field_ = key_;
      } else if (depth_ == 1 && key_ == "conversations") {
        conversation_.turns.clear();
        saw_conversations_ = true;
        field_ = key_;
      } else {
        container_in_field();
      }
    }
    ++depth_;
    return true;
  }

  bool end_array() override {
    --depth_;
    if (skip_depth_ == 0 && depth_ == 1) field_.clear();
    end_skip();
    return true;
  }

  bool key(string_t& value) override {
    check_depth();
    if (skip_depth_ == 0) {
      if (depth_ == 1) {
        key_ = std::move(value);
        refused_.erase(key_);  // the key's last value decides
      } else if (in_turns() && depth_ == 3) {
        turn_key_ = std::move(value);
      }
    }
    return true;
  }

  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::detail::exception& error) override {
    VLM_THROW(FormatError, "invalid JSON: ", error.what());
  }

 private:
  enum class Kind { kNull, kString, kInteger, kOther };

  [[noreturn]] static void fail(const std::string& what) { VLM_THROW(FormatError, what); }
  // Holds a bad value against the current top-level key (its first problem).
  void refuse(const std::string& what) { refused_.emplace(key_, what); }

  // A value inside depth_ containers of the record sits depth_ + 1 deep in a JSON array corpus,
  // where read_corpus's bound (json_depth_limit) refuses more than kMaxJsonDepth. Without it a
  // record nested a million deep in an ignored key went into a shard whole.
  void check_depth() const {
    if (depth_ + 1 > kMaxJsonDepth) {
      fail("JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    }
  }

  bool in_turns() const { return field_ == "conversations"; }
  std::vector<std::string>& paths_for(const std::string& key) {
    return key == "image" ? image_ : frames_;
  }

  // An object or array where the schema wants a scalar (or inside an ignored key): skip it,
  // unless the field forbids it.
  void container_in_field() {
    if (depth_ == 1) {
      if (key_ == "id") refuse("\"id\" must be a string or an integer");
      if (key_ == "image" || key_ == "frames") {
        refuse("\"" + key_ + "\" must be a string or a list");
      }
      if (key_ == "conversations") refuse("\"conversations\" must be a list");
      if (key_ == "category") refuse("\"category\" must be a string");
    } else if (depth_ == 2 && (field_ == "image" || field_ == "frames")) {
      refuse("\"" + field_ + "\" must hold strings");
    } else if (depth_ == 2 && in_turns()) {
      turn_failure();
    } else if (depth_ == 3 && in_turns() && (turn_key_ == "from" || turn_key_ == "value")) {
      turn_refused_.insert(turn_key_);
    }
    skip_depth_ = depth_;
  }

  void end_skip() {
    if (skip_depth_ != 0 && depth_ == skip_depth_) skip_depth_ = 0;
  }

  void turn_failure() {
    refuse("turn " + std::to_string(conversation_.turns.size()) +
           " must be {\"from\": string, \"value\": string}");
  }

  bool scalar(Kind kind, std::string value) {
    check_depth();
    if (depth_ == 0) fail("a record must be a JSON object");
    if (skip_depth_ != 0) return true;
    if (depth_ == 1) return top_level_scalar(kind, std::move(value));
    if (depth_ == 2 && (field_ == "image" || field_ == "frames")) {
      if (kind != Kind::kString) refuse("\"" + field_ + "\" must hold strings");
      paths_for(field_).push_back(std::move(value));
    } else if (depth_ == 2 && in_turns()) {
      turn_failure();  // a turn that is not an object
    } else if (depth_ == 3 && in_turns() && (turn_key_ == "from" || turn_key_ == "value")) {
      if (kind != Kind::kString) {
        turn_refused_.insert(turn_key_);
        return true;
      }
      turn_refused_.erase(turn_key_);
      if (turn_key_ == "from") {
        turn_.from = std::move(value);
        turn_has_from_ = true;
      } else {
        turn_.value = std::move(value);
        turn_has_value_ = true;
      }
    }
    return true;
  }

  bool top_level_scalar(Kind kind, std::string value) {
    if (key_ == "id") {
      if (kind == Kind::kOther) refuse("\"id\" must be a string or an integer");
      conversation_.id = kind == Kind::kNull ? std::string() : std::move(value);
    } else if (key_ == "image" || key_ == "frames") {
      auto& paths = paths_for(key_);
      paths.clear();
      if (kind == Kind::kString) {
        paths.push_back(std::move(value));
      } else if (kind != Kind::kNull) {
        refuse("\"" + key_ + "\" must be a string or a list");
      }
    } else if (key_ == "conversations") {
      refuse("\"conversations\" must be a list");
    } else if (key_ == "category") {
      if (kind == Kind::kString) {
        conversation_.category = std::move(value);
      } else if (kind == Kind::kNull) {
        conversation_.category.clear();
      } else {
        refuse("\"category\" must be a string");
      }
    }
    return true;
  }

  Conversation conversation_;
  std::vector<std::string> image_, frames_;
  bool saw_conversations_ = false;
  std::map<std::string, std::string> refused_;  // top-level key -> why its last value is refused
  std::set<std::string> turn_refused_;          // the current turn's keys with a bad last value
  int depth_ = 0;
  int skip_depth_ = 0;  // nonzero: inside an ignored container that started at this depth
  std::string key_;     // the current top-level key
  std::string field_;   // the top-level list being read: image, frames or conversations
  std::string turn_key_;
  Turn turn_;
  bool turn_has_from_ = false, turn_has_value_ = false;
};

}  // namespace

Conversation parse_record(std::string_view json) {
  RecordHandler handler;
  try {
    Json::sax_parse(json.begin(), json.end(), &handler);
  } catch (const Json::exception& e) {
    VLM_THROW(FormatError, "invalid JSON: ", std::string(e.what()).substr(0, 300));
  }
  return handler.take();
}

}  // namespace vlm::data
