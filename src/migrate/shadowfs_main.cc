// poolkeeper-shadowfs: the helper process that serves one dataset's shadow
// migration (FUSE layer + background migrator). poolkeeperd starts one per
// migrating dataset; see protocol.h for the contract and ARCHITECTURE.md for
// why it is a separate process.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/json.h"
#include "base/log.h"
#include "migrate/internal/errno.h"
#include "migrate/migrator.h"
#include "migrate/protocol.h"
#include "migrate/shadow_fs.h"
#include "migrate/shadow_tree.h"
#include "migrate/source.h"

namespace pk::migrate {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Names from a source need not be UTF-8: every JSON this helper writes goes
// through pk::DumpJson, which replaces invalid bytes (U+FFFD) instead of throwing.
int Fail(const Error& e) {
  std::printf("%s\n", DumpJson(json{{"code", std::string(ErrorCodeName(e.code()))}, {"message", e.message()}}).c_str());
  std::fflush(stdout);
  fmt::print(stderr, "poolkeeper-shadowfs: {}\n", e.message());
  return kExitFailed;
}

Result<UniqueFd> OpenRoot(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return internal::ErrnoError(errno, "open '" + dir + "'");
  return fd;
}

int Init(const std::string& dir, const std::string& uri_text, int concurrency, uint64_t bwlimit, bool preserve_special) {
  if (IsShadowMounted(dir)) return Fail(Error(ErrorCode::kAlreadyExists, "a shadow migration is already serving '" + dir + "'"));
  auto uri = SourceUri::Parse(uri_text);
  if (!uri) return Fail(uri.error());
  auto source = OpenSource(*uri, 1);
  if (!source) return Fail(source.error());
  auto root = OpenRoot(dir);
  if (!root) return Fail(root.error());
  Meta meta{uri->text, static_cast<int64_t>(::time(nullptr)), concurrency, bwlimit, preserve_special};
  auto s = ShadowTree::Init(root->get(), **source, meta);
  if (!s) return Fail(s.error());
  std::printf("{\"ok\":true}\n");
  return 0;
}

int Cancel(const std::string& dir) {
  if (auto d = DetachStaleShadowMounts(dir); !d) return Fail(d.error());
  auto root = OpenRoot(dir);
  if (!root) return Fail(root.error());
  auto s = ShadowTree::Abandon(root->get());
  if (!s) return Fail(s.error());
  std::printf("{\"ok\":true}\n");
  return 0;
}

void WriteStatus(const std::string& path, const json& j) {
  std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) return;
  std::string text = DumpJson(j);
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
  std::rename(tmp.c_str(), path.c_str());
}

// Whether `path` already records the completion of `dataset` (with the
// finished run's counts, which a later start must not replace).
bool RecordsCompletion(const std::string& path, const std::string& dataset) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return false;
  std::string text;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
  std::fclose(f);
  auto j = json::parse(text, nullptr, false);
  return j.is_object() && j.value("dataset", "") == dataset && j.value("state", "") == "complete";
}

// Status reporting: rate over the last ~10 s of this run.
class Reporter {
 public:
  Reporter(ShadowTree& tree, Migrator& migrator, std::string dataset, std::string path)
      : tree_(tree), migrator_(migrator), dataset_(std::move(dataset)), path_(std::move(path)) {}

