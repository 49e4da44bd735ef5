// pk_nfs_rw: writes a seeded pattern to a file over NFSv3 with libnfs (no
// kernel client needed), reads it back and verifies it. Used by the NFS
// integration tests, the end-to-end tests and bench/shares.
//
// Usage:
//   pk_nfs_rw [--seed N] [--keep] [--verify-only] [--chunk-kib K] URL MIB
//
//   URL  nfs://SERVER/EXPORT/FILE[?ARGS]  EXPORT is the export's path (what
//        `showmount -e` lists), FILE a name inside it. ARGS are libnfs URL
//        arguments, e.g. `mountport=20048&nfsport=2049` (talk to those ports
//        without asking the portmapper), `uid=0&gid=0`, `version=3`.
//   MIB  size of the file in MiB (1..65536).
//   --seed N        pattern seed (default 1): the same seed and size write
//                   and expect the same bytes.
//   --keep          leave FILE on the server (default: removed after a
//                   successful verify).
//   --verify-only   do not write: read an existing FILE and verify it (e.g.
//                   data written through one head, read through another).
//   --chunk-kib K   I/O size per call (default 1024).
//
// Prints one line to stdout on success:
//   pk_nfs_rw: wrote 64 MiB in 2.10 s (30.5 MiB/s), read+verified in 1.02 s (62.7 MiB/s)
// and the reason on stderr otherwise.
//
// Exit codes: 0 success; 1 another error (I/O error, short file, ...);
// 2 usage; 3 the server refused the mount or access (MNT3ERR_ACCES/PERM,
// NFS3ERR_ACCES/PERM, or no such export: MNT3ERR_NOENT); 4 data differs from
// the pattern; 5 the server cannot be reached (connection refused or timed out).
//
// In the lab, run it in the server's network namespace:
//   ip netns exec NS pk_nfs_rw 'nfs://127.0.0.1/PATH/f.bin?mountport=20048&nfsport=2049' 64
// (or `nsenter --net=/run/netns/NS pk_nfs_rw ...`, which keeps the host's mounts).
#include <fcntl.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

extern "C" {
#include <nfsc/libnfs.h>
}

namespace {

constexpr int kOk = 0, kError = 1, kUsage = 2, kRefused = 3, kMismatch = 4, kUnreachable = 5;

uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// The pattern at byte `offset` (a multiple of 8): one 64-bit word per 8 bytes.
void Fill(std::vector<unsigned char>& buf, uint64_t offset, uint64_t seed) {
  for (size_t i = 0; i < buf.size(); i += 8) {
    uint64_t w = SplitMix(seed * 0x100000001b3ull ^ ((offset + i) / 8));
    std::memcpy(buf.data() + i, &w, 8);
  }
}

int Classify(std::string_view error) {
  for (auto s : {"MNT3ERR_ACCES", "MNT3ERR_PERM", "MNT3ERR_NOENT", "NFS3ERR_ACCES", "NFS3ERR_PERM",
                 "Permission denied"}) {
    if (error.find(s) != std::string_view::npos) return kRefused;
  }
  for (auto s : {"onnection refused", "connect", "timed out", "Timeout", "No route"}) {
    if (error.find(s) != std::string_view::npos) return kUnreachable;
  }
  return kError;
}

int Usage(const char* why) {
  std::fprintf(stderr,
               "pk_nfs_rw: %s\nusage: pk_nfs_rw [--seed N] [--keep] [--verify-only] [--chunk-kib K] "
               "nfs://SERVER/EXPORT/FILE[?ARGS] MIB\n",
               why);
  return kUsage;
}

double Seconds(std::chrono::steady_clock::time_point from) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - from).count();
}

struct Context {
  nfs_context* nfs = nullptr;
  nfs_url* url = nullptr;
  nfsfh* fh = nullptr;
  ~Context() {
    if (fh != nullptr) nfs_close(nfs, fh);
    if (url != nullptr) nfs_destroy_url(url);
    if (nfs != nullptr) nfs_destroy_context(nfs);
  }
};

}  // namespace

