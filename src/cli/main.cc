// poolkeeper: the command-line client of poolkeeperd. Parses the command line
// (CLI11), calls the API, and prints JSON (--json) or aligned human output.
// Exit codes: 0 ok, 1 failure, 2 bad usage or invalid argument, 3 not found,
// 4 daemon unreachable. The commands live in one file per noun (cli.h).
#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/cli.h"

int main(int argc, char** argv) {
  using namespace pk::cli;
  CLI::App app{"poolkeeper: manage ZFS pools, datasets and snapshots through poolkeeperd"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "poolkeeper " PK_VERSION);
  Globals g;
  if (const char* env = std::getenv("POOLKEEPER_SOCKET")) g.socket = env;
  app.add_flag("--json", g.json, "print JSON instead of tables");
  app.add_option("--socket", g.socket, "poolkeeperd's API socket (env POOLKEEPER_SOCKET)");
  // --json may follow the subcommand too, as in `poolkeeper pool list --json`.
  std::vector<std::string> args(argv + 1, argv + argc);
  std::erase_if(args, [&](const std::string& s) { return s == "--json" && (g.json = true); });
  int rc = kExitOk;
  Cli cli(g);
  AddPoolCommands(app, cli, rc);
  AddDatasetCommands(app, cli, rc);
  AddSnapshotCommands(app, cli, rc);
  AddServiceCommands(app, cli, rc);
  AddResourceCommands(app, cli, rc);
  AddEventCommands(app, cli, rc);
  AddQuotaCommands(app, cli, rc);
  AddShareCommands(app, cli, rc);
  AddOcfCommands(app, cli, rc);
  AddClusterCommands(app, cli, rc);
  AddMigrateCommands(app, cli, rc);
  AddHardwareDiskCommands(app, cli, rc);
  std::reverse(args.begin(), args.end());  // CLI11's vector form takes arguments in reverse
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  return rc;
}
