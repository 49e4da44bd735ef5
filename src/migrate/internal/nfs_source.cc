#include "migrate/internal/nfs_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <condition_variable>
#include <cstring>
#include <mutex>
#include <vector>

#include <fmt/format.h>
#include <nfsc/libnfs.h>
#include <nfsc/libnfs-raw-nfs.h>

#include "migrate/internal/errno.h"

namespace pk::migrate::internal {
namespace {

std::string Abs(const std::string& rel) { return "/" + rel; }

timespec Time(uint64_t sec, uint64_t nsec) {
  return timespec{static_cast<time_t>(sec), static_cast<long>(nsec)};
}

mode_t TypeBits(uint32_t type) {
  switch (type) {
    case NF3REG: return S_IFREG;
    case NF3DIR: return S_IFDIR;
    case NF3BLK: return S_IFBLK;
    case NF3CHR: return S_IFCHR;
    case NF3LNK: return S_IFLNK;
    case NF3SOCK: return S_IFSOCK;
    case NF3FIFO: return S_IFIFO;
    default: return 0;
  }
}

class NfsPool;

// A mounted context on loan; returned to the pool when destroyed.
class Lease {
 public:
  Lease(NfsPool* pool, nfs_context* ctx) : pool_(pool), ctx_(ctx) {}
  Lease(Lease&& o) noexcept : pool_(o.pool_), ctx_(o.ctx_) { o.ctx_ = nullptr; }
  ~Lease();
  nfs_context* get() const { return ctx_; }
  std::string error() const { return nfs_get_error(ctx_); }

 private:
  NfsPool* pool_;
  nfs_context* ctx_;
};

class NfsPool {
 public:
  NfsPool(SourceUri uri, int max) : uri_(std::move(uri)), max_(max < 1 ? 1 : max) {}
  ~NfsPool() {
    for (auto* c : idle_) nfs_destroy_context(c);
  }

  Result<Lease> Get() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !idle_.empty() || created_ < max_; });
    if (!idle_.empty()) {
      auto* c = idle_.back();
      idle_.pop_back();
      return Lease(this, c);
    }
    ++created_;
    lock.unlock();
    auto c = Connect();
    if (!c) {
      std::lock_guard l(mu_);
      --created_;
      cv_.notify_one();
      return std::unexpected(c.error());
    }
    return Lease(this, *c);
  }

  void Put(nfs_context* c) {
    std::lock_guard lock(mu_);
    idle_.push_back(c);
    cv_.notify_one();
  }

  Result<nfs_context*> Connect() {
    nfs_context* c = nfs_init_context();
    if (!c) return Internal("nfs: cannot create a libnfs context");
    nfs_set_version(c, NFS_V3);
    nfs_set_timeout(c, 30000);
    if (nfs_mount(c, uri_.host.c_str(), uri_.path.c_str()) != 0) {
      std::string err = nfs_get_error(c);
      nfs_destroy_context(c);
      return Unavailable(fmt::format("source '{}': NFSv3 mount of {}:{} failed: {}", uri_.text, uri_.host, uri_.path, err));
    }
    return c;
  }

  const SourceUri& uri() const { return uri_; }

 private:
  SourceUri uri_;
  int max_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<nfs_context*> idle_;  // guarded by mu_
  int created_ = 0;                 // guarded by mu_
};

Lease::~Lease() {
  if (ctx_) pool_->Put(ctx_);
}

std::unexpected<Error> NfsError(int rc, const Lease& l, const std::string& what) {
  int e = rc < 0 ? -rc : EIO;
  auto err = ErrnoError(e, what);
  return std::unexpected(Error(err.error().code(), err.error().message() + " (" + l.error() + ")"));
}

SourceStat FromNfs(const nfs_stat_64& st) {
  SourceStat s;
  s.mode = static_cast<mode_t>(st.nfs_mode);
  s.uid = static_cast<uid_t>(st.nfs_uid);
  s.gid = static_cast<gid_t>(st.nfs_gid);
  s.size = st.nfs_size;
  s.nlink = st.nfs_nlink;
  s.rdev = static_cast<dev_t>(st.nfs_rdev);
  s.atime = Time(st.nfs_atime, st.nfs_atime_nsec);
  s.mtime = Time(st.nfs_mtime, st.nfs_mtime_nsec);
  s.key = fmt::format("n{}", st.nfs_ino);
  return s;
}

class NfsFile : public SourceFile {
 public:
  NfsFile(Lease lease, nfsfh* fh, std::string what) : lease_(std::move(lease)), fh_(fh), what_(std::move(what)) {}
  ~NfsFile() override { nfs_close(lease_.get(), fh_); }

  Result<size_t> Read(uint64_t offset, char* buf, size_t len) override {
    int n = nfs_pread(lease_.get(), fh_, offset, len, buf);
    if (n < 0) return NfsError(n, lease_, "read source file '" + what_ + "'");
    return static_cast<size_t>(n);
  }

  Result<std::optional<std::pair<uint64_t, uint64_t>>> NextData(uint64_t offset, uint64_t size) override {
    if (offset >= size) return std::nullopt;
    return std::make_pair(offset, size);  // NFSv3 cannot tell holes; zero runs are skipped on write
  }

 private:
  Lease lease_;
  nfsfh* fh_;
  std::string what_;
};

