// pk::Clock: the one way time is read and waited for (issue 19 item 4). Real
// code uses RealClock(); unit tests pass testing::FakeClock, whose time moves
// only when the test says, so no test asserts on real sleeps.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace pk {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time: for display, events and records, never for deadlines.
  virtual std::chrono::system_clock::time_point Now() const = 0;
  // Monotonic time: for deadlines, delays and periods.
  virtual std::chrono::steady_clock::time_point SteadyNow() const = 0;
  virtual void SleepFor(std::chrono::milliseconds duration) = 0;
  // Waits on `cv` (with `lock` held on entry and on return) until it is
  // notified or SteadyNow() reaches `deadline`. It may return early: callers
  // check their condition and the time again.
  virtual void WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                         std::chrono::steady_clock::time_point deadline) = 0;
};

// The system's clocks (std::chrono), shared by the whole process.
Clock& RealClock();

}  // namespace pk
