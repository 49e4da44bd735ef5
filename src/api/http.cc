#include "api/http.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <exception>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "api/internal/http_parse.h"
#include "base/json.h"
#include "base/log.h"
#include "base/text.h"
#include "base/unique_fd.h"

namespace pk::api {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kReadChunk = 64 * 1024;
constexpr auto kLingerTime = std::chrono::seconds(1);

std::string Errno(int err) { return std::strerror(err); }

// ---- Waiting, reading, writing (non-blocking sockets + poll) ----

enum class IoStatus { kOk, kEof, kTimeout, kStopped, kError };

int MillisUntil(Clock::time_point deadline) {
  if (deadline == Clock::time_point::max()) return -1;
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<decltype(left)>(left, 0, 1 << 30));
}

// Waits until `fd` has `events`, the deadline passes, or `stop_fd` (if >= 0)
// becomes readable while `fd` is not ready.
IoStatus WaitFor(int fd, short events, int stop_fd, Clock::time_point deadline) {
  pollfd fds[2] = {{fd, events, 0}, {stop_fd, POLLIN, 0}};
  for (;;) {
    int n = ::poll(fds, stop_fd >= 0 ? 2 : 1, MillisUntil(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoStatus::kError;
    if (fds[0].revents != 0) return IoStatus::kOk;  // errors surface in recv/send
    if (n > 0) return IoStatus::kStopped;
    if (Clock::now() >= deadline) return IoStatus::kTimeout;
  }
}

// Appends up to kReadChunk available bytes from `fd` to `out`.
IoStatus ReadMore(int fd, int stop_fd, Clock::time_point deadline, std::string& out) {
  char buf[kReadChunk];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      return IoStatus::kOk;
    }
    if (n == 0) return IoStatus::kEof;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return IoStatus::kError;
    if (IoStatus s = WaitFor(fd, POLLIN, stop_fd, deadline); s != IoStatus::kOk) return s;
  }
}

// Writes all of `data`. Gives up at `deadline` or after `idle` without progress.
Status SendAll(int fd, std::string_view data, int flags, Clock::time_point deadline,
               Clock::duration idle) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), flags | MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return Unavailable("send: " + Errno(errno));
    auto wait_until = std::min(deadline, Clock::now() + idle);
    if (IoStatus s = WaitFor(fd, POLLOUT, -1, wait_until); s != IoStatus::kOk) {
      if (s == IoStatus::kTimeout) return DeadlineExceeded("send timed out");
      return Unavailable("poll: " + Errno(errno));
    }
  }
  return OkStatus();
}

// ---- Parsing helpers ----

// ASCII only, whatever the process locale.
bool IsAlnum(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsTokenChar(char c) { return IsAlnum(c) || (c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr); }
bool IsToken(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), IsTokenChar); }
bool HasControlChar(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return (c >= 0 && c < 0x20 && c != '\t') || c == 0x7f; });
}
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

// Decodes %XX escapes (and '+' when `plus_is_space`); nullopt on a bad escape or NUL.
std::optional<std::string> PercentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(plus_is_space && c == '+' ? ' ' : c);
    }
  }
  return out;
}

std::optional<uint64_t> ParseContentLength(std::string_view s) {
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (s.empty() || s.size() > 18 || !std::all_of(s.begin(), s.end(), digit)) return std::nullopt;
  return std::stoull(std::string(s));
}

// Splits `head` (without the final blank line) into CRLF-separated lines.
std::vector<std::string_view> SplitLines(std::string_view head) {
  std::vector<std::string_view> lines;
  for (size_t pos = 0;;) {
    size_t end = head.find("\r\n", pos);
    lines.push_back(head.substr(pos, end == std::string_view::npos ? end : end - pos));
    if (end == std::string_view::npos) return lines;
    pos = end + 2;
  }
}

// Parses "name: value" header lines into `headers` (lower-cased names).
std::optional<std::string> ParseHeaderLines(const std::vector<std::string_view>& lines,
                                            std::map<std::string, std::string>& headers) {
  for (size_t i = 1; i < lines.size(); ++i) {
    size_t colon = lines[i].find(':');
    if (colon == std::string_view::npos) return "header line without ':'";
    std::string_view name = lines[i].substr(0, colon), value = Trim(lines[i].substr(colon + 1), " \t");
    if (!IsToken(name)) return fmt::format("invalid header name '{}'", name);
    if (HasControlChar(value)) return fmt::format("control character in header '{}'", name);
    auto [it, inserted] = headers.try_emplace(Lower(name), value);
    if (!inserted) it->second += fmt::format(", {}", value);
  }
  return std::nullopt;
}

// ---- Server side: requests and responses ----

