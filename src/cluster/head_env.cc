#include "cluster/head_env.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include <fmt/format.h>

#include "base/unique_fd.h"
#include "cluster/names.h"
#include "cluster/pacemaker.h"

namespace pk::cluster {
namespace {

class RealHeadEnvironment : public HeadEnvironment {
 public:
  RealHeadEnvironment(sys::ProcessRunner& runner, std::string ip) : runner_(runner), ip_(std::move(ip)) {}

  Result<std::vector<LocalAddress>> LocalAddresses() override {
    PK_ASSIGN_OR_RETURN(auto out, RunTool(runner_, ip_, {"-o", "addr", "show"}, std::chrono::seconds(10),
                                          "list this head's addresses"));
    return ParseIpAddrOutput(out);
  }

  Result<bool> AddressAnswers(const std::string& address) override {
    PK_ASSIGN_OR_RETURN(bool connected, Connect(address));
    if (connected) return true;
    // A host that drops TCP still answered ARP/ND if it is there: the entry is
    // then confirmed. One left from an earlier holder stays STALE/DELAY.
    PK_ASSIGN_OR_RETURN(auto out, RunTool(runner_, ip_, {"neigh", "show", "to", address}, std::chrono::seconds(10),
                                          fmt::format("read the neighbour entry of {}", address)));
    return NeighbourConfirmed(out);
  }

  bool SystemdRunning() override {
    struct stat st{};
    return ::lstat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode);
  }

 private:
  // True at once when the connect is accepted or refused (someone is there).
  Result<bool> Connect(const std::string& address) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
      v4->sin_port = htons(9);  // discard
      len = sizeof(*v4);
    } else if (inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(9);
      len = sizeof(*v6);
    } else {
      return InvalidArgument(fmt::format("'{}' is not an address", address));
    }
    UniqueFd socket(::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!socket.valid()) return Internal(fmt::format("socket: {}", std::strerror(errno)));
    const int fd = socket.get();
    bool answered = false;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) {
      answered = true;
    } else if (errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, 1500) == 1) {
        int err = 0;
        socklen_t el = sizeof(err);
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
        answered = err == 0 || err == ECONNREFUSED;
      }
    } else {
      answered = errno == ECONNREFUSED;
    }
    return answered;
  }

  sys::ProcessRunner& runner_;
  std::string ip_;
};

}  // namespace

bool NeighbourConfirmed(std::string_view ip_neigh_output) {
  std::istringstream in{std::string(ip_neigh_output)};
  std::string word;
  while (in >> word) {
    if (word == "REACHABLE" || word == "PERMANENT" || word == "NOARP") return true;
  }
  return false;
}

std::vector<LocalAddress> ParseIpAddrOutput(std::string_view text) {
  std::vector<LocalAddress> out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string index, ifname, family, cidr;
    if (!(words >> index >> ifname >> family >> cidr)) continue;
    if (family != "inet" && family != "inet6") continue;
    if (auto at = ifname.find('@'); at != std::string::npos) ifname.resize(at);
    auto slash = cidr.find('/');
    auto addr = CanonicalAddress(cidr.substr(0, slash));
    if (!addr) continue;
    int prefix = slash == std::string::npos ? (family == "inet" ? 32 : 128) : std::atoi(cidr.c_str() + slash + 1);
    out.push_back({ifname, *addr, prefix});
  }
  return out;
}

std::unique_ptr<HeadEnvironment> MakeHeadEnvironment(sys::ProcessRunner& runner, std::string ip_path) {
  return std::make_unique<RealHeadEnvironment>(runner, std::move(ip_path));
}

}  // namespace pk::cluster
