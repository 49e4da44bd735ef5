#include "base/event_loop.h"

#include <algorithm>

namespace pk {

void EventLoop::Start() {
  std::lock_guard lock(mu_);
  if (stopping_ || loop_.joinable()) return;
  loop_ = std::thread([this] { Run(); });
}

bool EventLoop::Post(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    tasks_.push_back(std::move(task));
  }
  cv_.notify_all();
  return true;
}

bool EventLoop::PostAt(std::chrono::steady_clock::time_point at, std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    timers_.push_back({at, std::move(task)});
  }
  cv_.notify_all();
  return true;
}

bool EventLoop::Spawn(std::function<void()> work) {
  std::lock_guard lock(mu_);
  if (stopping_) return false;
  // Join the workers that have finished, so a long-running daemon does not
  // accumulate thread handles (one health check every period).
  std::erase_if(workers_, [](Worker& w) {
    if (!w.done->load()) return false;
    w.thread.join();
    return true;
  });
  auto done = std::make_shared<std::atomic<bool>>(false);
  workers_.push_back({std::thread([work = std::move(work), done] {
                        work();
                        done->store(true);
                      }),
                      done});
  return true;
}

void EventLoop::Run() {
  std::unique_lock lock(mu_);
  while (true) {
    auto now = clock_.SteadyNow();
    std::vector<std::function<void()>> due;
    // Timers in the order of their time (then of posting): a shared
    // deadline keeps the order tasks were asked for.
    std::stable_sort(timers_.begin(), timers_.end(), [](const Timer& a, const Timer& b) { return a.at < b.at; });
    while (!timers_.empty() && timers_.front().at <= now) {
      due.push_back(std::move(timers_.front().task));
      timers_.erase(timers_.begin());
    }
    while (!tasks_.empty()) {
      due.push_back(std::move(tasks_.front()));
      tasks_.pop_front();
    }
    if (!due.empty()) {
      lock.unlock();
      for (auto& task : due) task();
      lock.lock();
      continue;
    }
    if (stopping_) return;
    if (timers_.empty()) {
      cv_.wait(lock);
    } else {
      clock_.WaitUntil(lock, cv_, timers_.front().at);
    }
  }
}

void EventLoop::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (loop_.joinable()) loop_.join();
  // Tasks posted before Start() (or with no Start()) never met a loop: run
  // them here, or their callers would wait for ever. The loop is gone, so
  // this thread owns the state now.
  std::deque<std::function<void()>> leftover;
  std::vector<Worker> workers;
  {
    std::lock_guard lock(mu_);
    leftover.swap(tasks_);
    timers_.clear();
  }
  for (auto& task : leftover) task();
  {
    std::lock_guard lock(mu_);
    workers.swap(workers_);
  }
  for (auto& w : workers) w.thread.join();
}

}  // namespace pk
