// api::Router: the daemon's HTTP/JSON API, one handler per route.
//
// It is the edge where names are validated (zfs/names.h): a request with a bad
// name, property or body is refused with 400 and a message naming the object
// and the cause, before any zpool/zfs process starts. Reads are served from
// the inventory; every change goes to ZFS and is followed by a targeted
// inventory refresh, so the next read sees it.
//
// Access: on the unix socket only root (SO_PEERCRED uid 0) is served, and a
// caller whose credentials cannot be read is refused; on TCP every request
// needs "Authorization: Bearer <token>". Refusals are logged (transport, peer,
// path and cause; never the token). The server asks AuthorizeHead right after
// a request's head, before its body is read.
//
// Every name in a path or query must be UTF-8: anything else is a 400 naming
// the request. Reads that run a zpool/zfs tool (a pool's live status, one
// dataset's properties, quotas) use `tool_reads`, an adapter with a short
// per-run timeout: a tool that does not answer in time is a 504 naming the pool
// or dataset, not a worker held for minutes. Classify() puts long-polls and
// tool runs in the server's long lane (see http.h).
//
// Routes (names are percent-encoded path segments; '/' inside a name is %2F
// or plain '/', both work):
//   GET    /v1/health
//   GET    /v1/pools                      POST /v1/pools              (create)
//   GET    /v1/pools/{pool}               DELETE /v1/pools/{pool}     (destroy, ?force=true)
//   POST   /v1/pools/{pool}?action=export (body {"force":bool})
//   POST   /v1/pools/{pool}?action=replace|attach|detach|online|offline|add|remove|scrub  (disk lifecycle,
//          body {"device", "new_device", "force", "expand", "temporary", "vdevs", "dry_run", "scrub"}: disk_routes.cc)
//   POST   /v1/import-scan                (body {"search_dirs":[...]}) -> importable pools
//   POST   /v1/imports                    (body {"name"|"guid", "search_dirs", "cachefile", ...})
//   GET    /v1/datasets?root=&type=&recursive=   POST /v1/datasets  (create)
//   GET    /v1/datasets/{name}?properties=a,b    PATCH /v1/datasets/{name} (set)
//   POST   /v1/datasets/{name}?action=inherit|rename     DELETE /v1/datasets/{name}?recursive=
//   GET    /v1/snapshots?dataset=&recursive=     POST /v1/snapshots (create)
//   DELETE /v1/snapshots/{name}?recursive=       POST /v1/snapshots/{name}?action=rollback
//   GET    /v1/services                   GET /v1/services/{pool}
//   POST   /v1/services/{pool}?action=enable (body: policy fields)|disable|start|stop|restart
//          start body {"force_import": true}: import with -f once (policy force=if_fenced only)
//   POST   /v1/pools/{pool}?action=skip|unskip|unlock|delay (delay body {"seconds":N})
//   GET    /v1/events?after=SEQ&wait=SECONDS&limit=N   (long poll when wait > 0)
//   GET    /v1/resources                  POST /v1/resources (body: exec policy {"name","start":[argv],...})
//   POST   /v1/resources/{name}?action=start|stop     DELETE /v1/resources/{name}
//   POST   /v1/pool-plans                 (body {"disks":[...], "profile", "nspf", ...}) -> every profile side by side
//   POST   /v1/pools with "profile" + "disks" instead of "vdevs": creates exactly the planned layout
//   GET    /v1/quotas/{dataset}?kind=user|group&filter=SUBSTR&sort=name|used|quota|percent  (listing)
//   GET    /v1/quotas/{dataset}?user=NAME|UID  or ?group=NAME|GID    (one subject: one zfs get, no listing)
//   PUT    /v1/quotas/{dataset}               (body {"user"|"group": NAME|ID, "quota": "10G", "objects": N})
//   DELETE /v1/quotas/{dataset}?user=NAME|UID or ?group=NAME|GID
//   GET    /v1/shares?pool=&protocol=      POST /v1/shares (body {"protocol","dataset", definition fields})
//   GET|PATCH|DELETE /v1/shares/{protocol}/{dataset}   (PATCH: fields to change, null resets one)
//   PUT    /v1/smb-users/{user}  (body {"password"})    DELETE /v1/smb-users/{user}
//   POST   /v1/migrations                 (body {"dataset","source","concurrency","bwlimit","preserve_special"}) shadow migration start
//   GET    /v1/migrations                 GET /v1/migrations/{dataset} (status)   DELETE /v1/migrations/{dataset} (cancel)
//   GET    /v1/snapshot-policies          (every scheduled dataset: policy, source, last run, next run, last error)
//   GET|PUT|DELETE /v1/snapshot-policies/{dataset}  (PUT body {"schedule","keep","prefix"} or {"schedule":"none"};
//          DELETE = zfs inherit: the dataset follows its parent's policy again)
//   GET    /v1/disks?refresh=true         (every disk: identities, bay, pool/vdev, SMART; refresh re-reads the hardware)
//   GET    /v1/disks/{id}                 POST /v1/disks/{id}?action=selftest (body {"test":"short"|"long"})
//   GET    /v1/enclosures                 (SES enclosures, PCI slots, chassis-file chassis, each bay with its disk)
//   GET    /v1/scrub-policies             (every pool imported here: schedule, source, state, last scan end, next run)
//   GET|PUT|DELETE /v1/scrub-policies/{pool}  (PUT body {"schedule"}: off, weekly, monthly, every N(m|h|d|w) [at HH:MM];
//          DELETE: the default, monthly, again)
//
// Thread-safety: Handle() may run on several HTTP worker threads at once.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "api/http.h"
#include "base/json_fields.h"
#include "inventory/inventory.h"
#include "layout/planner.h"
#include "migrate/manager.h"
#include "protect/scheduler.h"
#include "protect/scrub_scheduler.h"
#include "quota/quotas.h"
#include "events/event_log.h"
#include "hw/disk_monitor.h"
#include "supervisor/ownership.h"
#include "supervisor/supervisor.h"
#include "share/manager.h"
#include "sys/files.h"
#include "sys/users.h"
#include "zfs/zfs.h"

