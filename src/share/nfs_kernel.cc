#include "share/nfs_kernel.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "base/log.h"
#include "base/mountinfo.h"
#include "base/text.h"

namespace pk::share {
namespace {

constexpr std::string_view kHeader =
    "# Written by poolkeeperd: the NFS shares of the pools this head serves.\n"
    "# Every change here is overwritten; define shares with `poolkeeper share`.\n";

// A path as exports(5) reads it back: octal escapes for the blanks that end
// the path, '#' (a comment), '\\' (an escape) and '"' (exportfs reads a
// token from '"' to the next '"' as one quoted string: issue 17 item 4), and
// any other control character.
std::string Escape(std::string_view path) {
  std::string out;
  for (char c : path) {
    auto u = static_cast<unsigned char>(c);
    if (u <= ' ' || u == 0x7f || c == '#' || c == '\\' || c == '"') {
      out += fmt::format("\\{:03o}", static_cast<unsigned char>(c));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// "MM:mm" with both numbers in `base` (nullopt when malformed).
std::optional<DeviceNumber> ParseDevice(std::string_view text, int base) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 >= text.size()) return std::nullopt;
  DeviceNumber dev;
  auto parse = [base](std::string_view part, unsigned& out) {
    auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), out, base);
    return ec == std::errc() && ptr == part.data() + part.size();
  };
  if (!parse(text.substr(0, colon), dev.major) || !parse(text.substr(colon + 1), dev.minor)) return std::nullopt;
  return dev;
}

class KernelNfsBackend : public Backend {
 public:
  KernelNfsBackend(KernelNfsOptions options, sys::ProcessRunner& runner, sys::FileSystem& fs,
                   sys::ConfigFs& attributes)
      : options_(std::move(options)), runner_(runner), fs_(fs), attributes_(attributes) {}

  Protocol protocol() const override { return Protocol::kNfs; }

  Status Start() override { return Health(); }

  Status Stop() override {
    PK_TRY(WriteExports(""));
    PK_ASSIGN_OR_RETURN(auto r, Exportfs({"-ra"}));
    if (!r.status.Success()) {
      return Unavailable(fmt::format("withdraw kernel NFS exports: exportfs -ra {}: {}", r.status.ToString(), r.err));
    }
    PK_TRY(ReleaseWithdrawn({}));
    return OkStatus();
  }

  Status Health() override {
    auto threads = fs_.ReadFile(options_.threads_file);
    if (!threads) {
      return Unavailable(fmt::format("kernel NFS server not running: cannot read {} ({}); start nfs-server.service",
                                     options_.threads_file, threads.error().message()));
    }
    std::string t = *threads;
    while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
    if (t.empty() || t == "0") {
      return Unavailable(fmt::format("kernel NFS server not running: {} says {} threads; start nfs-server.service",
                                     options_.threads_file, t.empty() ? "no" : t));
    }
    return OkStatus();
  }

  std::vector<ShareResult> Reconcile(const std::vector<Share>& desired) override {
    std::vector<ShareResult> results;
    std::vector<Share> nfs;
    for (const auto& s : desired) {
      if (s.protocol() != Protocol::kNfs) {
        results.push_back({s.Id(), InvalidArgument(fmt::format("{}: not an NFS share", s.Id()))});
        continue;
      }
      nfs.push_back(s);
    }
    auto fail_all = [&](const Error& e) {
      for (const auto& s : nfs) results.push_back({s.Id(), std::unexpected(e.WithContext("serve " + s.Id()))});
      return results;
    };
    if (!nfs.empty()) {
      if (auto st = Health(); !st) return fail_all(st.error());
    }
    if (auto st = WriteExports(RenderKernelExports(nfs)); !st) return fail_all(st.error());
    auto applied = Exportfs({"-ra"});
    if (!applied) return fail_all(applied.error());
    std::map<std::string, std::string> wanted;  // path -> pool
    for (const auto& s : nfs) wanted.emplace(s.path, s.pool);
    if (auto st = ReleaseWithdrawn(wanted); !st) return fail_all(st.error());
    auto listed = Exportfs({"-v"});
    if (!listed) return fail_all(listed.error());
    if (!listed->status.Success()) {
      return fail_all(Unavailable(fmt::format("exportfs -v {}: {}", listed->status.ToString(), listed->err)).error());
    }
    auto paths = ParseExportfsPaths(listed->out);
    std::set<std::string> exported(paths.begin(), paths.end());
    for (const auto& s : nfs) {
      if (exported.contains(s.path)) {
        results.push_back({s.Id(), OkStatus()});
        continue;
      }
      // exportfs names the path in its complaint ("Failed to stat /x: ...").
      std::string why;
      for (auto line : SplitLines(applied->err)) {
        if (line.find(s.path) != std::string_view::npos) why += (why.empty() ? "" : "; ") + std::string(line);
      }
      results.push_back({s.Id(), Unavailable(fmt::format("serve {}: the kernel does not export {} after exportfs -ra{}",
                                                         s.Id(), s.path, why.empty() ? "" : ": " + why))});
    }
    return results;
  }