// A request the server answers itself, without calling the handler.
struct Reject {
  int status;
  std::string message;
};

std::string_view ReasonPhrase(int status) {
  static constexpr std::pair<int, std::string_view> kPhrases[] = {
      {100, "Continue"}, {200, "OK"}, {201, "Created"}, {202, "Accepted"}, {204, "No Content"},
      {400, "Bad Request"}, {401, "Unauthorized"}, {403, "Forbidden"}, {404, "Not Found"},
      {405, "Method Not Allowed"}, {409, "Conflict"}, {411, "Length Required"}, {413, "Content Too Large"},
      {429, "Too Many Requests"}, {431, "Request Header Fields Too Large"}, {500, "Internal Server Error"},
      {501, "Not Implemented"}, {503, "Service Unavailable"}, {504, "Gateway Timeout"}};
  for (const auto& [code, phrase] : kPhrases) {
    if (code == status) return phrase;
  }
  return "Status";  // the reason phrase is informational only
}

HttpResponse JsonError(int status, ErrorCode code, std::string_view message) {
  nlohmann::json body = {{"error", {{"code", ErrorCodeName(code)}, {"message", message}}}};
  return HttpResponse{.status = status,
                      .body = DumpJson(body)};
}

HttpResponse RejectResponse(const Reject& reject) {
  ErrorCode code = reject.status == 413 || reject.status == 431 ? ErrorCode::kResourceExhausted
                                                                 : ErrorCode::kInvalidArgument;
  return JsonError(reject.status, code, reject.message);
}

// Fills method, target, path and query from the request line; returns the HTTP version.
std::expected<std::string_view, Reject> ParseRequestLine(std::string_view line, HttpRequest& req) {
  size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp1 == sp2) return std::unexpected(Reject{400, "malformed request line"});
  std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!IsToken(method)) return std::unexpected(Reject{400, "invalid method"});
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    return std::unexpected(Reject{400, "unsupported HTTP version"});
  }
  if (target.empty() || target[0] != '/' || HasControlChar(target) || target.find(' ') != std::string_view::npos) {
    return std::unexpected(Reject{400, "request target must be an absolute path"});
  }
  req.method = method;
  req.target = target;
  size_t qmark = target.find('?');
  auto path = PercentDecode(target.substr(0, qmark), false);
  if (!path) return std::unexpected(Reject{400, "bad percent-encoding in path"});
  req.path = std::move(*path);
  std::string_view query = qmark == std::string_view::npos ? "" : target.substr(qmark + 1);
  while (!query.empty()) {
    std::string_view item = query.substr(0, query.find('&'));
    query.remove_prefix(std::min(query.size(), item.size() + 1));
    if (item.empty()) continue;
    size_t eq = item.find('=');
    auto key = PercentDecode(item.substr(0, eq), true);
    auto value = PercentDecode(eq == std::string_view::npos ? "" : item.substr(eq + 1), true);
    if (!key || !value) return std::unexpected(Reject{400, "bad percent-encoding in query"});
    req.query[*key] = std::move(*value);
  }
  return version;
}

// Parses the head and returns the body length announced by Content-Length.
std::expected<uint64_t, Reject> ParseHead(std::string_view head, size_t max_body, HttpRequest& req,
                                          bool& expect_continue) {
  std::vector<std::string_view> lines = SplitLines(head);
  std::string_view version;
  if (auto v = ParseRequestLine(lines[0], req); v) version = *v;
  else return std::unexpected(v.error());
  if (auto err = ParseHeaderLines(lines, req.headers)) return std::unexpected(Reject{400, *err});
  if (req.headers.contains("transfer-encoding")) {
    return std::unexpected(Reject{411, "chunked request bodies are not supported; send Content-Length"});
  }
  uint64_t length = 0;
  if (auto it = req.headers.find("content-length"); it != req.headers.end()) {
    auto parsed = ParseContentLength(it->second);
    if (!parsed) return std::unexpected(Reject{400, "invalid Content-Length"});
    length = *parsed;
  }
  if (length > max_body) {
    return std::unexpected(
        Reject{413, fmt::format("request body of {} bytes exceeds the limit of {}", length, max_body)});
  }
  expect_continue = version == "HTTP/1.1" && Lower(req.Header("expect")) == "100-continue";
  return length;
}

bool AllowedExtraHeader(const std::pair<std::string, std::string>& h) {
  static constexpr std::string_view kReserved[] = {"content-length", "content-type", "connection",
                                                   "transfer-encoding"};
  auto bad = [](char c) { return c == '\r' || c == '\n' || c == '\0'; };
  return IsToken(h.first) && std::none_of(h.second.begin(), h.second.end(), bad) &&
         std::find(std::begin(kReserved), std::end(kReserved), Lower(h.first)) == std::end(kReserved);
}

