#include "migrate/bandwidth.h"

#include <algorithm>

namespace pk::migrate {

BandwidthLimiter::BandwidthLimiter(uint64_t bytes_per_second, Clock& clock)
    : rate_(bytes_per_second), clock_(clock), tokens_(static_cast<double>(bytes_per_second)), last_(clock.SteadyNow()) {}

std::chrono::nanoseconds BandwidthLimiter::Take(uint64_t bytes) {
  if (rate_ == 0 || bytes == 0) return std::chrono::nanoseconds(0);
  std::lock_guard lock(mu_);
  if (cancelled_) return std::chrono::nanoseconds(0);
  auto now = clock_.SteadyNow();
  double elapsed = std::chrono::duration<double>(now - last_).count();
  last_ = now;
  tokens_ = std::min(static_cast<double>(rate_), tokens_ + elapsed * static_cast<double>(rate_));
  tokens_ -= static_cast<double>(bytes);
  if (tokens_ >= 0) return std::chrono::nanoseconds(0);
  return std::chrono::nanoseconds(static_cast<int64_t>(-tokens_ / static_cast<double>(rate_) * 1e9));
}

void BandwidthLimiter::Acquire(uint64_t bytes) {
  auto wait = Take(bytes);
  if (wait.count() <= 0) return;
  const auto deadline = clock_.SteadyNow() + std::chrono::ceil<std::chrono::steady_clock::duration>(wait);
  std::unique_lock lock(mu_);
  while (!cancelled_ && clock_.SteadyNow() < deadline) clock_.WaitUntil(lock, cv_, deadline);
}

void BandwidthLimiter::Cancel() {
  std::lock_guard lock(mu_);
  cancelled_ = true;
  cv_.notify_all();
}

}  // namespace pk::migrate
