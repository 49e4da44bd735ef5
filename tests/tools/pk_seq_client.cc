// pk_seq_client: a client that keeps writing sequence-numbered records
// through iSCSI (libiscsi) or NFSv3 (libnfs), remembers which writes were
// acknowledged, reconnects when the server goes away, and later checks that
// every acknowledged record reads back. Used by the HA failover tests and
// bench/failover (issue 5): the client runs in the HA lab's client namespace
// and talks to a floating IP while heads are killed under it.
//
// Usage:
//   pk_seq_client write  URL --journal FILE [options]
//   pk_seq_client verify URL --journal FILE [options]
//
//   URL  iscsi://HOST[:PORT]/TARGET-IQN/LUN
//        nfs://SERVER/EXPORT/FILE[?ARGS]   (libnfs URL; e.g. ?mountport=20048&nfsport=2049)
//
// Options:
//   --journal FILE      write: appended to, one line per event (below);
//                       verify: the acknowledged records to check
//   --seed S            pattern seed (default 1)
//   --record-kib K      bytes per record in KiB (default 4; a multiple of the
//                       LUN's block size for iSCSI)
//   --max-records N     stop after N records (default: the LUN's capacity for
//                       iSCSI, 16384 for NFS)
//   --interval-ms MS    pause between writes (default 20)
//   --seconds S         write: stop after S seconds (default: no limit)
//   --stop-file F       write: stop as soon as F exists (checked between writes)
//   --timeout S         per-operation timeout in seconds (default 3): a write
//                       that takes longer counts as failed and the client
//                       reconnects (attempts every 0.1 s, each starting with a
//                       0.3 s TCP probe of the server)
//   --give-up S         write: exit 6 after S seconds without a successful
//                       write (default 180)
//   --chap-file F       iSCSI: log in with CHAP; F holds the user on its first
//                       line and the secret on its second (kept off argv)
//
// Record SEQ (1, 2, ...) lives at byte (SEQ-1)*RECORD: a 32-byte header
// ("PKSEQREC", SEQ, seed, record size) and a pattern that is a function of
// seed, SEQ and position. iSCSI writes use WRITE(16) with FUA, so tgt syncs
// the backing file before it answers; NFS writes are followed by COMMIT
// (nfs_fsync). A write counts as acknowledged only after that answer. A
// failed write is retried with the same SEQ after reconnecting.
//
// Journal lines (EPOCH = wall-clock seconds with 6 decimals):
//   connect EPOCH IDENTITY   a (re)connection; IDENTITY is, for iSCSI,
//                            "serial=S naa=0x..." (VPD 0x80 and the NAA
//                            designator of VPD 0x83), for NFS "fh=HEX" (the
//                            file's NFSv3 handle)
//   ack SEQ EPOCH            record SEQ acknowledged
//   fail SEQ EPOCH REASON    record SEQ failed (then reconnect attempts)
//   retry EPOCH REASON       a reconnect attempt failed (each new reason once)
//   stop EPOCH REASON        end of the write loop
// verify prints "verified: N records (SEQ 1..M)" or names the first bad record.
//
// Exit codes: 0 success; 1 usage; 2 first connection failed; 5 an
// acknowledged record reads back wrong or cannot be read; 6 gave up
// (--give-up seconds without a successful write).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include <nfsc/libnfs.h>
#include <nfsc/libnfs-raw.h>
}

