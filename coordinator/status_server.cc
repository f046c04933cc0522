#include "coordinator/status_server.h"

#include <array>
#include <boost/asio.hpp>
#include <chrono>
#include <thread>

#include "common/error.h"
#include "coordinator/io_thread.h"
#include "coordinator/status_render.h"

namespace vlm::coordinator {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

// After answering, what the client still sends is read and dropped (up to this much, within the
// request timeout) before closing: closing with unread bytes would send a reset that can destroy
// the answer before the client reads it (a 431 to a 1 MiB header, say).
constexpr size_t kMaxDrainBytes = 16u << 20;

std::chrono::steady_clock::duration seconds(double s) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(s));
}

const char* reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Payload Too Large";
    case 431:
      return "Request Header Fields Too Large";
    default:
      return "Error";
  }
}

// What every connection shares: the options, the snapshot and how many connections are open.
struct Shared {
  StatusServerOptions options;
  StatusSnapshot snapshot;
  int open_connections = 0;  // touched on the server thread only
};

// One client: read a head within the deadline, answer once, drain, close.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, Shared& shared)
      : socket_(std::move(socket)), deadline_(socket_.get_executor()), shared_(shared) {
    ++shared_.open_connections;
  }
  ~Connection() { --shared_.open_connections; }

  void start() {
    arm_deadline();
    read();
  }

 private:
  void arm_deadline() {
    deadline_.expires_after(seconds(shared_.options.request_timeout_s));
    deadline_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->on_deadline();
    });
  }

  void read() {
    reading_ = true;
    socket_.async_read_some(asio::buffer(chunk_),
                            [self = shared_from_this()](const boost::system::error_code& ec,
                                                        size_t n) { self->on_read(ec, n); });
  }

  void on_read(const boost::system::error_code& ec, size_t n) {
    reading_ = false;
    if (answered_) return drain(ec, n);
    if (ec) return close();  // the client left without a request
    received_.append(chunk_.data(), n);
    const ParseResult parsed = parse_request_head(received_, shared_.options.max_head_bytes);
    if (parsed.state == ParseState::kIncomplete) return read();
    if (parsed.state == ParseState::kRejected) return send(refusal(parsed.status, parsed.reason));
    send(answer(parsed.request, shared_.snapshot), parsed.request.method == "HEAD");
  }

  void on_deadline() {
    if (answered_) return close();  // a slow reader, or one that keeps sending after the answer
    send(refusal(408, "no complete request head within the timeout"));
  }

  void send(const HttpResponse& response, bool head_only = false) {
    answered_ = true;
    reply_ = serialize(response, head_only);
    arm_deadline();
    asio::async_write(socket_, asio::buffer(reply_),
                      [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                        if (ec) return self->close();
                        boost::system::error_code ignored;
                        self->socket_.shutdown(tcp::socket::shutdown_send, ignored);
                        if (!self->reading_) self->read();
                      });
  }

  void drain(const boost::system::error_code& ec, size_t n) {
    drained_ += n;
    if (ec || drained_ > kMaxDrainBytes) return close();
    read();
  }

  void close() {
    boost::system::error_code ignored;
    deadline_.cancel();
    socket_.close(ignored);
  }

  tcp::socket socket_;
  asio::steady_timer deadline_;
  Shared& shared_;
  std::array<char, 4096> chunk_{};
  std::string received_;
  std::string reply_;
  bool answered_ = false;
  bool reading_ = false;
  size_t drained_ = 0;
};

tcp::endpoint resolve_listen_endpoint(asio::io_context& io, const StatusServerOptions& options) {
  tcp::resolver resolver(io);
  boost::system::error_code ec;
  const auto results =
      resolver.resolve(options.address, std::to_string(options.port),
                       tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  VLM_CHECK(!ec && !results.empty(), IoError, "status endpoint: cannot resolve address '",
            options.address, "': ", ec.message());
  return results.begin()->endpoint();
}

}  // namespace

struct StatusServer::Impl {
  Shared shared;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  asio::steady_timer accept_pause{io};
  std::thread thread;
  tcp::endpoint bound;  // set before the thread starts, read-only after

  void listen() {
    const tcp::endpoint endpoint = resolve_listen_endpoint(io, shared.options);
    boost::system::error_code ec;
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) bound = acceptor.local_endpoint(ec);
    VLM_CHECK(!ec, IoError, "status endpoint: cannot listen on ", shared.options.address, ":",
              shared.options.port, ": ", ec.message());
  }

  void accept() {
    acceptor.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
      if (ec) return pause_accepting();  // out of descriptors, say: try again shortly
      if (shared.open_connections < shared.options.max_connections) {
        std::make_shared<Connection>(std::move(socket), shared)->start();
      }
      accept();  // a socket not handed on closes here
    });
  }

  void pause_accepting() {
    accept_pause.expires_after(std::chrono::milliseconds(100));
    accept_pause.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) accept();
    });
  }
};

StatusServer::StatusServer(const StatusServerOptions& options, StatusSnapshot snapshot)
    : impl_(std::make_unique<Impl>()) {
  impl_->shared.options = options;
  impl_->shared.snapshot = std::move(snapshot);
  impl_->listen();
  impl_->accept();
  impl_->thread = run_io_thread(impl_->io, "status endpoint");
}

StatusServer::~StatusServer() {
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int StatusServer::port() const { return impl_->bound.port(); }

std::string StatusServer::url() const {
  const auto address = impl_->bound.address();
  const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return "http://" + host + ":" + std::to_string(port());
}

HttpResponse answer(const HttpRequest& request, const StatusSnapshot& snapshot) {
  if (request.path != "/status" && request.path != "/metrics") {
    return refusal(404, "unknown path " + request.path + ": try /status or /metrics");
  }
  if (request.method != "GET" && request.method != "HEAD") {
    HttpResponse response = refusal(405, "only GET and HEAD are served");
    response.allow = "GET, HEAD";
    return response;
  }
  HttpResponse response;
  if (request.path == "/status") {
    response.content_type = "application/json";
    response.body = status_json(snapshot());
  } else {
    response.content_type = "text/plain; version=0.0.4; charset=utf-8";
    response.body = status_prometheus(snapshot());
  }
  return response;
}

HttpResponse refusal(int status, const std::string& reason) {
  HttpResponse response;
  response.status = status;
  response.body = std::to_string(status) + " " + reason_phrase(status) + ": " + reason + "\n";
  return response;
}

std::string serialize(const HttpResponse& response, bool head_only) {
  std::string out =
      "HTTP/1.1 " + std::to_string(response.status) + " " + reason_phrase(response.status) + "\r\n";
  out += "Content-Type: " + response.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
  if (!response.allow.empty()) out += "Allow: " + response.allow + "\r\n";
  out += "Cache-Control: no-store\r\nConnection: close\r\n\r\n";
  if (!head_only) out += response.body;
  return out;
}

}  // namespace vlm::coordinator
