// poolkeeperd: wires the real ProcessRunner, ZFS adapter, inventory and API
// together, serves until SIGTERM/SIGINT, then stops in reverse order.
#include <signal.h>
#include <unistd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "api/http.h"
#include "api/router.h"
#include "base/log.h"
#include "cluster/pacemaker.h"
#include "cluster/pool_agent.h"
#include "daemon/config.h"
#include "hw/disk_monitor.h"
#include "inventory/inventory.h"
#include "inventory/scan_events.h"
#include "migrate/manager.h"
#include "protect/policies.h"
#include "protect/scheduler.h"
#include "protect/scrub_scheduler.h"
#include "quota/watcher.h"
#include "events/event_log.h"
#include "supervisor/ownership.h"
#include "supervisor/policy.h"
#include "supervisor/supervisor.h"
#include "share/iscsi_lio.h"
#include "share/iscsi_tgt.h"
#include "share/manager.h"
#include "share/nfs_ganesha.h"
#include "share/nfs_kernel.h"
#include "share/smb_samba.h"
#include "sys/configfs.h"
#include "sys/daemon_launcher.h"
#include "sys/files.h"
#include "sys/mountpoints.h"
#include "sys/process_runner.h"
#include "sys/users.h"
#include "zfs/label.h"
#include "zfs/zfs.h"

namespace pk::daemon {
namespace {

// The token file must be a regular file of the daemon's user (root) that
// nobody else can read or write (issue 17 item 8); otherwise the daemon refuses
// to start rather than serve TCP with a token others may know.
Status CheckTokenFile(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    return FailedPrecondition(fmt::format("API token file '{}': {}", path, std::strerror(errno)));
  }
  const char* refusing = "poolkeeperd refuses to start";
  if (!S_ISREG(st.st_mode)) {
    return FailedPrecondition(fmt::format("API token file '{}' is not a regular file (a symlink?): {}", path, refusing));
  }
  if (st.st_uid != ::geteuid()) {
    return FailedPrecondition(fmt::format("API token file '{}' is owned by uid {}, not by root (uid {}, this daemon): {}; "
                                          "chown it to root or remove it (a new token is then created)",
                                          path, st.st_uid, ::geteuid(), refusing));
  }
  if ((st.st_mode & 077) != 0) {
    return FailedPrecondition(fmt::format("API token file '{}' has mode {:04o}: readable or writable by group or others; "
                                          "{}; chmod 600 it and consider the token leaked (remove the file for a new one)",
                                          path, st.st_mode & 07777, refusing));
  }
  return OkStatus();
}

// Returns the API token in state_dir/api-token, creating a random one (0600) when absent.
Result<std::string> LoadOrCreateToken(sys::FileSystem& fs, const std::string& state_dir) {
  std::string path = state_dir + "/api-token";
  PK_ASSIGN_OR_RETURN(bool exists, fs.Exists(path));
  if (exists) {
    PK_TRY(CheckTokenFile(path));
    PK_ASSIGN_OR_RETURN(auto token, fs.ReadFile(path));
    while (!token.empty() && (token.back() == '\n' || token.back() == ' ')) token.pop_back();
    if (token.size() < 16) return FailedPrecondition(fmt::format("API token in '{}' is shorter than 16 characters", path));
    return token;
  }
  unsigned char bytes[32];
  if (getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) {
    return Internal("cannot read random bytes for the API token");
  }
  std::string token;
  for (unsigned char b : bytes) token += fmt::format("{:02x}", b);
  PK_TRY(fs.WriteFileAtomic(path, token + "\n", 0600));
  return token;
}

// "127.0.0.1:8470" or "[::1]:8470" -> host, port.
Result<std::pair<std::string, uint16_t>> SplitHostPort(const std::string& text) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size()) {
    return InvalidArgument(fmt::format("tcp_listen '{}' must be ADDRESS:PORT", text));
  }
  int port = 0;
  try {
    port = std::stoi(text.substr(colon + 1));
  } catch (...) {
    port = -1;
  }
  if (port <= 0 || port > 65535) return InvalidArgument(fmt::format("tcp_listen '{}': bad port", text));
  return std::make_pair(text.substr(0, colon), static_cast<uint16_t>(port));
}