class NfsSource : public Source {
 public:
  explicit NfsSource(std::unique_ptr<NfsPool> pool) : pool_(std::move(pool)) {}

  const SourceUri& uri() const override { return pool_->uri(); }

  Result<SourceStat> Stat(const std::string& rel) override {
    PK_ASSIGN_OR_RETURN(auto l, pool_->Get());
    PK_TRY(CheckPath(l, rel, Last::kAny));
    nfs_stat_64 st{};
    int rc = nfs_lstat64(l.get(), Abs(rel).c_str(), &st);
    if (rc != 0) return NfsError(rc, l, "stat source '" + Show(rel) + "'");
    return FromNfs(st);
  }

  Result<std::vector<SourceEntry>> List(const std::string& rel) override {
    PK_ASSIGN_OR_RETURN(auto l, pool_->Get());
    PK_TRY(CheckPath(l, rel, Last::kDirectory));
    nfsdir* dir = nullptr;
    int rc = nfs_opendir(l.get(), Abs(rel).c_str(), &dir);
    if (rc != 0) return NfsError(rc, l, "list source directory '" + Show(rel) + "'");
    std::vector<SourceEntry> out;
    while (nfsdirent* d = nfs_readdir(l.get(), dir)) {
      if (std::strcmp(d->name, ".") == 0 || std::strcmp(d->name, "..") == 0) continue;
      SourceEntry e;
      e.name = d->name;
      e.st.mode = TypeBits(d->type) | (d->mode & 07777);
      e.st.uid = d->uid;
      e.st.gid = d->gid;
      e.st.size = d->size;
      e.st.nlink = d->nlink;
      e.st.rdev = static_cast<dev_t>(d->rdev);
      e.st.atime = Time(static_cast<uint64_t>(d->atime.tv_sec), d->atime_nsec);
      e.st.mtime = Time(static_cast<uint64_t>(d->mtime.tv_sec), d->mtime_nsec);
      e.st.key = fmt::format("n{}", d->inode);
      out.push_back(std::move(e));
    }
    nfs_closedir(l.get(), dir);
    return out;
  }

  Result<std::string> ReadLink(const std::string& rel) override {
    PK_ASSIGN_OR_RETURN(auto l, pool_->Get());
    PK_TRY(CheckPath(l, rel, Last::kAny));
    std::string buf(4096, '\0');
    int rc = nfs_readlink(l.get(), Abs(rel).c_str(), buf.data(), static_cast<int>(buf.size()));
    if (rc != 0) return NfsError(rc, l, "read source symlink '" + Show(rel) + "'");
    buf.resize(std::strlen(buf.c_str()));
    return buf;
  }

  Result<Xattrs> ListXattrs(const std::string&) override { return Xattrs{}; }  // NFSv3 has none

  Result<std::unique_ptr<SourceFile>> Open(const std::string& rel) override {
    PK_ASSIGN_OR_RETURN(auto l, pool_->Get());
    PK_TRY(CheckPath(l, rel, Last::kAny));
    nfsfh* fh = nullptr;
    int rc = nfs_open(l.get(), Abs(rel).c_str(), O_RDONLY | O_NOFOLLOW, &fh);
    if (rc != 0) return NfsError(rc, l, "open source file '" + Show(rel) + "'");
    return std::make_unique<NfsFile>(std::move(l), fh, Show(rel));
  }

 private:
  enum class Last { kAny, kDirectory };
  // libnfs resolves a path by LOOKUPs from the export root and follows a
  // symlink met on the way; the server is not trusted, so the path is
  // checked first (strictly relative) and every directory on it must be one
  // (lstat of each prefix; with Last::kDirectory the whole path too). A
  // server that swaps one in between serves only its own export either way.
  Status CheckPath(const Lease& l, const std::string& rel, Last last) {
    PK_TRY(CheckRel(rel));
    for (size_t end = rel.find('/');; end = rel.find('/', end + 1)) {
      if (end == std::string::npos && last != Last::kDirectory) return OkStatus();
      std::string dir = end == std::string::npos ? rel : rel.substr(0, end);
      if (dir.empty()) return OkStatus();
      nfs_stat_64 st{};
      int rc = nfs_lstat64(l.get(), Abs(dir).c_str(), &st);
      if (rc != 0) return NfsError(rc, l, "stat source '" + Show(dir) + "'");
      if (!S_ISDIR(st.nfs_mode)) {
        return FailedPrecondition("source '" + Show(dir) + "' is not a directory (a symlink is never followed)");
      }
      if (end == std::string::npos) return OkStatus();
    }
  }

  std::string Show(const std::string& rel) const { return pool_->uri().text + (rel.empty() ? "" : "/" + rel); }

  std::unique_ptr<NfsPool> pool_;
};

}  // namespace

Result<std::unique_ptr<Source>> OpenNfsSource(const SourceUri& uri, int connections) {
  auto src = std::make_unique<NfsSource>(std::make_unique<NfsPool>(uri, connections));
  PK_ASSIGN_OR_RETURN(auto root, src->Stat(""));
  if (!S_ISDIR(root.mode)) return FailedPrecondition(fmt::format("source '{}' is not a directory", uri.text));
  PK_TRY(src->List(""));
  return std::unique_ptr<Source>(std::move(src));
}

}  // namespace pk::migrate::internal
