// migrate::Migrator: the background walk of one shadow migration.
//
// Run() repeats passes until one proves completion: a walk of the local tree
// populates every directory still carrying a marker and queues its pending
// files. `concurrency` workers share the walk (directories) and the copies
// (pending files) under one bandwidth limit. Without a limit the walk creates
// small files with their data (ShadowTree::Fill::kWithData), so most files
// cost one creation instead of a placeholder plus a copy; with a limit it
// creates placeholders only, so the namespace is complete soon while the data
// trickles in. A pass proves completion when it populated no
// directory, no directory was renamed while it ran (a rename can move an
// unvisited directory behind the walk), pending/ is empty and no directory
// failed. Failed entries are retried with a growing delay. Everything it
// knows is in the dataset (ShadowTree), so a new Run() after any
// interruption resumes where the last one stopped.
//
// Also computes the source's size once (estimate.json) for "bytes remaining".
//
// Thread-safety: Run() on one thread; Stop() and Estimate() from any.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "migrate/bandwidth.h"
#include "migrate/shadow_tree.h"

namespace pk::migrate {

struct SourceEstimate {
  bool known = false;
  uint64_t bytes = 0;  // regular files, each inode once
  uint64_t files = 0;
  uint64_t entries = 0;
};

class Migrator {
 public:
  Migrator(ShadowTree& tree, int concurrency, uint64_t bwlimit);
  ~Migrator();

  // Returns OK once complete, Cancelled when stopped.
  Status Run();
  void Stop();

  // Loads estimate.json, or walks the source once and writes it.
  void Estimate();
  SourceEstimate estimate() const;
  int passes() const { return passes_.load(); }

 private:
  void Enqueue(const std::string& key);
  void Worker();
  void VisitDir(const std::string& rel);
  size_t WalkPass();
  bool SleepFor(std::chrono::milliseconds d);

  ShadowTree& tree_;
  int concurrency_;
  BandwidthLimiter limiter_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> passes_{0};
  std::atomic<size_t> populated_{0};  // directories populated (or failed) in this pass
  const ShadowTree::Fill fill_;

  mutable std::mutex mu_;
  std::condition_variable cv_;       // work queued, or stopping
  std::condition_variable idle_cv_;  // queue drained
  std::deque<std::string> dirs_;     // directories to visit; guarded by mu_
  std::deque<std::string> queue_;    // pending keys to copy; guarded by mu_
  std::set<std::string> queued_;     // guarded by mu_
  int active_ = 0;                   // guarded by mu_
  SourceEstimate estimate_;          // guarded by mu_
  std::vector<std::thread> workers_;
};

}  // namespace pk::migrate