bool BodyIsSent(const HttpResponse& resp, bool head_only) {
  bool no_body = resp.status < 200 || resp.status == 204 || resp.status == 304;
  return !no_body && !head_only && !resp.body.empty();
}

std::string RenderHead(const HttpResponse& resp, bool /*head_only*/) {
  bool no_body = resp.status < 200 || resp.status == 204 || resp.status == 304;
  std::string head =
      fmt::format("HTTP/1.1 {} {}\r\nConnection: close\r\n", resp.status, ReasonPhrase(resp.status));
  if (!resp.content_type.empty() && !no_body) head += fmt::format("Content-Type: {}\r\n", resp.content_type);
  if (!no_body) head += fmt::format("Content-Length: {}\r\n", resp.body.size());
  for (const auto& h : resp.headers) {
    if (AllowedExtraHeader(h)) head += fmt::format("{}: {}\r\n", h.first, h.second);
  }
  head += "\r\n";
  return head;
}

void WriteResponse(int fd, const HttpResponse& resp, bool head_only, Clock::duration idle) {
  bool send_body = BodyIsSent(resp, head_only);
  if (!SendAll(fd, RenderHead(resp, head_only), send_body ? MSG_MORE : 0, Clock::time_point::max(), idle)) return;
  if (send_body) (void)SendAll(fd, resp.body, 0, Clock::time_point::max(), idle);
}

// ---- Addresses ----

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

Result<SocketAddress> UnixAddress(const std::string& path) {
  SocketAddress addr;
  auto* un = reinterpret_cast<sockaddr_un*>(&addr.storage);
  if (path.empty() || path.size() >= sizeof(un->sun_path)) {
    return InvalidArgument(
        fmt::format("unix socket path '{}' is empty or longer than {} bytes", path, sizeof(un->sun_path) - 1));
  }
  un->sun_family = AF_UNIX;
  std::memcpy(un->sun_path, path.c_str(), path.size() + 1);
  addr.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return addr;
}

Result<SocketAddress> NumericAddress(std::string_view host, uint16_t port) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  std::string h(host);
  SocketAddress addr;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr.storage);
  if (::inet_pton(AF_INET, h.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    addr.length = sizeof(sockaddr_in);
  } else if (::inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    addr.length = sizeof(sockaddr_in6);
  } else {
    return InvalidArgument(fmt::format("'{}' is not a numeric IPv4 or IPv6 address", host));
  }
  return addr;
}

std::string Describe(const Endpoint& e) {
  if (e.transport == Transport::kUnix) return "unix:" + e.unix_path;
  return e.host.find(':') != std::string::npos && e.host.front() != '[' ? fmt::format("[{}]:{}", e.host, e.port)
                                                                          : fmt::format("{}:{}", e.host, e.port);
}

// ---- Client side ----

