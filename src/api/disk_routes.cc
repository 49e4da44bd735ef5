// Disk lifecycle routes (issue 20 item 1):
//   POST /v1/pools/{pool}?action=replace  {"device", "new_device"?, "force"?}
//   POST /v1/pools/{pool}?action=attach   {"device", "new_device", "force"?}
//   POST /v1/pools/{pool}?action=detach   {"device"}
//   POST /v1/pools/{pool}?action=online   {"device", "expand"?}
//   POST /v1/pools/{pool}?action=offline  {"device", "temporary"?}
//   POST /v1/pools/{pool}?action=add      {"vdevs": [zpool words]} or {"profile", "disks", ...}; "force"?, "dry_run"?
//   POST /v1/pools/{pool}?action=remove   {"device"}
//   POST /v1/pools/{pool}?action=scrub    {"scrub": "start"|"stop"|"pause"} (default start)
// None of these imports or exports a pool, so they go to ZFS directly (the
// supervisor owns only a pool's import/export life); each is followed by a
// refresh of the pool, whose status read turns a scrub's or resilver's start
// and end into events (inventory/scan_events.h).
#include <fmt/format.h>

#include "api/internal/request.h"
#include "api/router.h"

namespace pk::api {

using nlohmann::json;
using namespace internal;

namespace {

Result<zfs::VdevRef> DeviceField(JsonFields& body, const char* field, const std::string& context) {
  PK_ASSIGN_OR_RETURN(auto text, StringField(body, field));
  auto ref = zfs::VdevRef::Parse(text);
  if (!ref) return std::unexpected(ref.error().WithContext(context));
  return ref;
}

Result<zfs::DevicePath> NewDeviceField(JsonFields& body, const char* field, const std::string& context) {
  PK_ASSIGN_OR_RETURN(auto text, StringField(body, field));
  auto path = zfs::DevicePath::Parse(text);
  if (!path) return std::unexpected(path.error().WithContext(context));
  return path;
}

zfs::Force ForceOf(bool force) { return force ? zfs::Force::kYes : zfs::Force::kNo; }

}  // namespace

bool Router::IsDiskAction(const std::string& action) {
  return action == "replace" || action == "attach" || action == "detach" || action == "online" ||
         action == "offline" || action == "add" || action == "remove" || action == "scrub";
}

Result<HttpResponse> Router::DiskAction(const std::string& name, const std::string& action, const HttpRequest& r) {
  PK_ASSIGN_OR_RETURN(auto pool, zfs::PoolName::Parse(name));
  PK_ASSIGN_OR_RETURN(auto json_body, ParseBody(r));
  JsonFields body(json_body, "");
  const std::string context = fmt::format("{} in pool '{}'", action, pool.str());
  json answer = {{"ok", true}, {"pool", pool.str()}, {"action", action}};
  if (action == "replace") {
    PK_ASSIGN_OR_RETURN(auto old_device, DeviceField(body, "device", context));
    std::optional<zfs::DevicePath> new_device;
    if (body.Has("new_device")) {
      PK_ASSIGN_OR_RETURN(new_device, NewDeviceField(body, "new_device", context));
    }
    PK_ASSIGN_OR_RETURN(bool force, BoolField(body, "force", false));
    PK_TRY(body.Finish());
    PK_TRY(zfs_.ReplaceDevice(pool, old_device, new_device, ForceOf(force)));
  } else if (action == "attach") {
    PK_ASSIGN_OR_RETURN(auto existing, DeviceField(body, "device", context));
    PK_ASSIGN_OR_RETURN(auto new_device, NewDeviceField(body, "new_device", context));
    PK_ASSIGN_OR_RETURN(bool force, BoolField(body, "force", false));
    PK_TRY(body.Finish());
    PK_TRY(zfs_.AttachDevice(pool, existing, new_device, ForceOf(force)));
  } else if (action == "detach" || action == "remove") {
    PK_ASSIGN_OR_RETURN(auto device, DeviceField(body, "device", context));
    PK_TRY(body.Finish());
    PK_TRY(action == "detach" ? zfs_.DetachDevice(pool, device) : zfs_.RemoveDevice(pool, device));
  } else if (action == "online") {
    PK_ASSIGN_OR_RETURN(auto device, DeviceField(body, "device", context));
    PK_ASSIGN_OR_RETURN(bool expand, BoolField(body, "expand", false));
    PK_TRY(body.Finish());
    PK_TRY(zfs_.OnlineDevice(pool, device, expand ? zfs::Expand::kYes : zfs::Expand::kNo));
  } else if (action == "offline") {
    PK_ASSIGN_OR_RETURN(auto device, DeviceField(body, "device", context));
    PK_ASSIGN_OR_RETURN(bool temporary, BoolField(body, "temporary", false));
    PK_TRY(body.Finish());
    PK_TRY(zfs_.OfflineDevice(pool, device, temporary ? zfs::Temporary::kYes : zfs::Temporary::kNo));
  } else if (action == "add") {
    // The planner's layout for "profile" + "disks", as `pool create --profile` builds it, or zpool's words.
    PK_ASSIGN_OR_RETURN(auto spec, VdevsFromBody(body, context, DataVdevs::kOptional));
    PK_ASSIGN_OR_RETURN(bool force, BoolField(body, "force", false));
    PK_ASSIGN_OR_RETURN(bool dry_run, BoolField(body, "dry_run", false));
    PK_TRY(body.Finish());
    PK_ASSIGN_OR_RETURN(auto layout, zfs_.AddVdevs(pool, spec, ForceOf(force), dry_run ? zfs::DryRun::kYes : zfs::DryRun::kNo));
    answer["vdevs"] = spec.ToArgs();
    if (dry_run) {
      answer["dry_run"] = true;
      answer["layout"] = layout;
      return JsonResponse(answer);  // nothing changed: no refresh
    }
  } else if (action == "scrub") {
    std::string what = "start";
    if (body.Has("scrub")) {
      PK_ASSIGN_OR_RETURN(what, StringField(body, "scrub"));
    }
    PK_TRY(body.Finish());
    zfs::ScrubAction scrub;
    if (what == "start") {
      scrub = zfs::ScrubAction::kStart;
    } else if (what == "stop") {
      scrub = zfs::ScrubAction::kStop;
    } else if (what == "pause") {
      scrub = zfs::ScrubAction::kPause;
    } else {
      return InvalidArgument(fmt::format("scrub pool '{}': 'scrub' must be start, stop or pause, not '{}'", pool.str(), what));
    }
    PK_TRY(zfs_.Scrub(pool, scrub));
    answer["scrub"] = what;
  } else {
    return NotFound(fmt::format("no pool action '{}'", action));
  }
  LogRefresh(inventory_.RefreshPool(pool.str()));
  return JsonResponse(answer);
}

}  // namespace pk::api