namespace pk::api {

struct RouterOptions {
  std::string bearer_token;  // required on TCP; empty refuses every TCP request
  std::string version = "0.1.0";
  // `POST /v1/imports {"force":true}` of a pool whose service the cluster
  // manages (issue 17 item 7): the import is tried without force first; when
  // it is refused, this gets the refusal and returns the proof that forcing
  // is safe (the last importer is a fenced head), or FailedPrecondition with
  // what is missing. Unset: such a forced import is refused.
  std::function<Result<std::string>(const std::string& pool, const std::string& refusal)> cluster_force_proof;
  // Whether the cluster manages `pool` (a Pacemaker resource names it), for a
  // forced import on a head whose daemon has no service for it (the pool never
  // ran here): the same rule applies. Unset: only the service's policy says so.
  std::function<bool(const std::string& pool)> is_cluster_pool;
  // Adapter for tool-backed reads (pool status, dataset get, quota reads), built
  // with a short timeout (the daemon's `api_read_timeout`). Null: the main adapter.
  zfs::Zfs* tool_reads = nullptr;
};

class Router {
 public:
  // `supervisor`, `events`, `fs`, `users` and `shares` may be null (then their routes answer unavailable).
  Router(zfs::Zfs& zfs, inventory::Inventory& inventory, supervisor::Supervisor* supervisor,
             events::EventLog* events, sys::FileSystem* fs, RouterOptions options,
             sys::UserDirectory* users = nullptr, share::ShareManager* shares = nullptr);

  HttpResponse Handle(const HttpRequest& request);

  // For HttpServerOptions::authorize: a refusal (401/403) or nullopt to go on.
  std::optional<HttpResponse> AuthorizeHead(const HttpRequest& request) const;
  // For HttpServerOptions::classify: long-polls and requests that may run a
  // tool are kLong; reads from memory and service actions are kShort.
  static RequestClass Classify(const HttpRequest& request);

  // Shadow migration (migrate_routes.cc); without it those routes answer unavailable.
  // Set before serving.
  void SetMigrations(migrate::Manager* migrations) { migrations_ = migrations; }
  // Pool adoption (adopt_routes.cc, issue 17 item 6); without it every pool is
  // served and `?action=adopt` answers unavailable. Set before serving.
  void SetOwnership(supervisor::Ownership* ownership) { ownership_ = ownership; }
  // Snapshot schedules (protect_routes.cc, issue 24 item 1); without it the
  // policy routes still set, show and clear, but show no run status. Set before serving.
  void SetSnapshotScheduler(protect::Scheduler* scheduler) { scheduler_ = scheduler; }
  // Disks and enclosures (hw_routes.cc, issue 20 items 2, 3); without it those
  // routes answer unavailable. Set before serving.
  void SetDisks(hw::DiskMonitor* disks) { disks_ = disks; }
  // Scrub schedules (protect_routes.cc, issue 24 item 3); without it the
  // policy routes still set and clear, and show no state. Set before serving.
  void SetScrubScheduler(protect::ScrubScheduler* scrubs) { scrubs_ = scrubs; }

 private:
  Result<HttpResponse> Route(const HttpRequest& request);
  Status Authorize(const HttpRequest& request) const;
  zfs::Zfs& ToolReads() { return options_.tool_reads ? *options_.tool_reads : zfs_; }

  Result<HttpResponse> Health();
  Result<HttpResponse> ListPools();
  Result<HttpResponse> GetPool(const std::string& name);
  Result<HttpResponse> CreatePool(const HttpRequest& request);
  // A body's vdevs: the plan of "profile" + "disks" (PlanFromBody), or zpool's
  // words in "vdevs"; a new pool needs data vdevs, an addition need not.
  enum class DataVdevs { kRequired, kOptional };
  Result<zfs::VdevSpec> VdevsFromBody(JsonFields& body, const std::string& context, DataVdevs data);
  Result<HttpResponse> DestroyPool(const std::string& name, const HttpRequest& request);
  Result<HttpResponse> ExportPool(const std::string& name, const HttpRequest& request);
  Result<HttpResponse> ScanImports(const HttpRequest& request);
  // Disk lifecycle (disk_routes.cc, issue 20 item 1): replace, attach, detach,
  // online, offline, add, remove, scrub.
  static bool IsDiskAction(const std::string& action);
  Result<HttpResponse> DiskAction(const std::string& pool, const std::string& action, const HttpRequest& request);
  Result<HttpResponse> ImportPool(const HttpRequest& request);

