#include "migrate/migrator.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <exception>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/json.h"
#include "base/json_fields.h"
#include "base/log.h"
#include "base/unique_fd.h"

namespace pk::migrate {

Migrator::Migrator(ShadowTree& tree, int concurrency, uint64_t bwlimit)
    : tree_(tree),
      concurrency_(concurrency < 1 ? 1 : concurrency),
      limiter_(bwlimit),
      fill_(bwlimit == 0 ? ShadowTree::Fill::kWithData : ShadowTree::Fill::kPlaceholders) {}

Migrator::~Migrator() {
  Stop();
  for (auto& t : workers_) {
    if (t.joinable()) t.join();
  }
}

void Migrator::Stop() {
  stopping_ = true;
  tree_.RequestStop();
  limiter_.Cancel();
  std::lock_guard lock(mu_);
  cv_.notify_all();
  idle_cv_.notify_all();
}

bool Migrator::SleepFor(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, d, [&] { return stopping_.load(); });
  return !stopping_;
}

void Migrator::Enqueue(const std::string& key) {
  std::lock_guard lock(mu_);
  if (!queued_.insert(key).second) return;
  queue_.push_back(key);
  cv_.notify_one();
}

void Migrator::Worker() {
  while (true) {
    std::string item;
    bool dir = false;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !dirs_.empty() || !queue_.empty(); });
      if (stopping_) return;
      // Directories first: each one visited can give every worker work.
      dir = !dirs_.empty();
      auto& q = dir ? dirs_ : queue_;
      item = std::move(q.front());
      q.pop_front();
      active_++;
    }
    // An exception (a bug, or bad_alloc) is reported and the worker goes on:
    // one entry must not terminate the helper under its clients.
    try {
      if (dir) {
        VisitDir(item);
      } else {
        (void)tree_.CopyPending(item, &limiter_);  // failures are recorded by the tree
      }
    } catch (const std::exception& e) {
      GetLogger("migrator")->error("{} '{}': unexpected exception: {}", dir ? "directory" : "pending file", item, e.what());
      if (dir) populated_++;  // not proven: retried at the next pass
    }
    std::lock_guard lock(mu_);
    if (!dir) queued_.erase(item);
    active_--;
    if (dirs_.empty() && queue_.empty() && active_ == 0) idle_cv_.notify_all();
  }
}

// Populates `rel` and queues its subdirectories.
void Migrator::VisitDir(const std::string& rel) {
  auto did = tree_.EnsureDir(rel, fill_, nullptr);
  if (!did) {
    if (did.error().code() != ErrorCode::kNotFound) populated_++;  // failed: not proven; retried next pass
    return;
  }
  populated_ += *did;
  UniqueFd fd(::openat(tree_.root_fd(), rel.empty() ? "." : rel.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return;  // removed or renamed by a client meanwhile
  DIR* d = ::fdopendir(fd.get());
  if (!d) return;
  fd.release();  // closedir closes it
  std::vector<std::string> subdirs;
  while (dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    if (rel.empty() && ShadowTree::IsStateName(e->d_name)) continue;
    bool is_dir = e->d_type == DT_DIR;
    if (e->d_type == DT_UNKNOWN) {
      struct stat st;
      is_dir = ::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
    }
    if (is_dir) subdirs.push_back(JoinRel(rel, e->d_name));
  }
  ::closedir(d);
  if (subdirs.empty()) return;
  std::lock_guard lock(mu_);
  for (auto& s : subdirs) dirs_.push_back(std::move(s));
  cv_.notify_all();
}

// One walk of the local tree by the workers, waiting until it and every copy
// it queued are done; returns how many directories it populated (or failed).
size_t Migrator::WalkPass() {
  populated_ = 0;
  std::unique_lock lock(mu_);
  dirs_.push_back("");
  cv_.notify_all();
  idle_cv_.wait(lock, [&] { return stopping_ || (dirs_.empty() && queue_.empty() && active_ == 0); });
  return populated_.load();
}

Status Migrator::Run() {
  auto log = GetLogger("migrator");
  tree_.SetPendingListener([this](const std::string& key) { Enqueue(key); });
  for (int i = 0; i < concurrency_; ++i) workers_.emplace_back([this] { Worker(); });
  int idle_passes = 0;
  while (!stopping_) {
    PK_ASSIGN_OR_RETURN(auto pending, tree_.ListPending());
    for (const auto& k : pending) Enqueue(k);
    uint64_t renames = tree_.dir_renames();
    size_t populated = WalkPass();
    if (stopping_) break;
    passes_++;
    PK_ASSIGN_OR_RETURN(pending, tree_.ListPending());
    // Files whose source vanished are reported and given up once nothing else is left.
    if (!pending.empty() && populated == 0 && renames == tree_.dir_renames() && tree_.failed_dirs() == 0 &&
        tree_.GiveUpVanished(pending) == 0) {
      pending.clear();
    }
    bool proven = populated == 0 && renames == tree_.dir_renames() && pending.empty() && tree_.failed_dirs() == 0;
    log->info("pass {}: {} directories populated, {} files pending, {} failed", passes_.load(), populated,
              pending.size(), tree_.failed().size());
    if (proven) return OkStatus();
    if (!pending.empty() || tree_.failed_dirs() > 0) {
      // Failures remain: wait longer after each fruitless pass (2 s .. 60 s).
      idle_passes++;
      auto delay = std::chrono::milliseconds(std::min(60000, 1000 << std::min(idle_passes, 6)));
      if (!SleepFor(delay)) break;
    } else {
      idle_passes = 0;
    }
  }
  return MakeError(ErrorCode::kCancelled, "migration stopped");
}

void Migrator::Estimate() {
  using nlohmann::json;
  if (auto text = tree_.ReadStateFile("estimate.json")) {
    auto j = json::parse(*text, nullptr, false);
    SourceEstimate saved{true, 0, 0, 0};
    JsonFields f(j, "estimate.json");
    f.Get("bytes", saved.bytes);
    f.Get("files", saved.files);
    f.Get("entries", saved.entries);
    if (f.Finish(JsonFields::Unknown::kIgnore)) {  // else estimated again
      std::lock_guard lock(mu_);
      estimate_ = saved;
      return;
    }
  }
  SourceEstimate e;
  std::unordered_set<std::string> seen;  // multiply-linked inodes counted once
  std::deque<std::string> dirs{""};
  while (!dirs.empty() && !stopping_) {
    std::string rel = std::move(dirs.front());
    dirs.pop_front();
    auto entries = tree_.source().List(rel);
    if (!entries) continue;  // the walk reports such errors; the estimate is an estimate
    for (const auto& en : *entries) {
      if (rel.empty() && ShadowTree::IsStateName(en.name)) continue;
      e.entries++;
      if (S_ISDIR(en.st.mode)) {
        dirs.push_back(JoinRel(rel, en.name));
      } else if (S_ISREG(en.st.mode) && (en.st.nlink <= 1 || seen.insert(en.st.key).second)) {
        e.files++;
        e.bytes += en.st.size;
      }
    }
  }
  if (stopping_) return;
  e.known = true;
  (void)tree_.WriteStateFile("estimate.json",
                             DumpJson(json{{"bytes", e.bytes}, {"files", e.files}, {"entries", e.entries}}));
  std::lock_guard lock(mu_);
  estimate_ = e;
}

SourceEstimate Migrator::estimate() const {
  std::lock_guard lock(mu_);
  return estimate_;
}

}  // namespace pk::migrate
