// The API's storage-profile routes: plan a pool layout from real disks.
#include <fmt/format.h>

#include "api/internal/request.h"
#include "api/router.h"

namespace pk::api {
namespace {

using nlohmann::json;
using namespace internal;

json DiskToJson(const layout::Disk& d) {
  json j = {{"path", d.path}, {"size", d.size_bytes}, {"rotational", d.rotational}};
  if (d.enclosure) j["enclosure"] = *d.enclosure;
  return j;
}

json DisksToJson(const std::vector<layout::Disk>& disks) {
  json a = json::array();
  for (const auto& d : disks) a.push_back(DiskToJson(d));
  return a;
}

std::string_view KindName(zfs::VdevGroup::Kind kind) {
  switch (kind) {
    case zfs::VdevGroup::Kind::kSingle: return "disk";
    case zfs::VdevGroup::Kind::kMirror: return "mirror";
    case zfs::VdevGroup::Kind::kRaidz1: return "raidz1";
    case zfs::VdevGroup::Kind::kRaidz2: return "raidz2";
    case zfs::VdevGroup::Kind::kRaidz3: return "raidz3";
  }
  return "disk";
}

json PlanToJson(const layout::Plan& p) {
  json vdevs = json::array();
  for (const auto& v : p.vdevs) {
    vdevs.push_back({{"type", KindName(v.kind)}, {"members", DisksToJson(v.members)}, {"space", v.deflated_space}});
  }
  json logs = json::array();
  for (const auto& l : p.logs) logs.push_back(DisksToJson(l));
  const auto& c = p.capacity;
  auto rating = [](const layout::Rating& r) { return json{{"score", r.score}, {"reason", r.reason}}; };
  return {{"profile", layout::ProfileName(p.profile)},
          {"width", p.width},
          {"nspf", p.nspf == layout::Nspf::kYes},
          {"vdevs", vdevs},
          {"spares", DisksToJson(p.spares)},
          {"logs", logs},
          {"cache", DisksToJson(p.cache)},
          {"unused", DisksToJson(p.unused)},
          {"capacity",
           {{"raw", c.raw}, {"usable", c.data}, {"parity", c.parity}, {"padding", c.padding},
            {"spares", c.spares}, {"log_and_cache", c.log_and_cache}, {"unused", c.unused},
            {"reserved", c.reserved}, {"labels", c.labels}, {"size_mismatch", c.size_mismatch},
            {"metaslab_rounding", c.metaslab_rounding}, {"embedded_log", c.embedded_log}, {"slop", c.slop},
            {"recordsize_efficiency", c.recordsize_efficiency}}},
          {"ratings",
           {{"performance", rating(p.ratings.performance)},
            {"capacity", rating(p.ratings.capacity)},
            {"availability", rating(p.ratings.availability)}}},
          {"notes", p.notes},
          {"vdev_spec", p.ToVdevSpec().ToArgs()}};
}

Result<int> IntField(JsonFields& body, const char* field, int fallback, int min, int max) {
  const json* it = body.Raw(field);
  if (!it) return fallback;
  if (!it->is_number_integer() || it->get<int64_t>() < min || it->get<int64_t>() > max) {
    return InvalidArgument(fmt::format("field '{}' must be a whole number from {} to {}", field, min, max));
  }
  return it->get<int>();
}

Result<layout::PlanOptions> OptionsFromBody(JsonFields& body, zfs::Dialect dialect) {
  layout::PlanOptions o;
  PK_ASSIGN_OR_RETURN(bool nspf, BoolField(body, "nspf", false));
  o.nspf = nspf ? layout::Nspf::kYes : layout::Nspf::kNo;
  PK_ASSIGN_OR_RETURN(o.spares, IntField(body, "spares", 0, 0, 64));
  PK_ASSIGN_OR_RETURN(o.log_devices, IntField(body, "log_devices", 0, 0, 16));
  PK_ASSIGN_OR_RETURN(o.cache_devices, IntField(body, "cache_devices", 0, 0, 16));
  PK_ASSIGN_OR_RETURN(o.ashift, IntField(body, "ashift", 12, 9, 16));
  if (body.Has("width")) {
    PK_ASSIGN_OR_RETURN(int width, IntField(body, "width", 0, 2, 64));
    o.raidz_width = width;
  }
  o.reservation = dialect == zfs::Dialect::kOpenZfs2 ? layout::ReservationModel::kOpenZfs2
                                                     : layout::ReservationModel::kZfsFuse23;
  return o;
}

}  // namespace

Result<std::vector<layout::Disk>> Router::ProbeDisks(JsonFields& body) {
  if (!fs_) return Unavailable("disk probing is not available in this daemon");
  PK_ASSIGN_OR_RETURN(auto paths, StringListField(body, "disks"));
  if (paths.empty()) return InvalidArgument("field 'disks' must list at least one disk");
  std::map<std::string, std::string> enclosures;
  if (const json* it = body.Raw("enclosures")) {
    if (!it->is_object()) return InvalidArgument("field 'enclosures' must map disk paths to enclosure names");
    for (const auto& [path, enc] : it->items()) {
      if (!enc.is_string()) return InvalidArgument(fmt::format("enclosure of disk '{}' must be a string", path));
      if (std::find(paths.begin(), paths.end(), path) == paths.end()) {
        return InvalidArgument(fmt::format("enclosure given for '{}', which is not among the disks", path));
      }
      enclosures[path] = enc.get<std::string>();
    }
  }
  std::vector<layout::Disk> disks;
  for (const auto& path : paths) {
    // The planner reports a disk given twice; here only what is not a disk at all.
    if (!path.starts_with('/') || path.find('\n') != std::string::npos) {
      return InvalidArgument(fmt::format("disk '{}' must be an absolute path", path));
    }
    PK_ASSIGN_OR_RETURN(auto info, fs_->StatDevice(path));
    layout::Disk d;
    d.path = path;
    d.size_bytes = static_cast<int64_t>(info.size_bytes);
    d.rotational = info.rotational;
    if (auto it = enclosures.find(path); it != enclosures.end()) d.enclosure = it->second;
    disks.push_back(std::move(d));
  }
  return disks;
}

Result<layout::Plan> Router::PlanFromBody(JsonFields& body) {
  PK_ASSIGN_OR_RETURN(auto profile_name, StringField(body, "profile"));
  PK_ASSIGN_OR_RETURN(auto profile, layout::ParseProfile(profile_name));
  PK_ASSIGN_OR_RETURN(auto disks, ProbeDisks(body));
  PK_ASSIGN_OR_RETURN(auto options, OptionsFromBody(body, zfs_.dialect()));
  return layout::PlanLayout({std::move(disks), profile, options});
}

Result<HttpResponse> Router::PlanPool(const HttpRequest& r) {
  PK_ASSIGN_OR_RETURN(auto json_body, ParseBody(r));
  JsonFields body(json_body, "");
  PK_ASSIGN_OR_RETURN(auto disks, ProbeDisks(body));
  PK_ASSIGN_OR_RETURN(auto options, OptionsFromBody(body, zfs_.dialect()));
  std::optional<layout::Plan> chosen;
  if (body.Has("profile")) {
    PK_ASSIGN_OR_RETURN(chosen, PlanFromBody(body));
  }
  PK_TRY(body.Finish());
  json profiles = json::array();
  PK_ASSIGN_OR_RETURN(auto all, layout::PlanAll(disks, options));
  for (const auto& p : all) {
    json j = {{"profile", layout::ProfileName(p.profile)}, {"possible", p.plan.has_value()}};
    if (p.plan) {
      j["plan"] = PlanToJson(*p.plan);
    } else {
      j["reason"] = p.reason;
    }
    profiles.push_back(std::move(j));
  }
  json out = {{"disks", DisksToJson(disks)}, {"profiles", profiles}};
  if (chosen) out["chosen"] = PlanToJson(*chosen);
  return JsonResponse(out);
}

}  // namespace pk::api
