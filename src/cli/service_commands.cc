// `poolkeeper service ...` (pool services: the supervisor's view of a managed
// pool) and `poolkeeper resource ...` (exec resources ordered around pools).
#include <optional>

#include "cli/cli.h"
#include "cli/render.h"

namespace pk::cli {
namespace {

std::string ServiceTable(const json& j) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : j["services"]) {
    rows.push_back({s.value("resource", ""), s.value("state", ""), s.value("since", ""), s.value("reason", "")});
  }
  if (rows.empty()) return "no managed pools ('poolkeeper service enable POOL' to add one)\n";
  return RenderTable({"RESOURCE", "STATE", "SINCE", "REASON"}, rows);
}

}  // namespace

void AddServiceCommands(CLI::App& app, Cli& cli, int& rc) {
  struct ServiceOptions {
    std::string pool, cachefile, altroot, force;
    std::vector<std::string> dirs, after;
    bool readonly = false;
    std::optional<int> import_timeout, mount_timeout, export_timeout, mount_parallelism, delay;
  };
  auto& o = cli.Options<ServiceOptions>();
  auto* svc = app.add_subcommand("service", "pool services: list, status, enable, disable, start, stop, restart")
                  ->require_subcommand(1);
  svc->add_subcommand("list", "every managed pool with its state and reason")->callback([&] {
    rc = cli.Request("GET", "/v1/services", ServiceTable);
  });
  auto* status = svc->add_subcommand("status", "one pool service: state, reason, policy");
  status->add_option("pool", o.pool, "pool name")->required();
  status->callback([&] { rc = cli.Request("GET", "/v1/services/" + Seg(o.pool), ServiceView); });

  auto* enable = svc->add_subcommand("enable", "manage a pool: import it now and at every start, with this policy");
  enable->add_option("pool", o.pool, "pool name")->required();
  enable->add_option("-d,--dir", o.dirs, "search directory for the import (repeatable)")->allow_extra_args(false);
  enable->add_option("--cachefile", o.cachefile, "none (default) or an absolute path of the pool's own");
  enable->add_option("-R,--altroot", o.altroot, "alternate root");
  enable->add_flag("--readonly", o.readonly, "import read-only");
  enable->add_option("--force", o.force, "never (default) or if-fenced");
  enable->add_option("--import-timeout", o.import_timeout, "seconds before a hanging import is killed");
  enable->add_option("--mount-timeout", o.mount_timeout, "seconds per filesystem mount");
  enable->add_option("--export-timeout", o.export_timeout, "seconds before a hanging export is killed");
  enable->add_option("--mount-parallelism", o.mount_parallelism, "filesystems mounted at once");
  enable->add_option("--after", o.after, "start after this resource, e.g. pool:tank (repeatable)")->allow_extra_args(false);
  enable->add_option("--delay", o.delay, "seconds to wait before importing");
  enable->callback([&] {
    json body = json::object();
    if (!o.dirs.empty()) body["search_dirs"] = o.dirs;
    if (!o.cachefile.empty()) body["cachefile"] = o.cachefile;
    if (!o.altroot.empty()) body["altroot"] = o.altroot;
    if (o.readonly) body["read_only"] = true;
    if (!o.force.empty()) body["force"] = o.force;
    if (o.import_timeout) body["import_timeout_seconds"] = *o.import_timeout;
    if (o.mount_timeout) body["mount_timeout_seconds"] = *o.mount_timeout;
    if (o.export_timeout) body["export_timeout_seconds"] = *o.export_timeout;
    if (o.mount_parallelism) body["mount_parallelism"] = *o.mount_parallelism;
    if (!o.after.empty()) body["after"] = o.after;
    if (o.delay) body["delay_seconds"] = *o.delay;
    rc = cli.Request("POST", "/v1/services/" + Seg(o.pool) + "?action=enable", ServiceView, body);
  });
  for (const char* verb : {"disable", "start", "stop", "restart"}) {
    auto* cmd = svc->add_subcommand(verb, fmt::format("{} a pool service", verb));
    cmd->add_option("pool", o.pool, "pool name")->required();
    cmd->callback([&, verb = std::string(verb)] {
      rc = cli.Request("POST", "/v1/services/" + Seg(o.pool) + "?action=" + verb, ServiceView);
    });
  }
}

void AddResourceCommands(CLI::App& app, Cli& cli, int& rc) {
  struct ResourceOptions {
    std::string name;
    std::vector<std::string> start, stop, check, after;
    std::optional<int> timeout;
  };
  auto& o = cli.Options<ResourceOptions>();
  auto* res = app.add_subcommand("resource", "exec resources: programs started after (and stopped before) pools")
                  ->require_subcommand(1);
  res->add_subcommand("list", "exec resources with their state")->callback([&] {
    rc = cli.Request("GET", "/v1/resources", [](const json& j) {
      return ServiceTable(json{{"services", j["resources"]}});
    });
  });
  auto* add = res->add_subcommand("add", "add (or update) and start an exec resource");
  add->add_option("name", o.name, "resource name (letters, digits, _-.)")->required();
  add->add_option("--start", o.start, "start command, one argument per --start (argv[0] absolute)")
      ->required()->allow_extra_args(false);
  add->add_option("--stop", o.stop, "stop command, one argument per --stop")->allow_extra_args(false);
  add->add_option("--check", o.check, "check command, one argument per --check")->allow_extra_args(false);
  add->add_option("--after", o.after, "start after this resource, e.g. pool:tank (repeatable)")->allow_extra_args(false);
  add->add_option("--timeout", o.timeout, "seconds each command may run");
  add->callback([&] {
    json body = {{"name", o.name}, {"start", o.start}, {"stop", o.stop}, {"check", o.check}, {"after", o.after}};
    if (o.timeout) body["timeout_seconds"] = *o.timeout;
    rc = cli.Request("POST", "/v1/resources", ServiceView, body);
  });
  for (const char* verb : {"start", "stop", "remove"}) {
    auto* cmd = res->add_subcommand(verb, fmt::format("{} an exec resource", verb));
    cmd->add_option("name", o.name, "resource name")->required();
    cmd->callback([&, verb = std::string(verb)] {
      if (verb == "remove") {
        rc = cli.Request("DELETE", "/v1/resources/" + Seg(o.name),
                         [](const json& j) { return fmt::format("removed {}\n", j.value("removed", "")); });
      } else {
        rc = cli.Request("POST", "/v1/resources/" + Seg(o.name) + "?action=" + verb, ServiceView);
      }
    });
  }
}

}  // namespace pk::cli
