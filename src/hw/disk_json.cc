#include "hw/disk_json.h"

#include "base/time.h"

namespace pk::hw {

using nlohmann::json;

namespace {

template <typename T>
json Opt(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}
json OrNull(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

}  // namespace

json SmartToJson(const SmartReport& s) {
  json j = {{"state", SmartStateName(s.state)},
            {"protocol", OrNull(s.protocol)},
            {"passed", Opt(s.passed)},
            {"temperature_c", Opt(s.temperature_c)},
            {"reallocated_sectors", Opt(s.reallocated_sectors)},
            {"pending_sectors", Opt(s.pending_sectors)},
            {"offline_uncorrectable", Opt(s.offline_uncorrectable)},
            {"grown_defects", Opt(s.grown_defects)},
            {"critical_warning", Opt(s.critical_warning)},
            {"critical_warnings", s.critical_warnings},
            {"media_errors", Opt(s.media_errors)},
            {"percentage_used", Opt(s.percentage_used)},
            {"power_on_hours", Opt(s.power_on_hours)},
            {"failed_self_tests", s.failed_self_tests},
            {"self_test_status", OrNull(s.self_test_status)},
            {"reasons", s.reasons},
            {"message", OrNull(s.message)},
            {"read_at", s.read_at == std::chrono::system_clock::time_point{} ? json(nullptr) : json(FormatRfc3339(s.read_at))}};
  return j;
}

json BayToJson(const Bay& b) {
  return {{"chassis", b.chassis},   {"slot", b.slot},         {"label", b.label},
          {"source", b.source},     {"fault_led", Opt(b.fault_led)}, {"locate_led", Opt(b.locate_led)},
          {"status", OrNull(b.status)}, {"occupied", b.occupied}};
}

json DiskToJson(const Disk& d) {
  const BlockDevice& v = d.device;
  return {{"id", d.id},
          {"name", v.name},
          {"devnode", v.devnode},
          {"serial", OrNull(v.serial)},
          {"wwn", OrNull(v.wwn)},
          {"model", OrNull(v.model)},
          {"vendor", OrNull(v.vendor)},
          {"size", v.size_bytes},
          {"rotational", Opt(v.rotational)},
          {"transport", OrNull(v.transport)},
          {"hctl", OrNull(v.hctl)},
          {"partitions", v.partitions},
          {"by_id", d.by_id},
          {"by_path", d.by_path},
          {"bay", d.bay ? BayToJson(*d.bay) : json(nullptr)},
          {"pool", OrNull(d.pool)},
          {"vdev", OrNull(d.vdev)},
          {"vdev_path", OrNull(d.vdev_path)},
          {"vdev_state", OrNull(d.vdev_state)},
          {"smart", SmartToJson(d.smart)}};
}

json TopologyToJson(const Topology& t) {
  json disks = json::array();
  for (const auto& d : t.disks) disks.push_back(DiskToJson(d));
  return {{"disks", disks},
          {"warnings", t.warnings},
          {"read_at", t.read_at == std::chrono::system_clock::time_point{} ? json(nullptr) : json(FormatRfc3339(t.read_at))}};
}

json EnclosuresToJson(const Topology& t) {
  json out = json::array();
  for (const auto& e : t.enclosures) {
    json bays = json::array();
    for (const auto& b : e.bays) {
      json jb = BayToJson(b);
      jb["disk"] = nullptr;
      for (const auto& d : t.disks) {
        if (!b.device_name.empty() && d.device.name == b.device_name) jb["disk"] = d.id;
      }
      bays.push_back(jb);
    }
    out.push_back({{"id", e.id}, {"chassis", e.chassis}, {"source", e.source}, {"vendor", OrNull(e.vendor)},
                   {"model", OrNull(e.model)}, {"logical_id", OrNull(e.serial)}, {"bays", bays}});
  }
  return {{"enclosures", out}, {"warnings", t.warnings}};
}

}  // namespace pk::hw
