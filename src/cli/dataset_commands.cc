// `poolkeeper dataset list|create|get|set|inherit|destroy|rename`.
#include "cli/cli.h"
#include "cli/render.h"

namespace pk::cli {
namespace {

std::string DatasetTable(const json& j) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : j["datasets"]) {
    rows.push_back({d["name"], d.value("type", ""), HumanSize(Prop(d, "used")), HumanSize(Prop(d, "available")),
                    HumanSize(Prop(d, "referenced")), Prop(d, "mountpoint")});
  }
  if (rows.empty()) return "no datasets\n";
  return RenderTable({"NAME", "TYPE", "USED", "AVAIL", "REFER", "MOUNTPOINT"}, rows);
}

std::string PropertyTable(const json& d) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& [name, p] : d["properties"].items()) {
    std::string source = p.value("source", "");
    if (source == "inherited") source = "inherited from " + p.value("inherited_from", "");
    if (source == "none") source = "-";
    std::string value = p.value("value", "");
    rows.push_back({d["name"], name, IsSizeProperty(name) ? HumanSize(value) : value, source});
  }
  return RenderTable({"NAME", "PROPERTY", "VALUE", "SOURCE"}, rows);
}

}  // namespace

void AddDatasetCommands(CLI::App& app, Cli& cli, int& rc) {
  struct DatasetOptions {
    std::string name, new_name, property, root, type;
    std::vector<std::string> words, props;
    bool parents = false, recursive = false, dependents = false;
  };
  auto& o = cli.Options<DatasetOptions>();
  auto* ds = app.add_subcommand("dataset", "datasets: list, create, get, set, inherit, destroy, rename")->require_subcommand(1);

  auto* list = ds->add_subcommand("list", "list datasets (from the daemon's inventory)");
  list->add_option("root", o.root, "only this dataset and its descendants");
  list->add_option("-t,--type", o.type, "filesystem, volume, snapshot, comma-separated, or all");
  list->callback([&] {
    std::string q = "?type=" + Seg(o.type.empty() ? "filesystem,volume" : o.type);
    if (!o.root.empty()) q += "&root=" + Seg(o.root);
    rc = cli.Request("GET", "/v1/datasets" + q, DatasetTable);
  });

  auto* create = ds->add_subcommand("create", "create a filesystem with create-time properties");
  create->add_option("dataset", o.name, "dataset name")->required();
  create->add_option("-o,--property", o.props, "PROPERTY=VALUE set at creation (repeatable)")->allow_extra_args(false);
  create->add_flag("-p,--parents", o.parents, "create missing parents");
  create->callback([&] {
    rc = cli.Run(
        [&]() -> Result<std::string> {
          PK_ASSIGN_OR_RETURN(auto props, PropertyObject(o.props));
          return cli.Call("POST", "/v1/datasets", {{"name", o.name}, {"properties", props}, {"parents", o.parents}});
        },
        Done("created dataset"));
  });

  auto* get = ds->add_subcommand("get", "show properties with their source");
  get->add_option("dataset", o.name, "dataset or snapshot name")->required();
  get->add_option("properties", o.words, "property names (default all)");
  get->callback([&] {
    std::string q;
    for (const auto& p : o.words) q += (q.empty() ? "" : ",") + p;
    rc = cli.Request("GET", "/v1/datasets/" + Seg(o.name) + (q.empty() ? "" : "?properties=" + Seg(q)), PropertyTable);
  });

  auto* set = ds->add_subcommand("set", "set properties: DATASET PROPERTY=VALUE...");
  set->add_option("dataset", o.name, "dataset or snapshot name")->required();
  set->add_option("assignments", o.words, "PROPERTY=VALUE")->required();
  set->callback([&] {
    rc = cli.Run(
        [&]() -> Result<std::string> {
          PK_ASSIGN_OR_RETURN(auto props, PropertyObject(o.words));
          return cli.Call("PATCH", "/v1/datasets/" + Seg(o.name), {{"properties", props}});
        },
        Done("updated"));
  });

  auto* inherit = ds->add_subcommand("inherit", "clear a local property so it is inherited");
  inherit->add_option("dataset", o.name, "dataset name")->required();
  inherit->add_option("property", o.property, "property name")->required();
  inherit->add_flag("-r,--recursive", o.recursive, "also on descendants");
  inherit->callback([&] {
    rc = cli.Request("POST", "/v1/datasets/" + Seg(o.name) + "?action=inherit", Done("updated"),
                     {{"property", o.property}, {"recursive", o.recursive}});
  });

  auto* destroy = ds->add_subcommand("destroy", "destroy a dataset");
  destroy->add_option("dataset", o.name, "dataset name")->required();
  destroy->add_flag("-r,--recursive", o.recursive, "with descendants and snapshots");
  destroy->add_flag("-R,--recursive-dependents", o.dependents, "also clones outside the tree");
  destroy->callback([&] {
    const char* q = o.dependents ? "?recursive=dependents" : o.recursive ? "?recursive=yes" : "";
    rc = cli.Request("DELETE", "/v1/datasets/" + Seg(o.name) + q, Done("destroyed"));
  });

  auto* rename = ds->add_subcommand("rename", "rename a dataset");
  rename->add_option("dataset", o.name, "current name")->required();
  rename->add_option("new_name", o.new_name, "new name")->required();
  rename->callback([&] {
    rc = cli.Request("POST", "/v1/datasets/" + Seg(o.name) + "?action=rename", Done("renamed to"),
                     {{"new_name", o.new_name}});
  });
}

}  // namespace pk::cli
