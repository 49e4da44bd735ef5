// `poolkeeper quota warn|set|get|clear|list`: user and group quotas of a
// filesystem.
#include <optional>

#include "cli/cli.h"
#include "cli/render.h"

namespace pk::cli {
namespace {

std::string QuotaPercent(const json& q) {
  if (!q.contains("percent") || q["percent"].is_null()) return "-";
  return fmt::format("{:.0f}%", q["percent"].get<double>());
}

std::string QuotaRow(const json& q) {
  std::string kind = q.value("kind", "");
  std::string id = q.contains("id") && !q["id"].is_null() ? std::to_string(q["id"].get<uint64_t>()) : "?";
  uint64_t quota = q.value("quota", 0ULL);
  std::string out = fmt::format("{} '{}' ({} {}) on '{}': used {}, quota {}", kind, q.value("name", ""),
                                kind == "group" ? "gid" : "uid", id, q.value("dataset", ""),
                                HumanSize(q.value("used", 0ULL)), quota ? HumanSize(quota) : "none");
  if (quota) out += " (" + QuotaPercent(q) + ")";
  if (q.contains("objused")) {
    out += fmt::format(", objects {} of {}", q.value("objused", 0ULL),
                       q.value("objquota", 0ULL) ? std::to_string(q.value("objquota", 0ULL)) : "no limit");
  }
  return out + "\n";
}

std::string QuotaTable(const json& j) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& q : j["quotas"]) {
    rows.push_back({q.value("name", ""), q.contains("id") && !q["id"].is_null() ? std::to_string(q["id"].get<uint64_t>()) : "-",
                    HumanSize(q.value("used", 0ULL)),
                    q.value("quota", 0ULL) ? HumanSize(q.value("quota", 0ULL)) : "none", QuotaPercent(q)});
  }
  if (rows.empty()) return fmt::format("no {} quotas or usage on '{}'\n", j.value("kind", ""), j.value("dataset", ""));
  return RenderTable({"NAME", "ID", "USED", "QUOTA", "%"}, rows, {1, 2, 3, 4});
}

struct QuotaOptions {
  std::string dataset, value, user, group, filter, sort;
  bool groups = false;
  std::optional<uint64_t> objects;
};

// "?user=U" or "?group=G" (both given goes to the daemon, which refuses it).
std::string SubjectQuery(const QuotaOptions& o) {
  std::string q;
  if (!o.user.empty()) q += "user=" + Seg(o.user);
  if (!o.group.empty()) q += std::string(q.empty() ? "" : "&") + "group=" + Seg(o.group);
  return q.empty() ? "" : "?" + q;
}

}  // namespace

void AddQuotaCommands(CLI::App& app, Cli& cli, int& rc) {
  auto& o = cli.Options<QuotaOptions>();
  auto* quota = app.add_subcommand("quota", "user and group quotas of a filesystem: set, get, clear, list")
                    ->require_subcommand(1);
  // `quota VERB DATASET (--user U | --group G) ...`: set, get and clear.
  auto subject_command = [&](const char* verb, const char* help) {
    auto* cmd = quota->add_subcommand(verb, help);
    cmd->add_option("dataset", o.dataset, "filesystem")->required();
    auto* u = cmd->add_option("-u,--user", o.user, "user name or numeric uid");
    auto* g = cmd->add_option("-g,--group", o.group, "group name or numeric gid");
    u->excludes(g);
    g->excludes(u);
    return cmd;
  };
  // The call, once --user or --group is given.
  auto with_subject = [&](const std::string& verb, std::string_view method, const std::string& target, const json& body) {
    return [&, verb, method, target, body]() -> Result<std::string> {
      if (o.user.empty() && o.group.empty()) return InvalidArgument(fmt::format("quota {}: give --user or --group", verb));
      return cli.Call(method, target, body);
    };
  };
  auto* warn = quota->add_subcommand("warn", "warn (as events) when a user or group passes these percentages of its quota");
  warn->add_option("dataset", o.dataset, "filesystem")->required();
  warn->add_option("thresholds", o.value, "e.g. 80,95; 'none' to stop warning")->required();
  warn->callback([&] {
    rc = cli.Request("PATCH", "/v1/datasets/" + Seg(o.dataset), Done("quota warnings set on"),
                     {{"properties", {{"org.poolkeeper:quota-warn", o.value}}}});
  });
  auto* set = subject_command("set", "set a quota: DATASET (--user U | --group G) SIZE (e.g. 10G, 512M)");
  set->add_option("size", o.value, "bytes, or with K/M/G/T/P (binary)");
  set->add_option("--objects", o.objects, "object quota (OpenZFS only)");
  // with_subject by value: the callbacks run after this function returned.
  set->callback([&, with_subject] {
    json body = {};
    if (!o.user.empty()) body["user"] = o.user;
    if (!o.group.empty()) body["group"] = o.group;
    if (!o.value.empty()) body["quota"] = o.value;
    if (o.objects) body["objects"] = *o.objects;
    rc = cli.Run(with_subject("set", "PUT", "/v1/quotas/" + Seg(o.dataset), body), QuotaRow);
  });
  subject_command("get", "one user's or group's usage and quota (no listing)")->callback([&, with_subject] {
    rc = cli.Run(with_subject("get", "GET", "/v1/quotas/" + Seg(o.dataset) + SubjectQuery(o), nullptr), QuotaRow);
  });
  subject_command("clear", "remove a user's or group's quota")->callback([&, with_subject] {
    rc = cli.Run(with_subject("clear", "DELETE", "/v1/quotas/" + Seg(o.dataset) + SubjectQuery(o), nullptr), [](const json& j) {
      return fmt::format("cleared {} quota of {} on '{}'\n", j.value("kind", ""), j.value("id", 0ULL), j.value("dataset", ""));
    });
  });
  auto* list = quota->add_subcommand("list", "usage and quota of every user (or --group) side by side");
  list->add_option("dataset", o.dataset, "filesystem")->required();
  list->add_flag("--group", o.groups, "groups instead of users");
  list->add_option("--filter", o.filter, "only names (or ids) containing this");
  list->add_option("--sort", o.sort, "name (default), used, quota or percent (largest first)");
  list->callback([&] {
    std::string q = std::string("?kind=") + (o.groups ? "group" : "user");
    if (!o.filter.empty()) q += "&filter=" + Seg(o.filter);
    if (!o.sort.empty()) q += "&sort=" + Seg(o.sort);
    rc = cli.Request("GET", "/v1/quotas/" + Seg(o.dataset) + q, QuotaTable);
  });
}

}  // namespace pk::cli
