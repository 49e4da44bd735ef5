#include "share/backend.h"

namespace pk::share {

Status ServeAgain(Backend& backend, const std::vector<Share>& last, const std::function<bool()>& running,
                  std::string not_running) {
  std::vector<Share> desired = last;  // Reconcile replaces `last`
  auto results = backend.Reconcile(desired);
  if (running()) return OkStatus();
  for (const auto& r : results) {
    if (!r.status) return std::unexpected(r.status.error());
  }
  return Unavailable(std::move(not_running));
}

}  // namespace pk::share
