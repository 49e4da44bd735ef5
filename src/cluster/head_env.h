// cluster::HeadEnvironment: what the cluster commands ask of the head they
// run on besides Pacemaker: its addresses (`ip -o addr show`), whether an
// address answers on the network (a TCP connect, then the neighbour table:
// no arping needed), and whether systemd manages services here.
// MakeHeadEnvironment is the real one (only cli/ constructs it); unit tests
// implement the interface. Thread-safety: the real one is stateless.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "sys/process_runner.h"

namespace pk::cluster {

struct LocalAddress {
  std::string interface;  // "eth0"
  std::string address;    // canonical
  int prefix = 0;
};

class HeadEnvironment {
 public:
  virtual ~HeadEnvironment() = default;
  virtual Result<std::vector<LocalAddress>> LocalAddresses() = 0;
  // True when something at `address` (on a directly connected subnet)
  // accepts or refuses a TCP connection, or its neighbour entry is confirmed
  // (REACHABLE, PERMANENT, NOARP) afterwards. An unconfirmed entry (STALE,
  // DELAY, PROBE: a link-layer address remembered from an earlier holder of
  // the address, e.g. a floating IP that moved or was removed) does not count.
  virtual Result<bool> AddressAnswers(const std::string& address) = 0;
  // sd_booted(): /run/systemd/system exists.
  virtual bool SystemdRunning() = 0;
};

// Whether `ip neigh show to ADDR` shows a confirmed entry (REACHABLE,
// PERMANENT, NOARP); STALE, DELAY, PROBE, FAILED, INCOMPLETE or none: false.
bool NeighbourConfirmed(std::string_view ip_neigh_output);

// Parses `ip -o addr show` (inet and inet6 lines; others skipped).
std::vector<LocalAddress> ParseIpAddrOutput(std::string_view text);

std::unique_ptr<HeadEnvironment> MakeHeadEnvironment(sys::ProcessRunner& runner, std::string ip_path = "/usr/sbin/ip");

}  // namespace pk::cluster
