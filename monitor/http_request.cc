// The request head is read by Boost.Beast's HTTP parser; what is ours is the endpoint's policy on
// top of it: the target is a path, no bodies, Host for HTTP/1.1, and which 4xx each refusal gets.
#include "monitor/http_request.h"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstdint>
#include <limits>

namespace vlm::monitor {
namespace {

namespace http = boost::beast::http;

ParseResult rejected(int status, std::string reason) {
  ParseResult result;
  result.state = ParseState::kRejected;
  result.status = status;
  result.reason = std::move(reason);
  return result;
}

// The endpoint takes no request bodies; a Host field is required by HTTP/1.1.
ParseResult check_framing(const http::request_parser<http::empty_body>& parser) {
  const auto& message = parser.get();
  const auto length = parser.content_length();
  if (parser.chunked() || (length && *length > 0)) {
    return rejected(413, "request bodies are not accepted");
  }
  if (message.version() == 11 && message.find(http::field::host) == message.end()) {
    return rejected(400, "an HTTP/1.1 request without a Host field");
  }
  ParseResult result;
  result.state = ParseState::kComplete;
  return result;
}

}  // namespace

ParseResult parse_request_head(std::string_view received, size_t max_head_bytes) {
  http::request_parser<http::empty_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(
      std::min<size_t>(max_head_bytes, std::numeric_limits<std::uint32_t>::max())));
  parser.eager(false);  // the head only: a body is refused, never read
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(received.data(), received.size()), ec);
  if (ec == http::error::header_limit) {
    return rejected(431,
                    "the request head is longer than " + std::to_string(max_head_bytes) + " bytes");
  }
  if (ec && ec != http::error::need_more)
    return rejected(400, "malformed request: " + ec.message());
  const auto& message = parser.get();
  // The request line is in once the method is: a target that is no path is refused before the
  // header fields arrive.
  const std::string_view target(message.target().data(), message.target().size());
  if (!message.method_string().empty() && (target.empty() || target.front() != '/')) {
    return rejected(400, "the target is not a path starting with '/'");
  }
  if (!parser.is_header_done()) return {};
  ParseResult result = check_framing(parser);
  if (result.state == ParseState::kRejected) return result;
  HttpRequest& request = result.request;
  request.method = std::string(message.method_string());
  request.target = std::string(target);
  request.path = request.target.substr(0, request.target.find('?'));
  request.version = message.version() == 10 ? "HTTP/1.0" : "HTTP/1.1";
  for (const auto& field : message) {
    request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  return result;
}

}  // namespace vlm::monitor