Result<UniqueFd> Connect(const Endpoint& endpoint, const std::string& where, Clock::time_point deadline) {
  PK_ASSIGN_OR_RETURN(SocketAddress addr, endpoint.transport == Transport::kUnix
                                              ? UnixAddress(endpoint.unix_path)
                                              : NumericAddress(endpoint.host, endpoint.port));
  UniqueFd fd(::socket(addr.storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return Unavailable(fmt::format("{}: socket: {}", where, Errno(errno)));
  int rc = ::connect(fd.get(), addr.get(), addr.length);
  if (rc < 0 && (errno == EINPROGRESS || errno == EINTR)) {  // the connect continues in the background
    IoStatus waited = WaitFor(fd.get(), POLLOUT, -1, deadline);
    if (waited == IoStatus::kTimeout) {
      return DeadlineExceeded(fmt::format("cannot connect to {}: timed out", where));
    }
    if (waited != IoStatus::kOk) return Unavailable(fmt::format("cannot connect to {}: {}", where, Errno(errno)));
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    errno = err;
    rc = err == 0 ? 0 : -1;
  }
  if (rc < 0) return Unavailable(fmt::format("cannot connect to {}: {}", where, Errno(errno)));
  return fd;
}

Result<HttpResponse> ParseResponseHead(std::string_view head, uint64_t& length, bool& has_length) {
  std::vector<std::string_view> lines = SplitLines(head);
  std::string_view line = lines[0];
  if (line.size() < 12 || !line.starts_with("HTTP/1.") || line[8] != ' ') {
    return Unavailable(fmt::format("malformed status line '{}'", line.substr(0, 80)));
  }
  HttpResponse resp;
  auto status = ParseContentLength(line.substr(9, 3));
  if (!status) return Unavailable("malformed status code");
  resp.status = static_cast<int>(*status);
  std::map<std::string, std::string> headers;
  if (auto err = ParseHeaderLines(lines, headers)) return Unavailable("malformed response: " + *err);
  if (headers.contains("transfer-encoding")) return Unavailable("chunked responses are not supported");
  resp.content_type = headers.contains("content-type") ? headers["content-type"] : "";
  has_length = headers.contains("content-length");
  if (has_length) {
    auto parsed = ParseContentLength(headers["content-length"]);
    if (!parsed) return Unavailable("malformed Content-Length in response");
    length = *parsed;
  }
  resp.headers.assign(headers.begin(), headers.end());
  return resp;
}

// Reads the response until Content-Length is satisfied, or to EOF without one.
Result<HttpResponse> ReadResponse(int fd, Clock::time_point deadline, bool head_only) {
  std::string buf;
  for (;;) {
    size_t head_end = buf.find("\r\n\r\n");
    if (head_end == std::string::npos) {
      IoStatus s = ReadMore(fd, -1, deadline, buf);
      if (s == IoStatus::kTimeout) return DeadlineExceeded("no response before the deadline");
      if (s != IoStatus::kOk) return Unavailable("connection closed before the response head");
      continue;
    }
    uint64_t length = 0;
    bool has_length = false;
    PK_ASSIGN_OR_RETURN(HttpResponse resp,
                        ParseResponseHead(std::string_view(buf).substr(0, head_end), length, has_length));
    if (resp.status < 200) {  // interim (100 Continue): the real response follows
      buf.erase(0, head_end + 4);
      continue;
    }
    resp.body = buf.substr(head_end + 4);
    if (head_only || resp.status == 204 || resp.status == 304) {
      length = 0;
      has_length = true;
    }
    while (!has_length || resp.body.size() < length) {
      IoStatus s = ReadMore(fd, -1, deadline, resp.body);
      if (s == IoStatus::kTimeout) return DeadlineExceeded("response body not complete before the deadline");
      if (s == IoStatus::kEof && !has_length) break;
      if (s != IoStatus::kOk) return Unavailable("connection closed before the full response body");
    }
    if (has_length) resp.body.resize(length);
    return resp;
  }
}

}  // namespace

std::string HttpRequest::Header(std::string_view lower_name) const {
  auto it = headers.find(std::string(lower_name));
  return it == headers.end() ? std::string() : it->second;
}

std::string PercentEncode(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (IsAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    }
  }
  return out;
}

Result<HttpResponse> HttpRequestTo(const Endpoint& endpoint, std::string_view method, std::string_view target,
                                   std::string_view body,
                                   const std::vector<std::pair<std::string, std::string>>& headers,
                                   std::chrono::milliseconds timeout) {
  const std::string where = Describe(endpoint);
  const auto deadline = Clock::now() + timeout;
  PK_ASSIGN_OR_RETURN(UniqueFd fd, Connect(endpoint, where, deadline));

  std::string head = fmt::format("{} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", method, target,
                                 endpoint.transport == Transport::kUnix ? "localhost" : where);
  bool bodyless_method = method == "GET" || method == "HEAD" || method == "DELETE";
  if (!body.empty() || !bodyless_method) head += fmt::format("Content-Length: {}\r\n", body.size());
  for (const auto& [name, value] : headers) head += fmt::format("{}: {}\r\n", name, value);
  head += "\r\n";

  // A server may answer (413, ...) and close before taking the whole body; a
  // failed send therefore still tries to read that answer.
  Status sent = SendAll(fd.get(), head, body.empty() ? 0 : MSG_MORE, deadline, timeout);
  if (sent && !body.empty()) sent = SendAll(fd.get(), body, 0, deadline, timeout);
  if (!sent && sent.error().code() == ErrorCode::kDeadlineExceeded) {
    return std::unexpected(sent.error().WithContext(where));
  }
  auto response = ReadResponse(fd.get(), deadline, method == "HEAD");
  if (!response && !sent) return std::unexpected(sent.error().WithContext(where));
  if (!response) return std::unexpected(response.error().WithContext(where));
  return response;
}

// ---- HttpServer ----

bool CancelSignal::cancelled() const {
  std::lock_guard lock(mu_);
  return cancelled_;
}

void CancelSignal::OnCancel(std::function<void()> callback) {
  {
    std::lock_guard lock(mu_);
    if (!cancelled_) {
      callbacks_.push_back(std::move(callback));
      return;
    }
  }
  callback();
}

void CancelSignal::Cancel() {
  std::vector<std::function<void()>> callbacks;
  {
    std::lock_guard lock(mu_);
    if (cancelled_) return;
    cancelled_ = true;
    callbacks.swap(callbacks_);
  }
  for (auto& callback : callbacks) callback();
}

