#define FUSE_USE_VERSION 35
#include "migrate/shadow_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <fuse3/fuse.h>
#include <fuse3/fuse_lowlevel.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "base/log.h"
#include "base/mountinfo.h"
#include "base/unique_fd.h"
#include "migrate/internal/errno.h"

namespace pk::migrate {
namespace {

ShadowTree* Tree() { return static_cast<ShadowTree*>(fuse_get_context()->private_data); }
int Root() { return Tree()->root_fd(); }

// "/a/b" -> "a/b"; "/" -> "".
std::string Rel(const char* path) { return path[0] == '/' ? std::string(path + 1) : std::string(path); }
const char* At(const std::string& rel) { return rel.empty() ? "." : rel.c_str(); }
std::string Parent(const std::string& rel) {
  auto slash = rel.rfind('/');
  return slash == std::string::npos ? "" : rel.substr(0, slash);
}
// Whether `rel` is the state directory or below it.
bool Hidden(const std::string& rel) {
  return rel == kStateDirName || rel.starts_with(std::string(kStateDirName) + "/");
}
// A path that reaches the dataset itself (not this filesystem) for the l*xattr calls.
std::string Direct(const std::string& rel) {
  return fmt::format("/proc/self/fd/{}/{}", Root(), rel.empty() ? "." : rel);
}

int Err(const Error& e) { return internal::ToFuseErrno(e); }
int Errno() { return -errno; }

// Populates the directory holding `rel`; 0 or -errno.
int ReadyParent(const std::string& rel) {
  if (rel.empty()) return 0;
  auto r = Tree()->EnsureDir(Parent(rel));
  return r ? 0 : Err(r.error());
}
// Makes `rel` exist when it exists in the source (a lookup creates only that
// entry, not its whole directory); 0 or -errno.
int ReadyEntry(const std::string& rel) {
  auto r = Tree()->EnsureEntry(rel);
  return r ? 0 : Err(r.error());
}
int ReadyDir(const std::string& rel) {
  auto r = Tree()->EnsureDir(rel);
  return r ? 0 : Err(r.error());
}

// New entries belong to the caller (and to the group of a setgid directory).
void Own(const std::string& rel) {
  auto* ctx = fuse_get_context();
  gid_t gid = ctx->gid;
  struct stat ps;
  if (::fstatat(Root(), At(Parent(rel)), &ps, 0) == 0 && (ps.st_mode & S_ISGID)) gid = ps.st_gid;
  (void)::fchownat(Root(), At(rel), ctx->uid, gid, AT_SYMLINK_NOFOLLOW);
}

// Link counts as a normal filesystem shows them: without the tree's private
// names (pending/, links/, the state directory in the root).
int OpGetattr(const char* path, struct stat* st, fuse_file_info* fi) {
  if (fi) {
    int fd = static_cast<int>(fi->fh);
    if (::fstat(fd, st) != 0) return Errno();
    st->st_nlink -= Tree()->PrivateLinks(*st, fd, nullptr);
    return 0;
  }
  std::string rel = Rel(path);
  if (Hidden(rel)) return -ENOENT;
  if (int r = ReadyEntry(rel)) return r;
  if (::fstatat(Root(), At(rel), st, AT_SYMLINK_NOFOLLOW) != 0) return Errno();
  if (S_ISDIR(st->st_mode) || (S_ISREG(st->st_mode) && st->st_nlink > 1)) {
    st->st_nlink -= Tree()->PrivateLinks(*st, -1, Direct(rel).c_str());
  }
  return 0;
}

int OpReadlink(const char* path, char* buf, size_t size) {
  std::string rel = Rel(path);
  if (Hidden(rel)) return -ENOENT;
  ssize_t n = ::readlinkat(Root(), At(rel), buf, size - 1);
  if (n < 0) return Errno();
  buf[n] = '\0';
  return 0;
}

int OpMknod(const char* path, mode_t mode, dev_t rdev) {
  std::string rel = Rel(path);
  if (Hidden(rel)) return -EPERM;
  if (int r = ReadyParent(rel)) return r;
  if (::mknodat(Root(), At(rel), mode, rdev) != 0) return Errno();
  Own(rel);
  return 0;
}

int OpMkdir(const char* path, mode_t mode) {
  std::string rel = Rel(path);
  if (Hidden(rel)) return -EPERM;
  if (int r = ReadyParent(rel)) return r;
  if (::mkdirat(Root(), At(rel), mode) != 0) return Errno();
  Own(rel);
  return 0;
}

int OpSymlink(const char* target, const char* path) {
  std::string rel = Rel(path);
  if (Hidden(rel)) return -EPERM;
  if (int r = ReadyParent(rel)) return r;
  if (::symlinkat(target, Root(), At(rel)) != 0) return Errno();
  Own(rel);
  return 0;
}

int OpUnlink(const char* path) {
  std::string rel = Rel(path);
  if (Hidden(rel)) return -ENOENT;
  if (int r = ReadyParent(rel)) return r;
  return ::unlinkat(Root(), At(rel), 0) == 0 ? 0 : Errno();
}

int OpRmdir(const char* path) {
  std::string rel = Rel(path);
  if (Hidden(rel)) return -ENOENT;
  // An unlisted directory is empty locally but not in the source: list it
  // first, so rmdir fails with ENOTEMPTY as it would on the old server. Its
  // parent too, so that the name cannot come back.
  if (int r = ReadyParent(rel)) return r;
  if (int r = ReadyDir(rel)) return r;
  struct stat st;
  if (::fstatat(Root(), At(rel), &st, AT_SYMLINK_NOFOLLOW) != 0) return Errno();
  if (::unlinkat(Root(), At(rel), AT_REMOVEDIR) != 0) return Errno();
  Tree()->ForgetDir(st.st_ino);
  return 0;
}

int OpRename(const char* from, const char* to, unsigned int flags) {
  std::string a = Rel(from), b = Rel(to);
  if (Hidden(a) || Hidden(b)) return -EPERM;
  if (int r = ReadyParent(a)) return r;
  if (int r = ReadyParent(b)) return r;
  struct stat sa, sb;
  if (::fstatat(Root(), At(a), &sa, AT_SYMLINK_NOFOLLOW) != 0) return Errno();
  bool target_dir = ::fstatat(Root(), At(b), &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode);
  if (target_dir && S_ISDIR(sa.st_mode) && !(flags & RENAME_EXCHANGE)) {
    if (int r = ReadyDir(b)) return r;  // replacing needs it empty, as in the source
  }
  if (S_ISDIR(sa.st_mode)) Tree()->NoteDirRenamed();
  int rc = flags ? ::renameat2(Root(), At(a), Root(), At(b), flags) : ::renameat(Root(), At(a), Root(), At(b));
  if (rc != 0) return Errno();
  if (target_dir && !(flags & RENAME_EXCHANGE)) Tree()->ForgetDir(sb.st_ino);
  return 0;
}

int OpLink(const char* from, const char* to) {
  std::string a = Rel(from), b = Rel(to);
  if (Hidden(a) || Hidden(b)) return -EPERM;
  if (int r = ReadyParent(a)) return r;
  if (int r = ReadyParent(b)) return r;
  return ::linkat(Root(), At(a), Root(), At(b), 0) == 0 ? 0 : Errno();
}

int OpChmod(const char* path, mode_t mode, fuse_file_info* fi) {
  if (fi) return ::fchmod(static_cast<int>(fi->fh), mode) == 0 ? 0 : Errno();
  std::string rel = Rel(path);
  if (Hidden(rel)) return -ENOENT;
  return ::fchmodat(Root(), At(rel), mode, 0) == 0 ? 0 : Errno();
}

int OpChown(const char* path, uid_t uid, gid_t gid, fuse_file_info* fi) {
  if (fi) return ::fchown(static_cast<int>(fi->fh), uid, gid) == 0 ? 0 : Errno();
  std::string rel = Rel(path);
  if (Hidden(rel)) return -ENOENT;
  return ::fchownat(Root(), At(rel), uid, gid, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : Errno();
}

int OpTruncate(const char* path, off_t size, fuse_file_info* fi) {
  if (fi) return ::ftruncate(static_cast<int>(fi->fh), size) == 0 ? 0 : Errno();
  std::string rel = Rel(path);
  if (Hidden(rel)) return -ENOENT;
  if (auto s = Tree()->EnsureFile(rel); !s) return Err(s.error());
  UniqueFd fd(::openat(Root(), At(rel), O_WRONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return Errno();
  return ::ftruncate(fd.get(), size) == 0 ? 0 : Errno();
}

int OpUtimens(const char* path, const timespec tv[2], fuse_file_info* fi) {
  if (fi) return ::futimens(static_cast<int>(fi->fh), tv) == 0 ? 0 : Errno();
  std::string rel = Rel(path);
  if (Hidden(rel)) return -ENOENT;
  return ::utimensat(Root(), At(rel), tv, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : Errno();
}

int OpOpen(const char* path, fuse_file_info* fi) {
  std::string rel = Rel(path);
  if (Hidden(rel)) return -ENOENT;
  if (auto s = Tree()->EnsureFile(rel); !s) return Err(s.error());
  int fd = ::openat(Root(), At(rel), (fi->flags & ~(O_CREAT | O_EXCL | O_NOCTTY)) | O_CLOEXEC);
  if (fd < 0) return Errno();
  fi->fh = static_cast<uint64_t>(fd);
  return 0;
}

int OpCreate(const char* path, mode_t mode, fuse_file_info* fi) {
  std::string rel = Rel(path);
  if (Hidden(rel)) return -EPERM;
  if (int r = ReadyParent(rel)) return r;
  int fd = ::openat(Root(), At(rel), fi->flags | O_CREAT | O_CLOEXEC, mode);
  if (fd < 0) return Errno();
  Own(rel);
  fi->fh = static_cast<uint64_t>(fd);
  return 0;
}

int OpRead(const char*, char* buf, size_t size, off_t off, fuse_file_info* fi) {
  ssize_t n = ::pread(static_cast<int>(fi->fh), buf, size, off);
  return n < 0 ? Errno() : static_cast<int>(n);
}

int OpWrite(const char*, const char* buf, size_t size, off_t off, fuse_file_info* fi) {
  ssize_t n = ::pwrite(static_cast<int>(fi->fh), buf, size, off);
  return n < 0 ? Errno() : static_cast<int>(n);
}

int OpStatfs(const char*, struct statvfs* st) { return ::fstatvfs(Root(), st) == 0 ? 0 : Errno(); }

int OpFlush(const char*, fuse_file_info* fi) {
  // close() of a duplicate reports delayed write errors without ending the handle.
  UniqueFd fd(::dup(static_cast<int>(fi->fh)));
  if (!fd.valid()) return Errno();
  return fd.Close() == 0 ? 0 : Errno();
}

int OpRelease(const char*, fuse_file_info* fi) {
  UniqueFd(static_cast<int>(fi->fh)).Reset();  // the handle's descriptor ends here
  return 0;
}

int OpFsync(const char*, int datasync, fuse_file_info* fi) {
  int fd = static_cast<int>(fi->fh);
  return (datasync ? ::fdatasync(fd) : ::fsync(fd)) == 0 ? 0 : Errno();
}

int OpSetxattr(const char* path, const char* name, const char* value, size_t size, int flags) {
  std::string rel = Rel(path);
  if (Hidden(rel)) return -ENOENT;
  if (std::strcmp(name, kMarkerXattr) == 0) return -EPERM;
  return ::lsetxattr(Direct(rel).c_str(), name, value, size, flags) == 0 ? 0 : Errno();
}

int OpGetxattr(const char* path, const char* name, char* value, size_t size) {
  std::string rel = Rel(path);
  if (Hidden(rel)) return -ENOENT;
  if (std::strcmp(name, kMarkerXattr) == 0) return -ENODATA;
  // zfs-fuse answers a too-small buffer with a truncated value, not ERANGE:
  // check the size first so clients get ERANGE and retry.
  std::string direct = Direct(rel);
  ssize_t need = ::lgetxattr(direct.c_str(), name, nullptr, 0);
  if (need < 0) return Errno();
  if (size == 0) return static_cast<int>(need);
  if (static_cast<size_t>(need) > size) return -ERANGE;
  ssize_t n = ::lgetxattr(direct.c_str(), name, value, size);
  return n < 0 ? Errno() : static_cast<int>(n);
}

int OpListxattr(const char* path, char* list, size_t size) {
  std::string rel = Rel(path);
  if (Hidden(rel)) return -ENOENT;
  std::string direct = Direct(rel);
  ssize_t need = ::llistxattr(direct.c_str(), nullptr, 0);
  if (need < 0) return Errno();
  std::vector<char> all(static_cast<size_t>(need) + 256);
  ssize_t n = ::llistxattr(direct.c_str(), all.data(), all.size());
  if (n < 0) return Errno();
  std::string out;
  for (ssize_t i = 0; i < n;) {
    std::string name(all.data() + i);
    i += static_cast<ssize_t>(name.size()) + 1;
    if (name == kMarkerXattr) continue;
    out += name;
    out += '\0';
  }
  if (size == 0) return static_cast<int>(out.size());
  if (out.size() > size) return -ERANGE;
  std::memcpy(list, out.data(), out.size());
  return static_cast<int>(out.size());
}

int OpRemovexattr(const char* path, const char* name) {
  std::string rel = Rel(path);
  if (Hidden(rel)) return -ENOENT;
  if (std::strcmp(name, kMarkerXattr) == 0) return -ENODATA;
  return ::lremovexattr(Direct(rel).c_str(), name) == 0 ? 0 : Errno();
}

int OpOpendir(const char* path, fuse_file_info*) {
  std::string rel = Rel(path);
  if (Hidden(rel)) return -ENOENT;
  return ReadyDir(rel);
}

int OpReaddir(const char* path, void* buf, fuse_fill_dir_t filler, off_t, fuse_file_info*, fuse_readdir_flags) {
  std::string rel = Rel(path);
  if (int r = ReadyDir(rel)) return r;
  UniqueFd fd(::openat(Root(), At(rel), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return Errno();
  DIR* d = ::fdopendir(fd.get());
  if (!d) return Errno();
  fd.release();  // closedir closes it
  while (dirent* e = ::readdir(d)) {
    if (rel.empty() && ShadowTree::IsStateName(e->d_name)) continue;
    struct stat st {};
    st.st_ino = e->d_ino;
    st.st_mode = static_cast<mode_t>(DTTOIF(e->d_type));
    if (filler(buf, e->d_name, &st, 0, static_cast<fuse_fill_dir_flags>(0))) break;
  }
  ::closedir(d);
  return 0;
}

}  // namespace

// The loop's first request: from here on private_data is the tree.
void* ShadowMount::Init(fuse_conn_info*, fuse_config* cfg) {
  cfg->use_ino = 1;
  cfg->attr_timeout = 1.0;
  cfg->entry_timeout = 1.0;
  cfg->negative_timeout = 0;
  return static_cast<ShadowMount*>(fuse_get_context()->private_data)->tree_;
}

namespace {

fuse_operations MakeOps() {
  fuse_operations ops{};
  ops.init = ShadowMount::Init;
  ops.getattr = OpGetattr;
  ops.readlink = OpReadlink;
  ops.mknod = OpMknod;
  ops.mkdir = OpMkdir;
  ops.symlink = OpSymlink;
  ops.unlink = OpUnlink;
  ops.rmdir = OpRmdir;
  ops.rename = OpRename;
  ops.link = OpLink;
  ops.chmod = OpChmod;
  ops.chown = OpChown;
  ops.truncate = OpTruncate;
  ops.utimens = OpUtimens;
  ops.open = OpOpen;
  ops.create = OpCreate;
  ops.read = OpRead;
  ops.write = OpWrite;
  ops.statfs = OpStatfs;
  ops.flush = OpFlush;
  ops.release = OpRelease;
  ops.fsync = OpFsync;
  ops.setxattr = OpSetxattr;
  ops.getxattr = OpGetxattr;
  ops.listxattr = OpListxattr;
  ops.removexattr = OpRemovexattr;
  ops.opendir = OpOpendir;
  ops.readdir = OpReaddir;
  return ops;
}

// The fstype of the topmost mount at `mountpoint` ("" when none).
std::string TopFsType(const std::string& mountpoint) {
  std::ifstream in("/proc/self/mountinfo");
  std::stringstream text;
  text << in.rdbuf();
  auto mounts = ParseMountInfo(text.str());
  const MountEntry* top = TopMountAt(mounts, mountpoint);
  return top == nullptr ? "" : top->fs_type;
}

}  // namespace

bool IsShadowMounted(const std::string& mountpoint) { return TopFsType(mountpoint) == "fuse.pkshadow"; }

Result<int> DetachStaleShadowMounts(const std::string& mountpoint) {
  int n = 0;
  while (IsShadowMounted(mountpoint)) {
    // A live layer answers; a dead one (its process gone) says ENOTCONN.
    // statfs, not stat: the kernel answers stat from its attribute cache.
    struct statvfs sv;
    if (::statvfs(mountpoint.c_str(), &sv) == 0) {
      return AlreadyExists("a live shadow layer serves '" + mountpoint + "' (another helper, or another poolkeeperd)");
    }
    if (::umount2(mountpoint.c_str(), MNT_DETACH) != 0) {
      return internal::ErrnoError(errno, "detach the stale shadow layer on '" + mountpoint + "'");
    }
    if (++n > 16) return Internal("too many stale shadow layers on '" + mountpoint + "'");
  }
  return n;
}

Result<std::unique_ptr<ShadowMount>> ShadowMount::Create(const std::string& mountpoint, const std::string& fsname) {
  std::unique_ptr<ShadowMount> m(new ShadowMount());
  m->mountpoint_ = mountpoint;
  // fsname must not contain ',' (option syntax).
  std::string name = fsname;
  for (auto& c : name) {
    if (c == ',' || c == ' ') c = '_';
  }
  std::string opts = "allow_other,default_permissions,subtype=pkshadow,fsname=pkshadow:" + name;
  std::vector<std::string> argv_s = {"poolkeeper-shadowfs", "-o", opts};
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  static const fuse_operations ops = MakeOps();
  m->fuse_ = fuse_new(&args, &ops, sizeof ops, m.get());
  if (!m->fuse_) return Internal("fuse_new failed for the shadow layer on '" + mountpoint + "'");
  if (fuse_mount(m->fuse_, mountpoint.c_str()) != 0) {
    return Internal("cannot mount the shadow layer on '" + mountpoint + "' (see the helper's log)");
  }
  m->mounted_ = true;
  return m;
}

ShadowMount::~ShadowMount() {
  if (fuse_) {
    if (mounted_) fuse_unmount(fuse_);
    fuse_destroy(fuse_);
  }
}

Status ShadowMount::Serve(ShadowTree& tree) {
  tree_ = &tree;
  fuse_session* se = fuse_get_session(fuse_);
  if (fuse_set_signal_handlers(se) != 0) return Internal("cannot install FUSE signal handlers");
  fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_clone_fd(cfg, 0);
  fuse_loop_cfg_set_max_threads(cfg, 16);
  int rc = fuse_loop_mt(fuse_, cfg);
  fuse_loop_cfg_destroy(cfg);
  fuse_remove_signal_handlers(se);
  if (rc < 0) return Internal(fmt::format("shadow layer on '{}': FUSE loop failed ({})", mountpoint_, rc));
  return OkStatus();
}

bool ShadowMount::Unmount() {
  // Waits while clients hold files or directories open in the layer (EBUSY):
  // a lazy unmount would abort them. The layer keeps serving meanwhile.
  while (::umount2(mountpoint_.c_str(), 0) != 0) {
    if (errno != EBUSY) {
      GetLogger("shadowfs")->warn("unmount '{}': {}", mountpoint_, std::strerror(errno));
      return false;
    }
    if (fuse_session_exited(fuse_get_session(fuse_))) return false;  // stopped by a signal meanwhile
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  mounted_ = false;
  // The kernel ended the connection on unmount, which wakes the loop's readers.
  fuse_exit(fuse_);
  return true;
}

}  // namespace pk::migrate
