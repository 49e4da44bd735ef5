#include "migrate/shadow_tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <deque>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/json.h"
#include "base/json_fields.h"
#include "base/log.h"
#include "base/unique_fd.h"
#include "migrate/internal/errno.h"

namespace pk::migrate {

using internal::ErrnoError;
using nlohmann::json;

namespace {

constexpr size_t kChunk = 1 << 20;

const char* P(const std::string& rel) { return rel.empty() ? "." : rel.c_str(); }

// Reads the marker of an open entry; nullopt when it has none.
Result<std::optional<Marker>> ReadMarker(int fd) {
  char buf[8192];  // larger than any marker (a path of at most PATH_MAX)
  ssize_t n = ::fgetxattr(fd, kMarkerXattr, buf, sizeof buf);
  if (n < 0) {
    if (errno == ENODATA || errno == ENOTSUP) return std::optional<Marker>();
    return ErrnoError(errno, "read migration marker");
  }
  auto m = Marker::Decode(std::string_view(buf, static_cast<size_t>(n)));
  // InvalidArgument: the callers report and remove such a marker (RefuseMarker).
  if (!m) return InvalidArgument("migration marker refused: malformed, or its source path is not strictly relative");
  return m;
}

Status WriteMarker(int fd, const Marker& m) {
  std::string v = m.Encode();
  if (::fsetxattr(fd, kMarkerXattr, v.data(), v.size(), 0) != 0) return ErrnoError(errno, "write migration marker");
  return OkStatus();
}

Status SetXattrs(int fd, const Xattrs& xs) {
  for (const auto& [name, value] : xs) {
    if (name == kMarkerXattr) continue;
    if (::fsetxattr(fd, name.c_str(), value.data(), value.size(), 0) != 0) {
      if (name.starts_with("system.posix_acl")) {
        // Never widen access silently: without its ACL the entry is not migrated.
        return FailedPrecondition(fmt::format("has a POSIX ACL ({}) the target cannot keep ({}): not migrated", name,
                                              std::strerror(errno)));
      }
      return ErrnoError(errno, "set attribute '" + name + "'");
    }
  }
  return OkStatus();
}

std::string Hex(const std::string& s) {
  std::string out;
  for (unsigned char c : s) out += fmt::format("{:02x}", c);
  return out;
}

std::string Unhex(const std::string& h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
  return out;
}

Status WriteWhole(int dirfd, const char* name, std::string_view data) {
  std::string tmp = std::string(name) + ".tmp";
  UniqueFd fd(::openat(dirfd, tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoError(errno, fmt::format("write '{}'", name));
  ssize_t n = ::write(fd.get(), data.data(), data.size());
  int e = errno;
  fd.Reset();
  if (n != static_cast<ssize_t>(data.size())) return ErrnoError(n < 0 ? e : EIO, fmt::format("write '{}'", name));
  if (::renameat(dirfd, tmp.c_str(), dirfd, name) != 0) return ErrnoError(errno, fmt::format("rename '{}'", name));
  return OkStatus();
}

Result<std::string> ReadWhole(int dirfd, const char* name) {
  UniqueFd fd(::openat(dirfd, name, O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, fmt::format("read '{}'", name));
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  int e = errno;
  fd.Reset();
  if (n < 0) return ErrnoError(e, fmt::format("read '{}'", name));
  return out;
}

// Names in an open directory (without . and ..).
Result<std::vector<std::pair<std::string, unsigned char>>> ReadNames(UniqueFd fd) {
  DIR* d = ::fdopendir(fd.get());
  if (!d) return ErrnoError(errno, "list directory");
  fd.release();  // closedir closes it
  ::rewinddir(d);  // `fd` may be a dup sharing its offset with an earlier listing
  std::vector<std::pair<std::string, unsigned char>> out;
  while (dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    out.emplace_back(e->d_name, e->d_type);
  }
  ::closedir(d);
  return out;
}

// rm -r of the directory `name` in `parent`.
Status RemoveTree(int parent, const std::string& name) {
  UniqueFd fd(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return OkStatus();
    return ErrnoError(errno, "open '" + name + "' to remove it");
  }
  UniqueFd keep(::dup(fd.get()));
  PK_ASSIGN_OR_RETURN(auto names, ReadNames(std::move(fd)));
  for (const auto& [n, type] : names) {
    if (::unlinkat(keep.get(), n.c_str(), 0) != 0) {
      if (errno == EISDIR || errno == EPERM) {
        PK_TRY(RemoveTree(keep.get(), n));
      } else if (errno != ENOENT) {
        return ErrnoError(errno, "remove '" + n + "'");
      }
    }
  }
  keep.Reset();
  if (::unlinkat(parent, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
    return ErrnoError(errno, "remove directory '" + name + "'");
  }
  return OkStatus();
}

bool AllZero(const char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i]) return false;
  }
  return true;
}

}  // namespace

std::optional<Marker> Marker::Decode(std::string_view text) {
  size_t nl = text.find('\n');
  if (nl == std::string_view::npos || text.empty()) return std::nullopt;
  Marker m;
  if (text[0] == 'D' && nl == 1) {
    m.kind = Kind::kDir;
  } else if (text[0] == 'F' && nl > 1) {
    m.kind = Kind::kFile;
    m.key = std::string(text.substr(1, nl - 1));
  } else {
    return std::nullopt;
  }
  m.rel = std::string(text.substr(nl + 1));
  if (!CheckRel(m.rel)) return std::nullopt;
  for (char c : m.key) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return std::nullopt;
  }
  return m;
}

std::string Marker::Encode() const {
  return (kind == Kind::kDir ? std::string("D") : "F" + key) + "\n" + rel;
}

Result<Meta> Meta::FromJson(std::string_view text) {
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Internal("meta.json is not a JSON object");
  Meta m;
  m.markers = "user";  // written before markers were trusted.* ones
  JsonFields f(j, "meta.json");
  f.Get("source", m.source);
  f.Get("started_at", m.started_at);
  f.Get("concurrency", m.concurrency);
  f.Get("bwlimit", m.bwlimit);
  f.Get("preserve_special", m.preserve_special);
  f.Get("markers", m.markers);
  // A later version may add fields; this one reads what it knows.
  if (auto read = f.Finish(JsonFields::Unknown::kIgnore); !read) return Internal(read.error().message());
  if (m.source.empty()) return Internal("meta.json has no source");
  return m;
}

std::string Meta::ToJson() const {
  return DumpJson(json{{"source", source},
                   {"started_at", started_at},
                   {"concurrency", concurrency},
                   {"bwlimit", bwlimit},
                   {"preserve_special", preserve_special},
                   {"markers", markers}});
}

Status ShadowTree::Init(int root_fd, Source& source, const Meta& meta) {
  PK_ASSIGN_OR_RETURN(auto names, ReadNames(UniqueFd(::dup(root_fd))));
  for (const auto& [n, t] : names) {
    if (n == kStateDirName) return FailedPrecondition("a shadow migration was already started on this filesystem");
  }
  if (!names.empty()) {
    return FailedPrecondition(fmt::format("the filesystem is not empty ({} entries, e.g. '{}')", names.size(),
                                          names.front().first));
  }
  PK_ASSIGN_OR_RETURN(auto root, source.Stat(""));
  if (!S_ISDIR(root.mode)) return FailedPrecondition(fmt::format("source '{}' is not a directory", source.uri().text));
  PK_ASSIGN_OR_RETURN(auto xattrs, source.ListXattrs(""));
  PK_TRY(source.List(""));

  auto undo = [&](Error e) {
    (void)RemoveTree(root_fd, kStateDirName);
    return std::unexpected(e);
  };
  if (::mkdirat(root_fd, kStateDirName, 0700) != 0) return ErrnoError(errno, "create the state directory");
  UniqueFd st(::openat(root_fd, kStateDirName, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!st.valid()) return undo(ErrnoError(errno, "open the state directory").error());
  for (const char* d : {"pending", "links", "staging"}) {
    if (::mkdirat(st.get(), d, 0700) != 0) {
      int e = errno;
      st.Reset();
      return undo(ErrnoError(e, fmt::format("create '{}'", d)).error());
    }
  }
  auto wrote = WriteWhole(st.get(), "meta.json", meta.ToJson());
  if (wrote) wrote = WriteWhole(st.get(), "copied.log", "");
  st.Reset();
  if (!wrote) return undo(wrote.error());
  // The root takes the source root's owner, mode and attributes; its marker last.
  if (::fchown(root_fd, root.uid, root.gid) != 0 || ::fchmod(root_fd, root.mode & 07777) != 0) {
    return undo(ErrnoError(errno, "set owner and mode of the filesystem root").error());
  }
  if (auto s = SetXattrs(root_fd, xattrs); !s) return undo(s.error());
  if (auto s = WriteMarker(root_fd, Marker{Marker::Kind::kDir, "", ""}); !s) return undo(s.error());
  return OkStatus();
}

Result<bool> ShadowTree::HasState(int root_fd) {
  struct stat st;
  if (::fstatat(root_fd, kStateDirName, &st, AT_SYMLINK_NOFOLLOW) == 0) return S_ISDIR(st.st_mode);
  if (errno == ENOENT) return false;
  return ErrnoError(errno, "look for the state directory");
}

Status ShadowTree::Abandon(int root_fd) {
  // Walk the whole local tree and drop every marker.
  std::deque<std::string> dirs{""};
  while (!dirs.empty()) {
    std::string rel = std::move(dirs.front());
    dirs.pop_front();
    UniqueFd fd(::openat(root_fd, P(rel), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) continue;
    if (::fremovexattr(fd.get(), kMarkerXattr) != 0 && errno != ENODATA) {
      return ErrnoError(errno, "remove marker of '" + rel + "'");
    }
    (void)::fremovexattr(fd.get(), kLegacyMarkerXattr);  // cancelling a migration of an older helper
    UniqueFd keep(::dup(fd.get()));
    PK_ASSIGN_OR_RETURN(auto names, ReadNames(std::move(fd)));
    for (const auto& [n, type] : names) {
      if (rel.empty() && n == kStateDirName) continue;
      std::string child = JoinRel(rel, n);
      struct stat st;
      if (::fstatat(keep.get(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (S_ISDIR(st.st_mode)) {
        dirs.push_back(child);
      } else if (S_ISREG(st.st_mode)) {
        UniqueFd f(::openat(keep.get(), n.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
        if (f.valid()) {
          (void)::fremovexattr(f.get(), kMarkerXattr);
          (void)::fremovexattr(f.get(), kLegacyMarkerXattr);
        }
      }
    }
  }
  return RemoveTree(root_fd, kStateDirName);
}

ShadowTree::ShadowTree(UniqueFd root_fd, std::unique_ptr<Source> source, Meta meta)
    : root_fd_(std::move(root_fd)), source_(std::move(source)), meta_(std::move(meta)) {}

ShadowTree::~ShadowTree() = default;

Result<Meta> ShadowTree::ReadMeta(int root_fd) {
  UniqueFd st(::openat(root_fd, kStateDirName, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!st.valid()) return ErrnoError(errno, "open the migration state directory");
  PK_ASSIGN_OR_RETURN(auto text, ReadWhole(st.get(), "meta.json"));
  PK_ASSIGN_OR_RETURN(auto meta, Meta::FromJson(text));
  if (meta.markers != "trusted") {
    // user.* markers may have been forged by any file owner while the layer
    // was down, and cannot be told from real ones: refuse rather than guess.
    return FailedPrecondition(
        "this migration was started by an older poolkeeper whose markers (user.pkshadow) any file owner can "
        "forge; it cannot be resumed safely: cancel it and start it again");
  }
  return meta;
}

Result<std::unique_ptr<ShadowTree>> ShadowTree::Open(UniqueFd root, std::unique_ptr<Source> source) {
  PK_ASSIGN_OR_RETURN(auto meta, ReadMeta(root.get()));
  UniqueFd st(::openat(root.get(), kStateDirName, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!st.valid()) return ErrnoError(errno, "open the migration state directory");
  std::unique_ptr<ShadowTree> t(new ShadowTree(std::move(root), std::move(source), std::move(meta)));
  t->state_fd_ = std::move(st);
  PK_TRY(t->Load());
  return t;
}

Status ShadowTree::Load() {
  auto sub = [&](const char* name, UniqueFd* fd) -> Status {
    fd->Reset(::openat(state_fd_.get(), name, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd->valid()) return ErrnoError(errno, fmt::format("open state '{}'", name));
    return OkStatus();
  };
  PK_TRY(sub("pending", &pending_fd_));
  PK_TRY(sub("links", &links_fd_));
  umask_ = ::umask(0);
  ::umask(umask_);
  euid_ = ::geteuid();
  egid_ = ::getegid();
  struct stat rst;
  if (::fstat(root_fd_.get(), &rst) != 0) return ErrnoError(errno, "stat the filesystem root");
  root_ino_ = rst.st_ino;
  // The inodes behind links/ (one per multiply-linked source inode: few).
  PK_ASSIGN_OR_RETURN(auto links, ReadNames(UniqueFd(::dup(links_fd_.get()))));
  for (const auto& [n, t] : links) {
    struct stat lst;
    if (::fstatat(links_fd_.get(), n.c_str(), &lst, AT_SYMLINK_NOFOLLOW) == 0) link_inodes_.insert(lst.st_ino);
  }
  // Entries left half-built by an interrupted run are dropped and rebuilt.
  PK_TRY(RemoveTree(state_fd_.get(), "staging"));
  if (::mkdirat(state_fd_.get(), "staging", 0700) != 0) return ErrnoError(errno, "create staging");
  PK_TRY(sub("staging", &staging_fd_));
  log_fd_.Reset(::openat(state_fd_.get(), "copied.log", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
  if (!log_fd_.valid()) return ErrnoError(errno, "open copied.log");
  PK_ASSIGN_OR_RETURN(auto log, ReadWhole(state_fd_.get(), "copied.log"));
  size_t pos = 0;
  while (pos < log.size()) {
    size_t nl = log.find('\n', pos);
    if (nl == std::string::npos) break;  // a torn last line: the copy is counted when redone
    std::string_view line(log.data() + pos, nl - pos);
    size_t sp = line.rfind(' ');
    if (sp != std::string_view::npos) {
      counters_.files_done++;
      counters_.bytes_done += std::strtoull(std::string(line.substr(sp + 1)).c_str(), nullptr, 10);
    }
    pos = nl + 1;
  }
  if (auto failed = ReadWhole(state_fd_.get(), "failed.json")) {
    auto j = json::parse(*failed, nullptr, false);
    if (j.is_array()) {
      for (const auto& entry : j) {
        FailedEntry e;
        std::string path_hex;
        JsonFields f(entry, "failed.json entry");
        f.Get("path", e.path);
        f.Get("path_hex", path_hex);  // byte-exact (not UTF-8)
        f.Get("error", e.error);
        f.Get("retries", e.retries);
        f.Get("key", e.key);
        f.Get("final", e.final);
        f.Get("vanished", e.vanished);
        if (auto read = f.Finish(JsonFields::Unknown::kIgnore); !read) {
          // Only a report: the file is retried, and reported again, by the next pass.
          GetLogger("migrate")->warn("{}: dropped", read.error().message());
          continue;
        }
        if (!path_hex.empty()) e.path = Unhex(path_hex);
        failed_[e.path] = e;
      }
    }
  }
  return OkStatus();
}

void ShadowTree::SetPendingListener(std::function<void(const std::string&)> fn) { on_pending_ = std::move(fn); }

void ShadowTree::ForgetDir(ino_t ino) {
  std::lock_guard lock(mu_);
  populated_.erase(ino);
}

TreeCounters ShadowTree::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

std::vector<FailedEntry> ShadowTree::failed() const {
  std::lock_guard lock(mu_);
  std::vector<FailedEntry> out;
  for (const auto& [p, e] : failed_) out.push_back(e);
  return out;
}

size_t ShadowTree::failed_dirs() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [p, e] : failed_) n += e.key.empty() && !e.final;
  return n;
}

void ShadowTree::RecordFailure(const std::string& path, const std::string& key, const Error& e) {
  GetLogger("shadow")->warn("migrate '{}': {}", path, e.message());
  {
    std::lock_guard lock(mu_);
    auto& f = failed_[path];
    if (!f.path.empty()) f.retries++;
    f.path = path;
    f.key = key;
    f.error = e.message();
    f.final = false;
    f.vanished = e.code() == ErrorCode::kNotFound;
  }
  SaveFailures();
}

void ShadowTree::RecordFinal(const std::string& path, const std::string& key, const std::string& why) {
  GetLogger("shadow")->warn("migrate '{}': {}", path, why);
  {
    std::lock_guard lock(mu_);
    auto& f = failed_[path];
    f = FailedEntry{path, why, 0, key, true, false};
  }
  SaveFailures();
}

void ShadowTree::RefuseMarker(int fd, const std::string& where, const Error& e) {
  RecordFinal(where.empty() ? "." : where, "", e.message() + " (local entry; nothing read from the source)");
  (void)::fremovexattr(fd, kMarkerXattr);
}

void ShadowTree::ClearFailure(const std::string& path) {
  {
    std::lock_guard lock(mu_);
    auto it = failed_.find(path);
    if (it == failed_.end() || it->second.final) return;  // reports of final entries stay
    failed_.erase(it);
  }
  SaveFailures();
}

void ShadowTree::SaveFailures() {
  json arr = json::array();
  {
    std::lock_guard lock(mu_);
    for (const auto& [p, f] : failed_) {
      json e = {{"path", f.path}, {"error", f.error}, {"retries", f.retries}, {"key", f.key},
                {"final", f.final}, {"vanished", f.vanished}};
      if (!IsValidUtf8(f.path)) e["path_hex"] = Hex(f.path);
      arr.push_back(std::move(e));
    }
  }
  static std::mutex save_mu;
  std::lock_guard lock(save_mu);
  if (auto s = WriteWhole(state_fd_.get(), "failed.json", DumpJson(arr)); !s) {
    GetLogger("shadow")->warn("cannot save failed.json: {}", s.error().message());
  }
}

std::string ShadowTree::StagingName() { return fmt::format("s{}-{}", ::getpid(), staging_seq_.fetch_add(1)); }

Result<std::optional<ShadowTree::OpenDir>> ShadowTree::OpenUnpopulated(const std::string& local_rel) {
  UniqueFd fd(::openat(root_fd_.get(), P(local_rel), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, "open directory '" + local_rel + "'");
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoError(errno, "stat directory '" + local_rel + "'");
  std::lock_guard lock(mu_);
  if (populated_.count(st.st_ino)) return std::optional<OpenDir>();
  return OpenDir{std::move(fd), st.st_ino};
}

Result<bool> ShadowTree::EnsureDir(const std::string& local_rel, Fill fill, BandwidthLimiter* limiter) {
  PK_ASSIGN_OR_RETURN(auto dir, OpenUnpopulated(local_rel));
  if (!dir) return false;
  const int fd = dir->fd.get();
  struct stat st;
  st.st_ino = dir->ino;
  std::lock_guard dir_lock(dir_locks_[st.st_ino % dir_locks_.size()]);
  auto finish = [&](Result<bool> r) {
    dir->fd.Reset();
    return r;
  };
  auto marker = ReadMarker(fd);
  if (!marker && marker.error().code() == ErrorCode::kInvalidArgument) RefuseMarker(fd, local_rel, marker.error());
  if (!marker && marker.error().code() != ErrorCode::kInvalidArgument) {
    return finish(std::unexpected(marker.error().WithContext("directory '" + local_rel + "'")));
  }
  if (!marker || !*marker || (*marker)->kind != Marker::Kind::kDir) {
    std::lock_guard lock(mu_);
    populated_.insert(st.st_ino);
    return finish(false);
  }
  const std::string src = (*marker)->rel;
  auto fail = [&](const Error& e) {
    RecordFailure(src.empty() ? "." : src, "", e);
    return finish(std::unexpected(e));
  };
  auto entries = source_->List(src);
  if (!entries) {
    // Gone from the source, or no longer a directory (a symlink swapped in
    // is never followed): reported, the local directory stays as it is.
    auto now = source_->Stat(src);
    const bool vanished = !now && now.error().code() == ErrorCode::kNotFound;
    const bool moved = (now && !S_ISDIR(now->mode)) || (!now && now.error().code() == ErrorCode::kFailedPrecondition);
    if (vanished || moved) {
      RecordFinal(src.empty() ? "." : src, "",
                  vanished ? "vanished from the source during the migration: " + now.error().message()
                           : "no longer a directory in the source (a symlink is never followed): not listed (" +
                                 entries.error().message() + ")");
      (void)::fremovexattr(fd, kMarkerXattr);
      std::lock_guard lock(mu_);
      populated_.insert(st.st_ino);
      return finish(false);
    }
    return fail(entries.error());
  }
  // The names already here (made before a crash, or by lookups so far): one
  // listing instead of a lookup per entry. Lookups made while this runs are
  // in looked_up_ (clients cannot create names here before it is populated).
  std::unordered_set<std::string> have;
  {
    auto names = ReadNames(UniqueFd(::dup(fd)));
    if (!names) return fail(names.error().WithContext("directory '" + local_rel + "'"));
    for (auto& [n, t] : *names) have.insert(std::move(n));
  }
  std::mutex& entry_lock = entry_locks_[st.st_ino % entry_locks_.size()];
  for (const auto& e : *entries) {
    if (stopping_) return finish(MakeError(ErrorCode::kCancelled, "stopping"));  // resumes at the next start
    if (local_rel.empty() && e.name == kStateDirName) continue;  // cannot be migrated; see README
    if (!IsEntryName(e.name)) {
      std::string shown = e.name;
      for (auto& c : shown) c = c == '\0' ? '?' : c;
      RecordFinal(JoinRel(src, shown), "", "name refused: a directory entry from the source may not be empty, '.', "
                                           "'..' or contain '/' or NUL");
      continue;
    }
    if (have.count(e.name)) continue;
    std::lock_guard lock(entry_lock);
    {
      std::lock_guard l(mu_);
      auto it = looked_up_.find(st.st_ino);
      if (it != looked_up_.end() && it->second.count(e.name)) continue;
    }
    if (auto s = CreateEntry(fd, e, JoinRel(src, e.name), fill, limiter); !s) {
      if (s.error().code() == ErrorCode::kFailedPrecondition) {  // this entry cannot be migrated as it is
        RecordFinal(JoinRel(src, e.name), "", s.error().message());
        continue;
      }
      if (s.error().code() == ErrorCode::kNotFound && !source_->Stat(JoinRel(src, e.name))) {
        RecordFinal(JoinRel(src, e.name), "", "vanished from the source during the migration: " + s.error().message());
        continue;
      }
      return fail(s.error());
    }
  }
  auto sst = source_->Stat(src);
  if (!sst) return fail(sst.error());
  timespec times[2] = {sst->atime, sst->mtime};
  if (::futimens(fd, times) != 0) return fail(ErrnoError(errno, "set times of '" + local_rel + "'").error());
  if (::fremovexattr(fd, kMarkerXattr) != 0 && errno != ENODATA) {
    return fail(ErrnoError(errno, "remove marker of '" + local_rel + "'").error());
  }
  {
    std::lock_guard lock(mu_);
    populated_.insert(st.st_ino);
    looked_up_.erase(st.st_ino);
    counters_.dirs_populated++;
  }
  ClearFailure(src.empty() ? "." : src);
  return finish(true);
}

Status ShadowTree::EnsureEntry(const std::string& local_rel) {
  if (local_rel.empty()) return OkStatus();
  const size_t slash = local_rel.rfind('/');
  const std::string parent = slash == std::string::npos ? "" : local_rel.substr(0, slash);
  const std::string name = slash == std::string::npos ? local_rel : local_rel.substr(slash + 1);
  if (parent.empty() && name == kStateDirName) return OkStatus();
  auto dir = OpenUnpopulated(parent);
  if (!dir || !*dir) return OkStatus();  // populated, or no such directory: the caller's own lookup answers
  const int fd = (*dir)->fd.get();
  struct stat st;
  st.st_ino = (*dir)->ino;
  std::lock_guard lock(entry_locks_[st.st_ino % entry_locks_.size()]);
  auto finish = [&](Status r) {
    (*dir)->fd.Reset();
    return r;
  };
  struct stat cst;
  if (::fstatat(fd, name.c_str(), &cst, AT_SYMLINK_NOFOLLOW) == 0) return finish(OkStatus());
  if (errno != ENOENT) return finish(ErrnoError(errno, "stat '" + local_rel + "'"));
  auto marker = ReadMarker(fd);
  if (!marker && marker.error().code() == ErrorCode::kInvalidArgument) {
    RefuseMarker(fd, parent, marker.error());
    return finish(OkStatus());
  }
  if (!marker) return finish(std::unexpected(marker.error().WithContext("directory '" + parent + "'")));
  if (!*marker || (*marker)->kind != Marker::Kind::kDir) return finish(OkStatus());  // populated: no such name
  const std::string src = JoinRel((*marker)->rel, name);
  auto sst = source_->Stat(src);
  if (!sst) {
    if (sst.error().code() == ErrorCode::kNotFound) return finish(OkStatus());
    return finish(std::unexpected(sst.error()));
  }
  if (auto s = CreateEntry(fd, SourceEntry{name, *sst}, src, Fill::kPlaceholders, nullptr); !s) {
    return finish(std::unexpected(s.error()));
  }
  std::lock_guard l(mu_);
  looked_up_[st.st_ino].insert(name);
  return finish(OkStatus());
}

nlink_t ShadowTree::PrivateLinks(const struct stat& st, int fd, const char* path) {
  if (S_ISDIR(st.st_mode)) return st.st_ino == root_ino_ && st.st_nlink > 2 ? 1 : 0;  // .poolkeeper-shadow
  if (!S_ISREG(st.st_mode) || st.st_nlink < 2) return 0;
  nlink_t n = 0;
  {
    std::lock_guard lock(mu_);
    n += link_inodes_.count(st.st_ino);
  }
  // A file with a marker also has its pending/ name.
  ssize_t m = fd >= 0 ? ::fgetxattr(fd, kMarkerXattr, nullptr, 0) : ::lgetxattr(path, kMarkerXattr, nullptr, 0);
  n += m > 0;
  return std::min<nlink_t>(n, st.st_nlink - 1);
}

Status ShadowTree::CreateEntry(int dirfd, const SourceEntry& e, const std::string& src_rel, Fill fill,
                               BandwidthLimiter* limiter) {
  const auto& s = e.st;
  const std::string tmp = StagingName();
  const char* t = tmp.c_str();
  timespec times[2] = {s.atime, s.mtime};
  auto err = [&](const char* what) { return ErrnoError(errno, fmt::format("{} '{}'", what, src_rel)); };
  const bool linked = !S_ISDIR(s.mode) && s.nlink > 1;
  if (linked && ::linkat(links_fd_.get(), s.key.c_str(), dirfd, e.name.c_str(), 0) == 0) return OkStatus();
  // Workers may create several names of one multiply-linked inode at once:
  // the first to link its copy under links/ wins (link(2) never replaces, as
  // rename(2) would), the others discard their copy and link the winner's.
  auto claim_link = [&]() -> Result<bool> {
    if (::linkat(staging_fd_.get(), t, links_fd_.get(), s.key.c_str(), 0) == 0) return true;
    if (errno != EEXIST) return err("add to links");
    (void)::unlinkat(staging_fd_.get(), t, 0);
    if (::linkat(links_fd_.get(), s.key.c_str(), dirfd, e.name.c_str(), 0) != 0) return err("link into place");
    return false;
  };
  // A source controls owners, modes and device numbers: without
  // preserve_special, set-ID bits of non-directories are dropped and device
  // nodes are not created (each reported).
  mode_t perm = s.mode & 07777;
  if (!meta_.preserve_special && (S_ISBLK(s.mode) || S_ISCHR(s.mode))) {
    RecordFinal(src_rel, "", "device node not created (start the migration with --preserve-special to keep device nodes)");
    return OkStatus();
  }
  if (!meta_.preserve_special && !S_ISDIR(s.mode) && (perm & (S_ISUID | S_ISGID))) {
    perm &= ~static_cast<mode_t>(S_ISUID | S_ISGID);
    RecordFinal(src_rel, "", "set-user-ID/set-group-ID bits dropped (start the migration with --preserve-special to keep them)");
  }
  // New entries are made with the source's permission bits where the umask
  // lets them through, owned by this process: change only what differs.
  const bool chmod_needed = ((perm & 0777 & ~umask_) != perm);
  const bool chown_needed = s.uid != euid_ || s.gid != egid_;

  if (S_ISDIR(s.mode)) {
    PK_ASSIGN_OR_RETURN(auto xs, source_->ListXattrs(src_rel));
    if (::mkdirat(staging_fd_.get(), t, perm & 0777) != 0) return err("create directory");
    UniqueFd fd(::openat(staging_fd_.get(), t, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd.valid()) return err("open new directory");
    Status r = OkStatus();
    if (chown_needed && ::fchown(fd.get(), s.uid, s.gid) != 0) r = err("set owner of");
    if (r && chmod_needed && ::fchmod(fd.get(), perm) != 0) r = err("set mode of");
    if (r) r = SetXattrs(fd.get(), xs);
    if (r) r = WriteMarker(fd.get(), Marker{Marker::Kind::kDir, "", src_rel});
    if (r && ::futimens(fd.get(), times) != 0) r = err("set times of");
    fd.Reset();
    PK_TRY(r);
    if (::renameat(staging_fd_.get(), t, dirfd, e.name.c_str()) != 0) return err("move into place");
    return OkStatus();
  }
  bool copied = false;  // created with its data
  if (S_ISREG(s.mode)) {
    PK_ASSIGN_OR_RETURN(auto xs, source_->ListXattrs(src_rel));
    UniqueFd file(::openat(staging_fd_.get(), t, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, perm & 0777));
    if (!file.valid()) return err("create file");
    const int fd = file.get();
    if (fill == Fill::kWithData && s.size > 0 && s.size <= kInlineCopyMax) {
      auto end = CopyData(fd, src_rel, s.key, s.size, limiter);
      if (!end && stopping_) return std::unexpected(end.error());
      if (!end) {
        // Read errors are reported, and retried, by the copy of a placeholder.
        file.Reset();
        (void)::unlinkat(staging_fd_.get(), t, 0);
        return CreateEntry(dirfd, e, src_rel, Fill::kPlaceholders, nullptr);
      }
      copied = true;
      if (*end < s.size && ::ftruncate(fd, static_cast<off_t>(s.size)) != 0) return err("size");
    }
    Status r = OkStatus();
    if (!copied && s.size > 0 && ::ftruncate(fd, static_cast<off_t>(s.size)) != 0) r = err("size placeholder");
    if (r && chown_needed && ::fchown(fd, s.uid, s.gid) != 0) r = err("set owner of");
    // Set-ID bits go last: a change of owner or a write clears them.
    if (r && (chmod_needed || (copied && (perm & 06000))) && ::fchmod(fd, perm) != 0) r = err("set mode of");
    if (r) r = SetXattrs(fd, xs);
    const bool pending = s.size > 0 && !copied;
    if (r && pending) r = WriteMarker(fd, Marker{Marker::Kind::kFile, s.key, src_rel});
    if (r && ::futimens(fd, times) != 0) r = err("set times of");
    struct stat made;
    if (r && linked && ::fstat(fd, &made) != 0) r = err("stat new file");
    file.Reset();
    PK_TRY(r);
    if (linked) {
      PK_ASSIGN_OR_RETURN(bool claimed, claim_link());
      if (!claimed) return OkStatus();
      std::lock_guard lock(mu_);
      link_inodes_.insert(made.st_ino);
    }
    if (pending) {
      // A pending name left by a crash belongs to an inode that never got a
      // visible name (staging is emptied at start): replace it.
      if (::unlinkat(pending_fd_.get(), s.key.c_str(), 0) != 0 && errno != ENOENT) return err("replace pending entry of");
      if (::linkat(staging_fd_.get(), t, pending_fd_.get(), s.key.c_str(), 0) != 0) return err("add to pending");
    }
  } else if (S_ISLNK(s.mode)) {
    PK_ASSIGN_OR_RETURN(auto target, source_->ReadLink(src_rel));
    if (::symlinkat(target.c_str(), staging_fd_.get(), t) != 0) return err("create symlink");
    if (chown_needed && ::fchownat(staging_fd_.get(), t, s.uid, s.gid, AT_SYMLINK_NOFOLLOW) != 0) return err("set owner of");
    if (::utimensat(staging_fd_.get(), t, times, AT_SYMLINK_NOFOLLOW) != 0) return err("set times of");
  } else {
    // FIFOs, sockets and device nodes are created whole.
    if (::mknodat(staging_fd_.get(), t, (s.mode & S_IFMT) | (perm & 0777), s.rdev) != 0) return err("create node");
    if (chown_needed && ::fchownat(staging_fd_.get(), t, s.uid, s.gid, AT_SYMLINK_NOFOLLOW) != 0) return err("set owner of");
    if (chmod_needed && ::fchmodat(staging_fd_.get(), t, perm, 0) != 0) return err("set mode of");
    if (::utimensat(staging_fd_.get(), t, times, AT_SYMLINK_NOFOLLOW) != 0) return err("set times of");
  }
  if (linked) {
    if (!S_ISREG(s.mode)) {
      PK_ASSIGN_OR_RETURN(bool claimed, claim_link());
      if (!claimed) return OkStatus();
    }
    if (::linkat(links_fd_.get(), s.key.c_str(), dirfd, e.name.c_str(), 0) != 0) return err("link into place");
    (void)::unlinkat(staging_fd_.get(), t, 0);
  } else if (::renameat(staging_fd_.get(), t, dirfd, e.name.c_str()) != 0) {
    return err("move into place");
  }
  if (copied) LogCopied(s.key, s.size);
  if (S_ISREG(s.mode) && s.size > 0 && !copied && on_pending_) on_pending_(s.key);
  return OkStatus();
}

Status ShadowTree::EnsureFile(const std::string& local_rel) {
  UniqueFd fd(::openat(root_fd_.get(), P(local_rel), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ELOOP || errno == ENXIO) return OkStatus();  // symlink, socket
    return ErrnoError(errno, "open '" + local_rel + "'");
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return OkStatus();
  auto marker = ReadMarker(fd.get());
  if (!marker && marker.error().code() == ErrorCode::kInvalidArgument) {
    RefuseMarker(fd.get(), local_rel, marker.error());
    return OkStatus();  // the file is served as it is
  }
  if (!marker) return std::unexpected(marker.error());
  if (!*marker || (*marker)->kind != Marker::Kind::kFile) return OkStatus();
  const Marker m = **marker;
  // A background copy of this file under way stops throttling: a client waits.
  {
    std::lock_guard l(mu_);
    urgent_[m.key]++;
  }
  struct Unmark {
    ShadowTree* t;
    std::string key;
    ~Unmark() {
      std::lock_guard l(t->mu_);
      if (--t->urgent_[key] == 0) t->urgent_.erase(key);
    }
  } unmark{this, m.key};
  std::lock_guard lock(file_locks_[std::hash<std::string>{}(m.key) % file_locks_.size()]);
  // Another open may have copied it while this one waited.
  marker = ReadMarker(fd.get());
  fd.Reset();
  if (!marker) return std::unexpected(marker.error());
  if (!*marker) return OkStatus();
  UniqueFd wfd(::openat(pending_fd_.get(), m.key.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC));
  if (!wfd.valid()) wfd.Reset(::openat(root_fd_.get(), P(local_rel), O_RDWR | O_NOFOLLOW | O_CLOEXEC));
  if (!wfd.valid()) return ErrnoError(errno, "open '" + local_rel + "' for copying");
  return CopyInto(wfd.get(), m, nullptr);
}

Status ShadowTree::CopyPending(const std::string& key, BandwidthLimiter* limiter) {
  std::lock_guard lock(file_locks_[std::hash<std::string>{}(key) % file_locks_.size()]);
  UniqueFd fd(::openat(pending_fd_.get(), key.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return OkStatus();  // copied meanwhile
    return ErrnoError(errno, "open pending '" + key + "'");
  }
  auto marker = ReadMarker(fd.get());
  if (!marker && marker.error().code() == ErrorCode::kInvalidArgument) {
    RefuseMarker(fd.get(), kStateDirName + std::string("/pending/") + key, marker.error());
    marker = std::optional<Marker>();  // as copied: the pending name goes
  }
  if (!marker) return std::unexpected(marker.error());
  struct stat st;
  bool orphan = ::fstat(fd.get(), &st) == 0 && st.st_nlink <= 1;
  if (!*marker || orphan) {
    // Copied (the crash came before the pending name went), or deleted by a
    // client before its data was needed: nothing to copy.
    fd.Reset();
    if (*marker) ClearFailure((*marker)->rel);
    if (::unlinkat(pending_fd_.get(), key.c_str(), 0) != 0 && errno != ENOENT) {
      return ErrnoError(errno, "remove pending '" + key + "'");
    }
    return OkStatus();
  }
  return CopyInto(fd.get(), **marker, limiter);
}

Result<uint64_t> ShadowTree::CopyData(int fd, const std::string& rel, const std::string& key, uint64_t size,
                                       BandwidthLimiter* limiter) {
  // Throttled copies go in pieces of about 1/8 s, so that a stop is noticed soon.
  const size_t piece = limiter && limiter->rate() ? static_cast<size_t>(std::clamp<uint64_t>(limiter->rate() / 8, 4096, kChunk))
                                                   : kChunk;
  PK_ASSIGN_OR_RETURN(auto src, source_->Open(rel));
  std::string buf(static_cast<size_t>(std::min<uint64_t>(kChunk, std::max<uint64_t>(size, 1))), '\0');
  uint64_t off = 0, written_end = 0;
  while (true) {
    PK_ASSIGN_OR_RETURN(auto range, src->NextData(off, size));
    if (!range) break;
    auto [begin, end] = *range;
    for (uint64_t pos = begin; pos < end;) {
      if (stopping_) return MakeError(ErrorCode::kCancelled, "stopping");  // redone at the next start
      if (limiter) {
        std::lock_guard l(mu_);
        if (urgent_.count(key)) limiter = nullptr;
      }
      size_t want = static_cast<size_t>(std::min<uint64_t>({limiter ? piece : kChunk, end - pos, buf.size()}));
      if (limiter) limiter->Acquire(want);
      PK_ASSIGN_OR_RETURN(size_t n, src->Read(pos, buf.data(), want));
      if (n == 0) {
        end = pos;  // the source is shorter than it said
        break;
      }
      // Zero runs stay holes: the placeholder is sparse already.
      if (!AllZero(buf.data(), n)) {
        size_t done = 0;
        while (done < n) {
          ssize_t w = ::pwrite(fd, buf.data() + done, n - done, static_cast<off_t>(pos + done));
          if (w < 0) {
            if (errno == EINTR) continue;
            return ErrnoError(errno, "write '" + rel + "'");
          }
          done += static_cast<size_t>(w);
        }
        written_end = pos + n;
      }
      pos += n;
    }
    off = end;
    if (off >= size) break;
  }
  return written_end;
}

void ShadowTree::LogCopied(const std::string& key, uint64_t size) {
  std::string line = fmt::format("{} {}\n", key, size);
  std::lock_guard lock(mu_);
  (void)!::write(log_fd_.get(), line.data(), line.size());
  counters_.files_done++;
  counters_.bytes_done += size;
  counters_.copies_this_run++;
  counters_.bytes_this_run += size;
}

Status ShadowTree::CopyInto(int fd, const Marker& m, BandwidthLimiter* limiter) {
  auto fail = [&](const Error& e) {
    if (!stopping_) RecordFailure(m.rel, m.key, e);
    return std::unexpected(e);
  };
  // The source object must still be the one the marker was made for (a
  // rename or a swap in the source puts another object at the path).
  auto not_it = [&](const SourceStat& now) {
    Error e = FailedPrecondition(fmt::format(
        "source '{}' is not the file this entry was made from (identity {}, now {}{}): nothing copied", m.rel, m.key,
        now.key.empty() ? "behind a symlink" : now.key, S_ISREG(now.mode) || now.key.empty() ? "" : ", not a regular file")).error();
    RecordFinal(m.rel, m.key, e.message());
    (void)::fremovexattr(fd, kMarkerXattr);
    (void)::unlinkat(pending_fd_.get(), m.key.c_str(), 0);
    return std::unexpected(e);
  };
  auto sst = source_->Stat(m.rel);
  if (!sst && sst.error().code() == ErrorCode::kFailedPrecondition) return not_it(SourceStat{});  // a symlink on the path
  if (!sst) return fail(sst.error());
  if (sst->key != m.key || !S_ISREG(sst->mode)) return not_it(*sst);
  struct stat before;
  if (::fstat(fd, &before) != 0) return fail(ErrnoError(errno, "stat '" + m.rel + "'").error());
  // A file that changes while it is copied is copied again (three tries).
  constexpr int kTries = 3;
  for (int attempt = 1;; ++attempt) {
    if (auto s = CopyOnce(fd, m, *sst, limiter); !s) return fail(s.error());
    auto after = source_->Stat(m.rel);
    if (!after) return fail(after.error());
    if (after->key != m.key || !S_ISREG(after->mode)) return not_it(*after);
    const bool same = after->size == sst->size && after->mtime.tv_sec == sst->mtime.tv_sec &&
                      after->mtime.tv_nsec == sst->mtime.tv_nsec;
    sst = after;
    if (same) break;
    if (attempt == kTries) {
      return fail(Unavailable(fmt::format("source '{}' changed during each of {} copies; copied again later", m.rel, kTries))
                      .error());
    }
  }
  const uint64_t size = sst->size;
  // ZFS drops set-user-ID and set-group-ID on a write: give the mode back.
  if ((before.st_mode & (S_ISUID | S_ISGID)) && ::fchmod(fd, before.st_mode & 07777) != 0) {
    return fail(ErrnoError(errno, "restore mode of '" + m.rel + "'").error());
  }
  timespec times[2] = {sst->atime, sst->mtime};
  if (::futimens(fd, times) != 0) return fail(ErrnoError(errno, "set times of '" + m.rel + "'").error());
  if (::fremovexattr(fd, kMarkerXattr) != 0 && errno != ENODATA) {
    return fail(ErrnoError(errno, "remove marker of '" + m.rel + "'").error());
  }
  LogCopied(m.key, size);
  if (::unlinkat(pending_fd_.get(), m.key.c_str(), 0) != 0 && errno != ENOENT) {
    GetLogger("shadow")->warn("remove pending '{}': {}", m.key, std::strerror(errno));
  }
  ClearFailure(m.rel);
  return OkStatus();
}

Status ShadowTree::CopyOnce(int fd, const Marker& m, const SourceStat& sst, BandwidthLimiter* limiter) {
  // Zero runs are skipped on write, so an earlier try's data must go first.
  struct stat st;
  if (::fstat(fd, &st) == 0 && st.st_blocks > 0 && ::ftruncate(fd, 0) != 0) {
    return ErrnoError(errno, "empty '" + m.rel + "' for its copy");
  }
  PK_TRY(CopyData(fd, m.rel, m.key, sst.size, limiter));
  if (::fstat(fd, &st) == 0 && static_cast<uint64_t>(st.st_size) != sst.size &&
      ::ftruncate(fd, static_cast<off_t>(sst.size)) != 0) {
    return ErrnoError(errno, "size '" + m.rel + "'");
  }
  return OkStatus();
}

size_t ShadowTree::GiveUpVanished(const std::vector<std::string>& keys) {
  std::vector<FailedEntry> gone;
  {
    std::lock_guard lock(mu_);
    for (const auto& [p, f] : failed_) {
      if (f.vanished && !f.final && std::find(keys.begin(), keys.end(), f.key) != keys.end()) gone.push_back(f);
    }
  }
  size_t left = keys.size();
  for (const auto& f : gone) {
    std::lock_guard lock(file_locks_[std::hash<std::string>{}(f.key) % file_locks_.size()]);
    if (UniqueFd fd(::openat(pending_fd_.get(), f.key.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC)); fd.valid()) {
      (void)::fremovexattr(fd.get(), kMarkerXattr);
    }
    if (::unlinkat(pending_fd_.get(), f.key.c_str(), 0) == 0 || errno == ENOENT) {
      left--;
      RecordFinal(f.path, f.key, "vanished from the source during the migration; the placeholder stays: " + f.error);
    }
  }
  return left;
}

Result<std::vector<std::string>> ShadowTree::ListPending() {
  PK_ASSIGN_OR_RETURN(auto names, ReadNames(UniqueFd(::dup(pending_fd_.get()))));
  std::vector<std::string> out;
  for (auto& [n, t] : names) out.push_back(std::move(n));
  return out;
}

Result<std::string> ShadowTree::ReadStateFile(const char* name) { return ReadWhole(state_fd_.get(), name); }

Status ShadowTree::WriteStateFile(const char* name, std::string_view data) { return WriteWhole(state_fd_.get(), name, data); }

Status ShadowTree::RemoveState() {
  PK_ASSIGN_OR_RETURN(auto pending, ListPending());
  if (!pending.empty()) return FailedPrecondition(fmt::format("{} files are still pending", pending.size()));
  for (UniqueFd* fd : {&pending_fd_, &links_fd_, &staging_fd_, &log_fd_, &state_fd_}) fd->Reset();
  PK_TRY(RemoveTree(root_fd_.get(), kStateDirName));
  // Removing the state directory touched the root: give it the source root's times back.
  PK_ASSIGN_OR_RETURN(auto root, source_->Stat(""));
  timespec times[2] = {root.atime, root.mtime};
  if (::futimens(root_fd_.get(), times) != 0) return ErrnoError(errno, "set times of the filesystem root");
  ::fsync(root_fd_.get());
  return OkStatus();
}

}  // namespace pk::migrate