  json Make(const std::string& state, const std::string& error = "") {
    auto c = tree_.counters();
    auto est = migrator_.estimate();
    auto now = Clock::now();
    samples_.push_back({now, c.bytes_this_run});
    while (samples_.size() > 2 && now - samples_.front().first > std::chrono::seconds(10)) samples_.pop_front();
    double rate = 0;
    if (samples_.size() >= 2) {
      double dt = std::chrono::duration<double>(samples_.back().first - samples_.front().first).count();
      if (dt > 0) rate = static_cast<double>(samples_.back().second - samples_.front().second) / dt;
    }
    json failed = json::array();
    for (const auto& f : tree_.failed()) {
      failed.push_back({{"path", f.path}, {"error", f.error}, {"retries", f.retries}, {"final", f.final}});
    }
    int64_t elapsed = static_cast<int64_t>(::time(nullptr)) - tree_.meta().started_at;
    json j = {{"dataset", dataset_},
              {"source", tree_.meta().source},
              {"state", state},
              {"pid", ::getpid()},
              {"started_at", tree_.meta().started_at},
              {"elapsed_seconds", elapsed},
              {"files_done", c.files_done},
              {"bytes_done", c.bytes_done},
              {"copies_this_run", c.copies_this_run},
              {"bytes_this_run", c.bytes_this_run},
              {"dirs_populated_this_run", c.dirs_populated},
              {"passes", migrator_.passes()},
              {"rate_bytes_per_second", rate},
              {"concurrency", tree_.meta().concurrency},
              {"bwlimit", tree_.meta().bwlimit},
              {"preserve_special", tree_.meta().preserve_special},
              {"failed", failed},
              {"updated_at", static_cast<int64_t>(::time(nullptr))}};
    if (est.known) {
      uint64_t remaining = est.bytes > c.bytes_done ? est.bytes - c.bytes_done : 0;
      if (state == "complete") remaining = 0;
      j["source_bytes"] = est.bytes;
      j["source_files"] = est.files;
      j["source_entries"] = est.entries;
      j["bytes_remaining"] = remaining;
      j["eta_seconds"] = rate > 0 ? json(static_cast<double>(remaining) / rate) : json(nullptr);
    } else {
      j["bytes_remaining"] = nullptr;
      j["eta_seconds"] = nullptr;
    }
    if (!error.empty()) j["error"] = error;
    return j;
  }

  void Write(const std::string& state, const std::string& error = "") { WriteStatus(path_, Make(state, error)); }

 private:
  ShadowTree& tree_;
  Migrator& migrator_;
  std::string dataset_, path_;
  std::deque<std::pair<Clock::time_point, uint64_t>> samples_;
};

int Serve(const std::string& dir, const std::string& dataset, const std::string& status_path, int parent_pid) {
  auto log = GetLogger("shadowfs");
  if (parent_pid > 0) {
    // Dies with the daemon (as a daemon crash would take an in-process layer
    // with it); the next daemon detaches the dead mount and resumes.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent_pid) return kExitStopped;
  }
  ::umask(0);
  if (auto d = DetachStaleShadowMounts(dir); !d) {
    Fail(d.error());
    return d.error().code() == ErrorCode::kAlreadyExists ? kExitBusy : kExitFailed;
  } else if (*d > 0) {
    log->info("detached {} stale shadow layer(s) on '{}'", *d, dir);
  }
  auto root = OpenRoot(dir);
  if (!root) return Fail(root.error());
  // One helper per dataset, whichever daemon started it.
  if (::flock(root->get(), LOCK_EX | LOCK_NB) != 0) {
    Fail(Error(ErrorCode::kAlreadyExists, "another helper serves '" + dir + "'"));
    return kExitBusy;
  }
  auto has = ShadowTree::HasState(root->get());
  if (!has) return Fail(has.error());
  if (!*has) {
    // The run that finished wrote its final status (counts, failed entries): keep it.
    if (!RecordsCompletion(status_path, dataset)) WriteStatus(status_path, {{"dataset", dataset}, {"state", "complete"}});
    return kExitFinalized;  // finalized earlier; the daemon only has to drop the property
  }
  // Mount at once: after a crash of the last helper the dataset is bare
  // between the detach above and this mount; everything slow (the source,
  // the state) comes after it, while clients wait in the kernel.
  auto mount = ShadowMount::Create(dir, dataset);
  if (!mount) {
    WriteStatus(status_path, {{"dataset", dataset}, {"state", "failed"}, {"error", mount.error().message()}});
    return Fail(mount.error());
  }
  auto read_meta = ShadowTree::ReadMeta(root->get());
  if (!read_meta) return Fail(read_meta.error().WithContext("the migration in '" + dir + "'"));
  const Meta& meta = *read_meta;
  auto uri = SourceUri::Parse(meta.source);
  if (!uri) return Fail(uri.error());
  auto source = OpenSource(*uri, meta.concurrency + 4);
  if (!source) return Fail(source.error());
  auto tree = ShadowTree::Open(std::move(*root), std::move(*source));
  if (!tree) return Fail(tree.error());
  Migrator migrator(**tree, meta.concurrency, meta.bwlimit);
  Reporter reporter(**tree, migrator, dataset, status_path);
  log->info("serving '{}' at '{}' from '{}'", dataset, dir, meta.source);

  std::atomic<bool> complete{false}, done{false};
  // The helper's threads report an exception instead of terminating the
  // process (and with it the layer its clients are using).
  auto guarded = [&log](const char* what, auto fn) {
    return [&log, what, fn] {
      try {
        fn();
      } catch (const std::exception& e) {
        log->error("{}: unexpected exception: {}", what, e.what());
      }
    };
  };
  std::thread estimator(guarded("estimate", [&] { migrator.Estimate(); }));
  std::thread walker(guarded("migrator", [&] {
    auto r = migrator.Run();
    if (r) {
      complete = true;
      reporter.Write("finalizing");
      // Not complete after all when a stop came first: the next start proves it again.
      if (!(*mount)->Unmount()) complete = false;
    }
  }));
  std::thread status(guarded("status", [&] {
    while (!done) {
      reporter.Write(complete ? "finalizing" : "migrating");
      for (int i = 0; i < 10 && !done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }));
  auto served = (*mount)->Serve(**tree);
  migrator.Stop();
  walker.join();
  estimator.join();
  done = true;
  status.join();
  mount->reset();  // unmounts when still mounted
  if (!served) {
    reporter.Write("failed", served.error().message());
    return Fail(served.error());
  }
  if (!complete) {
    reporter.Write("stopped");
    log->info("stopped; the migration resumes at the next start");
    return kExitStopped;
  }
  auto final_status = reporter.Make("complete");
  // The completion log leaves with the state directory; keep a node-local copy as the run's record.
  if (auto log_text = (*tree)->ReadStateFile("copied.log")) {
    if (FILE* f = std::fopen((status_path + ".copied.log").c_str(), "w")) {
      std::fwrite(log_text->data(), 1, log_text->size(), f);
      std::fclose(f);
    }
  }
  if (auto s = (*tree)->RemoveState(); !s) {
    reporter.Write("failed", s.error().message());
    return Fail(s.error());
  }
  WriteStatus(status_path, final_status);
  log->info("migration of '{}' complete: {} files, {} bytes", dataset, final_status.value("files_done", uint64_t{0}),
            final_status.value("bytes_done", uint64_t{0}));
  return kExitFinalized;
}

}  // namespace
}  // namespace pk::migrate

