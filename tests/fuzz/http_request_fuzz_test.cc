// The status endpoint's request parser: mutants of real requests, whole and cut at random points
// (the server parses what has arrived so far). It never throws; what it completes is a request a
// handler can use, and what it refuses carries a 4xx and a short reason.
#include <gtest/gtest.h>

#include <stdexcept>

#include "monitor/http_request.h"
#include "tests/fuzz/mutator.h"

namespace vlm::fuzz {
namespace {

constexpr size_t kMaxHead = 8192;

void check(const monitor::ParseResult& result, size_t received) {
  using monitor::ParseState;
  if (result.state == ParseState::kComplete) {
    if (result.request.method.empty() || result.request.path.empty() ||
        result.request.path[0] != '/' || received > kMaxHead + 4) {
      throw std::logic_error("a complete request without method or path, or past the bound");
    }
  } else if (result.state == ParseState::kRejected) {
    if (result.status < 400 || result.status > 499 || result.reason.empty() ||
        result.reason.size() > 512) {
      throw std::logic_error("a refusal without a 4xx or a short reason");
    }
  } else if (received > kMaxHead + 4) {
    throw std::logic_error("more than the bound received and still incomplete");
  }
}

TEST(HttpRequestFuzz, MutatedRequestsAreParsedOrRefusedWithA4xx) {
  const std::vector<std::string> seeds = {
      "GET /status HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: "
      "*/*\r\n\r\n",
      "HEAD /metrics?x=1 HTTP/1.0\r\n\r\n",
      "GET /status HTTP/1.1\nHost: a\n\n",
      "POST /status HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
      "GET /status HTTP/1.1\r\nX-Long: " + std::string(300, 'a') + "\r\n\r\n",
  };
  std::vector<std::string> dictionary = {"\r\n",
                                         "\n",
                                         "\r\n\r\n",
                                         " ",
                                         ":",
                                         "GET",
                                         "HEAD",
                                         "HTTP/1.1",
                                         "HTTP/2",
                                         "/",
                                         "%00",
                                         "\t",
                                         "\x7f",
                                         "Content-Length: ",
                                         "Transfer-Encoding: chunked"};
  const FuzzOutcome outcome =
      run_fuzz("http_request", seeds, dictionary, [](const std::string& input) {
        check(monitor::parse_request_head(input, kMaxHead), input.size());
        // The server parses whatever has arrived: every prefix must be handled as well.
        for (size_t cut = 0; cut < input.size(); cut += 1 + input.size() / 7) {
          check(monitor::parse_request_head(std::string_view(input).substr(0, cut), kMaxHead), cut);
        }
      });
  EXPECT_EQ(outcome.refused, 0);  // the parser reports, it does not throw
  EXPECT_GT(outcome.accepted, 0);
}

}  // namespace
}  // namespace vlm::fuzz
