// Mutation fuzzing without a fuzzing engine: deterministic mutants of seed inputs (bit flips,
// byte edits, inserted dictionary tokens, repeated and removed ranges, splices of two seeds), fed
// to a parser in a bounded loop. Runs as an ordinary test, under AddressSanitizer and UBSan in the
// sanitizer suite (scripts/sanitize.sh), so that a crash, an invalid read or an exception other
// than our typed errors fails CI with the input that caused it.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace vlm::fuzz {

class Mutator {
 public:
  // dictionary: tokens of the format (keys, delimiters, boundary numbers) that random bytes
  // would rarely produce.
  Mutator(uint64_t seed, std::vector<std::string> dictionary, size_t max_bytes);
  std::string mutate(const std::vector<std::string>& seeds);

 private:
  void apply_one(std::string& input, const std::vector<std::string>& seeds);
  size_t position(const std::string& input);
  size_t below(size_t bound);

  std::mt19937_64 random_;
  std::vector<std::string> dictionary_;
  size_t max_bytes_;
};

struct FuzzOutcome {
  int64_t accepted = 0;  // inputs the parser took
  int64_t refused = 0;   // inputs it refused with one of our typed errors (vlm::Error)
};

// Runs the seeds, then `iterations` mutants, through parse. A vlm::Error is a refusal; its message
// must stay short (it may quote input, but a few hundred bytes of it at most). Any other exception
// fails the current test, naming the input's file: the input is saved under
// $VLM_FUZZ_FAILURES (default: the build directory's fuzz-failures/) to be replayed.
FuzzOutcome run_fuzz(const std::string& name, const std::vector<std::string>& seeds,
                     const std::vector<std::string>& dictionary,
                     const std::function<void(const std::string&)>& parse,
                     size_t max_bytes = 1 << 16);

// VLM_FUZZ_ITERATIONS, else fallback: CI runs a bounded number; a longer local run raises it.
int64_t fuzz_iterations(int64_t fallback);

// Tokens every JSON parser should see: delimiters, escapes and numbers at the edges of integer
// and floating-point ranges.
std::vector<std::string> json_dictionary();

}  // namespace vlm::fuzz
