// hw::DiskMonitor: the daemon's cache of disks (issue 20 items 2, 3). The
// hardware (TopologyReader::ReadHardware) is read at Start(), on demand
// (Rescan) and every `rescan_period`; the pools are matched again whenever the
// inventory's view changes (its generation), without re-reading hardware.
// SMART is polled on its own schedule and at a bounded cost: one disk at a
// time, `smart_spacing` between two disks, a round every `smart_period`; a
// disk that is not a block device (the lab's file disks) is kUnsupported
// without running smartctl.
//
// Thread-safety: Current(), Rescan() and StartSelfTest() may be called from
// any thread; the periodic work runs on the monitor's own pk::EventLoop and
// worker threads (smartctl runs never on the loop thread).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "base/event_loop.h"
#include "hw/smart.h"
#include "hw/topology.h"

namespace pk::hw {

struct PoolsView {
  uint64_t generation = 0;  // changes whenever `pools` may have
  std::vector<zfs::PoolStatus> pools;
};

struct DiskMonitorOptions {
  std::chrono::milliseconds rescan_period{std::chrono::minutes(1)};
  std::chrono::milliseconds smart_period{std::chrono::hours(1)};  // 0: no SMART polling
  std::chrono::milliseconds smart_spacing{std::chrono::seconds(2)};
  Clock* clock = &RealClock();
  // Whether a device node (already under the dev root) has SMART; default: it
  // is a block device. Unit tests replace it (their nodes are plain files).
  std::function<bool(const std::string& node)> has_smart;
};

class DiskMonitor {
 public:
  // `smart` may be null (no SMART). `pools` is called on any thread.
  DiskMonitor(TopologyReader& reader, SmartReader* smart, std::function<PoolsView()> pools, DiskMonitorOptions options);
  ~DiskMonitor();

  // Reads the hardware once (its failure is logged and kept as a warning),
  // then starts the periodic work.
  void Start();
  void Stop();

  // The current view: the last hardware read matched against the pools now,
  // with each disk's last SMART report. Never null.
  std::shared_ptr<const Topology> Current();
  // Reads the hardware again now (on the caller's thread).
  Status Rescan();
  // Starts a SMART self-test on disk `id` (Topology::Find); NotFound naming it,
  // FailedPrecondition when it has no SMART.
  Status StartSelfTest(const std::string& id, SelfTest test);
  // One SMART read of disk `id` now, stored (tests, `disk show --smart-now`).
  Status PollSmart(const std::string& id);

 private:
  void PollNext(size_t index);  // on loop_: SMART of the index-th disk, then the next
  void RescanLater();           // on loop_
  bool HasSmart(const Disk& disk) const;

  TopologyReader& reader_;
  SmartReader* smart_;
  std::function<PoolsView()> pools_;
  DiskMonitorOptions options_;

  std::mutex mu_;
  std::optional<TopologyInputs> hardware_;            // guarded by mu_
  std::string hardware_error_;                        // guarded by mu_
  std::chrono::system_clock::time_point read_at_{};   // guarded by mu_
  uint64_t hardware_version_ = 0;                     // guarded by mu_
  std::map<std::string, SmartReport> smart_reports_;  // by disk id; guarded by mu_
  uint64_t smart_version_ = 0;                        // guarded by mu_
  std::shared_ptr<const Topology> published_;         // guarded by mu_
  uint64_t published_pools_ = 0, published_hardware_ = 0, published_smart_ = 0;  // guarded by mu_
  std::mutex rescan_mu_;  // one hardware read at a time
  EventLoop loop_;        // last: stopped before the rest goes
};

}  // namespace pk::hw