namespace {

enum Exit { kOk = 0, kUsage = 1, kConnect = 2, kMismatch = 5, kGaveUp = 6 };

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

struct Options {
  std::string mode;
  std::string url;
  std::string journal;
  uint64_t seed = 1;
  uint64_t record = 4096;
  uint64_t max_records = 0;
  int interval_ms = 20;
  double seconds = 0;
  std::string stop_file;
  int timeout = 3;
  double give_up = 180;
  std::string chap_user, chap_secret;  // from --chap-file
};

[[noreturn]] void Usage(const std::string& why) {
  std::fprintf(stderr,
               "pk_seq_client: %s\nusage: pk_seq_client write|verify URL --journal FILE [--seed S] [--record-kib K] "
               "[--max-records N] [--interval-ms MS] [--seconds S] [--stop-file F] [--timeout S] [--give-up S] [--chap-file F]\n",
               why.c_str());
  std::exit(kUsage);
}

uint64_t ParseU64(const std::string& flag, const char* text) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || text[0] == '-') Usage(flag + ": not an unsigned integer");
  return v;
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) Usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--journal") o.journal = value();
    else if (a == "--seed") o.seed = ParseU64(a, value());
    else if (a == "--record-kib") o.record = ParseU64(a, value()) << 10;
    else if (a == "--max-records") o.max_records = ParseU64(a, value());
    else if (a == "--interval-ms") o.interval_ms = static_cast<int>(ParseU64(a, value()));
    else if (a == "--seconds") o.seconds = static_cast<double>(ParseU64(a, value()));
    else if (a == "--stop-file") o.stop_file = value();
    else if (a == "--timeout") o.timeout = static_cast<int>(ParseU64(a, value()));
    else if (a == "--give-up") o.give_up = static_cast<double>(ParseU64(a, value()));
    else if (a == "--chap-file") {
      std::ifstream in(value());
      if (!std::getline(in, o.chap_user) || !std::getline(in, o.chap_secret)) Usage("--chap-file: need USER and SECRET lines");
    }
    else if (a.starts_with("--")) Usage("unknown option " + a);
    else if (o.mode.empty()) o.mode = a;
    else if (o.url.empty()) o.url = a;
    else Usage("unexpected argument " + a);
  }
  if (o.mode != "write" && o.mode != "verify") Usage("the first argument is write or verify");
  if (o.url.empty()) Usage("no URL");
  if (o.journal.empty()) Usage("--journal is required");
  if (o.record < 4096 || o.record > (1u << 20)) Usage("--record-kib must be 4..1024");
  if (o.timeout < 1) Usage("--timeout must be at least 1");
  return o;
}

double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

uint64_t Mix(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// The bytes record `seq` must hold.
void FillRecord(uint64_t seed, uint64_t seq, std::vector<unsigned char>& buf) {
  std::memset(buf.data(), 0, 32);
  std::memcpy(buf.data(), "PKSEQREC", 8);
  uint64_t size = buf.size();
  std::memcpy(buf.data() + 8, &seq, 8);
  std::memcpy(buf.data() + 16, &seed, 8);
  std::memcpy(buf.data() + 24, &size, 8);
  for (size_t i = 32; i < buf.size(); i += 8) {
    uint64_t w = Mix(seed * 0x100000001B3ull ^ (seq << 20) ^ i);
    std::memcpy(buf.data() + i, &w, 8);
  }
}

std::string Hex(const unsigned char* p, size_t n) {
  std::string s;
  char b[3];
  for (size_t i = 0; i < n; ++i) {
    std::snprintf(b, sizeof b, "%02x", p[i]);
    s += b;
  }
  return s;
}

// A reconnect attempt first checks that the server accepts TCP within this
// time, so that a floating IP still cached at the old head's MAC (until the
// new head's gratuitous ARP arrives) costs a short probe, not a long timeout.
constexpr int kProbeMs = 300;

// TCP reachability of HOST:PORT within `timeout_ms` (libiscsi's connect has no
// timeout of its own: without this, a floating IP that answers no ARP would
// hold a reconnect for minutes of SYN retries).
bool Reachable(const std::string& host, const std::string& port, int timeout_ms) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) return false;
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  bool ok = false;
  if (fd >= 0) {
    int rc = ::connect(fd, res->ai_addr, res->ai_addrlen);
    if (rc == 0) {
      ok = true;
    } else if (errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, timeout_ms) == 1) {
        int err = 0;
        socklen_t len = sizeof err;
        ok = ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
      }
    }
    ::close(fd);
  }
  freeaddrinfo(res);
  return ok;
}

// One protocol's connection: (re)connect, write a record durably, read one.
class Target {
 public:
  virtual ~Target() = default;
  // Connects; on success returns the identity for the journal, else "" with `error` set.
  virtual std::string Connect(bool first, std::string& error) = 0;
  virtual void Disconnect() = 0;
  virtual bool Write(uint64_t offset, std::vector<unsigned char>& buf, std::string& error) = 0;
  virtual bool Read(uint64_t offset, std::vector<unsigned char>& buf, std::string& error) = 0;
  // Bytes available for records (0: unknown).
  virtual uint64_t Capacity() const = 0;
};

