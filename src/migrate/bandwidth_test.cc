#include "migrate/bandwidth.h"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "testing/fake_clock.h"

namespace pk::migrate {
namespace {

using namespace std::chrono_literals;

double Seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

// Takes `bytes` and lets the fake time run for the wait the limiter asked for.
std::chrono::nanoseconds TakeAndWait(BandwidthLimiter& l, testing::FakeClock& clock, uint64_t bytes) {
  auto wait = l.Take(bytes);
  clock.Advance(std::chrono::ceil<std::chrono::milliseconds>(wait));
  return wait;
}

TEST(BandwidthLimiter, UnlimitedNeverWaits) {
  testing::FakeClock clock;
  BandwidthLimiter l(0, clock);
  EXPECT_EQ(l.Take(1ull << 40).count(), 0);
  l.Acquire(1ull << 40);  // returns without the clock moving
}

TEST(BandwidthLimiter, HoldsTheRateOverTime) {
  testing::FakeClock clock;
  BandwidthLimiter l(1'000'000, clock);
  // The first second's worth is in the bucket; 10 MB more need ~10 s.
  std::chrono::nanoseconds waited{0};
  for (int i = 0; i < 11; ++i) waited += TakeAndWait(l, clock, 1'000'000);
  EXPECT_NEAR(Seconds(waited), 10.0, 0.01);
}

TEST(BandwidthLimiter, IdleTimeAllowsAtMostOneSecondBurst) {
  testing::FakeClock clock;
  BandwidthLimiter l(1000, clock);
  EXPECT_EQ(TakeAndWait(l, clock, 1000).count(), 0);
  clock.Advance(100s);  // idle
  EXPECT_EQ(TakeAndWait(l, clock, 1000).count(), 0);
  EXPECT_NEAR(Seconds(l.Take(500)), 0.5, 0.001);
}

// Issue 19 item 4: the limiter waits on the injected clock (it used to take
// its own clock and sleep functions): Acquire returns once the fake time
// passed the debt, and no real time is needed for it.
TEST(BandwidthLimiter, AcquireWaitsOnTheInjectedClock) {
  testing::FakeClock clock;
  BandwidthLimiter l(1000, clock);
  l.Acquire(1000);  // the bucket's second
  std::atomic<bool> done = false;
  std::thread t([&] {
    l.Acquire(2000);  // 2 s of debt
    done = true;
  });
  // Until the fake time passed the debt it stays blocked, however long it is
  // really waited for; then the advances wake it.
  while (!done) clock.Advance(100ms);
  t.join();
  EXPECT_GE(clock.SteadyNow() - std::chrono::steady_clock::time_point{}, 2s);
}

TEST(BandwidthLimiter, CancelWakesAWaiter) {
  testing::FakeClock clock;
  BandwidthLimiter l(1000, clock);
  l.Acquire(1000);
  std::thread t([&] { l.Acquire(1'000'000); });  // 1000 s of debt on a clock that stands still
  l.Cancel();
  t.join();
  EXPECT_EQ(clock.SteadyNow(), std::chrono::steady_clock::time_point{});
  l.Acquire(1'000'000);  // cancelled: returns at once
}

}  // namespace
}  // namespace pk::migrate
