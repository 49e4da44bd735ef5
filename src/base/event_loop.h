// pk::EventLoop: one thread that owns some state, tasks posted to it, timers
// on the injected clock, and worker threads for long work (a tool run) that
// post their outcome back (issue 19 item 2; the shape of SerenityOS's
// Core::EventLoop and Envoy's Dispatcher: post, timers, and nothing blocking
// on the loop thread). Used by supervisor::Supervisor, inventory::Inventory
// and quota::Watcher instead of a thread, condition variable and stop flag each.
//
// Thread-safety: Post, PostAt, PostAfter, Call and Spawn may be called from
// any thread (Call not from the loop thread); tasks run on the loop thread in
// the order posted, timers when the clock reaches them. Stop() from any
// thread but the loop's.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "base/clock.h"
#include "base/error.h"

namespace pk {

class EventLoop {
 public:
  explicit EventLoop(Clock& clock = RealClock()) : clock_(clock) {}
  ~EventLoop() { Stop(); }
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Starts the loop thread. Tasks posted before run first.
  void Start();
  // Stops the loop: tasks already posted still run (on the loop thread, or on
  // the caller's when the loop never started), pending timers are dropped,
  // workers are joined (their posts are refused from here on). Idempotent.
  void Stop();

  // Runs `task` on the loop thread. False (task dropped) once Stop() began.
  bool Post(std::function<void()> task);
  // Runs `task` on the loop thread once the clock's SteadyNow() reaches `at`.
  bool PostAt(std::chrono::steady_clock::time_point at, std::function<void()> task);
  bool PostAfter(std::chrono::milliseconds delay, std::function<void()> task) {
    return PostAt(clock_.SteadyNow() + delay, std::move(task));
  }
  // Runs `fn` on the loop thread and returns its result. Once Stop() began it
  // answers Unavailable (T a Result or Status) or T{} without running `fn`.
  template <typename T>
  T Call(std::function<T()> fn);
  // Runs `work` on a worker thread of its own; joined by Stop() (finished
  // workers are joined as new ones start). False once Stop() began.
  bool Spawn(std::function<void()> work);

  Clock& clock() const { return clock_; }

 private:
  struct Timer {
    std::chrono::steady_clock::time_point at;
    std::function<void()> task;
  };
  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  void Run();

  Clock& clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;  // guarded by mu_
  std::vector<Timer> timers_;                // guarded by mu_
  std::vector<Worker> workers_;              // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::thread loop_;
};

template <typename T>
T EventLoop::Call(std::function<T()> fn) {
  auto promise = std::make_shared<std::promise<T>>();
  auto future = promise->get_future();
  if (!Post([promise, fn = std::move(fn)] { promise->set_value(fn()); })) {
    // The loop may be gone: answer here instead of waiting for ever.
    if constexpr (std::is_constructible_v<T, std::unexpected<Error>>) {
      return T(std::unexpected(Error(ErrorCode::kUnavailable, "the daemon is stopping")));
    } else {
      return T{};
    }
  }
  return future.get();
}

}  // namespace pk