class IscsiTarget : public Target {
 public:
  IscsiTarget(std::string url, int timeout, std::string chap_user, std::string chap_secret)
      : url_(std::move(url)), timeout_(timeout), chap_user_(std::move(chap_user)), chap_secret_(std::move(chap_secret)) {}
  ~IscsiTarget() override { Disconnect(); }

  std::string Connect(bool, std::string& error) override {
    Disconnect();
    ctx_ = iscsi_create_context("iqn.2026-11.org.poolkeeper:pk-seq-client");
    if (!ctx_) return error = "cannot create an iSCSI context", "";
    iscsi_url* u = iscsi_parse_full_url(ctx_, url_.c_str());
    if (!u) return error = std::string("bad URL: ") + iscsi_get_error(ctx_), "";
    std::string portal = u->portal, target = u->target;
    lun_ = u->lun;
    iscsi_destroy_url(u);
    std::string host = portal, port = "3260";
    if (auto c = portal.rfind(':'); c != std::string::npos && portal.find(']') == std::string::npos) {
      host = portal.substr(0, c);
      port = portal.substr(c + 1);
    }
    if (!Reachable(host, port, kProbeMs)) return error = "portal " + portal + " unreachable", "";
    iscsi_set_timeout(ctx_, timeout_);
    // libiscsi's own reconnect retries a dead session inside a synchronous
    // call with no bound (seen hanging for minutes after a head's power-off);
    // this client reconnects itself, so a failure must surface.
    iscsi_set_noautoreconnect(ctx_, 1);
    iscsi_set_targetname(ctx_, target.c_str());
    iscsi_set_session_type(ctx_, ISCSI_SESSION_NORMAL);
    iscsi_set_header_digest(ctx_, ISCSI_HEADER_DIGEST_NONE_CRC32C);
    if (!chap_user_.empty() && iscsi_set_initiator_username_pwd(ctx_, chap_user_.c_str(), chap_secret_.c_str()) != 0) {
      return error = std::string("CHAP: ") + iscsi_get_error(ctx_), "";
    }
    if (iscsi_connect_sync(ctx_, portal.c_str()) != 0) return error = std::string("connect: ") + iscsi_get_error(ctx_), "";
    if (iscsi_login_sync(ctx_) != 0) return error = std::string("login: ") + iscsi_get_error(ctx_), "";
    scsi_task* t = nullptr;
    for (int i = 0; i < 3; ++i) {  // unit attentions after login
      t = iscsi_testunitready_sync(ctx_, lun_);
      if (t && t->status == SCSI_STATUS_GOOD) break;
      if (t) scsi_free_scsi_task(t);
      t = nullptr;
    }
    if (!t) return error = std::string("test unit ready: ") + iscsi_get_error(ctx_), "";
    scsi_free_scsi_task(t);
    t = iscsi_readcapacity16_sync(ctx_, lun_);
    if (!t || t->status != SCSI_STATUS_GOOD) {
      if (t) scsi_free_scsi_task(t);
      return error = std::string("read capacity: ") + iscsi_get_error(ctx_), "";
    }
    auto* rc16 = static_cast<scsi_readcapacity16*>(scsi_datain_unmarshall(t));
    if (rc16) {
      block_size_ = rc16->block_length;
      capacity_ = (rc16->returned_lba + 1) * block_size_;
    }
    scsi_free_scsi_task(t);
    return Identity();
  }

  // Drops the connection without a logout: after a failure the peer may be
  // gone without a reset (its address moved away), and a logout would wait
  // on the dead connection. The new head has no session to log out of.
  void Disconnect() override {
    if (ctx_) {
      iscsi_destroy_context(ctx_);
      ctx_ = nullptr;
    }
  }