  Result<std::vector<std::string>> Served() override {
    auto file = fs_.ReadFile(options_.exports_file);
    if (!file) {
      if (file.error().code() == ErrorCode::kNotFound) return std::vector<std::string>{};
      return std::unexpected(file.error());
    }
    PK_ASSIGN_OR_RETURN(auto listed, Exportfs({"-v"}));
    if (!listed.status.Success()) {
      return Unavailable(fmt::format("exportfs -v {}: {}", listed.status.ToString(), listed.err));
    }
    auto paths = ParseExportfsPaths(listed.out);
    std::set<std::string> exported(paths.begin(), paths.end());
    // Our file: "# share ID" above the line of that share's path.
    std::vector<std::string> served;
    std::string id;
    for (auto line : SplitLines(*file)) {
      if (line.starts_with("# share ")) {
        id = std::string(line.substr(8));
      } else if (!id.empty() && !line.empty() && line[0] != '#') {
        std::string_view path = line.substr(0, line.find(' '));
        if (exported.contains(UnescapeOctal(path))) served.push_back(id);
        id.clear();
      }
    }
    return served;
  }

 private:
  // Releases what nfsd holds on the filesystems of paths no longer wanted
  // (the header says what and why); bounded by options_.release_timeout.
  Status ReleaseWithdrawn(const std::map<std::string, std::string>& wanted) {
    std::vector<std::pair<std::string, std::string>> withdrawn;  // path, pool
    for (const auto& [path, pool] : exported_) {
      if (!wanted.contains(path)) withdrawn.emplace_back(path, pool);
    }
    exported_ = wanted;
    if (withdrawn.empty()) return OkStatus();
    auto log = GetLogger("share");
    // The devices first (a withdrawn dataset is still mounted here), and the
    // paths whose cache entries hold a withdrawn filesystem: the withdrawn
    // paths and every mount of their pools ("/" never: it is no pool's to export).
    std::vector<std::pair<std::string, DeviceNumber>> devices;
    std::set<std::string> released;
    if (auto mountinfo = ReadIfPresent(options_.mountinfo_file)) {
      for (const auto& [path, pool] : withdrawn) {
        if (auto dev = MountDeviceOf(*mountinfo, path)) devices.emplace_back(path, *dev);
        for (auto& m : PoolMountPoints(*mountinfo, pool)) {
          if (m != "/") released.insert(std::move(m));
        }
      }
    }
    for (const auto& [path, pool] : withdrawn) released.insert(path);
    std::vector<std::string> withdrawn_paths;
    for (const auto& [path, pool] : withdrawn) withdrawn_paths.push_back(path);

    if (auto kind = attributes_.KindOf(options_.unlock_filesystem_file); kind && *kind == sys::ConfigFs::Kind::kAttribute) {
      for (const auto& path : withdrawn_paths) {
        // A path that is gone (dataset destroyed) has nothing left to release.
        // nfsd takes one path ending in a newline (EINVAL without it).
        if (auto st = attributes_.Write(options_.unlock_filesystem_file, path + "\n");
            !st && st.error().code() != ErrorCode::kNotFound) {
          log->warn("nfs: release nfsd's NLM locks on {}: {}", path, st.error().message());
        }
      }
    }
    const int attempts = std::max<int>(1, static_cast<int>(options_.release_timeout / options_.poll));
    const int sweep_attempts = attempts + static_cast<int>(options_.cache_sweep_wait / options_.poll);
    const int filecache_attempts = static_cast<int>(options_.filecache_settle / options_.poll);
    std::vector<std::string> holding;
    bool told_ahead = false;
    for (int attempt = 0;; ++attempt) {
      holding.clear();
      for (const auto& [path, dev] : devices) {
        for (auto& who : ExpireClientsHolding(path, dev)) holding.push_back(std::move(who));
      }
      const bool clients_hold = !holding.empty();
      std::optional<int64_t> ahead;  // seconds the caches' flush time is ahead of the clock
      if (auto cached = CachedHolders(released, wanted); !cached.empty()) {
        ahead = FlushExportCachesIfSweeping();
        holding.push_back(fmt::format("the export caches ({}{})", fmt::join(cached, ", "),
                                      ahead ? fmt::format("; flush time {} s ahead of the clock", *ahead) : ""));
        if (ahead && *ahead > 0 && !told_ahead) {
          told_ahead = true;
          log->info("nfs: the export caches hold withdrawn {} and cannot be swept for {} s: their flush time is "
                    "ahead of the clock (each flush within a second pushes it one second; OpenZFS runs exportfs "
                    "-ra at every mount and unmount); waiting",
                    fmt::join(withdrawn_paths, ", "), *ahead);
        }
      }
      std::optional<long> files;
      if (auto stats = ReadIfPresent(options_.filecache_file)) files = FileCacheInodes(*stats);
      bool settling = files && *files > 0 && attempt < filecache_attempts;
      if (holding.empty() && !settling) break;
      // Only the caches hold: nothing but the clock sweeps them, worth a longer wait.
      if (attempt + 1 >= (clients_hold ? attempts : sweep_attempts)) {
        if (!holding.empty()) {
          log->warn("nfs: withdrawn {} still held by nfsd after {} ms: {}", fmt::join(withdrawn_paths, ", "),
                    (attempt + 1) * options_.poll.count(), fmt::join(holding, "; "));
        }
        break;
      }
      Sleep(options_.poll);
    }
    return OkStatus();
  }

