#include "migrate/bandwidth.h"

#include <gtest/gtest.h>

namespace pk::migrate {
namespace {

using namespace std::chrono_literals;

struct FakeTime {
  std::chrono::steady_clock::time_point now{};
  std::chrono::nanoseconds slept{0};
  BandwidthLimiter::Clock clock() {
    return [this] { return now; };
  }
  BandwidthLimiter::Sleep sleep() {
    return [this](std::chrono::nanoseconds d) {
      slept += d;
      now += d;
    };
  }
};

TEST(BandwidthLimiter, UnlimitedNeverWaits) {
  FakeTime t;
  BandwidthLimiter l(0, t.clock(), t.sleep());
  l.Acquire(1ull << 40);
  EXPECT_EQ(t.slept.count(), 0);
}

TEST(BandwidthLimiter, HoldsTheRateOverTime) {
  FakeTime t;
  BandwidthLimiter l(1'000'000, t.clock(), t.sleep());
  // The first second's worth is in the bucket; 10 MB more need ~10 s.
  for (int i = 0; i < 11; ++i) l.Acquire(1'000'000);
  EXPECT_NEAR(std::chrono::duration<double>(t.slept).count(), 10.0, 0.01);
}

TEST(BandwidthLimiter, IdleTimeAllowsAtMostOneSecondBurst) {
  FakeTime t;
  BandwidthLimiter l(1000, t.clock(), t.sleep());
  l.Acquire(1000);
  t.now += 100s;  // idle
  l.Acquire(1000);
  EXPECT_EQ(t.slept.count(), 0);
  l.Acquire(500);
  EXPECT_NEAR(std::chrono::duration<double>(t.slept).count(), 0.5, 0.001);
}

}  // namespace
}  // namespace pk::migrate
