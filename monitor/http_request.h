// The status endpoint's HTTP/1.x request reading, kept apart from the sockets so it can be tested
// byte by byte. Boost.Beast parses; this adds what a GET to the endpoint needs: a path as target,
// no body, Host for HTTP/1.1. Anything else is refused with the 4xx status that names the problem,
// as early as the bytes show it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vlm::monitor {

struct HttpRequest {
  std::string method;
  std::string target;   // as sent: "/status?pretty"
  std::string path;     // the target without its query: "/status"
  std::string version;  // HTTP/1.0 or HTTP/1.1
  std::vector<std::pair<std::string, std::string>> headers;  // in order, names as sent
};

enum class ParseState {
  kIncomplete,  // no blank line yet, nothing wrong so far: read more
  kComplete,    // request holds the request
  kRejected,    // status and reason say why; answer and close
};

struct ParseResult {
  ParseState state = ParseState::kIncomplete;
  HttpRequest request;
  int status = 0;      // kRejected: 400, 413 or 431
  std::string reason;  // kRejected: for the response body and the log
};

// Reads the request head (request line and header fields up to the blank line) from the bytes
// received so far. max_head_bytes bounds the head: beyond it, 431. A request line that is
// already malformed is refused before its end arrives (random bytes get their 400 at once).
// Line ends are CRLF, as RFC 9112 asks (a bare LF is a 400); a folded field value is unfolded.
ParseResult parse_request_head(std::string_view received, size_t max_head_bytes);

}  // namespace vlm::monitor