std::string ParentDir(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Whether a share server set to `mode` (auto, on, off) runs: "auto" when its
// program is installed.
bool Wanted(const std::string& mode, const std::string& program) {
  return mode == "on" || (mode == "auto" && ::access(program.c_str(), X_OK) == 0);
}

share::SambaOptions SambaOptionsFor(const Config& config) {
  share::SambaOptions smb;
  smb.root_dir = config.state_dir + "/samba";
  smb.interfaces = config.smb_interfaces;
  smb.port = static_cast<uint16_t>(config.smb_port);
  smb.netbios_name = config.smb_netbios_name;
  return smb;
}

bool Executable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }
bool Present(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// A kernel module loaded, built in (/sys/module/NAME), or installed for the
// running kernel (MODULE_PATH with any compression suffix).
bool KernelHas(const std::string& name, const std::string& module_path) {
  if (Present("/sys/module/" + name)) return true;
  struct utsname u {};
  if (::uname(&u) != 0) return false;
  std::string base = fmt::format("/lib/modules/{}/kernel/{}", u.release, module_path);
  for (const char* suffix : {".ko", ".ko.xz", ".ko.zst", ".ko.gz"}) {
    if (Present(base + suffix)) return true;
  }
  return false;
}

// What this head has for ChooseIscsiServer/ChooseNfsServer.
ServerFacts FindServerFacts() {
  ServerFacts f;
  f.tgt_installed = Executable(share::TgtOptions().tgtd_path);
  f.lio_present = Present("/sys/kernel/config/target") ||
                  KernelHas("iscsi_target_mod", "drivers/target/iscsi/iscsi_target_mod");
  f.ganesha_installed = Executable(share::GaneshaOptions().ganesha_path);
  f.kernel_nfs_present = Executable(share::KernelNfsOptions().exportfs_path) &&
                         (Present("/proc/fs/nfsd/threads") || KernelHas("nfsd", "fs/nfsd/nfsd"));
  return f;
}

// The share servers this head runs, from the configuration.
Result<std::vector<std::unique_ptr<share::Backend>>> MakeShareBackends(const Config& config, sys::ProcessRunner& runner,
                                                                      sys::DaemonLauncher& launcher, sys::FileSystem& fs,
                                                                      sys::ConfigFs& configfs) {
  auto log = GetLogger("daemon");
  std::vector<std::unique_ptr<share::Backend>> out;
  const ServerFacts facts = FindServerFacts();
  IscsiServer iscsi_server = ChooseIscsiServer(config.iscsi_server, facts);
  NfsServer nfs_server = ChooseNfsServer(config.nfs_server, facts);
  log->info("share servers: iscsi={} (iscsi_server={}) nfs={} (nfs_server={})", IscsiServerName(iscsi_server),
            config.iscsi_server, NfsServerName(nfs_server), config.nfs_server);
  if (iscsi_server == IscsiServer::kTgt) {
    share::TgtOptions iscsi;
    iscsi.runtime_dir = config.state_dir + "/tgt";
    iscsi.portal = config.iscsi_portal;
    iscsi.control_port = config.tgt_control_port;
    PK_ASSIGN_OR_RETURN(auto backend, share::MakeTgtBackend(iscsi, runner, launcher, fs));
    out.push_back(std::move(backend));
  } else if (iscsi_server == IscsiServer::kLio) {
    share::LioOptions lio;
    lio.portal = config.iscsi_portal;
    PK_ASSIGN_OR_RETURN(auto backend, share::MakeLioBackend(lio, configfs, runner, fs));
    out.push_back(std::move(backend));
  }
  if (nfs_server == NfsServer::kGanesha) {
    share::GaneshaOptions nfs;
    nfs.runtime_dir = config.state_dir + "/ganesha";
    nfs.netns = config.nfs_netns;
    nfs.nfs_port = static_cast<uint16_t>(config.nfs_port);
    nfs.mnt_port = static_cast<uint16_t>(config.nfs_mount_port);
    PK_ASSIGN_OR_RETURN(auto backend, share::MakeGaneshaBackend(nfs, runner, launcher, fs));
    out.push_back(std::move(backend));
  } else if (nfs_server == NfsServer::kKernel) {
    share::KernelNfsOptions nfs;
    nfs.exports_file = config.nfs_exports_file;
    PK_ASSIGN_OR_RETURN(auto backend, share::MakeKernelNfsBackend(nfs, runner, fs, configfs));
    out.push_back(std::move(backend));
  }
  if (Wanted(config.smb_server, share::SambaOptions().smbd_path)) {
    PK_ASSIGN_OR_RETURN(auto backend, share::MakeSambaBackend(SambaOptionsFor(config), runner, launcher, fs));
    out.push_back(std::move(backend));
  }
  return out;
}

// poolkeeper-shadowfs: beside this binary (installed), or in the build tree's
// src/migrate/ (tests run the binaries where they were built).
Result<std::string> FindShadowHelper(sys::FileSystem& fs) {
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return Internal("cannot read /proc/self/exe");
  std::string dir = ParentDir(std::string(self, static_cast<size_t>(n)));
  for (const std::string& p : {dir + "/poolkeeper-shadowfs", ParentDir(dir) + "/migrate/poolkeeper-shadowfs"}) {
    PK_ASSIGN_OR_RETURN(bool exists, fs.Exists(p));
    if (exists) return p;
  }
  return NotFound("poolkeeper-shadowfs not found beside " + dir + "/poolkeeperd");
}

Status Serve(const Config& config) {
  auto log = GetLogger("daemon");
  auto fs = sys::MakeRealFileSystem();
  PK_TRY(fs->MakeDirs(config.state_dir, 0700));
  PK_ASSIGN_OR_RETURN(auto token, LoadOrCreateToken(*fs, config.state_dir));

  auto runner = sys::MakePosixProcessRunner();
  PK_ASSIGN_OR_RETURN(auto setup, zfs::DetectZfs(*runner, config.zpool_path, config.zfs_path));
  log->info("ZFS dialect {} (zpool {}, zfs {})", zfs::DialectName(setup.dialect), setup.paths.zpool, setup.paths.zfs);
  auto make_zfs = [&runner, setup](std::chrono::milliseconds timeout) {
    zfs::ZfsOptions o;
    o.timeout = timeout;
    return zfs::MakeCliZfsForDialect(*runner, setup.dialect, setup.paths, o);
  };
  auto zfs = make_zfs(std::chrono::seconds(config.tool_timeout_seconds));
  auto tool_reads = make_zfs(std::chrono::seconds(config.api_read_timeout_seconds));

  // Nothing here waits for a pool: the inventory's first refresh and every
  // import run in the background, so the API answers at once (issue 3, point 6).
  events::EventLogOptions ev_options;
  ev_options.max_events = static_cast<size_t>(config.event_log_max);
  PK_ASSIGN_OR_RETURN(auto events, events::EventLog::Open(*fs, config.state_dir + "/events.jsonl", ev_options));
  inventory::InventoryOptions inv_options;
  inv_options.period = std::chrono::seconds(config.refresh_interval_seconds);
  // Scrub and resilver starts and ends, from successive status reads (issue 20 item 1).
  inv_options.on_status = [&events](const std::string& pool, const zfs::PoolStatus& before,
                                    const zfs::PoolStatus& after) {
    for (auto& e : inventory::ScanTransitions(pool, before, after)) {
      if (auto appended = events->Append({0, {}, "scan:" + pool, e.state, e.previous, e.reason}); !appended) {
        GetLogger("daemon")->warn("pool={} scan event not recorded: {}", pool, appended.error().message());
      }
    }
  };
  inventory::Inventory inventory(*zfs, inv_options);

  supervisor::PolicyStore store(*fs, config.state_dir);
  PK_TRY(store.Init());
  // Pools made elsewhere are held until adopted (issue 17 item 6); pools this
  // head already runs as services are adopted on the upgrade that adds this.
  supervisor::Ownership ownership(*zfs, *fs, {config.state_dir, config.cluster_authkey});
  {
    std::vector<std::string> managed;
    if (auto loaded = store.LoadEach(); loaded) {
      for (const auto& p : loaded->policies) managed.push_back(p.pool);
    }
    PK_TRY(ownership.Init(managed));
  }
  auto held = [&ownership](const std::string& pool) { return ownership.Held(pool); };
  supervisor::SupervisorOptions sup_options;
  sup_options.health_period = std::chrono::seconds(config.health_interval_seconds);
  sup_options.health_timeout = std::max<std::chrono::milliseconds>(std::chrono::seconds(20), 2 * sup_options.health_period);
  sup_options.pid = static_cast<int>(::getpid());
  sup_options.tool_timeout = std::chrono::seconds(config.tool_timeout_seconds);
  sup_options.runner = runner.get();
  auto mountpoint_guard = sys::MakeRealMountpointGuard();
  sup_options.mountpoints = mountpoint_guard.get();  // protected while their pool is exported (issue 18 item 5)
  // Every server and helper is recorded in state_dir/children and adopted by
  // the next daemon when this one dies (issue 18): the data plane outlives
  // the control plane; a deliberate stop (SIGTERM) ends them all.
  const std::string children_dir = config.state_dir + "/children";
  PK_TRY(fs->MakeDirs(children_dir, 0700));
  auto launcher = sys::MakePosixDaemonLauncher(children_dir);
  // Shares, migrations and the supervisor refer to each other: the sharing
  // phase serves through the share manager, and both managers report
  // problems to the supervisor. `supervisor_ptr` is set before anything can
  // call back.
  supervisor::Supervisor* supervisor_ptr = nullptr;
  // Shadow migrations (issue 6): one helper per migrating dataset, found from the pools themselves.
  auto helpers = migrate::MakePosixHelperProcesses(children_dir);
  std::unique_ptr<migrate::Manager> migrations;
  if (auto helper = FindShadowHelper(*fs); helper) {
    PK_TRY(fs->MakeDirs(config.state_dir + "/migrate", 0700));
    migrate::ManagerOptions mo;
    mo.helper_path = *helper;
    mo.runtime_dir = config.state_dir + "/migrate";
    mo.log_level = config.log_level;
    mo.held = held;
    // `service list` shows a held pool's migrations as it shows its shares.
    mo.on_held = [&supervisor_ptr](const std::string& pool, std::vector<std::string> lines) {
      if (supervisor_ptr) supervisor_ptr->ReportMigrations(pool, std::move(lines));
    };
    migrations = std::make_unique<migrate::Manager>(*zfs, *runner, *helpers, mo);
  } else {
    log->warn("shadow migration disabled: {}", helper.error().message());
  }
  // The supervisor owns every import and export (issue 19 item 1); these are
  // the steps around them: what the rest of the daemon does when a pool comes or goes.
  sup_options.on_pool_changed = [&inventory, &migrations](const std::string& pool) {
    inventory.RefreshPoolSoon(pool);
    if (migrations) migrations->ReleasePool(pool);
  };
  share::ShareManagerOptions share_options;
  share_options.on_event = [&events](const std::string& resource, const std::string& state, const std::string& reason) {
    if (auto appended = events->Append({0, {}, resource, state, "", reason}); !appended) {
      GetLogger("daemon")->error("event log: {}", appended.error().message());
    }
  };
  share_options.held = held;
  share_options.on_pool_shares = [&supervisor_ptr](const std::string& pool, const std::vector<std::string>& problems) {
    if (supervisor_ptr) supervisor_ptr->ReportShares(pool, problems);
  };
  auto configfs = sys::MakeRealConfigFs();
  PK_ASSIGN_OR_RETURN(auto backends, MakeShareBackends(config, *runner, *launcher, *fs, *configfs));
  if (Wanted(config.smb_server, share::SambaOptions().smbd_path)) {
    share_options.smb_set_password = [&](const sys::AccountName& user, std::string_view password) {
      return share::SetSmbPassword(SambaOptionsFor(config), *runner, *fs, user, password);
    };
    share_options.smb_remove_user = [&](const sys::AccountName& user) {
      return share::RemoveSmbUser(SambaOptionsFor(config), *runner, *fs, user);
    };
  }
  share::ShareManager shares(*zfs, *fs, std::move(backends), share_options);
  // Servers left by a killed daemon (adopted above): nothing is withdrawn
  // from them until every pool had its chance to be served again.
  const bool restarted_after_crash = !sys::ReadDaemonRecords(children_dir).empty();
  if (restarted_after_crash) shares.HoldUntilSettled();
  sup_options.serve_shares = [&shares](const zfs::PoolName& pool) { return shares.ServePool(pool); };
  // Before an export: shares stop, and shadow-migration layers on the pool's
  // mountpoints are unmounted (held until the export is over; they resume
  // wherever the pool is imported next).
  sup_options.unserve_shares = [&shares, &migrations](const zfs::PoolName& pool) -> Status {
    auto unserved = shares.UnservePool(pool);
    if (migrations) PK_TRY(migrations->HoldPool(pool.str()));
    return unserved;
  };
  sup_options.adopt_cluster_pool = [&ownership, &runner, log](const zfs::PoolName& pool) -> Status {
    PK_ASSIGN_OR_RETURN(bool adopted, ownership.IsAdopted(pool));
    if (!adopted) PK_TRY(ownership.Adopt(pool));
    // Issue 17 item 7: a cluster pool is written by one head at a time, and
    // OpenZFS's multihost protection (MMP) makes an import elsewhere refuse,
    // even forced, while this head writes it. zfs-fuse has none: skipped.
    PK_ASSIGN_OR_RETURN(auto setup, zfs::DetectZfs(*runner));
    auto mmp = zfs::EnableMultihost(*runner, setup, pool);
    if (!mmp && mmp.error().code() == ErrorCode::kUnimplemented) {
      log->debug("pool={} {}", pool.str(), mmp.error().message());
      return OkStatus();
    }
    if (!mmp) log->warn("pool={} {}", pool.str(), mmp.error().message());
    return mmp;
  };
  supervisor::Supervisor supervisor(make_zfs, store, *events, sup_options);
  supervisor_ptr = &supervisor;

  auto users = sys::MakePosixUserDirectory();
  // Quota warning thresholds: the filesystems that carry them, from the inventory.
  quota::Watcher quota_watcher(*zfs, *events);
  quota_watcher.Start(std::chrono::seconds(config.health_interval_seconds), [&inventory] {
    std::vector<quota::WarnTarget> targets;
    auto view = inventory.Current();
    for (const auto& [name, d] : view->datasets) {
      auto it = d.properties.find(quota::kWarnProperty);
      if (it == d.properties.end() || it->second.source != zfs::PropertySource::kLocal) continue;
      auto thresholds = quota::ParseThresholds(it->second.value);
      auto ds = zfs::DatasetName::Parse(name);
      if (thresholds && !thresholds->empty() && ds) targets.push_back({*ds, *thresholds});
    }
    return targets;
  });

  // Snapshot schedules (issue 24 item 1): the policies the inventory sees, so
  // only pools imported here; after a pass that changed snapshots, that
  // dataset's tree is refreshed for `snapshot list`.
  protect::Scheduler snapshots(*zfs, *events, RealClock(),
                               [&inventory, &log](const zfs::DatasetName& ds) {
                                 if (auto refreshed = inventory.RefreshTree(ds.str()); !refreshed) {
                                   log->warn("inventory refresh after snapshots of '{}': {}", ds.str(), refreshed.error().message());
                                 }
                               });

  // Disks (issue 20 items 2, 3): the topology at start, on demand and every
  // disk_rescan_seconds, matched against the inventory's pools as they change;
  // SMART on its own schedule, one disk at a time. A sys_root (the lab
  // chassis, a recorded tree) is read through sysfs: lsblk sees only this host.
  const bool use_lsblk = config.disk_source == "lsblk" ||
                         (config.disk_source == "auto" && config.sys_root.empty() && ::access("/usr/bin/lsblk", X_OK) == 0);
  std::unique_ptr<hw::BlockSource> disk_source;
  if (use_lsblk) {
    disk_source = std::make_unique<hw::LsblkSource>(*runner);
  } else {
    disk_source = std::make_unique<hw::SysBlockSource>(hw::SysTree(config.sys_root));
  }
  hw::TopologyReader topology(*disk_source, {.sys_root = config.sys_root, .dev_root = config.dev_root,
                                             .chassis_file = config.chassis_file, .vdev_id_file = config.vdev_id_file});
  hw::SmartReader smart(*runner, {.smartctl = config.smartctl_path});
  const bool have_smartctl = ::access(config.smartctl_path.c_str(), X_OK) == 0;
  if (!have_smartctl) log->warn("{} is not installed: no SMART (Debian package smartmontools)", config.smartctl_path);
  hw::DiskMonitor disks(topology, have_smartctl ? &smart : nullptr,
                        [&inventory] {
                          auto view = inventory.Current();
                          hw::PoolsView pools{.generation = view->generation};
                          for (const auto& p : view->pools) pools.pools.push_back(p.status);
                          return pools;
                        },
                        {.rescan_period = std::chrono::seconds(config.disk_rescan_seconds),
                         .smart_period = std::chrono::seconds(config.smart_interval_seconds)});
  disks.Start();
  // Scrub schedules (issue 24 item 3): the pools imported here; after a start,
  // that pool's status is read again so its scan events follow at once.
  protect::ScrubScheduler scrubs(*zfs, *events, RealClock(), [&inventory, &log](const zfs::PoolName& pool) {
    if (auto read = inventory.RefreshStatus(pool.str()); !read) {
      log->warn("pool={} status read after a scheduled scrub: {}", pool.str(), read.error().message());
    }
  });

  api::RouterOptions api_options{.bearer_token = token, .version = "0.1.0"};
  api_options.cluster_force_proof = [&runner](const std::string& pool, const std::string& refusal) -> Result<std::string> {
    if (!cluster::ImportRefusedAsInUse(refusal)) return FailedPrecondition(refusal);
    cluster::PacemakerFacts pacemaker(*runner);
    PK_ASSIGN_OR_RETURN(auto status, pacemaker.Status());
    auto decision = cluster::DecideForcedImport(refusal, status, pacemaker.LocalHead());
    if (!decision.force) return FailedPrecondition(fmt::format("pool '{}': {}; not forcing: {}", pool, refusal, decision.why));
    return decision.why;
  };
  api_options.is_cluster_pool = [&runner](const std::string& pool) {
    auto status = cluster::PacemakerFacts(*runner).Status();  // fails where no cluster runs
    return status && std::any_of(status->pools.begin(), status->pools.end(), [&](const auto& p) { return p.pool == pool; });
  };
  api_options.tool_reads = tool_reads.get();
  api::Router service(*zfs, inventory, &supervisor, events.get(), fs.get(), api_options, users.get(), &shares);
  service.SetMigrations(migrations.get());
  service.SetOwnership(&ownership);
  service.SetSnapshotScheduler(&snapshots);
  service.SetDisks(&disks);
  service.SetScrubScheduler(&scrubs);
  api::HttpServerOptions server_options;
  server_options.worker_threads = 4;
  server_options.authorize = [&service](const api::HttpRequest& r) { return service.AuthorizeHead(r); };
  server_options.classify = &api::Router::Classify;
  PK_ASSIGN_OR_RETURN(auto server, api::HttpServer::Create(
                                       [&](const api::HttpRequest& r) { return service.Handle(r); }, server_options));
  PK_TRY(fs->MakeDirs(ParentDir(config.socket), 0755));
  PK_TRY(server->ListenUnix(config.socket, 0600));
  if (!config.tcp_listen.empty()) {
    PK_ASSIGN_OR_RETURN(auto hp, SplitHostPort(config.tcp_listen));
    PK_ASSIGN_OR_RETURN(auto port, server->ListenTcp(hp.first, hp.second));
    log->info("API on tcp {}:{} (bearer token in {}/api-token)", hp.first, port, config.state_dir);
  }

  // Block the stop signals in every thread; this thread waits for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  PK_TRY(server->Start());
  inventory.StartPeriodic();
  PK_TRY(supervisor.Start());
  if (migrations) migrations->StartLoop();
  // The schedules act on adopted pools only (issue 17 item 6): a pool made
  // elsewhere shows its policies as held. Judged from the view: no tool runs.
  auto held_in = [&ownership](std::shared_ptr<const inventory::Snapshot> view) -> protect::HeldCheck {
    return [&ownership, view](const std::string& pool) -> std::optional<std::string> {
      const auto* p = view->FindPool(pool);
      auto root = view->datasets.find(pool);
      if (p && root != view->datasets.end() && ownership.Verifies(p->summary.guid, root->second)) return std::nullopt;
      return supervisor::HeldReason(pool);
    };
  };
  snapshots.Start([&inventory, &held_in] {
    auto view = inventory.Current();
    return protect::TargetsOf(view->datasets, held_in(view));
  }, std::chrono::seconds(10));  // cheap: a dataset known to be up to date costs no tool run
  scrubs.Start([&inventory, &held_in] {
    auto view = inventory.Current();
    return protect::ScrubTargetsOf(*view, held_in(view));
  }, std::chrono::seconds(10));  // no tool run unless a scrub is due
  // Settles the share servers once no pool service is on its way up (at most 60 s).
  std::atomic<bool> stopping{false};
  std::thread settle([&] {
    if (!restarted_after_crash) return;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline && !stopping) {
      bool busy = !supervisor.UnmanagedServed();
      for (const auto& s : supervisor.List()) {
        busy |= s.state == supervisor::State::kImporting || s.state == supervisor::State::kMounting ||
                s.state == supervisor::State::kSharing || s.state == supervisor::State::kWaiting;
      }
      if (!busy) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    log->info("share servers settled after the restart: reconciling them with every served pool");
    shares.Settle();
  });
  log->info("serving on {}", config.socket);
  // Readiness line for scripts (stdout, flushed).
  std::printf("poolkeeperd ready socket=%s dialect=%s\n", config.socket.c_str(),
              std::string(zfs::DialectName(setup.dialect)).c_str());
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  log->info("signal {}: stopping", sig);
  server->Stop();
  // The schedulers first: nothing is snapshotted or scrubbed while the pools go.
  scrubs.Stop();
  snapshots.Stop();
  stopping = true;
  settle.join();
  if (migrations) migrations->Stop();  // unmounts the shadow layers; they resume at the next start
  supervisor.Stop();
  shares.Shutdown();
  quota_watcher.Stop();
  disks.Stop();
  inventory.Stop();
  events->Close();
  return OkStatus();
}

}  // namespace
}  // namespace pk::daemon

