#include "tests/e2e/lab.h"

#include <filesystem>

namespace pk::e2e {

Status Lab::Open(const std::string& tag, bool needs_source) {
  lab_ = EnvOr("PK_LAB_DIR", "/var/tmp/poolkeeper-lab");
  build_ = EnvOr("PK_BUILD_DIR", "");
  source_ = EnvOr("PK_SOURCE_DIR", "");
  if (build_.empty()) return FailedPrecondition("PK_BUILD_DIR is not set (run through ctest)");
  if (needs_source && source_.empty()) return FailedPrecondition("PK_SOURCE_DIR is not set (run through ctest)");
  PK_ASSIGN_OR_RETURN(work_, MakeWorkDir(lab_, tag));
  options_ = SuiteDaemonOptions(build_, work_);
  return OkStatus();
}

Result<LabPool> Lab::CreatePool(const std::string& name, off_t bytes) {
  LabPool pool;
  auto created = CreateLabPool(*runner_, lab_, name, &pool, bytes);
  pools_.push_back(pool);  // whatever was made is cleaned by Close()
  if (!created) return std::unexpected(created.error());
  return pool;
}

void Lab::Close() {
  daemon_.Stop();
  for (auto it = pools_.rbegin(); it != pools_.rend(); ++it) {
    if (!PoolImported(*runner_, it->name) && std::filesystem::exists(it->disk)) {
      // Exported by a test that then failed: bring it back to destroy it.
      (void)runner_->Run(ZfsTool("zpool", {"import", "-d", it->disk_dir, it->name}));
    }
    if (auto gone = DestroyLabPool(*runner_, *it); !gone) ADD_FAILURE() << gone.error().message();
  }
  pools_.clear();
  KeepWorkIfFailed(work_, options_.log_path);
  work_.clear();
}

}  // namespace pk::e2e
