#include "tests/fuzz/mutator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/error.h"
#include "common/files.h"

namespace vlm::fuzz {

Mutator::Mutator(uint64_t seed, std::vector<std::string> dictionary, size_t max_bytes)
    : random_(seed), dictionary_(std::move(dictionary)), max_bytes_(max_bytes) {}

size_t Mutator::below(size_t bound) {
  return bound == 0 ? 0 : static_cast<size_t>(random_() % bound);
}

size_t Mutator::position(const std::string& input) { return below(input.size() + 1); }

void Mutator::apply_one(std::string& input, const std::vector<std::string>& seeds) {
  switch (below(8)) {
    case 0:  // flip one bit
      if (!input.empty()) input[below(input.size())] ^= static_cast<char>(1 << below(8));
      break;
    case 1:  // set a byte to anything
      if (!input.empty()) input[below(input.size())] = static_cast<char>(below(256));
      break;
    case 2:  // insert a token of the format
      if (!dictionary_.empty())
        input.insert(position(input), dictionary_[below(dictionary_.size())]);
      break;
    case 3: {  // replace a range with a token of the format
      if (dictionary_.empty() || input.empty()) break;
      const size_t at = below(input.size());
      input.replace(at, below(9), dictionary_[below(dictionary_.size())]);
      break;
    }
    case 4: {  // remove a range
      if (input.empty()) break;
      const size_t at = below(input.size());
      input.erase(at, 1 + below(std::min<size_t>(64, input.size() - at)));
      break;
    }
    case 5: {  // repeat a range (nesting, long keys, many elements)
      if (input.empty()) break;
      const size_t at = below(input.size());
      const std::string piece = input.substr(at, 1 + below(32));
      const size_t times = 1 + below(16);
      std::string repeated;
      for (size_t i = 0; i < times; ++i) repeated += piece;
      input.insert(at, repeated);
      break;
    }
    case 6: {  // splice: a head of this input, a tail of another seed
      const std::string& other = seeds[below(seeds.size())];
      input = input.substr(0, position(input)) + other.substr(below(other.size() + 1));
      break;
    }
    default:  // cut the end off
      input.resize(position(input));
      break;
  }
}

std::string Mutator::mutate(const std::vector<std::string>& seeds) {
  std::string input = seeds[below(seeds.size())];
  const size_t edits = 1 + below(4);
  for (size_t i = 0; i < edits; ++i) apply_one(input, seeds);
  if (input.size() > max_bytes_) input.resize(max_bytes_);
  return input;
}

namespace {

constexpr size_t kMaxMessageBytes = 2048;

std::string save_failure(const std::string& name, int64_t index, const std::string& input) {
  const char* configured = std::getenv("VLM_FUZZ_FAILURES");
  const std::string dir = configured != nullptr ? configured : VLM_BINARY_DIR "/fuzz-failures";
  files::make_directories(dir);
  const std::string path = files::join(dir, name + "-" + std::to_string(index));
  files::write_atomically(path, input);
  return path;
}

size_t largest(const std::vector<std::string>& inputs) {
  size_t bytes = 0;
  for (const auto& input : inputs) bytes = std::max(bytes, input.size());
  return bytes;
}

}  // namespace

FuzzOutcome run_fuzz(const std::string& name, const std::vector<std::string>& seeds,
                     const std::vector<std::string>& dictionary,
                     const std::function<void(const std::string&)>& parse, size_t max_bytes) {
  EXPECT_FALSE(seeds.empty()) << name << ": no seeds";
  if (seeds.empty()) return {};
  FuzzOutcome outcome;
  Mutator mutator(0x5eed0000u + seeds.size(), dictionary, max_bytes);
  const int64_t iterations = fuzz_iterations(2000);
  const int64_t total = static_cast<int64_t>(seeds.size()) + iterations;
  for (int64_t index = 0; index < total; ++index) {
    const std::string input = index < static_cast<int64_t>(seeds.size())
                                  ? seeds[static_cast<size_t>(index)]
                                  : mutator.mutate(seeds);
    try {
      parse(input);
      ++outcome.accepted;
    } catch (const Error& e) {
      ++outcome.refused;
      const size_t message_bytes = std::strlen(e.what());
      if (message_bytes > kMaxMessageBytes) {
        ADD_FAILURE() << name << ": a " << message_bytes << "-byte error message for input "
                      << save_failure(name, index, input);
        return outcome;
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << name << ": untyped " << typeid(e).name() << " (" << e.what()
                    << ") for input " << save_failure(name, index, input);
      return outcome;
    }
  }
  std::printf("fuzz %s: %lld inputs (seeds %zu, largest %zu bytes): %lld accepted, %lld refused\n",
              name.c_str(), static_cast<long long>(total), seeds.size(), largest(seeds),
              static_cast<long long>(outcome.accepted), static_cast<long long>(outcome.refused));
  return outcome;
}

int64_t fuzz_iterations(int64_t fallback) {
  const char* configured = std::getenv("VLM_FUZZ_ITERATIONS");
  return configured != nullptr ? std::atoll(configured) : fallback;
}

std::vector<std::string> json_dictionary() {
  return {"{",
          "}",
          "[",
          "]",
          ",",
          ":",
          "\"",
          "\\",
          "\\u",
          "\\ud800",
          "\\u0000",
          "null",
          "true",
          "false",
          "-1",
          "0",
          "-0",
          "1e308",
          "-1e309",
          "1.5",
          "9223372036854775807",
          "9223372036854775808",
          "18446744073709551616",
          "4294967296",
          "2147483648",
          "\xff",
          "\xc3\xa9",
          "[[[[[[[[",
          "{\"\":{\"\":{\"\":"};
}

}  // namespace vlm::fuzz
