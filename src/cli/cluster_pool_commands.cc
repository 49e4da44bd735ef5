// `poolkeeper cluster pool add|remove`: a pool as a Pacemaker resource group
// (the pool, then its floating IPs), kept in its own file.
#include "cli/cluster_cli.h"

namespace pk::cli {

void AddClusterPoolCommands(CLI::App& cluster, Cli& cli, const ClusterCliOptions& o, int& rc) {
  const Globals& g = cli.globals();
  auto* pool = cluster.add_subcommand("pool", "pools run by the cluster")->require_subcommand(1);

  struct AddArgs {
    std::string pool, vips, prefer, nic;
    std::vector<std::string> search_dirs;
  };
  auto& add_args = cli.Options<AddArgs>();
  // Adding a pool to the cluster is taken as adopting it (issue 17 item 6):
  // its first cluster import signs it with the cluster key and serves what it
  // carries, so the help says so.
  auto* add = pool->add_subcommand("add", "run POOL on the cluster: a group of the pool, then its floating IPs; this adopts "
                                          "POOL: its first cluster import serves its shares and migrations (review a "
                                          "pool made elsewhere with 'poolkeeper pool adopt POOL' first)");
  add->add_option("pool", add_args.pool, "pool name")->required();
  add->add_option("--vip", add_args.vips, "floating IPs: ADDR/PREFIX[,ADDR/PREFIX...]")->required();
  add->add_option("--prefer", add_args.prefer, "head the pool prefers (it returns there on failback)");
  add->add_option("-d,--search-dir", add_args.search_dirs, "directory to search for the pool's disks (repeatable)");
  add->add_option("--nic", add_args.nic, "interface for the IPs (default: the one in their subnet)");
  add->callback([&] {
    RunClusterAdmin(g, o, rc, [&](cluster::ClusterAdmin& admin) -> Result<cluster::Changes> {
      PK_ASSIGN_OR_RETURN(auto name, zfs::PoolName::Parse(add_args.pool));
      PK_ASSIGN_OR_RETURN(auto vips, cluster::Vip::ParseList(add_args.vips));
      cluster::PoolAddRequest req{cluster::PoolGroupSpec{name, vips, add_args.search_dirs, add_args.nic}, std::nullopt};
      for (const auto& d : add_args.search_dirs) {
        if (!d.starts_with("/") || d.find(':') != std::string::npos) {
          return InvalidArgument(fmt::format("search directory '{}' must be an absolute path without ':'", d));
        }
      }
      if (!add_args.prefer.empty()) {
        PK_ASSIGN_OR_RETURN(auto head, cluster::HeadName::Parse(add_args.prefer));
        req.prefer = head;
      }
      // The pool must be on this head's disks: imported here, or importable.
      req.check_pool = [&g](const cluster::PoolGroupSpec& spec) -> Status {
        Cli cli(g);
        if (cli.Call("GET", "/v1/pools/" + Seg(spec.pool.str()))) return OkStatus();
        PK_ASSIGN_OR_RETURN(auto raw, cli.Call("POST", "/v1/import-scan", {{"search_dirs", spec.search_dirs}}));
        auto j = json::parse(raw, nullptr, false);
        for (const auto& p : j.is_object() ? j.value("pools", json::array()) : json::array()) {
          if (p.value("name", "") == spec.pool.str()) return OkStatus();
        }
        return NotFound(fmt::format("no pool '{}' is imported on this head or importable from {}; nothing changed",
                                    spec.pool.str(),
                                    spec.search_dirs.empty() ? "the default directories" : fmt::format("{}", fmt::join(spec.search_dirs, ", "))));
      };
      return admin.PoolAdd(req);
    });
  });

  auto& remove_pool = cli.Options<std::string>();
  auto* remove = pool->add_subcommand("remove", "stop POOL (IPs, then the pool: it ends exported) and take it out of the cluster");
  remove->add_option("pool", remove_pool, "pool name")->required();
  remove->callback([&] {
    RunClusterAdmin(g, o, rc, [&](cluster::ClusterAdmin& admin) -> Result<cluster::Changes> {
      PK_ASSIGN_OR_RETURN(auto name, zfs::PoolName::Parse(remove_pool));
      return admin.PoolRemove(name);
    });
  });
}

}  // namespace pk::cli
