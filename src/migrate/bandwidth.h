// migrate::BandwidthLimiter: a token bucket shared by the background copy
// workers (the FUSE layer's on-demand copies are never throttled: a client
// is waiting). Time comes from a pk::Clock (tests: testing::FakeClock).
//
// Thread-safety: Take(), Acquire() and Cancel() may be called from several threads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "base/clock.h"

namespace pk::migrate {

class BandwidthLimiter {
 public:
  // `bytes_per_second` 0 means unlimited. The bucket holds at most one
  // second's worth, so an idle period does not allow a burst beyond that.
  explicit BandwidthLimiter(uint64_t bytes_per_second, Clock& clock = RealClock());

  // Takes `bytes` from the bucket now (it may go into debt) and returns how
  // long the caller must wait before transferring them: zero within budget.
  // The debt is paid by waiting, so concurrent callers queue up in order.
  std::chrono::nanoseconds Take(uint64_t bytes);
  // Take(), then blocks until that wait is over on the clock, or Cancel().
  void Acquire(uint64_t bytes);
  // Wakes every waiter now and makes later Acquire() calls return at once.
  void Cancel();

  uint64_t rate() const { return rate_; }

 private:
  uint64_t rate_;
  Clock& clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool cancelled_ = false;                         // guarded by mu_
  double tokens_;                                  // guarded by mu_
  std::chrono::steady_clock::time_point last_;     // guarded by mu_
};

}  // namespace pk::migrate