  bool Write(uint64_t offset, std::vector<unsigned char>& buf, std::string& error) override {
    if (buf.size() % block_size_) return error = "record size is not a multiple of the block size", false;
    scsi_task* t = iscsi_write16_sync(ctx_, lun_, offset / block_size_, buf.data(), buf.size(), block_size_, 0, 0,
                                      /*fua=*/1, 0, 0);
    return Done(t, "write16", error);
  }

  bool Read(uint64_t offset, std::vector<unsigned char>& buf, std::string& error) override {
    scsi_task* t = iscsi_read16_sync(ctx_, lun_, offset / block_size_, buf.size(), block_size_, 0, 0, 0, 0, 0);
    if (!t || t->status != SCSI_STATUS_GOOD || static_cast<size_t>(t->datain.size) != buf.size()) {
      return Done(t, "read16", error) && (error = "short read", false);
    }
    std::memcpy(buf.data(), t->datain.data, buf.size());
    scsi_free_scsi_task(t);
    return true;
  }

  uint64_t Capacity() const override { return capacity_; }

 private:
  bool Done(scsi_task* t, const char* what, std::string& error) {
    if (!t) return error = std::string(what) + ": " + iscsi_get_error(ctx_), false;
    bool ok = t->status == SCSI_STATUS_GOOD;
    if (!ok) error = std::string(what) + ": status " + std::to_string(t->status) + " " + iscsi_get_error(ctx_);
    scsi_free_scsi_task(t);
    return ok;
  }

  // "serial=S naa=0x..." from VPD 0x80 and 0x83 (the LU's identity).
  std::string Identity() {
    std::string serial = "?", naa = "?";
    if (scsi_task* t = iscsi_inquiry_sync(ctx_, lun_, 1, SCSI_INQUIRY_PAGECODE_UNIT_SERIAL_NUMBER, 255)) {
      if (t->status == SCSI_STATUS_GOOD && t->datain.size >= 4) {
        const unsigned char* d = t->datain.data;
        int n = std::min((d[2] << 8) | d[3], t->datain.size - 4);
        serial.assign(reinterpret_cast<const char*>(d + 4), n);
        serial.erase(0, serial.find_first_not_of(' '));
        while (!serial.empty() && (serial.back() == ' ' || serial.back() == '\0')) serial.pop_back();
      }
      scsi_free_scsi_task(t);
    }
    if (scsi_task* t = iscsi_inquiry_sync(ctx_, lun_, 1, SCSI_INQUIRY_PAGECODE_DEVICE_IDENTIFICATION, 1024)) {
      const unsigned char* d = t->datain.data;
      int end = t->status == SCSI_STATUS_GOOD && t->datain.size >= 4 ? std::min(4 + ((d[2] << 8) | d[3]), t->datain.size) : 0;
      for (int p = 4; p + 4 <= end;) {
        int len = d[p + 3];
        if (p + 4 + len > end) break;
        // The LU's NAA designator in binary (tgt's NAA 6, from the scsi_id).
        if ((d[p + 1] & 0x0f) == 3 && ((d[p + 1] >> 4) & 3) == 0 && (d[p] & 0x0f) == 1 && (d[p + 4] >> 4) == 6) {
          naa = "0x" + Hex(d + p + 4, len);
        }
        p += 4 + len;
      }
      scsi_free_scsi_task(t);
    }
    return "serial=" + serial + " naa=" + naa;
  }

  std::string url_;
  int timeout_;
  std::string chap_user_, chap_secret_;
  iscsi_context* ctx_ = nullptr;
  int lun_ = 0;
  uint32_t block_size_ = 512;
  uint64_t capacity_ = 0;
};

class NfsTarget : public Target {
 public:
  NfsTarget(std::string url, int timeout) : url_(std::move(url)), timeout_(timeout) {}
  ~NfsTarget() override { Disconnect(); }

