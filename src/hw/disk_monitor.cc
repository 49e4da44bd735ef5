#include "hw/disk_monitor.h"

#include <filesystem>

#include <fmt/format.h>

#include "base/log.h"

namespace pk::hw {

DiskMonitor::DiskMonitor(TopologyReader& reader, SmartReader* smart, std::function<PoolsView()> pools,
                         DiskMonitorOptions options)
    : reader_(reader), smart_(smart), pools_(std::move(pools)), options_(options), loop_(*options.clock) {}

DiskMonitor::~DiskMonitor() { Stop(); }

void DiskMonitor::Start() {
  if (auto s = Rescan(); !s) GetLogger("hw")->warn("disk topology: {}", s.error().message());
  loop_.Start();
  if (options_.rescan_period.count() > 0) loop_.PostAfter(options_.rescan_period, [this] { RescanLater(); });
  if (smart_ && options_.smart_period.count() > 0) loop_.Post([this] { PollNext(0); });
}

void DiskMonitor::Stop() { loop_.Stop(); }

Status DiskMonitor::Rescan() {
  std::lock_guard serial(rescan_mu_);
  auto read = reader_.ReadHardware();
  std::lock_guard lock(mu_);
  read_at_ = options_.clock->Now();
  ++hardware_version_;
  if (!read) {
    hardware_error_ = read.error().message();
    return std::unexpected(read.error());
  }
  hardware_error_.clear();
  hardware_ = std::move(*read);
  return OkStatus();
}

void DiskMonitor::RescanLater() {
  loop_.Spawn([this] {
    if (auto s = Rescan(); !s) GetLogger("hw")->warn("disk topology: {}", s.error().message());
    loop_.PostAfter(options_.rescan_period, [this] { RescanLater(); });
  });
}

std::shared_ptr<const Topology> DiskMonitor::Current() {
  PoolsView pools = pools_ ? pools_() : PoolsView{};
  std::lock_guard lock(mu_);
  if (published_ && published_pools_ == pools.generation && published_hardware_ == hardware_version_ &&
      published_smart_ == smart_version_) {
    return published_;
  }
  TopologyInputs in;
  if (hardware_) in = *hardware_;
  if (!hardware_error_.empty()) in.warnings.push_back(hardware_error_);
  in.pools = std::move(pools.pools);
  auto t = std::make_shared<Topology>(BuildTopology(SysTree(reader_.dev_root()), std::move(in), read_at_));
  for (auto& d : t->disks) {
    if (auto it = smart_reports_.find(d.id); it != smart_reports_.end()) {
      d.smart = it->second;
    } else if (!HasSmart(d)) {
      d.smart.state = SmartReport::State::kUnsupported;
      d.smart.message = fmt::format("{} is not a block device (a file disk): no SMART", d.device.devnode);
    }
  }
  published_ = t;
  published_pools_ = pools.generation;
  published_hardware_ = hardware_version_;
  published_smart_ = smart_version_;
  return published_;
}

bool DiskMonitor::HasSmart(const Disk& disk) const {
  std::string node = SysTree(reader_.dev_root()).Resolve(disk.device.devnode);
  if (smart_ == nullptr || node.empty()) return false;
  if (options_.has_smart) return options_.has_smart(node);
  std::error_code ec;
  return std::filesystem::is_block_file(node, ec);
}

Status DiskMonitor::PollSmart(const std::string& id) {
  auto view = Current();
  const Disk* d = view->Find(id);
  if (!d) return NotFound(fmt::format("disk '{}' not found", id));
  if (!HasSmart(*d)) return OkStatus();  // Current() says why
  SmartReport r = smart_->Read(d->device.devnode, options_.clock->Now());
  std::lock_guard lock(mu_);
  smart_reports_[d->id] = std::move(r);
  ++smart_version_;
  return OkStatus();
}

void DiskMonitor::PollNext(size_t index) {
  auto view = Current();
  // Disks without SMART cost nothing: no run, no spacing.
  while (index < view->disks.size() && !HasSmart(view->disks[index])) ++index;
  if (index >= view->disks.size()) {
    // Round over: the next one a period after this one's last disk.
    loop_.PostAfter(options_.smart_period, [this] { PollNext(0); });
    return;
  }
  std::string id = view->disks[index].id;
  loop_.Spawn([this, id, index] {
    if (auto s = PollSmart(id); !s) GetLogger("hw")->info("SMART of disk '{}': {}", id, s.error().message());
    loop_.PostAfter(options_.smart_spacing, [this, index] { PollNext(index + 1); });
  });
}

Status DiskMonitor::StartSelfTest(const std::string& id, SelfTest test) {
  auto view = Current();
  const Disk* d = view->Find(id);
  if (!d) return NotFound(fmt::format("disk '{}' not found", id));
  if (!HasSmart(*d)) {
    return FailedPrecondition(fmt::format("{} self-test on disk '{}': {} has no SMART (not a block device, or no smartctl)",
                                          SelfTestName(test), id, d->device.devnode));
  }
  auto started = smart_->StartSelfTest(d->device.devnode, test);
  if (!started) return std::unexpected(started.error().WithContext(fmt::format("disk '{}'", id)));
  return OkStatus();
}

}  // namespace pk::hw
