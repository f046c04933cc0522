#include "monitor/status_server.h"

#include <array>
#include <boost/asio.hpp>
#include <chrono>
#include <list>
#include <map>
#include <thread>

#include "common/error.h"
#include "monitor/io_thread.h"
#include "monitor/status_render.h"

namespace vlm::monitor {
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

// A 408 is written and the socket closed; a client that does not even take those few bytes
// within this long is dropped without them.
constexpr double kRefusalWriteGrace_s = 1.0;

class Connection;

// What every connection shares: the options, the snapshot and the open connections, oldest
// first (touched on the server thread only).
struct Shared {
  StatusServerOptions options;
  StatusSnapshot snapshot;
  std::list<Connection*> open;
};

// One client: read a head within the deadline, answer once, drain, close. The deadline runs from
// accept and nothing the client sends extends it, so a byte now and then buys no time.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, Shared& shared)
      : socket_(std::move(socket)), deadline_(socket_.get_executor()), shared_(shared) {
    boost::system::error_code ec;
    peer_ = socket_.remote_endpoint(ec).address();
    slot_ = shared_.open.insert(shared_.open.end(), this);
  }
  ~Connection() { release_slot(); }

  void start() {
    arm_deadline(shared_.options.request_timeout_s);
    read();
  }

  // Done with its request (answer written, only draining): the first to make room.
  bool answered() const { return answered_ && !writing_; }
  bool waiting_for_head() const { return !answered_; }
  const asio::ip::address& peer() const { return peer_; }

  void close() {
    boost::system::error_code ignored;
    deadline_.cancel();
    socket_.close(ignored);
    release_slot();
  }

 private:
  void release_slot() {
    if (slot_ == shared_.open.end()) return;
    shared_.open.erase(slot_);
    slot_ = shared_.open.end();
  }

  void arm_deadline(double s) {
    deadline_.expires_after(seconds(s));
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
    if (!socket_.is_open()) return;
    if (answered_) return drain(ec, n);
    if (ec) return close();  // the client left without a request
    received_.append(chunk_.data(), n);
    const ParseResult parsed = parse_request_head(received_, shared_.options.max_head_bytes);
    if (parsed.state == ParseState::kIncomplete) return read();
    if (parsed.state == ParseState::kRejected) return send(refusal(parsed.status, parsed.reason));
    send(answer(parsed.request, shared_.snapshot), parsed.request.method == "HEAD");
  }

  void on_deadline() {
    if (!socket_.is_open()) return;  // evicted just as the timer fired
    // Answered: a slow reader, or one that keeps sending after the answer.
    if (answered_) return close();
    close_after_write_ = true;
    arm_deadline(kRefusalWriteGrace_s);
    send(refusal(408, "no complete request head within the timeout"));
  }

  void send(const HttpResponse& response, bool head_only = false) {
    answered_ = true;
    writing_ = true;
    reply_ = serialize(response, head_only);
    asio::async_write(socket_, asio::buffer(reply_),
                      [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                        self->writing_ = false;
                        if (ec || self->close_after_write_) return self->close();
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

  tcp::socket socket_;
  asio::steady_timer deadline_;
  Shared& shared_;
  std::list<Connection*>::iterator slot_;
  asio::ip::address peer_;
  std::array<char, 4096> chunk_{};
  std::string received_;
  std::string reply_;
  bool answered_ = false;
  bool writing_ = false;
  bool reading_ = false;
  bool close_after_write_ = false;
  size_t drained_ = 0;
};

// When every slot is taken, which connection gives way to a new one: the oldest that has its
// answer already; else the oldest of the peer holding the most slots that still has no complete
// head (idle holders from one address cannot starve everyone else). nullptr: all are mid-answer.
Connection* connection_to_evict(const std::list<Connection*>& open) {
  for (Connection* c : open) {
    if (c->answered()) return c;
  }
  std::map<asio::ip::address, int> held;
  for (const Connection* c : open) ++held[c->peer()];
  Connection* victim = nullptr;
  int victim_held = 0;
  for (Connection* c : open) {
    if (!c->waiting_for_head() || held[c->peer()] <= victim_held) continue;
    victim = c;  // the list runs oldest first: the first of each peer is its oldest
    victim_held = held[c->peer()];
  }
  return victim;
}

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
      if (static_cast<int>(shared.open.size()) >= shared.options.max_connections) {
        if (Connection* victim = connection_to_evict(shared.open)) victim->close();
      }
      if (static_cast<int>(shared.open.size()) < shared.options.max_connections) {
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

}  // namespace vlm::monitor
