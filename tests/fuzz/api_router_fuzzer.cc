// Fuzz target: every API route and its body (api::Router::Handle), as a
// client reaches it over the root-only unix socket: the input is a whole HTTP
// request, parsed by the server's own head parser. Behind the service is the
// real zfs adapter (zfs-fuse dialect) over a process runner that answers from
// canned tool output and starts nothing, the real inventory and a share
// manager without backends. The supervisor, event log and migration manager
// are absent: their routes answer 503 before reading a body, and their body
// decoders (service policy, migration source) are covered by unit tests and,
// for sources, by share_definition_fuzzer.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "api/internal/http_parse.h"
#include "api/router.h"
#include "inventory/inventory.h"
#include "share/manager.h"
#include "sys/files.h"
#include "sys/process_runner.h"
#include "testing/fake_process_runner.h"
#include "testing/fake_user_directory.h"
#include "zfs/zfs.h"

namespace {

using pk::Result;
using pk::Status;
using pk::testing::FakeProcessRunner;

constexpr const char* kPoolList = "tank\t250M\t1M\t249M\tONLINE\t42\t-\n";
constexpr const char* kPoolStatus =
    "  pool: tank\n state: ONLINE\n scrub: none requested\nconfig:\n\n"
    "\tNAME        STATE     READ WRITE CKSUM\n"
    "\ttank        ONLINE       0     0     0\n"
    "\t  /d/a.img  ONLINE       0     0     0\n\nerrors: No known data errors\n";
constexpr const char* kTree =
    "tank\ttype\tfilesystem\t-\n"
    "tank\tused\t1000\t-\n"
    "tank\tmountpoint\t/tank\tdefault\n"
    "tank/a\ttype\tfilesystem\t-\n"
    "tank/a\tused\t500\t-\n"
    "tank/a\torg.poolkeeper:share.nfs\t{\"v\":1,\"clients\":[\"*\"]}\tlocal\n"
    "tank/a@s1\ttype\tsnapshot\t-\n"
    "tank/a@s1\tused\t0\t-\n";

// Answers zpool/zfs from the canned output above and everything else with an
// empty success. Records nothing (FakeProcessRunner's log would grow without
// bound over millions of runs) and starts no process.
class CannedRunner : public pk::sys::ProcessRunner {
 public:
  Result<pk::sys::ProcessResult> Run(const pk::sys::Command& c) override {
    std::string_view verb = c.args.empty() ? std::string_view() : std::string_view(c.args[0]);
    if (c.program.ends_with("zpool") && verb == "list") return FakeProcessRunner::Exited(0, kPoolList);
    if (c.program.ends_with("zpool") && verb == "status") return FakeProcessRunner::Exited(0, kPoolStatus);
    if (c.program.ends_with("zfs") && (verb == "get" || verb == "list")) return FakeProcessRunner::Exited(0, kTree);
    return FakeProcessRunner::Exited(0);
  }
};

// A file system where nothing exists and nothing can be written: the share
// manager's LUN files fail cleanly instead of touching the machine.
class NoFileSystem : public pk::sys::FileSystem {
 public:
  Result<std::string> ReadFile(const std::string& path) override { return pk::NotFound(path); }
  Status WriteFileAtomic(const std::string& path, std::string_view, mode_t) override { return pk::PermissionDenied(path); }
  Result<bool> Exists(const std::string&) override { return false; }
  Status MakeDirs(const std::string& path, mode_t) override { return pk::PermissionDenied(path); }
  Status Remove(const std::string& path) override { return pk::NotFound(path); }
  Status AppendDurably(const std::string& path, std::string_view) override { return pk::PermissionDenied(path); }
  Status CreateSparseFile(const std::string& path, uint64_t, mode_t) override { return pk::PermissionDenied(path); }
  Result<DeviceInfo> StatDevice(const std::string& path) override { return pk::NotFound(path); }
};

struct World {
  CannedRunner runner;
  std::unique_ptr<pk::zfs::Zfs> zfs =
      pk::zfs::MakeCliZfsForDialect(runner, pk::zfs::Dialect::kZfsFuse, {"/sbin/zpool", "/sbin/zfs"});
  pk::inventory::Inventory inventory{*zfs, {}};
  NoFileSystem fs;
  pk::testing::FakeUserDirectory users;
  pk::share::ShareManager shares{*zfs, fs, {}, {}};
  pk::api::Router service{*zfs, inventory, nullptr, nullptr, &fs, {"fuzz-token-0123456789", "fuzz"}, &users, &shares};

  World() {
    users.Add(pk::sys::AccountKind::kUser, "alice", 1000);
    users.Add(pk::sys::AccountKind::kGroup, "staff", 50);
    (void)inventory.RefreshAll();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* world = new World();  // lives for the whole run, as the daemon's does
  std::string_view text(reinterpret_cast<const char*>(data), size);
  size_t end = text.find("\r\n\r\n");
  if (end == std::string_view::npos) return 0;
  pk::api::HttpRequest request;
  auto head = pk::api::internal::ParseRequestHead(text.substr(0, end), 1 << 20, request);
  if (!head) return 0;
  request.body = std::string(text.substr(end + 4, head->content_length));
  request.transport = pk::api::Transport::kUnix;
  request.peer_uid = 0;
  (void)world->service.Handle(request);
  return 0;
}
