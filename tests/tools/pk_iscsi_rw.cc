// pk_iscsi_rw: a small iSCSI client built on libiscsi, for Poolkeeper's
// integration tests, end-to-end tests and benchmarks (no kernel initiator
// is needed).
//
// Usage:
//   pk_iscsi_rw [options] iscsi://HOST[:PORT]/TARGET-IQN/LUN
//
// Options:
//   --initiator NAME     initiator name (default iqn.2026-11.org.poolkeeper:pk-iscsi-rw)
//   --chap-user USER     CHAP user (incoming CHAP: the target checks us)
//   --chap-secret SECRET CHAP secret (with --chap-user)
//   --chap-secret-env NAME  the CHAP secret from environment variable NAME
//                        (off the command line, which every user can read)
//   --mib N              write N MiB of the seeded pattern from LBA 0, sync the
//                        cache, read it back and verify (default 0: no data I/O)
//   --verify-only        with --mib: do not write, only read and verify a pattern
//                        written earlier with the same --seed (e.g. through another head)
//   --seed S             pattern seed, an unsigned integer (default 1)
//   --block-kib K        bytes per READ16/WRITE16 in KiB (default 256)
//   --identify           print the unit serial number (VPD 0x80) and every
//                        designator of the device identification page (VPD 0x83)
//   --timeout S          libiscsi timeout for each synchronous call, seconds (default 30)
//
// Always: connects, logs in, checks the LUN with TEST UNIT READY, prints
// READ CAPACITY(16). Output is one "key: value" line per fact, on stdout:
//   capacity: BYTES blocks=N block_size=B
//   serial: TEXT                                  (--identify; leading blanks trimmed)
//   designator: TYPE CODESET ASSOC VALUE          (--identify; one per descriptor,
//        TYPE naa|t10|eui64|vendor|scsi_name|type<n>, CODESET binary|ascii|utf8,
//        ASSOC lu|port|target, VALUE 0x<hex> for binary, the text otherwise)
//   write: MIB MiB in SECONDS s (RATE MiB/s)
//   read: MIB MiB in SECONDS s (RATE MiB/s)
//   verify: ok
// Errors go to stderr, prefixed "pk_iscsi_rw: ".
//
// Exit codes:
//   0  success
//   1  usage error
//   2  could not reach the portal (TCP connect failed)
//   3  login refused by the target (authentication/authorisation failure,
//      target not found or not allowed for this initiator)
//   4  a SCSI command failed (no such LUN, check condition, transport error)
//   5  data read back differs from the pattern (first bad offset printed)
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

enum Exit { kOk = 0, kUsage = 1, kConnect = 2, kLogin = 3, kScsi = 4, kMismatch = 5 };

struct Options {
  std::string url;
  std::string initiator = "iqn.2026-11.org.poolkeeper:pk-iscsi-rw";
  std::string chap_user;
  std::string chap_secret;
  uint64_t mib = 0;
  bool verify_only = false;
  uint64_t seed = 1;
  uint64_t block_kib = 256;
  bool identify = false;
  int timeout = 30;
};

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr, "pk_iscsi_rw: %s\nusage: pk_iscsi_rw [--initiator NAME] [--chap-user U --chap-secret S] "
               "[--mib N [--verify-only] [--seed S] [--block-kib K]] [--identify] [--timeout S] "
               "iscsi://HOST[:PORT]/IQN/LUN\n", why);
  std::exit(kUsage);
}

