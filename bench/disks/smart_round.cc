// bench/disks: the costs the daemon pays for N disks, through the same code:
//   topology  TopologyReader over the generated tree (sysfs source, and lsblk's
//             JSON of the same disks parsed), matched against a pool of them;
//   smart     one SMART polling round: SmartReader with the real ProcessRunner
//             running replay-smartctl for each disk in turn (no spacing), and
//             the parse alone on the recorded outputs.
// Usage: bench_disks TREE_ROOT SMARTCTL RUNS. Prints "name median_ms min_ms max_ms".
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "hw/smart.h"
#include "hw/topology.h"

namespace {

using Clock = std::chrono::steady_clock;

template <typename Fn>
void Measure(const char* name, int runs, Fn fn) {
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    auto a = Clock::now();
    fn();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - a).count());
  }
  std::sort(ms.begin(), ms.end());
  std::printf("%s %.1f %.1f %.1f\n", name, ms[ms.size() / 2], ms.front(), ms.back());
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class JsonSource : public pk::hw::BlockSource {
 public:
  explicit JsonSource(std::string text) : text_(std::move(text)) {}
  pk::Result<std::vector<pk::hw::BlockDevice>> Read() override { return pk::hw::ParseLsblk(text_); }
  std::string text_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s TREE_ROOT SMARTCTL RUNS\n", argv[0]);
    return 2;
  }
  std::string root = argv[1];
  int runs = std::max(1, std::atoi(argv[3]));
  pk::hw::SysBlockSource sysfs{pk::hw::SysTree(root)};
  JsonSource lsblk(Read(root + "/lsblk.json"));
  pk::hw::TopologyOptions opt{.sys_root = root, .dev_root = root, .chassis_file = "", .vdev_id_file = ""};
  pk::hw::TopologyReader by_sysfs(sysfs, opt), by_lsblk(lsblk, opt);
  auto first = by_sysfs.Read({}, {});
  if (!first) {
    std::fprintf(stderr, "topology: %s\n", first.error().message().c_str());
    return 1;
  }
  // A pool of every disk, in mirrors, by by-id name as OpenZFS prints them.
  pk::zfs::PoolStatus pool;
  pool.name = "bench";
  for (size_t i = 0; i + 1 < first->disks.size(); i += 2) {
    pk::zfs::Vdev m;
    m.name = "mirror-" + std::to_string(i / 2);
    for (size_t k : {i, i + 1}) {
      pk::zfs::Vdev leaf;
      leaf.name = leaf.path = first->disks[k].by_id.empty() ? first->disks[k].device.name : first->disks[k].by_id[0];
      m.children.push_back(leaf);
    }
    pool.root.children.push_back(m);
  }
  size_t bays = 0, pooled = 0;
  auto t = by_sysfs.Read({pool}, {});
  for (const auto& d : t->disks) bays += d.bay.has_value(), pooled += !d.pool.empty();
  std::printf("disks %zu with-bay %zu in-pool %zu\n", t->disks.size(), bays, pooled);
  Measure("topology_sysfs_ms", runs, [&] { (void)by_sysfs.Read({pool}, {}); });
  Measure("topology_lsblk_json_ms", runs, [&] { (void)by_lsblk.Read({pool}, {}); });
  pk::hw::TopologyInputs hw = *by_sysfs.ReadHardware();
  hw.pools = {pool};
  Measure("rematch_pools_ms", runs, [&] { (void)pk::hw::BuildTopology(pk::hw::SysTree(root), hw, {}); });

  auto runner = pk::sys::MakePosixProcessRunner();
  pk::hw::SmartReader smart(*runner, {.smartctl = argv[2]});
  size_t failing = 0;
  Measure("smart_round_ms", 1, [&] {  // one round: it is long (a process per disk)
    failing = 0;
    for (const auto& d : t->disks) failing += smart.Read(d.device.devnode, {}).state == pk::hw::SmartReport::State::kFailing;
  });
  std::printf("smart_failing %zu of %zu\n", failing, t->disks.size());
  std::vector<std::string> outputs;
  for (const char* f : {"ata_healthy", "ata_failing", "scsi_healthy", "scsi_grown_defects", "nvme_healthy", "nvme_critical"}) {
    outputs.push_back(Read(std::string(argv[2]).substr(0, std::string(argv[2]).rfind('/')) + "/../../tests/data/hw/smart/" + f + ".json"));
  }
  Measure("smart_parse_only_ms", runs, [&] {
    for (size_t i = 0; i < t->disks.size(); ++i) (void)pk::hw::ParseSmartctl(outputs[i % outputs.size()], "bench");
  });
  return 0;
}
