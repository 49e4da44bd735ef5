// A small HTTP/1.1 server and client for the Poolkeeper API, over unix sockets
// and TCP alike (Debian 12's cpp-httplib cannot listen on AF_UNIX).
//
// Deliberately minimal: one request per connection. Every response carries
// Content-Length and "Connection: close", and the server closes afterwards.
// Request bodies need Content-Length; chunked requests are refused with 411.
//
// Threading and admission (issue 17 item 1: no client, however slow, many or
// gone, may starve the root-only socket the OCF agent and the CLI use):
// - One I/O thread accepts and reads every request (head and body) with
//   non-blocking sockets and poll, so a slow-byte client costs a descriptor and
//   a buffer, never a worker; each connection must deliver its request within
//   `read_timeout` of its accept or is closed.
// - Each transport has its own admission limit (`max_connections`, counting
//   every open connection from accept to close), so TCP clients can never use
//   up the unix socket's capacity.
// - Right after the head, before any of the body is read, `authorize` decides:
//   a refused request is answered at once and its body never read.
// - A complete request goes to one of four lanes: (unix, TCP) x (short, long).
//   `classify` tells long requests (long-polls, streams, reads that run a tool)
//   from short ones. Short lanes have `worker_threads` fixed workers each; long
//   lanes grow on demand up to `long_threads` each. So neither long requests
//   nor TCP clients ever take a worker a short unix request needs.
// - While a request is handled the I/O thread watches its socket for a hang-up
//   (POLLRDHUP/POLLHUP); then HttpRequest::cancel fires, so a long-poll whose
//   client has gone returns at once and frees its thread.
// The design carries over to a library server (issue 21, cpp-httplib): the
// lanes are thread pools chosen per request before the handler runs, the
// authorize hook is a pre-routing handler, admission is per listener, and the
// hang-up watch is a per-connection cancellation flag.
//
// Listen*() and Start() must be called from one thread, before/at startup;
// Stop() may be called from any thread but a handler (it joins the workers), is
// idempotent, and runs from the destructor. Handlers, `authorize` and
// `classify` may run concurrently. HttpRequestTo() is a free function with no
// shared state.
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
#include "base/unique_fd.h"

namespace pk::api {

enum class Transport { kUnix, kTcp };

// Which lane serves a request (see the header comment).
enum class RequestClass { kShort, kLong };

// Fires when the client of a request hangs up while the request is handled.
// Thread-safe; callbacks run on the server's I/O thread (or at once in
// OnCancel when already cancelled) and must be quick and not block.
class CancelSignal {
 public:
  bool cancelled() const;
  void OnCancel(std::function<void()> callback);
  // Marks the signal cancelled and runs the callbacks (once).
  void Cancel();