uint64_t ParseU64(const char* flag, const char* text) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || text[0] == '-') {
    std::fprintf(stderr, "pk_iscsi_rw: %s: not an unsigned integer: '%s'\n", flag, text);
    std::exit(kUsage);
  }
  return v;
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) Usage((a + " needs a value").c_str());
      return argv[++i];
    };
    if (a == "--initiator") o.initiator = value();
    else if (a == "--chap-user") o.chap_user = value();
    else if (a == "--chap-secret") o.chap_secret = value();
    else if (a == "--chap-secret-env") {
      const char* name = value();
      const char* secret = std::getenv(name);
      if (secret == nullptr) Usage((std::string("--chap-secret-env: ") + name + " is not set").c_str());
      o.chap_secret = secret;
    }
    else if (a == "--mib") o.mib = ParseU64("--mib", value());
    else if (a == "--verify-only") o.verify_only = true;
    else if (a == "--seed") o.seed = ParseU64("--seed", value());
    else if (a == "--block-kib") o.block_kib = ParseU64("--block-kib", value());
    else if (a == "--identify") o.identify = true;
    else if (a == "--timeout") o.timeout = static_cast<int>(ParseU64("--timeout", value()));
    else if (a.starts_with("--")) Usage(("unknown option " + a).c_str());
    else if (o.url.empty()) o.url = a;
    else Usage("more than one URL");
  }
  if (o.url.empty()) Usage("no URL");
  if (o.chap_user.empty() != o.chap_secret.empty()) Usage("--chap-user and --chap-secret go together");
  if (o.block_kib == 0 || o.block_kib > 8192) Usage("--block-kib must be 1..8192");
  if (o.verify_only && o.mib == 0) Usage("--verify-only needs --mib");
  return o;
}

// The pattern: one 64-bit word per 8 bytes of the LUN, a function of the seed
// and the word's position only, so any range can be checked on its own.
uint64_t PatternWord(uint64_t seed, uint64_t word_index) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + word_index + 0x632BE59BD9B4E019ull;  // splitmix64
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void FillPattern(uint64_t seed, uint64_t offset, std::vector<unsigned char>& buf) {
  for (size_t i = 0; i < buf.size(); i += 8) {
    uint64_t w = PatternWord(seed, (offset + i) / 8);
    std::memcpy(buf.data() + i, &w, 8);
  }
}

struct Session {
  iscsi_context* ctx = nullptr;
  int lun = 0;
  ~Session() {
    if (ctx) {
      if (iscsi_is_logged_in(ctx)) iscsi_logout_sync(ctx);
      iscsi_destroy_context(ctx);
    }
  }
};

// A SCSI task that must have completed GOOD; prints why not. Frees on failure.
bool TaskOk(Session& s, scsi_task* task, const char* what) {
  if (task == nullptr) {
    std::fprintf(stderr, "pk_iscsi_rw: %s: %s\n", what, iscsi_get_error(s.ctx));
    return false;
  }
  if (task->status != SCSI_STATUS_GOOD) {
    std::fprintf(stderr, "pk_iscsi_rw: %s: status %d, sense key %d asc/ascq 0x%04x: %s\n", what, task->status,
                 static_cast<int>(task->sense.key), static_cast<unsigned>(task->sense.ascq),
                 iscsi_get_error(s.ctx));
    scsi_free_scsi_task(task);
    return false;
  }
  return true;
}

const char* DesignatorTypeName(int type, char* buf, size_t len) {
  switch (type) {
    case 0: return "vendor";
    case 1: return "t10";
    case 2: return "eui64";
    case 3: return "naa";
    case 8: return "scsi_name";
    default: std::snprintf(buf, len, "type%d", type); return buf;
  }
}