  std::string Connect(bool first, std::string& error) override {
    Disconnect();
    nfs_ = nfs_init_context();
    if (!nfs_) return error = "cannot create an NFS context", "";
    nfs_set_timeout(nfs_, timeout_ * 1000);
    nfs_set_autoreconnect(nfs_, 0);  // this client reconnects itself
    url_parsed_ = nfs_parse_url_full(nfs_, url_.c_str());
    if (!url_parsed_) return error = std::string("bad URL: ") + nfs_get_error(nfs_), "";
    std::string host = url_parsed_->server;
    std::string port = "2049";
    if (auto at = url_.find("nfsport="); at != std::string::npos) port = url_.substr(at + 8, url_.find('&', at) - at - 8);
    if (!Reachable(host, port, kProbeMs)) return error = "server " + host + ":" + port + " unreachable", "";
    if (nfs_mount(nfs_, url_parsed_->server, url_parsed_->path) != 0) return error = std::string("mount: ") + nfs_get_error(nfs_), "";
    int flags = first ? (O_CREAT | O_TRUNC | O_RDWR) : O_RDWR;
    int rc = first ? nfs_open2(nfs_, url_parsed_->file, flags, 0644, &fh_) : nfs_open(nfs_, url_parsed_->file, flags, &fh_);
    if (rc != 0) return error = std::string("open ") + url_parsed_->file + ": " + nfs_get_error(nfs_), "";
    // libnfs declares struct nfs_fh only in its private header; its layout
    // ({int len; char *val;}) is the same in libnfs 4.0 and 5.0.
    struct FhView {
      int len;
      char* val;
    };
    const auto* h = reinterpret_cast<const FhView*>(nfs_get_fh(fh_));
    return "fh=" + (h ? Hex(reinterpret_cast<const unsigned char*>(h->val), h->len) : std::string("?"));
  }

  void Disconnect() override {
    if (fh_) nfs_close(nfs_, fh_);
    fh_ = nullptr;
    if (url_parsed_) nfs_destroy_url(url_parsed_);
    url_parsed_ = nullptr;
    if (nfs_) nfs_destroy_context(nfs_);
    nfs_ = nullptr;
  }

  bool Write(uint64_t offset, std::vector<unsigned char>& buf, std::string& error) override {
    for (size_t done = 0; done < buf.size();) {
      int n = nfs_pwrite(nfs_, fh_, offset + done, buf.size() - done, buf.data() + done);
      if (n <= 0) return error = std::string("write: ") + nfs_get_error(nfs_), false;
      done += static_cast<size_t>(n);
    }
    // zfs-fuse makes data durable only on fsync: COMMIT before counting it acknowledged.
    if (nfs_fsync(nfs_, fh_) != 0) return error = std::string("commit: ") + nfs_get_error(nfs_), false;
    return true;
  }

  bool Read(uint64_t offset, std::vector<unsigned char>& buf, std::string& error) override {
    for (size_t done = 0; done < buf.size();) {
      int n = nfs_pread(nfs_, fh_, offset + done, buf.size() - done, buf.data() + done);
      if (n < 0) return error = std::string("read: ") + nfs_get_error(nfs_), false;
      if (n == 0) return error = "short file", false;
      done += static_cast<size_t>(n);
    }
    return true;
  }

  uint64_t Capacity() const override { return 0; }

 private:
  std::string url_;
  int timeout_;
  nfs_context* nfs_ = nullptr;
  nfs_url* url_parsed_ = nullptr;
  nfsfh* fh_ = nullptr;
};

std::unique_ptr<Target> MakeTarget(const Options& o) {
  if (o.url.starts_with("iscsi://")) return std::make_unique<IscsiTarget>(o.url, o.timeout, o.chap_user, o.chap_secret);
  if (o.url.starts_with("nfs://")) return std::make_unique<NfsTarget>(o.url, o.timeout);
  Usage("URL must start with iscsi:// or nfs://");
}

