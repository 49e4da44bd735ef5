#include "protect/policies.h"

#include <fmt/format.h>

namespace pk::protect {
namespace {

// The policy's dataset must be a filesystem: volumes are not scheduled (yet), snapshots cannot be.
Status RequireFilesystem(zfs::Zfs& zfs, const zfs::DatasetName& dataset, std::string_view what) {
  auto d = zfs.GetDataset(dataset.str(), {"type"});
  if (!d) return std::unexpected(d.error().WithContext(fmt::format("{} snapshot policy of '{}'", what, dataset.str())));
  if (d->type != zfs::DatasetType::kFilesystem) {
    return InvalidArgument(fmt::format("{} snapshot policy of '{}': it is a {}, and schedules apply to filesystems only",
                                       what, dataset.str(), zfs::DatasetTypeName(d->type)));
  }
  return OkStatus();
}

Status SetValue(zfs::Zfs& zfs, const zfs::DatasetName& dataset, const std::string& value) {
  PK_TRY(RequireFilesystem(zfs, dataset, "set"));
  PK_ASSIGN_OR_RETURN(auto assignment, zfs::PropertyAssignment::Parse(fmt::format("{}={}", kScheduleProperty, value)));
  return zfs.SetProperties(dataset.str(), {assignment});
}

}  // namespace

Status SetPolicy(zfs::Zfs& zfs, const zfs::DatasetName& dataset, const Policy& policy) {
  return SetValue(zfs, dataset, policy.ToProperty());
}

Status OptOut(zfs::Zfs& zfs, const zfs::DatasetName& dataset) { return SetValue(zfs, dataset, kNoPolicy); }

Result<PolicyView> GetPolicy(zfs::Zfs& zfs, const zfs::DatasetName& dataset) {
  auto d = zfs.GetDataset(dataset.str(), {"type", kScheduleProperty});
  if (!d) return std::unexpected(d.error().WithContext(fmt::format("show snapshot policy of '{}'", dataset.str())));
  PolicyView view{dataset.str(), "", ""};
  auto it = d->properties.find(kScheduleProperty);
  if (it == d->properties.end() || it->second.value.empty() || it->second.value == "-") return view;
  view.value = it->second.value;
  view.source = it->second.source == zfs::PropertySource::kInherited ? it->second.inherited_from
                                                                      : std::string(zfs::PropertySourceName(it->second.source));
  return view;
}

Status ClearPolicy(zfs::Zfs& zfs, const zfs::DatasetName& dataset) {
  PK_TRY(RequireFilesystem(zfs, dataset, "clear"));
  PK_ASSIGN_OR_RETURN(auto property, zfs::PropertyName::Parse(kScheduleProperty));
  return zfs.InheritProperty(dataset, property, zfs::Recursive::kNo);
}

std::vector<Target> TargetsOf(const std::map<std::string, zfs::Dataset>& datasets, const HeldCheck& held) {
  std::vector<Target> out;
  for (const auto& [name, d] : datasets) {
    if (d.type != zfs::DatasetType::kFilesystem) continue;
    auto it = d.properties.find(kScheduleProperty);
    if (it == d.properties.end()) continue;
    const auto& v = it->second;
    if (v.value.empty() || v.value == "-" || v.value == kNoPolicy) continue;
    if (v.source != zfs::PropertySource::kLocal && v.source != zfs::PropertySource::kInherited &&
        v.source != zfs::PropertySource::kReceived) {
      continue;
    }
    auto ds = zfs::DatasetName::Parse(name);
    if (!ds) continue;
    out.push_back({*ds, Policy::Parse(v.value),
                   v.source == zfs::PropertySource::kInherited ? v.inherited_from : std::string(zfs::PropertySourceName(v.source)),
                   held ? held(ds->pool().str()).value_or("") : ""});
  }
  return out;
}

Status SetScrubPolicy(zfs::Zfs& zfs, const zfs::PoolName& pool, const ScrubPolicy& policy) {
  PK_ASSIGN_OR_RETURN(auto assignment, zfs::PropertyAssignment::Parse(fmt::format("{}={}", kScrubProperty, policy.str())));
  auto set = zfs.SetProperties(pool.str(), {assignment});
  if (!set) return std::unexpected(set.error().WithContext(fmt::format("set scrub schedule of pool '{}'", pool.str())));
  return OkStatus();
}

Status ClearScrubPolicy(zfs::Zfs& zfs, const zfs::PoolName& pool) {
  PK_ASSIGN_OR_RETURN(auto property, zfs::PropertyName::Parse(kScrubProperty));
  PK_ASSIGN_OR_RETURN(auto root, zfs::DatasetName::Parse(pool.str()));
  auto cleared = zfs.InheritProperty(root, property, zfs::Recursive::kNo);
  if (!cleared) return std::unexpected(cleared.error().WithContext(fmt::format("clear scrub schedule of pool '{}'", pool.str())));
  return OkStatus();
}

}  // namespace pk::protect
