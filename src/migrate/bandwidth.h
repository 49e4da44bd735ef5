// migrate::BandwidthLimiter: a token bucket shared by the background copy
// workers (the FUSE layer's on-demand copies are never throttled: a client
// is waiting). The clock is injected so tests do not sleep.
//
// Thread-safety: Acquire() may be called from several threads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>

namespace pk::migrate {

class BandwidthLimiter {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  using Sleep = std::function<void(std::chrono::nanoseconds)>;

  // `bytes_per_second` 0 means unlimited. The bucket holds at most one
  // second's worth, so an idle period does not allow a burst beyond that.
  explicit BandwidthLimiter(uint64_t bytes_per_second, Clock clock = nullptr, Sleep sleep = nullptr);

  // Blocks until `bytes` may be transferred, or Cancel().
  void Acquire(uint64_t bytes);
  // Wakes every waiter now and makes later Acquire() calls return at once.
  void Cancel();

  uint64_t rate() const { return rate_; }

 private:
  uint64_t rate_;
  Clock clock_;
  Sleep sleep_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool cancelled_ = false;                         // guarded by mu_
  double tokens_;                                  // guarded by mu_
  std::chrono::steady_clock::time_point last_;     // guarded by mu_
};

}  // namespace pk::migrate