int WriteLoop(const Options& o, Target& target) {
  FILE* j = std::fopen(o.journal.c_str(), "a");
  if (!j) Usage("cannot open journal " + o.journal + ": " + std::strerror(errno));
  auto note = [j](std::string line) {
    for (char& c : line) if (c == '\n') c = ' ';  // one event, one line
    std::fprintf(j, "%s\n", line.c_str());
    std::fflush(j);
  };
  const double start = Now();
  double last_ok = start;
  std::string error;
  std::string id = target.Connect(true, error);
  if (id.empty()) {
    std::fprintf(stderr, "pk_seq_client: first connection: %s\n", error.c_str());
    return kConnect;
  }
  note("connect " + std::to_string(Now()) + " " + id);
  uint64_t max = o.max_records;
  if (max == 0) max = target.Capacity() ? target.Capacity() / o.record : 16384;
  std::vector<unsigned char> buf(o.record);
  uint64_t seq = 1, acked = 0, failures = 0, reconnects = 0;
  bool connected = true;
  std::string reason = "done";
  std::string last_retry_error;
  while (true) {
    if (g_stop) { reason = "signal"; break; }
    if (!o.stop_file.empty() && ::access(o.stop_file.c_str(), F_OK) == 0) { reason = "stop file"; break; }
    if (o.seconds > 0 && Now() - start >= o.seconds) { reason = "time"; break; }
    if (seq > max) { reason = "full"; break; }
    if (Now() - last_ok > o.give_up) {
      note("stop " + std::to_string(Now()) + " gave up");
      std::fprintf(stderr, "pk_seq_client: no successful write for %.0f s: %s\n", o.give_up, error.c_str());
      std::fclose(j);
      return kGaveUp;
    }
    if (!connected) {
      id = target.Connect(false, error);
      if (id.empty()) {
        if (error != last_retry_error) {  // each new reason once, not every attempt
          note("retry " + std::to_string(Now()) + " " + error);
          last_retry_error = error;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      last_retry_error.clear();
      connected = true;
      ++reconnects;
      note("connect " + std::to_string(Now()) + " " + id);
    }
    FillRecord(o.seed, seq, buf);
    if (target.Write((seq - 1) * o.record, buf, error)) {
      last_ok = Now();
      note("ack " + std::to_string(seq) + " " + std::to_string(last_ok));
      ++acked;
      ++seq;
      if (o.interval_ms) std::this_thread::sleep_for(std::chrono::milliseconds(o.interval_ms));
    } else {
      ++failures;
      note("fail " + std::to_string(seq) + " " + std::to_string(Now()) + " " + error);
      target.Disconnect();
      connected = false;
    }
  }
  note("stop " + std::to_string(Now()) + " " + reason);
  std::fclose(j);
  std::printf("acked: %" PRIu64 " failures: %" PRIu64 " reconnects: %" PRIu64 " stop: %s\n", acked, failures,
              reconnects, reason.c_str());
  return kOk;
}

int Verify(const Options& o, Target& target) {
  std::ifstream in(o.journal);
  if (!in) Usage("cannot read journal " + o.journal);
  std::set<uint64_t> acked;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream s(line);
    std::string kind;
    uint64_t seq = 0;
    if (s >> kind && kind == "ack" && s >> seq) acked.insert(seq);
  }
  std::string error;
  std::string id = target.Connect(false, error);
  if (id.empty()) {
    std::fprintf(stderr, "pk_seq_client: connect: %s\n", error.c_str());
    return kConnect;
  }
  std::printf("identity: %s\n", id.c_str());
  std::vector<unsigned char> want(o.record), got(o.record);
  for (uint64_t seq : acked) {
    if (!target.Read((seq - 1) * o.record, got, error)) {
      std::fprintf(stderr, "pk_seq_client: acknowledged record %" PRIu64 " cannot be read: %s\n", seq, error.c_str());
      return kMismatch;
    }
    FillRecord(o.seed, seq, want);
    if (want != got) {
      uint64_t found = 0;
      std::memcpy(&found, got.data() + 8, 8);
      std::fprintf(stderr, "pk_seq_client: acknowledged record %" PRIu64 " reads back wrong (header seq %" PRIu64 ")\n",
                   seq, found);
      return kMismatch;
    }
  }
  std::printf("verified: %zu records (SEQ 1..%" PRIu64 ")\n", acked.size(), acked.empty() ? 0 : *acked.rbegin());
  return kOk;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = ParseArgs(argc, argv);
  ::signal(SIGTERM, OnSignal);
  ::signal(SIGINT, OnSignal);
  ::signal(SIGPIPE, SIG_IGN);
  auto target = MakeTarget(o);
  int rc = o.mode == "write" ? WriteLoop(o, *target) : Verify(o, *target);
  std::fflush(stdout);
  return rc;
}
