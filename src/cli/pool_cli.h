// What the `poolkeeper pool` command files share: the storage-profile options
// of `pool create|plan|add` and the registration of `pool plan` and the verbs
// on a pool's disks (pool_disk_commands.cc).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cli/cli.h"

namespace pk::cli {

struct ProfileOptions {
  std::string profile;
  bool nspf = false;
  std::optional<int> spares, log_devices, cache_devices, width;
  std::vector<std::string> enclosures;
};

// --profile, --nspf, --spares, --log, --cache, --width, -e/--enclosure.
void AddProfileOptions(CLI::App& cmd, ProfileOptions& p);

// The body of POST /v1/pool-plans (and the plan part of pool create|add):
// `disks` and the options; InvalidArgument for an --enclosure not DISK=ENCLOSURE.
Result<json> PlanBody(const std::vector<std::string>& disks, const ProfileOptions& p);

// `pool plan`.
void AddPoolPlanCommand(CLI::App& pool, Cli& cli, int& rc);
// `pool replace|attach|detach|online|offline|add|remove|scrub` (issue 20 item 1).
void AddPoolDiskCommands(CLI::App& pool, Cli& cli, int& rc);

}  // namespace pk::cli
