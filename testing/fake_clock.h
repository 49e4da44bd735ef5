// FakeClock: a pk::Clock for unit tests (issue 19 item 4). Time stands still
// until Advance(); SleepFor() advances it instead of sleeping (and records
// the sleep), and WaitUntil() wakes when Advance() moves time past the
// deadline. So a test of a 10-second period runs in microseconds and asserts
// on what happened at each step, never on real sleeps.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "base/clock.h"

namespace pk::testing {

class FakeClock final : public Clock {
 public:
  // Starts at a fixed wall-clock time, so event times in tests are stable.
  explicit FakeClock(std::chrono::system_clock::time_point start =
                         std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000)))
      : wall_(start) {}

  std::chrono::system_clock::time_point Now() const override {
    std::lock_guard lock(mu_);
    return wall_;
  }
  std::chrono::steady_clock::time_point SteadyNow() const override {
    std::lock_guard lock(mu_);
    return steady_;
  }
  void SleepFor(std::chrono::milliseconds duration) override {
    {
      std::lock_guard lock(mu_);
      sleeps_.push_back(duration);
    }
    Advance(duration);
  }
  void WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 std::chrono::steady_clock::time_point deadline) override {
    {
      std::lock_guard guard(mu_);
      if (steady_ >= deadline) return;
      waiting_.push_back(&cv);
    }
    // Advance() notifies `cv`; the short real wait only covers a notification
    // sent between the check above and this wait (it costs latency, never a timer).
    cv.wait_for(lock, std::chrono::milliseconds(2));
    std::lock_guard guard(mu_);
    waiting_.erase(std::find(waiting_.begin(), waiting_.end(), &cv));
  }

  // Moves both clocks forward and wakes every waiter.
  void Advance(std::chrono::milliseconds duration) {
    // Notified under mu_: a waiter unregisters under it too, so no cv is
    // notified after its owner returned from WaitUntil.
    std::lock_guard lock(mu_);
    wall_ += duration;
    steady_ += duration;
    for (auto* cv : waiting_) cv->notify_all();
  }
  // Steps the wall clock alone (NTP), as a frozen or stepped wall clock must not move deadlines.
  void SetWall(std::chrono::system_clock::time_point wall) {
    std::lock_guard lock(mu_);
    wall_ = wall;
  }
  std::vector<std::chrono::milliseconds> sleeps() const {
    std::lock_guard lock(mu_);
    return sleeps_;
  }

 private:
  mutable std::mutex mu_;
  std::chrono::system_clock::time_point wall_;              // guarded by mu_
  std::chrono::steady_clock::time_point steady_{};          // guarded by mu_
  std::vector<std::condition_variable*> waiting_;           // guarded by mu_
  std::vector<std::chrono::milliseconds> sleeps_;           // guarded by mu_
};

}  // namespace pk::testing