 private:
  mutable std::mutex mu_;
  bool cancelled_ = false;                       // guarded by mu_
  std::vector<std::function<void()>> callbacks_;  // guarded by mu_
};

struct HttpRequest {
  std::string method;                          // "GET"
  std::string target;                          // raw "/v1/pools?x=1"
  std::string path;                            // percent-decoded path "/v1/pools"
  std::map<std::string, std::string> query;    // percent-decoded, '+' as space; last duplicate wins
  std::map<std::string, std::string> headers;  // keys lower-cased; duplicates joined with ", "
  std::string body;
  Transport transport = Transport::kUnix;
  std::optional<uid_t> peer_uid;  // SO_PEERCRED on unix sockets; unset on TCP or when SO_PEERCRED failed
  std::string peer;               // for logs: "uid 0 pid 123" (unix), "127.0.0.1:40000" (TCP)
  // Set by HttpServer for the handler: fires when the client hangs up. Null
  // for requests built elsewhere (tests).
  std::shared_ptr<CancelSignal> cancel;

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
// Called on the I/O thread with a request whose head is parsed (body empty,
// transport and peer set): a response refuses it before its body is read.
// Must be quick.
using HttpAuthorizer = std::function<std::optional<HttpResponse>(const HttpRequest&)>;
// Called on the I/O thread with a complete request: which lane serves it. Must be quick.
using HttpClassifier = std::function<RequestClass(const HttpRequest&)>;

struct HttpServerOptions {
  // Request line plus headers, including the blank line. Larger: 431.
  size_t max_header_bytes = 64 * 1024;
  // Content-Length above this: 413, before any of the body is read.
  size_t max_body_bytes = 16 * 1024 * 1024;
  // Time allowed to receive a whole request (head and body) from accept; on
  // expiry the connection is closed without a response. While writing a
  // response it is the longest wait for the client to make progress.
  std::chrono::milliseconds read_timeout{10000};
  // Workers of each short lane (one per transport); must be >= 1.
  int worker_threads = 8;
  // Most threads of each long lane (one per transport), started on demand; must be >= 1.
  int long_threads = 128;
  // Most open connections per transport, from accept to close (reading,
  // queued, handled); a connection beyond it is closed at once. Must be >= 1.
  int max_connections = 512;
  // Optional: see HttpAuthorizer. Unset: every request is read whole.
  HttpAuthorizer authorize;
  // Optional: see HttpClassifier. Unset: every request is short.
  HttpClassifier classify;
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
    UniqueFd fd;
    Transport transport = Transport::kUnix;
    std::string unix_path;  // unlinked by Stop() if dev/ino still match
    dev_t dev = 0;
    ino_t ino = 0;
  };
  struct Connection;  // one accepted socket while the I/O thread reads it (http.cc)
  // A complete request waiting for, or in, a worker.
  struct Job {
    int fd = -1;
    HttpRequest request;
  };
  struct Lane {
    std::deque<Job> queue;  // guarded by mu_
    int threads = 0;        // guarded by mu_
    int idle = 0;           // guarded by mu_
    int max_threads = 0;    // fixed at Start()
  };

  HttpServer(HttpHandler handler, HttpServerOptions options, int wake_read, int wake_write);
  Status AddListener(Listener listener);
  void CloseListeners();
  void IoLoop();
  // Reads what `c` has sent; false when the connection is finished with here
  // (closed, answered, or handed to a lane).
  bool ReadFrom(Connection& c);
  // Answers `c` from the I/O thread (refusals), then drains it briefly.
  void AnswerAndDrain(Connection& c, const HttpResponse& response);
  void Dispatch(Connection& c);
  void StartWorkerLocked(int lane);
  void WorkerLoop(int lane);
  // A worker is done with `fd`: the I/O thread stops watching and closes it.
  void Finished(int fd);
  // Closes a connection and frees its admission slot. I/O thread only.
  void CloseConnection(int fd, Transport transport);
  void Wake();
  HttpResponse InvokeHandler(const HttpRequest& request);

  const HttpHandler handler_;
  const HttpServerOptions options_;
  // Stop() and Wake() write a byte to wake_write_, which wakes the I/O
  // thread; stopping_ tells them apart.
  const UniqueFd wake_read_;
  const UniqueFd wake_write_;

  std::mutex stop_mu_;  // serialises Stop()
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Listener> listeners_;  // guarded by mu_; read without it by the I/O thread
  Lane lanes_[4];                    // [transport * 2 + class], see LaneOf in http.cc
  // Sockets handed to workers, with their hang-up signals. Guarded by mu_.
  std::map<int, std::pair<Transport, std::shared_ptr<CancelSignal>>> handled_;
  std::vector<std::pair<int, Transport>> finished_;  // guarded by mu_: fds the I/O thread closes next
  int open_[2] = {0, 0};             // open connections per transport; owned by the I/O thread
  bool started_ = false;             // guarded by mu_
  bool stopping_ = false;            // guarded by mu_
  bool io_done_ = false;             // guarded by mu_: the I/O thread has exited
  std::thread io_thread_;
  std::vector<std::thread> workers_;  // grows under mu_ (I/O thread); joined by Stop()
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
