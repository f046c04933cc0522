// The status endpoint: a small HTTP/1.1 server on a thread of its own (Boost.Asio), answering
// GET /status (JSON) and GET /metrics (Prometheus) from a snapshot function. One request per
// connection. Whatever a client sends, the server only reads a bounded head within a deadline,
// answers (4xx for anything wrong) and closes; it never calls into training except through the
// snapshot, which must be quick (a copy under a mutex).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "monitor/http_request.h"
#include "monitor/run_status.h"

namespace vlm::monitor {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::string allow;  // the Allow field of a 405
};

using StatusSnapshot = std::function<RunStatus()>;

// GET or HEAD /status, /metrics (the query is ignored); 404 for other paths, 405 for other methods.
HttpResponse answer(const HttpRequest& request, const StatusSnapshot& snapshot);
// A 4xx whose body is the reason.
HttpResponse refusal(int status, const std::string& reason);
// The bytes sent: status line, Content-Type, Content-Length, Connection: close, body (none for
// HEAD: head_only).
std::string serialize(const HttpResponse& response, bool head_only = false);

struct StatusServerOptions {
  std::string address = "127.0.0.1";
  int port = 0;  // 0: any free port (see StatusServer::port)
  size_t max_head_bytes = 8192;
  // A client must send its whole request head within this long of its connect, however it
  // trickles; then it gets 408 and is closed. An answered client is closed by then, too.
  double request_timeout_s = 5.0;
  // Beyond: a new connection takes the slot of an answered one still draining, else of the
  // oldest head still awaited from the peer holding the most slots (so idle connections cannot
  // keep a real client out); refused only when every connection is mid-answer. Each costs ~16 KiB.
  int max_connections = 64;
};

class StatusServer {
 public:
  // Binds and starts serving; throws IoError when the address cannot be bound.
  StatusServer(const StatusServerOptions& options, StatusSnapshot snapshot);
  ~StatusServer();  // stops the thread, closing every connection
  StatusServer(const StatusServer&) = delete;
  StatusServer& operator=(const StatusServer&) = delete;

  int port() const;
  std::string url() const;  // http://address:port

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vlm::monitor
