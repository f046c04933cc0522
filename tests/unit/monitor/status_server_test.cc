// The status server on a real loopback socket: a GET is answered, garbage gets its 4xx, a client
// that goes silent mid-request gets 408 and is closed, a 1 MiB header gets 431 (read by the
// client, not lost to a reset), and the server keeps answering after all of them.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/error.h"
#include "monitor/status_server.h"

namespace vlm::monitor {
namespace {

// A blocking client socket connected to 127.0.0.1:port, with a receive timeout.
class Client {
 public:
  explicit Client(int port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval limit{10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  }
  ~Client() { close(fd_); }
  bool connected() const { return connected_; }
  void send_all(const std::string& bytes) {
    for (size_t sent = 0; sent < bytes.size();) {
      const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;  // the server may close first; what it answered is still readable
      sent += static_cast<size_t>(n);
    }
  }
  // Everything until the server closes (or the 10 s receive timeout).
  std::string read_all() {
    std::string out;
    char buffer[4096];
    while (true) {
      const ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) return out;
      out.append(buffer, static_cast<size_t>(n));
    }
  }

 private:
  int fd_;
  bool connected_ = false;
};

std::string exchange(int port, const std::string& bytes) {
  Client client(port);
  EXPECT_TRUE(client.connected());
  client.send_all(bytes);
  return client.read_all();
}

std::string status_line(const std::string& response) {
  return response.substr(0, response.find("\r\n"));
}

class StatusServerTest : public ::testing::Test {
 protected:
  StatusServerTest() {
    options_.port = 0;
    options_.request_timeout_s = 0.5;
    server_ = std::make_unique<StatusServer>(options_, [] {
      RunStatus s;
      s.step = 9;
      return s;
    });
  }
  int port() const { return server_->port(); }

  StatusServerOptions options_;
  std::unique_ptr<StatusServer> server_;
};

TEST_F(StatusServerTest, AnswersGetStatusAndMetrics) {
  EXPECT_EQ(server_->url(), "http://127.0.0.1:" + std::to_string(port()));
  const std::string status = exchange(port(), "GET /status HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(status_line(status), "HTTP/1.1 200 OK");
  EXPECT_NE(status.find("\"step\": 9"), std::string::npos) << status;
  const std::string metrics = exchange(port(), "GET /metrics HTTP/1.0\r\n\r\n");
  EXPECT_EQ(status_line(metrics), "HTTP/1.1 200 OK");
  EXPECT_NE(metrics.find("\nvlm_step 9\n"), std::string::npos);
}

TEST_F(StatusServerTest, RefusesBadRequestsAndKeepsServing) {
  EXPECT_EQ(status_line(exchange(port(), "BLAH\r\n\r\n")), "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(status_line(exchange(port(), std::string("\x16\x03\x01\x02\x00\x01\x00", 7))),
            "HTTP/1.1 400 Bad Request");  // a TLS hello
  EXPECT_EQ(status_line(exchange(port(), "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n")),
            "HTTP/1.1 404 Not Found");
  EXPECT_EQ(status_line(exchange(port(), "PUT /status HTTP/1.1\r\nHost: t\r\n\r\n")),
            "HTTP/1.1 405 Method Not Allowed");
  const std::string huge =
      "GET /status HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(1 << 20, 'x') + "\r\n\r\n";
  EXPECT_EQ(status_line(exchange(port(), huge)), "HTTP/1.1 431 Request Header Fields Too Large");
  EXPECT_EQ(status_line(exchange(port(), "GET /status HTTP/1.1\r\nHost: t\r\n\r\n")),
            "HTTP/1.1 200 OK");
}

TEST_F(StatusServerTest, ASilentClientGets408AndIsClosed) {
  Client silent(port());
  ASSERT_TRUE(silent.connected());
  silent.send_all("GET /status HTTP/1.1\r\nHost: t\r\n");  // no blank line, then nothing
  const auto start = std::chrono::steady_clock::now();
  const std::string response = silent.read_all();
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(status_line(response), "HTTP/1.1 408 Request Timeout");
  EXPECT_GT(waited, 0.3);
  EXPECT_LT(waited, 5.0);  // closed by the server, not by the client's 10 s timeout
}

// Seconds a GET /status from a fresh connection takes to be answered, and its status line.
std::pair<double, std::string> timed_get(int port) {
  const auto start = std::chrono::steady_clock::now();
  const std::string response = exchange(port, "GET /status HTTP/1.1\r\nHost: t\r\n\r\n");
  return {std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
          status_line(response)};
}

// Connections that never complete a request must not keep a real client waiting: the endpoint
// answers it at once however many idle holders it has, with the default (long) request timeout.
TEST(StatusServerSlots, IdleConnectionsFillingEverySlotDoNotDelayARealClient) {
  StatusServerOptions options;
  StatusServer server(options, [] { return RunStatus{}; });
  std::vector<std::unique_ptr<Client>> idle;
  for (int i = 0; i < options.max_connections; ++i) {
    idle.push_back(std::make_unique<Client>(server.port()));
    ASSERT_TRUE(idle.back()->connected());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // all accepted
  for (int attempt = 0; attempt < 3; ++attempt) {
    const auto [waited, line] = timed_get(server.port());
    EXPECT_EQ(line, "HTTP/1.1 200 OK");
    EXPECT_LT(waited, 1.0);
  }
}

// The same with holders that each trickle a byte every 200 ms, as if a head were on its way.
TEST(StatusServerSlots, TricklingConnectionsDoNotDelayARealClient) {
  StatusServerOptions options;
  StatusServer server(options, [] { return RunStatus{}; });
  std::vector<std::unique_ptr<Client>> tricklers;
  for (int i = 0; i < options.max_connections; ++i) {
    tricklers.push_back(std::make_unique<Client>(server.port()));
    ASSERT_TRUE(tricklers.back()->connected());
  }
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    const std::string head = "GET /status HTTP/1.1\r\nX-Slow: ";
    for (size_t i = 0; !stop; ++i) {
      for (auto& client : tricklers) client->send_all(std::string(1, head[i % head.size()]));
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  for (int attempt = 0; attempt < 3; ++attempt) {
    const auto [waited, line] = timed_get(server.port());
    EXPECT_EQ(line, "HTTP/1.1 200 OK");
    EXPECT_LT(waited, 1.0);
  }
  stop = true;
  trickle.join();
}

TEST(StatusServer, AnAddressItCannotBindIsAnIoError) {
  StatusServerOptions options;
  options.address = "192.0.2.1";  // TEST-NET-1: not this machine's
  EXPECT_THROW(StatusServer(options, [] { return RunStatus{}; }), IoError);
}

}  // namespace
}  // namespace vlm::monitor