namespace {

// Bytes read from one connection per wake-up, so one fast sender cannot
// starve the others on the I/O thread.
constexpr size_t kMaxReadPerWakeup = 256 * 1024;

int TransportIndex(Transport t) { return t == Transport::kTcp ? 1 : 0; }
int LaneOf(Transport t, RequestClass c) { return TransportIndex(t) * 2 + (c == RequestClass::kLong ? 1 : 0); }

// Who is on the other end, for logs; sets `uid` from SO_PEERCRED on unix
// sockets (left unset when that fails: the caller must then deny).
std::string PeerOf(int fd, Transport transport, std::optional<uid_t>& uid) {
  if (transport == Transport::kUnix) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred) {
      return fmt::format("unix peer of unknown uid (SO_PEERCRED: {})", Errno(errno));
    }
    uid = cred.uid;
    return fmt::format("uid {} pid {}", cred.uid, cred.pid);
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  char host[INET6_ADDRSTRLEN] = "?";
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "tcp peer of unknown address";
  if (ss.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    return fmt::format("[{}]:{}", host, ntohs(in6->sin6_port));
  }
  auto* in = reinterpret_cast<sockaddr_in*>(&ss);
  ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
  return fmt::format("{}:{}", host, ntohs(in->sin_port));
}

// Sends what the socket takes now: the I/O thread never waits for a client.
// Used for refusals and 100 Continue, which are small.
void SendNow(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return;
    }
  }
}

}  // namespace

// One accepted socket while the I/O thread reads its request.
struct HttpServer::Connection {
  int fd = -1;
  Transport transport = Transport::kUnix;
  Clock::time_point deadline;
  std::string buf;           // the head so far; after the head, the body so far
  size_t scanned = 0;        // the head's terminator cannot start before this
  bool head_done = false;
  uint64_t body_length = 0;
  bool draining = false;     // answered from the I/O thread: input is discarded until EOF or deadline
  HttpRequest request;
};

Result<std::unique_ptr<HttpServer>> HttpServer::Create(HttpHandler handler, HttpServerOptions options) {
  if (!handler) return InvalidArgument("http server: handler is empty");
  if (options.worker_threads < 1) return InvalidArgument("http server: worker_threads must be >= 1");
  if (options.long_threads < 1) return InvalidArgument("http server: long_threads must be >= 1");
  if (options.max_connections < 1) return InvalidArgument("http server: max_connections must be >= 1");
  int wake[2];
  if (::pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) return Internal("http server: pipe2: " + Errno(errno));
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(handler), std::move(options), wake[0], wake[1]));
}

HttpServer::HttpServer(HttpHandler handler, HttpServerOptions options, int wake_read, int wake_write)
    : handler_(std::move(handler)), options_(std::move(options)), wake_read_(wake_read), wake_write_(wake_write) {}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::AddListener(Listener listener) {
  std::lock_guard lock(mu_);
  if (started_ || stopping_) {
    return FailedPrecondition("http server: cannot add a listener after Start() or Stop()");
  }
  listeners_.push_back(std::move(listener));
  return OkStatus();
}

Status HttpServer::ListenUnix(const std::string& path, mode_t mode) {
  PK_ASSIGN_OR_RETURN(SocketAddress addr, UnixAddress(path));
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return FailedPrecondition(fmt::format("'{}' exists and is not a socket", path));
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    int rc = ::connect(probe.get(), addr.get(), addr.length);
    if (rc == 0 || errno == EAGAIN || errno == EINPROGRESS) {
      return FailedPrecondition(fmt::format("another server is listening on '{}'", path));
    }
    if (errno != ECONNREFUSED && errno != ENOENT) {
      return FailedPrecondition(fmt::format("cannot probe existing socket '{}': {}", path, Errno(errno)));
    }
    if (errno == ECONNREFUSED && ::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return FailedPrecondition(fmt::format("cannot remove stale socket '{}': {}", path, Errno(errno)));
    }
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return Internal(fmt::format("socket for '{}': {}", path, Errno(errno)));
  if (::bind(fd.get(), addr.get(), addr.length) != 0) {
    return FailedPrecondition(fmt::format("cannot bind unix socket '{}': {}", path, Errno(errno)));
  }
  Listener listener{.transport = Transport::kUnix, .unix_path = path};
  if (::chmod(path.c_str(), mode) != 0 || ::listen(fd.get(), SOMAXCONN) != 0 || ::stat(path.c_str(), &st) != 0) {
    int err = errno;
    ::unlink(path.c_str());
    return Internal(fmt::format("cannot set up unix socket '{}': {}", path, Errno(err)));
  }
  listener.dev = st.st_dev;
  listener.ino = st.st_ino;
  listener.fd = std::move(fd);
  Status added = AddListener(std::move(listener));
  if (!added) ::unlink(path.c_str());
  return added;
}

