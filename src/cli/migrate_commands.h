// `poolkeeper migrate start|status|list|cancel`: shadow migration (issue 6).
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace pk::cli {

// Adds the commands to `app`. `socket` and `json` are read when a command
// runs (after parsing); the command's exit code goes to `rc`.
void AddMigrateCommands(CLI::App& app, const std::string& socket, const bool& json, int& rc);

}  // namespace pk::cli
