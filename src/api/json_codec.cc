#include "api/json_codec.h"

#include "share/definition.h"

namespace pk::api {

using nlohmann::json;

json VdevToJson(const zfs::Vdev& v) {
  json j = {{"name", v.name},
            {"type", v.type},
            {"state", v.state},
            {"read_errors", v.read_errors},
            {"write_errors", v.write_errors},
            {"checksum_errors", v.checksum_errors}};
  if (!v.path.empty()) j["path"] = v.path;
  if (!v.note.empty()) j["note"] = v.note;
  if (!v.children.empty()) {
    j["children"] = json::array();
    for (const auto& c : v.children) j["children"].push_back(VdevToJson(c));
  }
  return j;
}

namespace {
json VdevList(const std::vector<zfs::Vdev>& vdevs) {
  json a = json::array();
  for (const auto& v : vdevs) a.push_back(VdevToJson(v));
  return a;
}
}  // namespace

json ScanToJson(const zfs::ScanProgress& p) {
  json j = {{"kind", zfs::ScanKindName(p.kind)}, {"state", zfs::ScanStateName(p.state)}};
  auto opt = [&](const char* key, const auto& v) {
    if (v) j[key] = *v;
  };
  opt("done_bytes", p.done_bytes);
  opt("total_bytes", p.total_bytes);
  opt("processed_bytes", p.processed_bytes);
  opt("percent_done", p.percent_done);
  opt("rate_bytes_per_second", p.rate_bytes_per_second);
  opt("eta_seconds", p.eta_seconds);
  opt("elapsed_seconds", p.elapsed_seconds);
  opt("errors", p.errors);
  if (!p.start_time.empty()) j["start_time"] = p.start_time;
  if (!p.end_time.empty()) j["end_time"] = p.end_time;
  return j;
}

json PoolToJson(const zfs::PoolSummary& s, const zfs::PoolStatus& st) {
  return {{"name", s.name},
          {"guid", std::to_string(s.guid)},
          {"health", s.health},
          {"size", s.size},
          {"allocated", s.allocated},
          {"free", s.free},
          {"altroot", s.altroot},
          {"state", st.state},
          {"status", st.status},
          {"action", st.action},
          {"scan", st.scan},
          {"scan_progress", ScanToJson(st.scan_progress)},
          {"errors", st.errors},
          {"vdevs", VdevToJson(st.root)},
          {"logs", VdevList(st.logs)},
          {"caches", VdevList(st.caches)},
          {"spares", VdevList(st.spares)}};
}

json ImportableToJson(const zfs::ImportablePool& p) {
  return {{"name", p.name},
          {"guid", std::to_string(p.guid)},
          {"state", p.state},
          {"status", p.status},
          {"vdevs", VdevToJson(p.root)}};
}

json DatasetToJson(const zfs::Dataset& d) {
  json props = json::object();
  for (const auto& [name, pv] : d.properties) {
    // A CHAP secret written into a share property before issue 17 (item 5)
    // is never answered; it moves to the pool's secret store when served.
    json p = {{"value", share::RedactPropertyValue(name, pv.value)}, {"source", zfs::PropertySourceName(pv.source)}};
    if (pv.source == zfs::PropertySource::kInherited) p["inherited_from"] = pv.inherited_from;
    props[name] = std::move(p);
  }
  return {{"name", d.name}, {"type", zfs::DatasetTypeName(d.type)}, {"properties", std::move(props)}};
}

json ErrorToJson(const Error& e) {
  return {{"error", {{"code", ErrorCodeName(e.code())}, {"message", e.message()}}}};
}

}  // namespace pk::api