  // The paths listed in nfsd.fh and nfsd.export that hold a released
  // filesystem: at or below a released path, and neither at or below a path
  // still wanted nor its ancestor (an NFSv4 pseudo-root entry it needs).
  std::vector<std::string> CachedHolders(const std::set<std::string>& released,
                                         const std::map<std::string, std::string>& wanted) {
    std::set<std::string> held;
    for (auto [file, kind] : {std::pair{&options_.fh_cache_file, ExportCacheKind::kFh},
                              std::pair{&options_.export_cache_file, ExportCacheKind::kExport}}) {
      auto content = ReadIfPresent(*file);
      if (!content) continue;
      for (auto& path : ExportCachePaths(*content, kind)) {
        bool on_released = std::any_of(released.begin(), released.end(),
                                       [&](const std::string& r) { return AtOrBelow(path, r); });
        bool needed = std::any_of(wanted.begin(), wanted.end(), [&](const auto& w) {
          return AtOrBelow(path, w.first) || AtOrBelow(w.first, path);
        });
        if (on_released && !needed) held.insert(std::move(path));
      }
    }
    return {held.begin(), held.end()};
  }

  static bool AtOrBelow(std::string_view path, std::string_view dir) {
    return path == dir || (path.starts_with(dir) && (dir.ends_with('/') || path[dir.size()] == '/'));
  }

  // Flushes nfsd.fh, then nfsd.export (nfsd.fh entries refer to exports), as
  // `exportfs -f` would, but only when neither cache's flush time is ahead of
  // the wall clock: only then does the kernel sweep the expired entries out
  // (a flush within the same second only marks them, and pushes the sweep a
  // second further; see the header).
  // Returns nullopt when it flushed, else how many seconds the later flush
  // time is ahead of the clock (0: flushed in this very second).
  std::optional<int64_t> FlushExportCachesIfSweeping() {
    auto log = GetLogger("share");
    const int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(Now().time_since_epoch()).count();
    std::vector<const std::string*> flushes;
    std::optional<int64_t> ahead;
    for (const auto* file : {&options_.fh_flush_file, &options_.export_flush_file}) {
      auto text = ReadIfPresent(*file);
      if (!text) continue;  // no such cache here
      if (auto t = ParseFlushTime(*text); t && *t >= now) {
        ahead = std::max(ahead.value_or(0), *t - now);
        continue;
      }
      flushes.push_back(file);
    }
    if (ahead) {
      log->debug("nfs: export caches flushed up to {} s ahead of the clock: the next flush waits", *ahead);
      return ahead;
    }
    for (const auto* file : flushes) {
      if (auto st = attributes_.Write(*file, fmt::format("{}\n", now)); !st) {
        log->warn("nfs: flush the kernel's export cache: {}", st.error().message());
      }
    }
    return std::nullopt;
  }