int main(int argc, char** argv) {
  using pk::daemon::Config;
  CLI::App app{"poolkeeperd: the Poolkeeper storage controller daemon"};
  std::string config_path;
  std::string state_dir, socket, tcp_listen, log_level;
  int refresh = 0;
  app.add_option("-c,--config", config_path, "configuration file (default /etc/poolkeeper/poolkeeperd.conf if present)");
  app.add_option("--state-dir", state_dir, "override state_dir");
  app.add_option("--socket", socket, "override socket");
  app.add_option("--tcp-listen", tcp_listen, "override tcp_listen (ADDRESS:PORT)");
  app.add_option("--refresh-interval", refresh, "override refresh_interval_seconds");
  app.add_option("--log-level", log_level, "override log_level");
  CLI11_PARSE(app, argc, argv);

  Config config;
  std::string path = config_path.empty() ? "/etc/poolkeeper/poolkeeperd.conf" : config_path;
  if (!config_path.empty() || ::access(path.c_str(), F_OK) == 0) {
    auto loaded = Config::Load(path);
    if (!loaded) {
      fmt::print(stderr, "poolkeeperd: {}\n", loaded.error().message());
      return 2;
    }
    config = *loaded;
  }
  if (!state_dir.empty()) config.state_dir = state_dir;
  if (!socket.empty()) config.socket = socket;
  if (!tcp_listen.empty()) config.tcp_listen = tcp_listen;
  if (refresh > 0) config.refresh_interval_seconds = refresh;
  if (!log_level.empty()) config.log_level = log_level;
  pk::SetLogLevel(config.log_level);

  try {
    auto served = pk::daemon::Serve(config);
    if (!served) {
      fmt::print(stderr, "poolkeeperd: {}\n", served.error().message());
      return 1;
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "poolkeeperd: internal error: {}\n", e.what());
    return 1;
  }
  return 0;
}
