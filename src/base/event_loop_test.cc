#include "base/event_loop.h"

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "testing/fake_clock.h"

namespace pk {
namespace {

using namespace std::chrono_literals;

TEST(EventLoopTest, TasksRunInOrderOnTheLoopThread) {
  EventLoop loop;
  loop.Start();
  std::vector<int> seen;
  std::thread::id loop_thread;
  for (int i = 0; i < 5; ++i) loop.Post([&seen, i] { seen.push_back(i); });
  int n = loop.Call<int>([&] {
    loop_thread = std::this_thread::get_id();
    return static_cast<int>(seen.size());
  });
  EXPECT_EQ(n, 5);
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_NE(loop_thread, std::this_thread::get_id());
}

TEST(EventLoopTest, TimersFireWhenTheClockReachesThemInTimeOrder) {
  testing::FakeClock clock;
  EventLoop loop(clock);
  loop.Start();
  std::vector<std::string> fired;
  auto seen = [&] { return loop.Call<std::vector<std::string>>([&] { return fired; }); };
  loop.PostAfter(10s, [&] { fired.push_back("10s"); });
  loop.PostAfter(5s, [&] { fired.push_back("5s"); });
  loop.PostAfter(5s, [&] { fired.push_back("5s second"); });
  EXPECT_TRUE(seen().empty());
  clock.Advance(4s);
  EXPECT_TRUE(seen().empty()) << "no timer before its time";
  clock.Advance(1s);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (seen().size() < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(seen(), (std::vector<std::string>{"5s", "5s second"}));
  clock.Advance(5s);
  while (seen().size() < 3 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(seen(), (std::vector<std::string>{"5s", "5s second", "10s"}));
}

TEST(EventLoopTest, StopRunsWhatWasPostedJoinsWorkersAndRefusesMore) {
  EventLoop loop;
  std::atomic<int> ran{0};
  loop.Post([&] { ++ran; });  // before Start: run by Stop on this thread
  std::atomic<bool> worker_done{false};
  ASSERT_TRUE(loop.Spawn([&] {
    std::this_thread::sleep_for(20ms);
    worker_done = true;
  }));
  loop.PostAfter(1h, [&] { ran += 100; });
  loop.Stop();
  EXPECT_EQ(ran.load(), 1) << "posted tasks run, timers not yet due are dropped";
  EXPECT_TRUE(worker_done.load()) << "Stop joins the workers";
  EXPECT_FALSE(loop.Post([] {}));
  EXPECT_FALSE(loop.Spawn([] {}));
  auto answer = loop.Call<Status>([] { return OkStatus(); });
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().code(), ErrorCode::kUnavailable);
}

TEST(FakeClockTest, SleepAdvancesTimeAndIsRecorded) {
  testing::FakeClock clock;
  auto wall = clock.Now();
  auto steady = clock.SteadyNow();
  clock.SleepFor(3s);
  EXPECT_EQ(clock.Now() - wall, 3s);
  EXPECT_EQ(clock.SteadyNow() - steady, 3s);
  EXPECT_EQ(clock.sleeps(), (std::vector<std::chrono::milliseconds>{3s}));
}

}  // namespace
}  // namespace pk