int Identify(Session& s) {
  scsi_task* task = iscsi_inquiry_sync(s.ctx, s.lun, 1, SCSI_INQUIRY_PAGECODE_UNIT_SERIAL_NUMBER, 255);
  if (!TaskOk(s, task, "inquiry VPD 0x80")) return kScsi;
  {
    const unsigned char* d = task->datain.data;
    int n = task->datain.size >= 4 ? ((d[2] << 8) | d[3]) : 0;
    if (n > task->datain.size - 4) n = task->datain.size - 4;
    std::string sn(reinterpret_cast<const char*>(d + 4), n);
    size_t first = sn.find_first_not_of(' ');
    sn = first == std::string::npos ? "" : sn.substr(first);
    while (!sn.empty() && (sn.back() == ' ' || sn.back() == '\0')) sn.pop_back();
    std::printf("serial: %s\n", sn.c_str());
  }
  scsi_free_scsi_task(task);

  task = iscsi_inquiry_sync(s.ctx, s.lun, 1, SCSI_INQUIRY_PAGECODE_DEVICE_IDENTIFICATION, 1024);
  if (!TaskOk(s, task, "inquiry VPD 0x83")) return kScsi;
  const unsigned char* d = task->datain.data;
  int size = task->datain.size;
  int page_len = size >= 4 ? ((d[2] << 8) | d[3]) : 0;
  int end = 4 + page_len < size ? 4 + page_len : size;
  for (int p = 4; p + 4 <= end;) {
    int code_set = d[p] & 0x0f;
    int assoc = (d[p + 1] >> 4) & 0x03;
    int type = d[p + 1] & 0x0f;
    int len = d[p + 3];
    if (p + 4 + len > end) break;
    const unsigned char* v = d + p + 4;
    std::string value;
    if (code_set == 1) {
      value = "0x";
      char hex[3];
      for (int i = 0; i < len; ++i) {
        std::snprintf(hex, sizeof hex, "%02x", v[i]);
        value += hex;
      }
    } else {
      value.assign(reinterpret_cast<const char*>(v), len);
      while (!value.empty() && (value.back() == '\0' || value.back() == ' ')) value.pop_back();
    }
    char tbuf[16];
    std::printf("designator: %s %s %s %s\n", DesignatorTypeName(type, tbuf, sizeof tbuf),
                code_set == 1 ? "binary" : code_set == 2 ? "ascii" : code_set == 3 ? "utf8" : "other",
                assoc == 0 ? "lu" : assoc == 1 ? "port" : "target", value.c_str());
    p += 4 + len;
  }
  scsi_free_scsi_task(task);
  return kOk;
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

int ReadWrite(Session& s, const Options& o, uint64_t blocks, uint32_t block_size) {
  const uint64_t total = o.mib << 20;
  if (total > blocks * block_size) {
    std::fprintf(stderr, "pk_iscsi_rw: --mib %" PRIu64 " exceeds the LUN's %" PRIu64 " bytes\n", o.mib,
                 blocks * block_size);
    return kUsage;
  }
  const uint64_t chunk = o.block_kib << 10;
  if (chunk % block_size != 0) {
    std::fprintf(stderr, "pk_iscsi_rw: --block-kib is not a multiple of the block size %u\n", block_size);
    return kUsage;
  }
  std::vector<unsigned char> buf;
  if (!o.verify_only) {
    auto start = std::chrono::steady_clock::now();
    for (uint64_t off = 0; off < total; off += chunk) {
      buf.resize(std::min(chunk, total - off));
      FillPattern(o.seed, off, buf);
      scsi_task* task = iscsi_write16_sync(s.ctx, s.lun, off / block_size, buf.data(), buf.size(), block_size,
                                           0, 0, 0, 0, 0);
      if (!TaskOk(s, task, "write16")) return kScsi;
      scsi_free_scsi_task(task);
    }
    scsi_task* task = iscsi_synchronizecache16_sync(s.ctx, s.lun, 0, 0, 0, 0);
    if (!TaskOk(s, task, "synchronize cache16")) return kScsi;
    scsi_free_scsi_task(task);
    double t = Seconds(start);
    std::printf("write: %" PRIu64 " MiB in %.3f s (%.1f MiB/s)\n", o.mib, t, o.mib / (t > 0 ? t : 1e-9));
  }
  auto start = std::chrono::steady_clock::now();
  std::vector<unsigned char> want;
  for (uint64_t off = 0; off < total; off += chunk) {
    uint64_t n = std::min(chunk, total - off);
    scsi_task* task = iscsi_read16_sync(s.ctx, s.lun, off / block_size, n, block_size, 0, 0, 0, 0, 0);
    if (!TaskOk(s, task, "read16")) return kScsi;
    if (static_cast<uint64_t>(task->datain.size) != n) {
      std::fprintf(stderr, "pk_iscsi_rw: read16 at byte %" PRIu64 ": got %d bytes, asked %" PRIu64 "\n", off,
                   task->datain.size, n);
      scsi_free_scsi_task(task);
      return kScsi;
    }
    want.resize(n);
    FillPattern(o.seed, off, want);
    if (std::memcmp(want.data(), task->datain.data, n) != 0) {
      uint64_t i = 0;
      while (i < n && want[i] == task->datain.data[i]) ++i;
      std::fprintf(stderr, "pk_iscsi_rw: data differs from the pattern (seed %" PRIu64 ") at byte %" PRIu64 "\n",
                   o.seed, off + i);
      scsi_free_scsi_task(task);
      return kMismatch;
    }
    scsi_free_scsi_task(task);
  }
  double t = Seconds(start);
  std::printf("read: %" PRIu64 " MiB in %.3f s (%.1f MiB/s)\n", o.mib, t, o.mib / (t > 0 ? t : 1e-9));
  std::printf("verify: ok\n");
  return kOk;
}

int Run(const Options& o) {
  Session s;
  s.ctx = iscsi_create_context(o.initiator.c_str());
  if (s.ctx == nullptr) {
    std::fprintf(stderr, "pk_iscsi_rw: cannot create an iSCSI context for initiator '%s'\n", o.initiator.c_str());
    return kUsage;
  }
  iscsi_url* url = iscsi_parse_full_url(s.ctx, o.url.c_str());
  if (url == nullptr) {
    std::fprintf(stderr, "pk_iscsi_rw: bad URL '%s': %s\n", o.url.c_str(), iscsi_get_error(s.ctx));
    return kUsage;
  }
  std::string portal = url->portal;
  std::string target = url->target;
  std::string user = o.chap_user.empty() ? url->user : o.chap_user;
  std::string secret = o.chap_user.empty() ? url->passwd : o.chap_secret;
  s.lun = url->lun;
  iscsi_destroy_url(url);

  iscsi_set_timeout(s.ctx, o.timeout);
  iscsi_set_targetname(s.ctx, target.c_str());
  iscsi_set_session_type(s.ctx, ISCSI_SESSION_NORMAL);
  iscsi_set_header_digest(s.ctx, ISCSI_HEADER_DIGEST_NONE_CRC32C);
  if (!user.empty() && iscsi_set_initiator_username_pwd(s.ctx, user.c_str(), secret.c_str()) != 0) {
    std::fprintf(stderr, "pk_iscsi_rw: CHAP credentials refused by libiscsi: %s\n", iscsi_get_error(s.ctx));
    return kUsage;
  }
  if (iscsi_connect_sync(s.ctx, portal.c_str()) != 0) {
    std::fprintf(stderr, "pk_iscsi_rw: connect to %s: %s\n", portal.c_str(), iscsi_get_error(s.ctx));
    return kConnect;
  }
  if (iscsi_login_sync(s.ctx) != 0) {
    std::fprintf(stderr, "pk_iscsi_rw: login to %s at %s as %s refused: %s\n", target.c_str(), portal.c_str(),
                 o.initiator.c_str(), iscsi_get_error(s.ctx));
    return kLogin;
  }

  scsi_task* task = iscsi_testunitready_sync(s.ctx, s.lun);
  if (task != nullptr && task->status == SCSI_STATUS_CHECK_CONDITION &&
      task->sense.key == SCSI_SENSE_UNIT_ATTENTION) {
    scsi_free_scsi_task(task);  // the first command after login may report a unit attention
    task = iscsi_testunitready_sync(s.ctx, s.lun);
  }
  if (!TaskOk(s, task, "test unit ready")) return kScsi;
  scsi_free_scsi_task(task);

  task = iscsi_readcapacity16_sync(s.ctx, s.lun);
  if (!TaskOk(s, task, "read capacity16")) return kScsi;
  auto* rc16 = static_cast<scsi_readcapacity16*>(scsi_datain_unmarshall(task));
  if (rc16 == nullptr) {
    std::fprintf(stderr, "pk_iscsi_rw: read capacity16: cannot decode the answer\n");
    scsi_free_scsi_task(task);
    return kScsi;
  }
  uint64_t blocks = rc16->returned_lba + 1;
  uint32_t block_size = rc16->block_length;
  scsi_free_scsi_task(task);
  std::printf("capacity: %" PRIu64 " blocks=%" PRIu64 " block_size=%u\n", blocks * block_size, blocks, block_size);

  if (o.identify) {
    int rc = Identify(s);
    if (rc != kOk) return rc;
  }
  if (o.mib > 0) return ReadWrite(s, o, blocks, block_size);
  return kOk;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = ParseArgs(argc, argv);
  int rc = Run(o);
  std::fflush(stdout);
  return rc;
}
