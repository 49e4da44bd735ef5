#include "migrate/bandwidth.h"


namespace pk::migrate {

BandwidthLimiter::BandwidthLimiter(uint64_t bytes_per_second, Clock clock, Sleep sleep)
    : rate_(bytes_per_second),
      clock_(clock ? std::move(clock) : Clock([] { return std::chrono::steady_clock::now(); })),
      sleep_(sleep ? std::move(sleep) : Sleep([this](std::chrono::nanoseconds d) {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, d, [this] { return cancelled_; });
      })),
      tokens_(static_cast<double>(bytes_per_second)),
      last_(clock_()) {}

void BandwidthLimiter::Acquire(uint64_t bytes) {
  if (rate_ == 0 || bytes == 0) return;
  std::chrono::nanoseconds wait{0};
  {
    std::lock_guard lock(mu_);
    if (cancelled_) return;
    auto now = clock_();
    double elapsed = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    tokens_ = std::min(static_cast<double>(rate_), tokens_ + elapsed * static_cast<double>(rate_));
    // Take the bytes now (possibly going negative); the debt is paid by waiting,
    // so concurrent callers queue up behind it in order.
    tokens_ -= static_cast<double>(bytes);
    if (tokens_ < 0) {
      wait = std::chrono::nanoseconds(static_cast<int64_t>(-tokens_ / static_cast<double>(rate_) * 1e9));
    }
  }
  if (wait.count() > 0) sleep_(wait);
}

void BandwidthLimiter::Cancel() {
  std::lock_guard lock(mu_);
  cancelled_ = true;
  cv_.notify_all();
}

}  // namespace pk::migrate
