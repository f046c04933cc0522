#include "monitor/http_request.h"

#include <algorithm>
#include <cctype>

#include "common/text.h"

namespace vlm::monitor {
namespace {

ParseResult rejected(int status, std::string reason) {
  ParseResult result;
  result.state = ParseState::kRejected;
  result.status = status;
  result.reason = std::move(reason);
  return result;
}

ParseResult accepted() {
  ParseResult result;
  result.state = ParseState::kComplete;
  return result;
}

// RFC 9110's tchar: the characters of a method or a header field name.
bool is_token_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (std::isalnum(u)) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), is_token_char);
}

// Printable ASCII: what a request line may hold besides its two spaces.
bool is_visible(char c) { return c > 0x20 && c < 0x7f; }

// A field value: visible characters, spaces, tabs and (obsolete but legal) bytes >= 0x80.
bool is_field_value(std::string_view value) {
  return std::all_of(value.begin(), value.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u == ' ' || u == '\t' || (u > 0x20 && u != 0x7f);
  });
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// Splits text into lines at each LF, dropping the CR of each CRLF; "" is one empty line.
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (true) {
    const size_t end = text.find('\n', start);
    std::string_view line = text.substr(start, end == std::string_view::npos ? end : end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (end == std::string_view::npos) return lines;
    start = end + 1;
  }
}

// The bytes of a request line so far (complete or not): anything but visible characters,
// spaces and a CR right before the LF is wrong already.
bool request_line_prefix_ok(std::string_view partial) {
  for (size_t i = 0; i < partial.size(); ++i) {
    const char c = partial[i];
    if (c == '\r' && i + 1 == partial.size()) continue;  // its LF may come next
    if (c != ' ' && !is_visible(c)) return false;
  }
  return true;
}

ParseResult parse_request_line(std::string_view line, HttpRequest& request) {
  const size_t first = line.find(' ');
  const size_t second = first == std::string_view::npos ? first : line.find(' ', first + 1);
  if (second == std::string_view::npos || line.find(' ', second + 1) != std::string_view::npos) {
    return rejected(400, "the request line is not 'METHOD TARGET HTTP/1.x'");
  }
  const std::string_view method = line.substr(0, first);
  const std::string_view target = line.substr(first + 1, second - first - 1);
  const std::string_view version = line.substr(second + 1);
  if (!is_token(method)) return rejected(400, "the method is not a token");
  if (target.empty() || target.front() != '/') {
    return rejected(400, "the target is not a path starting with '/'");
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    return rejected(400, "the version is not HTTP/1.0 or HTTP/1.1");
  }
  request.method = method;
  request.target = target;
  request.path = target.substr(0, target.find('?'));
  request.version = version;
  return accepted();
}

ParseResult parse_header_line(std::string_view line, HttpRequest& request) {
  if (line.front() == ' ' || line.front() == '\t') {
    return rejected(400, "a header field is folded over lines");
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return rejected(400, "a header line has no ':'");
  const std::string_view name = line.substr(0, colon);
  const std::string_view value = trim(line.substr(colon + 1));
  if (!is_token(name)) return rejected(400, "a header field name is not a token");
  if (!is_field_value(value)) return rejected(400, "a header field value has control bytes");
  request.headers.emplace_back(name, value);
  return accepted();
}

// The endpoint takes no request bodies; a Host field is required by HTTP/1.1.
ParseResult check_framing(const HttpRequest& request) {
  bool has_host = false;
  for (const auto& [name, value] : request.headers) {
    if (equals_ignoring_case(name, "Transfer-Encoding")) {
      return rejected(413, "request bodies are not accepted");
    }
    if (equals_ignoring_case(name, "Content-Length")) {
      if (value.empty() || !std::all_of(value.begin(), value.end(), ::isdigit)) {
        return rejected(400, "Content-Length is not a number");
      }
      if (value.find_first_not_of('0') != std::string::npos) {
        return rejected(413, "request bodies are not accepted");
      }
    }
    has_host = has_host || equals_ignoring_case(name, "Host");
  }
  if (request.version == "HTTP/1.1" && !has_host) {
    return rejected(400, "an HTTP/1.1 request without a Host field");
  }
  return accepted();
}

// Where the head ends (just past its blank line), or npos.
size_t head_end(std::string_view received) {
  size_t from = 0;
  while (true) {
    const size_t lf = received.find('\n', from);
    if (lf == std::string_view::npos) return std::string_view::npos;
    const size_t next = lf + 1;
    if (next < received.size() && received[next] == '\n') return next + 1;
    if (next + 1 < received.size() && received[next] == '\r' && received[next + 1] == '\n') {
      return next + 2;
    }
    from = next;
  }
}

}  // namespace

ParseResult parse_request_head(std::string_view received, size_t max_head_bytes) {
  const size_t first_lf = received.find('\n');
  if (!request_line_prefix_ok(received.substr(0, first_lf))) {
    return rejected(400, "the request line holds bytes that are not printable ASCII");
  }
  ParseResult result;
  result.state = ParseState::kComplete;
  if (first_lf != std::string_view::npos) {
    const ParseResult line =
        parse_request_line(split_lines(received.substr(0, first_lf)).front(), result.request);
    if (line.state == ParseState::kRejected) return line;
  }
  const size_t end = head_end(received);
  if (end == std::string_view::npos ? received.size() > max_head_bytes : end > max_head_bytes) {
    return rejected(431,
                    "the request head is longer than " + std::to_string(max_head_bytes) + " bytes");
  }
  if (end == std::string_view::npos) return {};
  const std::vector<std::string_view> lines = split_lines(received.substr(0, end));
  for (size_t i = 1; i < lines.size() && !lines[i].empty(); ++i) {
    const ParseResult header = parse_header_line(lines[i], result.request);
    if (header.state == ParseState::kRejected) return header;
  }
  const ParseResult framing = check_framing(result.request);
  if (framing.state == ParseState::kRejected) return framing;
  return result;
}

}  // namespace vlm::monitor