  // Expires the NFSv4 clients whose state holds a file on `dev`; returns the
  // clients that still did (for the log when the release runs out of time).
  std::vector<std::string> ExpireClientsHolding(const std::string& path, DeviceNumber dev) {
    std::vector<std::string> held;
    auto kind = attributes_.KindOf(options_.clients_dir);
    if (!kind || *kind != sys::ConfigFs::Kind::kDirectory) return held;
    auto ids = attributes_.List(options_.clients_dir);
    if (!ids) return held;
    for (const auto& id : *ids) {
      std::string dir = options_.clients_dir + "/" + id;
      auto states = attributes_.Read(dir + "/states");
      if (!states || !StatesHoldDevice(*states, dev)) continue;  // gone meanwhile, or not holding
      std::string name = ClientName(dir);
      GetLogger("share")->info("nfs: expiring NFSv4 client {} ({}): it holds state on withdrawn {}", id, name, path);
      if (auto st = attributes_.Write(dir + "/ctl", "expire\n"); !st && st.error().code() != ErrorCode::kNotFound) {
        held.push_back(fmt::format("NFSv4 client {} ({}): expire: {}", id, name, st.error().message()));
        continue;
      }
      held.push_back(fmt::format("NFSv4 client {} ({})", id, name));
    }
    return held;
  }

  // The client's name from its info file ("name: \"Linux NFSv4.2 host\""), or "".
  std::string ClientName(const std::string& dir) {
    auto info = attributes_.Read(dir + "/info");
    if (!info) return "";
    for (auto line : SplitLines(*info)) {
      if (line.starts_with("name: ")) return std::string(line.substr(6));
    }
    return "";
  }

  std::optional<std::string> ReadIfPresent(const std::string& path) {
    auto text = attributes_.Read(path);
    if (!text) return std::nullopt;
    return *text;
  }

  std::chrono::system_clock::time_point Now() { return options_.clock->Now(); }
  void Sleep(std::chrono::milliseconds d) { options_.clock->SleepFor(d); }

  Status WriteExports(const std::string& contents) {
    auto slash = options_.exports_file.rfind('/');
    PK_TRY(fs_.MakeDirs(options_.exports_file.substr(0, slash), 0755));
    return fs_.WriteFileAtomic(options_.exports_file, contents, 0644);
  }

  Result<sys::ProcessResult> Exportfs(std::vector<std::string> args) {
    sys::Command c{.program = options_.exportfs_path, .args = std::move(args), .env = sys::DefaultToolEnvironment()};
    GetLogger("share")->debug("nfs: run {}", c.ToString());
    return runner_.Run(c);
  }

  KernelNfsOptions options_;
  sys::ProcessRunner& runner_;
  sys::FileSystem& fs_;
  sys::ConfigFs& attributes_;
  std::map<std::string, std::string> exported_;  // path -> pool, written by the last reconcile
};

}  // namespace

std::string RenderKernelExports(const std::vector<Share>& desired) {
  std::string out(kHeader);
  for (const auto& s : desired) {
    const auto* nfs = std::get_if<NfsDefinition>(&s.definition);
    if (nfs == nullptr) continue;
    std::vector<std::string> clients;
    for (const auto& c : nfs->clients) {
      std::string text = c.ToString();  // "MATCH(rw,root_squash,sec=sys)"
      text.insert(text.size() - 1, ",no_subtree_check,fsid=" + KernelNfsFsid(s.guid));
      clients.push_back(std::move(text));
    }
    out += fmt::format("# share {}\n{} {}\n", s.Id(), Escape(s.path), fmt::join(clients, " "));
  }
  return out;
}

std::vector<std::string> ParseExportfsPaths(std::string_view text) {
  std::vector<std::string> paths;
  for (std::string_view line : SplitLines(text)) {
    // A path line starts at column 0; client lines of a long path are indented.
    if (line.empty() || line[0] != '/') continue;
    size_t blank = line.find_first_of(" \t");
    std::string path = UnescapeOctal(line.substr(0, blank));
    if (std::find(paths.begin(), paths.end(), path) == paths.end()) paths.push_back(std::move(path));
  }
  return paths;
}