int main(int argc, char** argv) {
  CLI::App app{"poolkeeper-shadowfs: the shadow-migration layer of one dataset (started by poolkeeperd)"};
  app.require_subcommand(1);
  std::string dir, source, dataset, status, log_level = "info";
  int concurrency = 4, parent_pid = 0;
  uint64_t bwlimit = 0;
  bool preserve_special = false;
  app.add_option("--log-level", log_level);
  auto* init = app.add_subcommand("init", "prepare an empty dataset for migration from a source");
  init->add_option("--dir", dir)->required();
  init->add_option("--source", source)->required();
  init->add_option("--concurrency", concurrency)->check(CLI::Range(1, 64));
  init->add_option("--bwlimit", bwlimit);
  init->add_flag("--preserve-special", preserve_special, "keep set-ID bits and create device nodes");
  auto* serve = app.add_subcommand("serve", "mount the shadow layer and migrate until complete or stopped");
  serve->add_option("--dir", dir)->required();
  serve->add_option("--dataset", dataset)->required();
  serve->add_option("--status", status)->required();
  serve->add_option("--parent-pid", parent_pid);
  auto* cancel = app.add_subcommand("cancel", "abandon a migration: remove markers and state");
  cancel->add_option("--dir", dir)->required();
  CLI11_PARSE(app, argc, argv);
  pk::SetLogLevel(log_level);
  try {
    if (*init) return pk::migrate::Init(dir, source, concurrency, bwlimit, preserve_special);
    if (*serve) return pk::migrate::Serve(dir, dataset, status, parent_pid);
    if (*cancel) return pk::migrate::Cancel(dir);
  } catch (const std::exception& e) {
    return pk::migrate::Fail(pk::Error(pk::ErrorCode::kInternal, std::string("internal error: ") + e.what()));
  }
  return 2;
}
