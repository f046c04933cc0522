// The status endpoint's request reading: what a GET needs is accepted, byte by byte; everything
// else gets the 4xx that names it, as soon as the bytes show it.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "monitor/http_request.h"
#include "monitor/status_server.h"

namespace vlm::monitor {
namespace {

constexpr size_t kLimit = 8192;

ParseResult parse(const std::string& bytes) { return parse_request_head(bytes, kLimit); }

int rejection(const std::string& bytes) {
  const ParseResult result = parse(bytes);
  return result.state == ParseState::kRejected ? result.status : 0;
}

TEST(HttpRequest, ReadsAGetWithItsQueryAndHeaders) {
  const ParseResult r = parse(
      "GET /status?pretty=1 HTTP/1.1\r\nHost: localhost:8080\r\n"
      "Accept:  */* \r\n\r\n");
  ASSERT_EQ(r.state, ParseState::kComplete);
  EXPECT_EQ(r.request.method, "GET");
  EXPECT_EQ(r.request.target, "/status?pretty=1");
  EXPECT_EQ(r.request.path, "/status");
  EXPECT_EQ(r.request.version, "HTTP/1.1");
  ASSERT_EQ(r.request.headers.size(), 2u);
  EXPECT_EQ(r.request.headers[1].first, "Accept");
  EXPECT_EQ(r.request.headers[1].second, "*/*");
}

TEST(HttpRequest, Http10WithoutHostIsAcceptedABareLineFeedIsNot) {
  EXPECT_EQ(parse("GET /metrics HTTP/1.0\r\n\r\n").state, ParseState::kComplete);
  // RFC 9112 line ends: refused at once, not left waiting for a CRLF that never comes.
  EXPECT_EQ(rejection("GET /metrics HTTP/1.1\nHost: x\n\n"), 400);
}

TEST(HttpRequest, EveryPrefixOfAValidRequestWaitsForMoreAndTheLastByteCompletesIt) {
  const std::string request = "GET /status HTTP/1.1\r\nHost: a\r\nUser-Agent: t/1\r\n\r\n";
  for (size_t n = 0; n < request.size(); ++n) {
    EXPECT_EQ(parse(request.substr(0, n)).state, ParseState::kIncomplete) << n << " bytes";
  }
  EXPECT_EQ(parse(request).state, ParseState::kComplete);
}

TEST(HttpRequest, MalformedRequestLinesAre400) {
  for (const std::string line :
       {"GET /status", "GET  /status HTTP/1.1", "GET /status HTTP/1.1 extra", "GET status HTTP/1.1",
        "GET /status HTTP/2.0", "GET /status http/1.1", "G(T /status HTTP/1.1", "",
        "GET /st\tatus HTTP/1.1", " GET /status HTTP/1.1"}) {
    EXPECT_EQ(rejection(line + "\r\nHost: x\r\n\r\n"), 400) << "'" << line << "'";
  }
}

TEST(HttpRequest, ABadRequestLineIsRefusedBeforeTheHeadEnds) {
  // No blank line yet: the request line alone is enough to say no.
  EXPECT_EQ(rejection("HELLO THERE\r\n"), 400);
  // Not even a whole line: a byte no request line may hold.
  EXPECT_EQ(rejection("GET /\x01"), 400);
  EXPECT_EQ(rejection("\xff\xfe"), 400);
}

TEST(HttpRequest, RandomBytesAre400) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    std::string bytes(64 + trial * 20, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    EXPECT_EQ(rejection(bytes), 400) << "trial " << trial;
  }
}

TEST(HttpRequest, AnOversizedHeadIs431WhetherOrNotItEnds) {
  const std::string start = "GET /status HTTP/1.1\r\nHost: x\r\nX-Pad: ";
  const std::string pad(kLimit, 'a');
  EXPECT_EQ(rejection(start + pad), 431);               // still arriving
  EXPECT_EQ(rejection(start + pad + "\r\n\r\n"), 431);  // complete but too long
  const std::string end = "\r\n\r\n";
  const std::string exact = start + std::string(kLimit - start.size() - end.size(), 'a') + end;
  ASSERT_EQ(exact.size(), kLimit);
  EXPECT_EQ(parse(exact).state, ParseState::kComplete);
  EXPECT_EQ(rejection(std::string(kLimit + 1, 'A')), 431);  // a request line that never ends
}

TEST(HttpRequest, MalformedHeaderFieldsAre400) {
  for (const std::string field :
       {"NoColon", "Host : x", "(bad): x", "X-Ctl: a\x01z", ": empty name"}) {
    EXPECT_EQ(rejection("GET / HTTP/1.1\r\nHost: x\r\n" + field + "\r\n\r\n"), 400) << field;
  }
  EXPECT_EQ(rejection("GET / HTTP/1.1\r\n\r\n"), 400);  // HTTP/1.1 needs Host
  // An obsolete line folding is unfolded into a space, as RFC 9112 allows a server to do.
  const ParseResult folded = parse("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n");
  ASSERT_EQ(folded.state, ParseState::kComplete);
  EXPECT_EQ(folded.request.headers.at(1).second, "a b");
  EXPECT_EQ(rejection("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n"), 400);
}

TEST(HttpRequest, RequestBodiesAre413) {
  EXPECT_EQ(rejection("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"), 413);
  EXPECT_EQ(rejection("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"), 413);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: x\r\ncontent-length: 00\r\n\r\n").state,
            ParseState::kComplete);
}

