#include "share/nfs_kernel.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "base/log.h"

namespace pk::share {
namespace {

constexpr std::string_view kHeader =
    "# Written by poolkeeperd: the NFS shares of the pools this head serves.\n"
    "# Every change here is overwritten; define shares with `poolkeeper share`.\n";

std::string Escape(std::string_view path) {
  std::string out;
  for (char c : path) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '#' || c == '\\') {
      out += fmt::format("\\{:03o}", static_cast<unsigned char>(c));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string Unescape(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 4 <= text.size() &&
        std::all_of(text.begin() + i + 1, text.begin() + i + 4, [](char c) { return c >= '0' && c <= '7'; })) {
      out.push_back(static_cast<char>((text[i + 1] - '0') * 64 + (text[i + 2] - '0') * 8 + (text[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
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
    PK_TRY(FlushIfWithdrawn({}));
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
    std::set<std::string> wanted;
    for (const auto& s : nfs) wanted.insert(s.path);
    if (auto st = FlushIfWithdrawn(wanted); !st) return fail_all(st.error());
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
        if (exported.contains(Unescape(path))) served.push_back(id);
        id.clear();
      }
    }
    return served;
  }

 private:
  static std::vector<std::string_view> SplitLines(std::string_view text) {
    std::vector<std::string_view> lines;
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string_view::npos) end = text.size();
      lines.push_back(text.substr(start, end - start));
      start = end + 1;
    }
    return lines;
  }

  // The kernel's export cache keeps a withdrawn path's filesystem busy (a
  // dataset that was exported cannot be unmounted, so its pool cannot be
  // exported) until the cache entry expires: when a path Poolkeeper exported
  // is no longer wanted, `exportfs -f` flushes the cache now, and
  // unlock_filesystem releases what nfsd holds on the path's filesystem.
  Status FlushIfWithdrawn(const std::set<std::string>& wanted) {
    std::vector<std::string> withdrawn;
    for (const auto& p : exported_) {
      if (!wanted.contains(p)) withdrawn.push_back(p);
    }
    exported_ = wanted;
    if (withdrawn.empty()) return OkStatus();
    PK_ASSIGN_OR_RETURN(auto r, Exportfs({"-f"}));
    if (!r.status.Success()) {
      return Unavailable(fmt::format("flush the kernel's export cache: exportfs -f {}: {}", r.status.ToString(), r.err));
    }
    PK_ASSIGN_OR_RETURN(auto kind, attributes_.KindOf(options_.unlock_filesystem_file));
    if (kind != sys::ConfigFs::Kind::kAttribute) return OkStatus();
    for (const auto& path : withdrawn) {
      // A path that is gone (dataset destroyed) has nothing left to release.
      // nfsd takes one path ending in a newline (EINVAL without it).
      if (auto st = attributes_.Write(options_.unlock_filesystem_file, path + "\n");
          !st && st.error().code() != ErrorCode::kNotFound) {
        GetLogger("share")->warn("nfs: release nfsd's state on {}: {}", path, st.error().message());
      }
    }
    return OkStatus();
  }

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
  std::set<std::string> exported_;  // paths written by the last reconcile
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
      text.insert(text.size() - 1, ",no_subtree_check");
      clients.push_back(std::move(text));
    }
    out += fmt::format("# share {}\n{} {}\n", s.Id(), Escape(s.path), fmt::join(clients, " "));
  }
  return out;
}

std::vector<std::string> ParseExportfsPaths(std::string_view text) {
  std::vector<std::string> paths;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    // A path line starts at column 0; client lines of a long path are indented.
    if (line.empty() || line[0] != '/') continue;
    size_t blank = line.find_first_of(" \t");
    std::string path = Unescape(line.substr(0, blank));
    if (std::find(paths.begin(), paths.end(), path) == paths.end()) paths.push_back(std::move(path));
  }
  return paths;
}

Result<std::unique_ptr<Backend>> MakeKernelNfsBackend(KernelNfsOptions options, sys::ProcessRunner& runner,
                                                      sys::FileSystem& fs, sys::ConfigFs& attributes) {
  for (const auto* p : {&options.exportfs_path, &options.exports_file, &options.threads_file,
                        &options.unlock_filesystem_file}) {
    if (!p->starts_with('/')) return InvalidArgument(fmt::format("kernel NFS backend: '{}' is not an absolute path", *p));
  }
  return std::unique_ptr<Backend>(new KernelNfsBackend(std::move(options), runner, fs, attributes));
}

}  // namespace pk::share