Result<uint16_t> HttpServer::ListenTcp(const std::string& host, uint16_t port) {
  PK_ASSIGN_OR_RETURN(SocketAddress addr, NumericAddress(host, port));
  const std::string where = fmt::format("{} port {}", host, port);
  UniqueFd fd(::socket(addr.storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return Internal(fmt::format("socket for {}: {}", where, Errno(errno)));
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd.get(), addr.get(), addr.length) != 0 || ::listen(fd.get(), SOMAXCONN) != 0) {
    return FailedPrecondition(fmt::format("cannot listen on {}: {}", where, Errno(errno)));
  }
  SocketAddress bound;
  bound.length = sizeof bound.storage;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound.storage), &bound.length) != 0) {
    return Internal(fmt::format("getsockname for {}: {}", where, Errno(errno)));
  }
  uint16_t bound_port = ntohs(bound.storage.ss_family == AF_INET
                                  ? reinterpret_cast<sockaddr_in*>(&bound.storage)->sin_port
                                  : reinterpret_cast<sockaddr_in6*>(&bound.storage)->sin6_port);
  PK_TRY(AddListener(Listener{.fd = std::move(fd), .transport = Transport::kTcp}));
  return bound_port;
}

Status HttpServer::Start() {
  std::lock_guard lock(mu_);
  if (started_ || stopping_) return FailedPrecondition("http server: already started or stopped");
  if (listeners_.empty()) return FailedPrecondition("http server: Start() without a listener");
  started_ = true;
  for (Transport t : {Transport::kUnix, Transport::kTcp}) {
    lanes_[LaneOf(t, RequestClass::kShort)].max_threads = options_.worker_threads;
    lanes_[LaneOf(t, RequestClass::kLong)].max_threads = options_.long_threads;
    for (int i = 0; i < options_.worker_threads; ++i) StartWorkerLocked(LaneOf(t, RequestClass::kShort));
  }
  io_thread_ = std::thread([this] { IoLoop(); });
  return OkStatus();
}

void HttpServer::Stop() {
  std::lock_guard stop_lock(stop_mu_);  // a second caller waits, then finds nothing left to do
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  Wake();
  cv_.notify_all();
  if (io_thread_.joinable()) io_thread_.join();
  CloseListeners();  // new clients are refused from here on
  // Only the I/O thread starts workers, and it has exited.
  for (auto& worker : workers_) worker.join();
  workers_.clear();
}

void HttpServer::Wake() {
  char byte = 1;
  (void)!::write(wake_write_.get(), &byte, 1);  // a full pipe is already readable
}

void HttpServer::CloseListeners() {
  std::lock_guard lock(mu_);
  for (const Listener& l : listeners_) {
    struct stat st;
    bool still_ours = !l.unix_path.empty() && ::lstat(l.unix_path.c_str(), &st) == 0 && st.st_dev == l.dev &&
                      st.st_ino == l.ino;
    if (still_ours) ::unlink(l.unix_path.c_str());
  }
  listeners_.clear();  // closes them
}

void HttpServer::CloseConnection(int fd, Transport transport) {
  UniqueFd(fd).Reset();  // the I/O thread's connection: owned by number until here
  --open_[TransportIndex(transport)];
}