int main(int argc, char** argv) {
  uint64_t seed = 1;
  bool keep = false, verify_only = false;
  uint64_t chunk = 1024 * 1024;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&](const char* name) -> const char* {
      if (i + 1 >= argc) return nullptr;
      (void)name;
      return argv[++i];
    };
    if (a == "--seed") {
      const char* v = value("--seed");
      if (v == nullptr) return Usage("--seed needs a number");
      seed = std::strtoull(v, nullptr, 0);
    } else if (a == "--keep") {
      keep = true;
    } else if (a == "--verify-only") {
      verify_only = true;
    } else if (a == "--chunk-kib") {
      const char* v = value("--chunk-kib");
      long k = v == nullptr ? 0 : std::strtol(v, nullptr, 10);
      if (k < 4 || k > 16384) return Usage("--chunk-kib must be 4..16384");
      chunk = static_cast<uint64_t>(k) * 1024;
    } else if (a.starts_with("--")) {
      return Usage("unknown option");
    } else {
      positional.emplace_back(a);
    }
  }
  if (positional.size() != 2) return Usage("expected URL and MIB");
  char* end = nullptr;
  long mib = std::strtol(positional[1].c_str(), &end, 10);
  if (*end != '\0' || mib < 1 || mib > 65536) return Usage("MIB must be 1..65536");
  const uint64_t total = static_cast<uint64_t>(mib) << 20;

  Context c;
  c.nfs = nfs_init_context();
  if (c.nfs == nullptr) {
    std::fprintf(stderr, "pk_nfs_rw: cannot create an NFS context\n");
    return kError;
  }
  nfs_set_timeout(c.nfs, 30000);
  c.url = nfs_parse_url_full(c.nfs, positional[0].c_str());
  if (c.url == nullptr) {
    std::fprintf(stderr, "pk_nfs_rw: bad URL '%s': %s\n", positional[0].c_str(), nfs_get_error(c.nfs));
    return kUsage;
  }
  if (int rc = nfs_mount(c.nfs, c.url->server, c.url->path); rc != 0) {
    std::string err = nfs_get_error(c.nfs);
    int code = rc == -EACCES || rc == -EPERM ? kRefused : Classify(err);
    std::fprintf(stderr, "pk_nfs_rw: mount %s:%s: %s\n", c.url->server, c.url->path, err.c_str());
    return code;
  }

  std::vector<unsigned char> want(chunk), got(chunk);
  double write_s = 0;
  if (!verify_only) {
    auto start = std::chrono::steady_clock::now();
    if (int rc = nfs_open2(c.nfs, c.url->file, O_CREAT | O_TRUNC | O_WRONLY, 0644, &c.fh); rc != 0) {
      std::string err = nfs_get_error(c.nfs);
      std::fprintf(stderr, "pk_nfs_rw: create %s: %s\n", c.url->file, err.c_str());
      return rc == -EACCES || rc == -EPERM ? kRefused : Classify(err);
    }
    for (uint64_t off = 0; off < total; off += chunk) {
      Fill(want, off, seed);
      uint64_t done = 0;
      while (done < chunk) {
        int n = nfs_pwrite(c.nfs, c.fh, off + done, chunk - done, want.data() + done);
        if (n <= 0) {
          std::string err = nfs_get_error(c.nfs);
          std::fprintf(stderr, "pk_nfs_rw: write %s at %llu: %s\n", c.url->file,
                       static_cast<unsigned long long>(off + done), err.c_str());
          return n == -EACCES || n == -EPERM ? kRefused : Classify(err);
        }
        done += static_cast<uint64_t>(n);
      }
    }
    // zfs-fuse only makes data durable on fsync.
    if (nfs_fsync(c.nfs, c.fh) != 0) {
      std::fprintf(stderr, "pk_nfs_rw: fsync %s: %s\n", c.url->file, nfs_get_error(c.nfs));
      return kError;
    }
    nfs_close(c.nfs, c.fh);
    c.fh = nullptr;
    write_s = Seconds(start);
  }

  auto start = std::chrono::steady_clock::now();
  if (int rc = nfs_open(c.nfs, c.url->file, O_RDONLY, &c.fh); rc != 0) {
    std::string err = nfs_get_error(c.nfs);
    std::fprintf(stderr, "pk_nfs_rw: open %s: %s\n", c.url->file, err.c_str());
    return rc == -EACCES || rc == -EPERM ? kRefused : Classify(err);
  }
  for (uint64_t off = 0; off < total; off += chunk) {
    Fill(want, off, seed);
    uint64_t done = 0;
    while (done < chunk) {
      int n = nfs_pread(c.nfs, c.fh, off + done, chunk - done, got.data() + done);
      if (n < 0) {
        std::fprintf(stderr, "pk_nfs_rw: read %s at %llu: %s\n", c.url->file,
                     static_cast<unsigned long long>(off + done), nfs_get_error(c.nfs));
        return Classify(nfs_get_error(c.nfs));
      }
      if (n == 0) {
        std::fprintf(stderr, "pk_nfs_rw: %s is short: ends at %llu, expected %llu bytes\n", c.url->file,
                     static_cast<unsigned long long>(off + done), static_cast<unsigned long long>(total));
        return kError;
      }
      done += static_cast<uint64_t>(n);
    }
    if (std::memcmp(want.data(), got.data(), chunk) != 0) {
      size_t i = 0;
      while (want[i] == got[i]) ++i;
      std::fprintf(stderr, "pk_nfs_rw: %s differs from the pattern (seed %llu) at byte %llu\n", c.url->file,
                   static_cast<unsigned long long>(seed), static_cast<unsigned long long>(off + i));
      return kMismatch;
    }
  }
  nfs_close(c.nfs, c.fh);
  c.fh = nullptr;
  double read_s = Seconds(start);
  if (!keep && !verify_only && nfs_unlink(c.nfs, c.url->file) != 0) {
    std::fprintf(stderr, "pk_nfs_rw: remove %s: %s\n", c.url->file, nfs_get_error(c.nfs));
    return kError;
  }
  if (verify_only) {
    std::printf("pk_nfs_rw: read+verified %ld MiB in %.2f s (%.1f MiB/s)\n", mib, read_s, mib / read_s);
  } else {
    std::printf("pk_nfs_rw: wrote %ld MiB in %.2f s (%.1f MiB/s), read+verified in %.2f s (%.1f MiB/s)\n", mib,
                write_s, mib / write_s, read_s, mib / read_s);
  }
  nfs_umount(c.nfs);
  return kOk;
}
