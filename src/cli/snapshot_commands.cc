// `poolkeeper snapshot create|list|destroy|rollback`; `snapshot policy` is in
// protect_commands.cc.
#include <ctime>

#include "cli/cli.h"
#include "cli/render.h"

namespace pk::cli {
namespace {

// Epoch seconds ("1795316338") as local time, like `zfs list -o creation`.
std::string LocalTime(const std::string& epoch) {
  char* end = nullptr;
  long long v = std::strtoll(epoch.c_str(), &end, 10);
  if (epoch.empty() || *end != '\0') return epoch;
  std::time_t t = static_cast<std::time_t>(v);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a %b %e %H:%M %Y", &tm);
  return buf;
}

std::string SnapshotTable(const json& j) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : j["snapshots"]) {
    rows.push_back({d["name"], HumanSize(Prop(d, "used")), HumanSize(Prop(d, "referenced")), LocalTime(Prop(d, "creation"))});
  }
  if (rows.empty()) return "no snapshots\n";
  return RenderTable({"NAME", "USED", "REFER", "CREATION"}, rows);
}

}  // namespace

void AddSnapshotCommands(CLI::App& app, Cli& cli, int& rc) {
  struct SnapshotOptions {
    std::string name, dataset;
    bool recursive = false, destroy_newer = false;
  };
  auto& o = cli.Options<SnapshotOptions>();
  auto* snap = app.add_subcommand("snapshot", "snapshots: create, list, destroy, rollback, policy (schedules)")->require_subcommand(1);

  auto* create = snap->add_subcommand("create", "create DATASET@SNAPSHOT");
  create->add_option("snapshot", o.name, "DATASET@SNAPSHOT")->required();
  create->add_flag("-r,--recursive", o.recursive, "of descendants too");
  create->callback([&] {
    rc = cli.Request("POST", "/v1/snapshots", Done("created snapshot"), {{"name", o.name}, {"recursive", o.recursive}});
  });

  auto* list = snap->add_subcommand("list", "list snapshots");
  list->add_option("dataset", o.dataset, "only of this dataset");
  list->add_flag("-r,--recursive", o.recursive, "and of its descendants");
  list->callback([&] {
    std::string q = "?recursive=" + std::string(o.recursive || o.dataset.empty() ? "true" : "false");
    if (!o.dataset.empty()) q += "&dataset=" + Seg(o.dataset);
    rc = cli.Request("GET", "/v1/snapshots" + q, SnapshotTable);
  });

  auto* destroy = snap->add_subcommand("destroy", "destroy a snapshot");
  destroy->add_option("snapshot", o.name, "DATASET@SNAPSHOT")->required();
  destroy->add_flag("-r,--recursive", o.recursive, "same-named snapshots of descendants too");
  destroy->callback([&] {
    rc = cli.Request("DELETE", "/v1/snapshots/" + Seg(o.name) + (o.recursive ? "?recursive=yes" : ""),
                     Done("destroyed"));
  });

  auto* rollback = snap->add_subcommand("rollback", "roll a dataset back to a snapshot");
  rollback->add_option("snapshot", o.name, "DATASET@SNAPSHOT")->required();
  rollback->add_flag("-r,--destroy-newer", o.destroy_newer, "destroy later snapshots");
  rollback->callback([&] {
    rc = cli.Request("POST", "/v1/snapshots/" + Seg(o.name) + "?action=rollback", Done("rolled back to"),
                     {{"destroy_newer", o.destroy_newer}});
  });

  AddSnapshotPolicyCommands(*snap, cli, rc);
}

}  // namespace pk::cli