void HttpServer::IoLoop() {
  auto log = GetLogger("http");
  std::map<int, Connection> connections;  // being read (or drained) by this thread
  std::vector<pollfd> fds;
  for (;;) {
    std::vector<std::pair<int, Transport>> finished;
    std::vector<std::pair<int, std::shared_ptr<CancelSignal>>> watched;
    bool stopping;
    {
      std::lock_guard lock(mu_);
      stopping = stopping_;
      finished.swap(finished_);
      for (const auto& [fd, entry] : handled_) {
        if (!entry.second->cancelled()) watched.emplace_back(fd, entry.second);
      }
    }
    for (auto [fd, transport] : finished) CloseConnection(fd, transport);
    if (stopping) {
      // Requests not fully received are dropped; handled ones finish, and a
      // long-poll among them is told to return now.
      for (auto& [fd, c] : connections) CloseConnection(fd, c.transport);
      for (auto& [fd, signal] : watched) signal->Cancel();
      std::lock_guard lock(mu_);
      io_done_ = true;
      for (auto [fd, transport] : finished_) CloseConnection(fd, transport);
      finished_.clear();
      return;
    }

    // listeners_ does not change after Start() until this thread is joined.
    fds.clear();
    for (const Listener& l : listeners_) {
      bool room = open_[TransportIndex(l.transport)] < options_.max_connections;
      fds.push_back({room ? l.fd.get() : -1, POLLIN, 0});  // full: clients wait in the backlog
    }
    const size_t wake_index = fds.size();
    fds.push_back({wake_read_.get(), POLLIN, 0});
    const size_t first_connection = fds.size();
    auto next_deadline = Clock::time_point::max();
    for (const auto& [fd, c] : connections) {
      fds.push_back({fd, POLLIN | POLLRDHUP, 0});
      next_deadline = std::min(next_deadline, c.deadline);
    }
    const size_t first_watched = fds.size();
    for (const auto& [fd, signal] : watched) fds.push_back({fd, POLLRDHUP, 0});

    if (::poll(fds.data(), fds.size(), MillisUntil(next_deadline)) < 0) {
      if (errno != EINTR) {
        log->error("poll failed: {}", Errno(errno));
        pollfd wake{wake_read_.get(), POLLIN, 0};
        ::poll(&wake, 1, 100);
      }
      continue;
    }
    if (fds[wake_index].revents != 0) {
      char drain[256];
      while (::read(wake_read_.get(), drain, sizeof drain) > 0) {
      }
    }
    // A hang-up of a client whose request is being handled.
    for (size_t i = first_watched; i < fds.size(); ++i) {
      if (fds[i].revents & (POLLRDHUP | POLLHUP | POLLERR)) watched[i - first_watched].second->Cancel();
    }
    for (size_t i = first_connection; i < first_watched; ++i) {
      if (fds[i].revents == 0) continue;
      auto it = connections.find(fds[i].fd);
      if (!ReadFrom(it->second)) connections.erase(it);
    }
    for (size_t i = 0; i < wake_index; ++i) {
      if (fds[i].revents == 0) continue;
      const Listener& l = listeners_[i];
      const int t = TransportIndex(l.transport);
      while (open_[t] < options_.max_connections) {
        int fd = ::accept4(l.fd.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
          if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            log->warn("accept failed: {}; backing off", Errno(errno));
            pollfd wake{wake_read_.get(), POLLIN, 0};
            ::poll(&wake, 1, 100);  // avoid spinning while out of descriptors
          }
          break;  // EAGAIN, EINTR, ECONNABORTED, ...: try again on the next poll
        }
        ++open_[t];
        Connection c{.fd = fd, .transport = l.transport, .deadline = Clock::now() + options_.read_timeout};
        c.request.transport = l.transport;
        c.request.peer = PeerOf(fd, l.transport, c.request.peer_uid);
        connections.emplace(fd, std::move(c));
      }
    }
    // Whoever has not delivered a request in time is closed without an answer.
    const auto now = Clock::now();
    for (auto it = connections.begin(); it != connections.end();) {
      if (it->second.deadline <= now) {
        CloseConnection(it->first, it->second.transport);
        it = connections.erase(it);
      } else {
        ++it;
      }
    }
  }
}

bool HttpServer::ReadFrom(Connection& c) {
  char buf[kReadChunk];
  size_t taken = 0;
  while (taken < kMaxReadPerWakeup) {
    ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    if (n <= 0) {  // the client went away (or finished sending after our answer)
      CloseConnection(c.fd, c.transport);
      return false;
    }
    taken += static_cast<size_t>(n);
    if (c.draining) continue;
    c.buf.append(buf, static_cast<size_t>(n));
    if (!c.head_done) {
      size_t head_end = c.buf.find("\r\n\r\n", c.scanned);
      if (head_end == std::string::npos) {
        if (c.buf.size() >= options_.max_header_bytes) {
          AnswerAndDrain(c, RejectResponse(Reject{431, "request head too large"}));
        } else {
          c.scanned = c.buf.size() < 3 ? 0 : c.buf.size() - 3;
        }
        continue;
      }
      if (head_end + 4 > options_.max_header_bytes) {
        AnswerAndDrain(c, RejectResponse(Reject{431, "request head too large"}));
        continue;
      }
      bool expect_continue = false;
      auto length = ParseHead(std::string_view(c.buf).substr(0, head_end), options_.max_body_bytes, c.request,
                              expect_continue);
      if (!length) {
        AnswerAndDrain(c, RejectResponse(length.error()));
        continue;
      }
      c.head_done = true;
      c.body_length = *length;
      c.buf.erase(0, head_end + 4);
      // Authentication comes before the body: a refused client never gets to send it.
      if (options_.authorize) {
        std::optional<HttpResponse> refused;
        try {
          refused = options_.authorize(c.request);
        } catch (const std::exception& e) {
          GetLogger("http")->error("authorizing {} {} threw: {}", c.request.method, c.request.path, e.what());
          refused = JsonError(500, ErrorCode::kInternal, "internal error while authorizing the request");
        }
        if (refused) {
          AnswerAndDrain(c, *refused);
          continue;
        }
      }
      if (expect_continue && c.buf.size() < c.body_length) SendNow(c.fd, "HTTP/1.1 100 Continue\r\n\r\n");
    }
    if (c.buf.size() >= c.body_length) {
      c.buf.resize(c.body_length);  // ignore anything pipelined after the body
      c.request.body = std::move(c.buf);
      Dispatch(c);
      return false;
    }
  }
  return true;
}