HttpRequest request(const std::string& method, const std::string& path) {
  return parse(method + " " + path + " HTTP/1.1\r\nHost: x\r\n\r\n").request;
}

TEST(StatusRoutes, StatusAndMetricsAnswerOtherPathsAre404OtherMethods405) {
  int snapshots = 0;
  const StatusSnapshot snapshot = [&] {
    ++snapshots;
    RunStatus s;
    s.step = 3;
    return s;
  };
  const HttpResponse status = answer(request("GET", "/status?x=1"), snapshot);
  EXPECT_EQ(status.status, 200);
  EXPECT_EQ(status.content_type, "application/json");
  EXPECT_NE(status.body.find("\"step\": 3"), std::string::npos) << status.body;
  const HttpResponse metrics = answer(request("GET", "/metrics"), snapshot);
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.content_type.find("version=0.0.4"), std::string::npos);
  EXPECT_NE(metrics.body.find("\nvlm_step 3\n"), std::string::npos) << metrics.body;
  EXPECT_EQ(answer(request("GET", "/"), snapshot).status, 404);
  EXPECT_EQ(answer(request("GET", "/status/x"), snapshot).status, 404);
  const HttpResponse post = answer(request("POST", "/status"), snapshot);
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.allow, "GET, HEAD");
  EXPECT_EQ(answer(request("DELETE", "/metrics"), snapshot).status, 405);
  EXPECT_EQ(snapshots, 2);  // refusals never ask training for anything
}

TEST(StatusRoutes, SerializedResponsesCloseAndHeadHasNoBody) {
  HttpResponse response = refusal(431, "too long");
  const std::string full = serialize(response);
  EXPECT_EQ(full.rfind("HTTP/1.1 431 Request Header Fields Too Large\r\n", 0), 0u) << full;
  EXPECT_NE(full.find("Connection: close\r\n"), std::string::npos);
  const size_t body_at = full.find("\r\n\r\n") + 4;
  EXPECT_EQ(full.substr(body_at), response.body);
  EXPECT_NE(full.find("Content-Length: " + std::to_string(response.body.size()) + "\r\n"),
            std::string::npos);
  const std::string head = serialize(response, /*head_only=*/true);
  EXPECT_EQ(head, full.substr(0, body_at));
}

}  // namespace
}  // namespace vlm::monitor
