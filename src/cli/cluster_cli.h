// The plumbing the `poolkeeper cluster` command files share: building a
// cluster::ClusterAdmin over the real runner, files and head, and printing
// what a command changed (or its error).
#pragma once

#include <functional>

#include "cli/cli.h"
#include "cluster/admin.h"

namespace pk::cli {

struct ClusterCliOptions {
  int wait_seconds = 120;
};

// Runs `command` with a real ClusterAdmin; prints each change (or, with
// --json, {"changes": [...]}) and sets rc.
void RunClusterAdmin(const Globals& g, const ClusterCliOptions& o, int& rc,
                     const std::function<Result<cluster::Changes>(cluster::ClusterAdmin&)>& command);

// `cluster pool add|remove` (cluster_pool_commands.cc).
void AddClusterPoolCommands(CLI::App& cluster, Cli& cli, const ClusterCliOptions& o, int& rc);

}  // namespace pk::cli