std::optional<DeviceNumber> MountDeviceOf(std::string_view mountinfo, std::string_view path) {
  auto mounts = ParseMountInfo(mountinfo);
  const MountEntry* top = TopMountAt(mounts, path);
  if (top == nullptr) return std::nullopt;
  return ParseDevice(top->device, 10);
}

bool StatesHoldDevice(std::string_view states, DeviceNumber dev) {
  // "- 0x...: { type: open, access: rw, deny: --, superblock: "00:2a:3", filename: ... }"
  constexpr std::string_view kKey = "superblock: \"";
  for (auto line : SplitLines(states)) {
    auto at = line.find(kKey);
    if (at == std::string_view::npos) continue;
    auto rest = line.substr(at + kKey.size());
    auto second = rest.find(':', rest.find(':') + 1);  // "MM:mm:INO"
    if (second == std::string_view::npos) continue;
    if (auto d = ParseDevice(rest.substr(0, second), 16); d && *d == dev) return true;
  }
  return false;
}

std::vector<std::string> ExportCachePaths(std::string_view content, ExportCacheKind kind) {
  std::vector<std::string> paths;
  for (auto line : SplitLines(content)) {
    // "# " marks an entry the cache holds without trusting it (expired,
    // negative or pending): it pins its path as much as a valid one (seen in
    // the guest). Only the header ("#path domain(flags)", "#domain fsidtype
    // fsid [path]") is not an entry.
    if (line.starts_with("# ")) line.remove_prefix(2);
    if (line.empty() || line[0] == '#') continue;
    auto f = SplitFields(line);
    size_t at = kind == ExportCacheKind::kExport ? 0 : 3;
    if (f.size() > at && f[at].starts_with('/')) paths.push_back(UnescapeOctal(f[at]));
  }
  return paths;
}

std::vector<std::string> PoolMountPoints(std::string_view mountinfo, std::string_view pool) {
  std::vector<std::string> points;
  for (auto& m : ParseMountInfo(mountinfo)) {
    if (m.source != pool && !(m.source.starts_with(pool) && m.source[pool.size()] == '/')) continue;
    if (std::find(points.begin(), points.end(), m.mount_point) == points.end()) points.push_back(std::move(m.mount_point));
  }
  return points;
}

std::optional<int64_t> ParseFlushTime(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  int64_t t = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), t);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return t;
}

std::optional<long> FileCacheInodes(std::string_view stats) {
  // "total inodes: N" (6.x); older kernels say "total entries: N".
  for (auto line : SplitLines(stats)) {
    for (std::string_view key : {"total inodes:", "total entries:"}) {
      if (!line.starts_with(key)) continue;
      auto f = SplitFields(line.substr(key.size()));
      long n = 0;
      if (f.empty()) return std::nullopt;
      auto [ptr, ec] = std::from_chars(f[0].data(), f[0].data() + f[0].size(), n);
      if (ec != std::errc() || ptr != f[0].data() + f[0].size()) return std::nullopt;
      return n;
    }
  }
  return std::nullopt;
}

std::string KernelNfsFsid(uint64_t guid) {
  // 32 hex digits (exports(5) takes any UUID for fsid=): "pknf" and the guid.
  return fmt::format("706b6e66-0000-0000-{:04x}-{:012x}", guid >> 48, guid & 0xffffffffffffULL);
}

Result<std::unique_ptr<Backend>> MakeKernelNfsBackend(KernelNfsOptions options, sys::ProcessRunner& runner,
                                                      sys::FileSystem& fs, sys::ConfigFs& attributes) {
  for (const auto* p : {&options.exportfs_path, &options.exports_file, &options.threads_file,
                        &options.unlock_filesystem_file, &options.clients_dir, &options.export_cache_file,
                        &options.export_flush_file, &options.fh_cache_file, &options.fh_flush_file,
                        &options.filecache_file, &options.mountinfo_file}) {
    if (!p->starts_with('/')) return InvalidArgument(fmt::format("kernel NFS backend: '{}' is not an absolute path", *p));
  }
  if (options.poll.count() <= 0 || options.release_timeout.count() < 0 || options.filecache_settle.count() < 0 ||
      options.cache_sweep_wait.count() < 0) {
    return InvalidArgument("kernel NFS backend: the release poll must be positive and its bounds not negative");
  }
  return std::unique_ptr<Backend>(new KernelNfsBackend(std::move(options), runner, fs, attributes));
}

}  // namespace pk::share