  Result<HttpResponse> ListDatasets(const HttpRequest& request, zfs::DatasetType only);
  Result<HttpResponse> GetDataset(const std::string& name, const HttpRequest& request);
  Result<HttpResponse> CreateDataset(const HttpRequest& request);
  Result<HttpResponse> SetProperties(const std::string& name, const HttpRequest& request);
  Result<HttpResponse> InheritProperty(const std::string& name, const HttpRequest& request);
  Result<HttpResponse> RenameDataset(const std::string& name, const HttpRequest& request);
  Result<HttpResponse> DestroyDataset(const std::string& name, const HttpRequest& request);

  Result<HttpResponse> CreateSnapshot(const HttpRequest& request);
  Result<HttpResponse> DestroySnapshot(const std::string& name, const HttpRequest& request);
  Result<HttpResponse> RollbackSnapshot(const std::string& name, const HttpRequest& request);

  // Pool services (supervisor_routes.cc).
  Result<HttpResponse> ListServices();
  Result<HttpResponse> GetService(const std::string& pool);
  Result<HttpResponse> ServiceAction(const std::string& pool, const std::string& action, const HttpRequest& request);
  Result<HttpResponse> PoolSwitch(const std::string& pool, const std::string& action, const HttpRequest& request);
  Result<HttpResponse> Events(const HttpRequest& request);
  Result<HttpResponse> ListExecs();
  Result<HttpResponse> AddExec(const HttpRequest& request);
  Result<HttpResponse> ExecAction(const std::string& name, const std::string& method, const std::string& action);
  Result<supervisor::Supervisor*> RequireSupervisor();

  // Storage profiles (layout_routes.cc).
  Result<HttpResponse> PlanPool(const HttpRequest& request);
  // The plan for a body's "profile", "disks", "enclosures", "nspf", "spares", ...
  Result<layout::Plan> PlanFromBody(JsonFields& body);
  Result<std::vector<layout::Disk>> ProbeDisks(JsonFields& body);

  // Quotas (quota_routes.cc).
  Result<HttpResponse> GetQuotas(const std::string& dataset, const HttpRequest& request);
  Result<HttpResponse> SetQuota(const std::string& dataset, const HttpRequest& request);
  Result<HttpResponse> ClearQuota(const std::string& dataset, const HttpRequest& request);
  quota::Quotas QuotasOf();

  // Shares (share_routes.cc).
  Result<HttpResponse> ShareRoute(const std::string& name, const HttpRequest& request);
  Result<HttpResponse> SmbUserRoute(const std::string& name, const HttpRequest& request);
  Result<share::ShareManager*> RequireShares();
  // Shadow migration (migrate_routes.cc).
  Result<HttpResponse> MigrationRoute(const std::string& dataset, const HttpRequest& request);
  Result<migrate::Manager*> RequireMigrations();
  // Pool adoption (adopt_routes.cc): GET shows what adopting would serve, POST adopts and serves it.
  Result<HttpResponse> AdoptRoute(const std::string& pool, const HttpRequest& request);
  // {"shares": [...], "migrations": [...]} of `pool`, each with its definition or source.
  Result<nlohmann::json> PoolConfiguration(const zfs::PoolName& pool);
  // Snapshot policies (protect_routes.cc).
  Result<HttpResponse> SnapshotPolicyRoute(const std::string& dataset, const HttpRequest& request);
  Result<HttpResponse> ScrubPolicyRoute(const std::string& pool, const HttpRequest& request);

  // Disks (hw_routes.cc).
  Result<HttpResponse> DiskRoute(const std::string& id, const HttpRequest& request);
  Result<HttpResponse> ListEnclosures();
  Result<hw::DiskMonitor*> RequireDisks();

  // The whole dataset list as JSON text, rendered once per inventory generation.
  std::shared_ptr<const std::string> AllDatasetsJson(const inventory::Snapshot& view);

  zfs::Zfs& zfs_;
  inventory::Inventory& inventory_;
  supervisor::Supervisor* supervisor_;
  events::EventLog* events_;
  sys::FileSystem* fs_;
  RouterOptions options_;
  sys::UserDirectory* users_;
  share::ShareManager* shares_;
  migrate::Manager* migrations_ = nullptr;
  supervisor::Ownership* ownership_ = nullptr;
  protect::Scheduler* scheduler_ = nullptr;
  hw::DiskMonitor* disks_ = nullptr;
  protect::ScrubScheduler* scrubs_ = nullptr;

  std::mutex render_mutex_;
  uint64_t rendered_generation_ = 0;               // guarded by render_mutex_
  std::shared_ptr<const std::string> rendered_;    // guarded by render_mutex_
};

}  // namespace pk::api