void HttpServer::AnswerAndDrain(Connection& c, const HttpResponse& response) {
  std::string head = RenderHead(response, c.request.method == "HEAD");
  SendNow(c.fd, head + (BodyIsSent(response, c.request.method == "HEAD") ? response.body : std::string()));
  // Drain what the client still sends for a moment, so closing does not reset
  // the connection before the client has read the answer.
  ::shutdown(c.fd, SHUT_WR);
  c.draining = true;
  c.buf.clear();
  c.buf.shrink_to_fit();
  c.deadline = std::min(c.deadline, Clock::now() + kLingerTime);
}

void HttpServer::Dispatch(Connection& c) {
  auto signal = std::make_shared<CancelSignal>();
  c.request.cancel = signal;
  RequestClass cls = RequestClass::kShort;
  if (options_.classify) {
    try {
      cls = options_.classify(c.request);
    } catch (const std::exception& e) {
      GetLogger("http")->error("classifying {} {} threw: {}", c.request.method, c.request.path, e.what());
    }
  }
  const int index = LaneOf(c.transport, cls);
  {
    std::lock_guard lock(mu_);
    if (stopping_) {  // the workers may be gone: drop it like any request not yet handled
      CloseConnection(c.fd, c.transport);
      return;
    }
    handled_[c.fd] = {c.transport, std::move(signal)};
    Lane& lane = lanes_[index];
    lane.queue.push_back(Job{c.fd, std::move(c.request)});
    if (lane.queue.size() > static_cast<size_t>(lane.idle) && lane.threads < lane.max_threads) {
      StartWorkerLocked(index);
    }
  }
  cv_.notify_all();
}

void HttpServer::StartWorkerLocked(int lane) {
  ++lanes_[lane].threads;
  workers_.emplace_back([this, lane] { WorkerLoop(lane); });
}

void HttpServer::WorkerLoop(int index) {
  Lane& lane = lanes_[index];
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mu_);
      ++lane.idle;
      cv_.wait(lock, [&] { return stopping_ || !lane.queue.empty(); });
      --lane.idle;
      if (lane.queue.empty()) return;  // stopping, and nothing left
      job = std::move(lane.queue.front());
      lane.queue.pop_front();
    }
    try {
      HttpResponse response = InvokeHandler(job.request);
      WriteResponse(job.fd, response, job.request.method == "HEAD", options_.read_timeout);
      ::shutdown(job.fd, SHUT_WR);
    } catch (const std::exception& e) {  // e.g. bad_alloc
      GetLogger("http")->error("connection failed: {}", e.what());
    }
    Finished(job.fd);
  }
}

void HttpServer::Finished(int fd) {
  {
    std::lock_guard lock(mu_);
    auto it = handled_.find(fd);
    Transport transport = it->second.first;
    handled_.erase(it);
    if (!io_done_) {
      finished_.emplace_back(fd, transport);
      Wake();
      return;
    }
  }
  UniqueFd(fd).Reset();  // the I/O thread has exited: nobody polls this descriptor any more
}

HttpResponse HttpServer::InvokeHandler(const HttpRequest& request) {
  // The handler's exception text stays in the log: it may describe internals.
  try {
    return handler_(request);
  } catch (const std::exception& e) {
    GetLogger("http")->error("handler for {} {} threw: {}", request.method, request.path, e.what());
  } catch (...) {
    GetLogger("http")->error("handler for {} {} threw a non-standard exception", request.method, request.path);
  }
  return JsonError(500, ErrorCode::kInternal,
                   fmt::format("internal error while handling {} {}", request.method, request.path));
}

namespace internal {

std::expected<RequestHead, HeadReject> ParseRequestHead(std::string_view head, size_t max_body_bytes,
                                                        HttpRequest& request) {
  RequestHead out;
  auto length = ParseHead(head, max_body_bytes, request, out.expect_continue);
  if (!length) return std::unexpected(HeadReject{length.error().status, length.error().message});
  out.content_length = *length;
  return out;
}

}  // namespace internal
}  // namespace pk::api
