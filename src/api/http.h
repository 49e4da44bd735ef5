// A small HTTP/1.1 server and client for the Poolkeeper API, over unix sockets
// and TCP alike (Debian 12's cpp-httplib cannot listen on AF_UNIX).
//
// Deliberately minimal: one request per connection. Every response carries
// Content-Length and "Connection: close", and the server closes afterwards.
// Request bodies need Content-Length; chunked requests are refused with 411.
//
// Threading: HttpServer runs one accept thread and a fixed pool of
// `worker_threads` workers fed through a queue holding at most that many
// accepted connections; while the queue is full the accept thread stops
// accepting, so further clients wait in the kernel backlog. Listen*() and
// Start() must be called from one thread, before/at startup; Stop() may be
// called from any thread but a handler (it joins the workers), is idempotent,
// and runs from the destructor.
// HttpRequestTo() is a free function with no shared state.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "base/error.h"

namespace pk::api {

enum class Transport { kUnix, kTcp };

struct HttpRequest {
  std::string method;                          // "GET"
  std::string target;                          // raw "/v1/pools?x=1"
  std::string path;                            // percent-decoded path "/v1/pools"
  std::map<std::string, std::string> query;    // percent-decoded, '+' as space; last duplicate wins
  std::map<std::string, std::string> headers;  // keys lower-cased; duplicates joined with ", "
  std::string body;
  Transport transport = Transport::kUnix;
  std::optional<uid_t> peer_uid;  // SO_PEERCRED, set on unix sockets only

  // The value of header `lower_name`, or "" when absent.
  std::string Header(std::string_view lower_name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";  // empty: no Content-Type header
  std::string body;
  // Extra headers. The server drops any containing CR/LF/NUL and any that would
  // override Content-Length, Content-Type or Connection. On responses returned by
  // HttpRequestTo the names are lower-cased.
  std::vector<std::pair<std::string, std::string>> headers;
};

// Called on a worker thread for each well-formed request. Exceptions are caught
// and turned into a 500 JSON error; they never reach the server.
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  // Request line plus headers, including the blank line. Larger: 431.
  size_t max_header_bytes = 64 * 1024;
  // Content-Length above this: 413, before any of the body is read.
  size_t max_body_bytes = 16 * 1024 * 1024;
  // Time allowed to receive a whole request (head and body) from accept; on
  // expiry the connection is closed without a response. While writing a
  // response it is the longest wait for the client to make progress.
  std::chrono::milliseconds read_timeout{10000};
  // Connections handled concurrently; must be >= 1.
  int worker_threads = 8;
};

class HttpServer {
 public:
  static Result<std::unique_ptr<HttpServer>> Create(HttpHandler handler, HttpServerOptions options = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Listens on a unix socket at `path` and chmods it to `mode`. A stale socket
  // file (connecting to it is refused) is replaced; a live one is never taken
  // over (FailedPrecondition naming the path), nor is a file that is not a socket.
  // The chmod follows bind(), so the parent directory must keep others out.
  Status ListenUnix(const std::string& path, mode_t mode);
  // Listens on numeric address `host` ("127.0.0.1", "::1", "[::1]", "0.0.0.0");
  // port 0 picks an ephemeral port. Returns the bound port.
  Result<uint16_t> ListenTcp(const std::string& host, uint16_t port);
  // Starts the accept thread and the workers. Needs at least one listener.
  Status Start();
  // Closes the listeners (unlinking a unix socket this server created, if it is
  // still ours), drops connections that have not sent a full request, lets
  // requests already received finish, and joins all threads. A stopped server
  // cannot be restarted.
  void Stop();

 private:
  struct Listener {
    int fd = -1;
    Transport transport = Transport::kUnix;
    std::string unix_path;  // unlinked by Stop() if dev/ino still match
    dev_t dev = 0;
    ino_t ino = 0;
  };
  struct Connection {
    int fd = -1;
    Transport transport = Transport::kUnix;
  };

  HttpServer(HttpHandler handler, HttpServerOptions options, int wake_read, int wake_write);
  Status AddListener(Listener listener);
  void CloseListeners();
  void AcceptLoop();
  void AcceptFrom(const Listener& listener);
  void WorkerLoop();
  void ServeConnection(Connection connection);
  HttpResponse InvokeHandler(const HttpRequest& request);

  const HttpHandler handler_;
  const HttpServerOptions options_;
  // Stop() writes one byte to wake_write_; wake_read_ then stays readable,
  // which wakes the accept thread and aborts reads of unfinished requests.
  const int wake_read_;
  const int wake_write_;

  std::mutex stop_mu_;  // serialises Stop()
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Listener> listeners_;  // guarded by mu_; read without it by the accept thread
  std::deque<Connection> pending_;   // guarded by mu_; at most worker_threads entries
  bool started_ = false;             // guarded by mu_
  bool stopping_ = false;            // guarded by mu_
  std::thread acceptor_;
  std::vector<std::thread> workers_;
};

struct Endpoint {
  Transport transport = Transport::kUnix;
  std::string unix_path;  // kUnix
  std::string host;       // kTcp: numeric address
  uint16_t port = 0;      // kTcp
};

// Sends one request ("Connection: close") and reads the whole response.
// Unavailable (naming the endpoint) when it cannot connect or the connection
// breaks; DeadlineExceeded when `timeout` passes first; any HTTP status is a
// successful result.
Result<HttpResponse> HttpRequestTo(const Endpoint& endpoint, std::string_view method,
                                   std::string_view target, std::string_view body = {},
                                   const std::vector<std::pair<std::string, std::string>>& headers = {},
                                   std::chrono::milliseconds timeout = std::chrono::seconds(120));

// Percent-encodes everything but RFC 3986 unreserved characters (A-Z a-z 0-9
// - . _ ~), so the result is safe as a path segment or query value even when
// the name holds spaces, ':', '@' or '/'.
std::string PercentEncode(std::string_view s);

}  // namespace pk::api
