// `poolkeeper snapshot policy set|show|clear` (issue 24 item 1): snapshot
// schedules with retention, kept by the pool (org.poolkeeper:snapshot-schedule);
// `poolkeeper pool scrub-policy set|show|clear` (item 3): scrub schedules
// (org.poolkeeper:scrub-schedule). The daemon validates, this only sends and prints.
#include "cli/cli.h"
#include "cli/render.h"

namespace pk::cli {
namespace {

std::string Or(const json& j, const char* key, const std::string& fallback = "-") {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  std::string v = j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
  return v.empty() ? fallback : v;
}

std::string StatusTable(const json& j) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : j["policies"]) {
    rows.push_back({Or(p, "dataset"), Or(p, "policy"), Or(p, "source"), Or(p, "last_snapshot"), Or(p, "last_run"),
                    Or(p, "next_run"), Or(p, "last_error")});
  }
  if (rows.empty()) return "no snapshot schedules on the pools imported here\n";
  return RenderTable({"DATASET", "POLICY", "SOURCE", "LAST SNAPSHOT", "LAST RUN", "NEXT RUN", "LAST ERROR"}, rows);
}

std::string ShowOne(const json& j) {
  std::string policy = Or(j, "policy", "");
  if (policy.empty()) return fmt::format("'{}': no snapshot schedule\n", Or(j, "dataset"));
  std::string source = Or(j, "source");
  std::string out = fmt::format("dataset:  {}\npolicy:   {}\nsource:   {}\n", Or(j, "dataset"), policy,
                                source == "local" ? source : "inherited from " + source);
  if (j.contains("error")) out += fmt::format("error:    {}\n", Or(j, "error"));
  if (j.contains("status") && j["status"].is_object()) {
    const json& s = j["status"];
    out += fmt::format("last run: {}\nlast snapshot: {}\nnext run: {}\nsnapshots: {}\nlast error: {}\n", Or(s, "last_run"),
                       Or(s, "last_snapshot"), Or(s, "next_run"), Or(s, "snapshots"), Or(s, "last_error"));
  }
  return out;
}

std::string ScrubTable(const json& j) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : j["policies"]) {
    rows.push_back({Or(p, "pool"), Or(p, "schedule"), Or(p, "source"), Or(p, "state"), Or(p, "last_scan_end"),
                    Or(p, "next_run"), Or(p, "reason")});
  }
  if (rows.empty()) return "no pools imported here\n";
  return RenderTable({"POOL", "SCHEDULE", "SOURCE", "STATE", "LAST SCAN END", "NEXT RUN", "REASON"}, rows);
}

std::string ScrubShowOne(const json& j) {
  std::string out = fmt::format("pool:      {}\nschedule:  {}\nsource:    {}\n", Or(j, "pool"), Or(j, "schedule"),
                                Or(j, "source") == "default" ? "default (no schedule set)" : Or(j, "source"));
  if (j.contains("error")) out += fmt::format("error:     {}\n", Or(j, "error"));
  if (j.contains("status") && j["status"].is_object()) {
    const json& s = j["status"];
    out += fmt::format("state:     {}{}\nlast scan: {}\nnext run:  {}\n", Or(s, "state"),
                       Or(s, "reason", "").empty() ? "" : " (" + Or(s, "reason") + ")", Or(s, "last_scan_end", "never"),
                       Or(s, "next_run"));
    if (!Or(s, "last_error", "").empty()) out += fmt::format("last error: {}\n", Or(s, "last_error"));
  }
  return out;
}

}  // namespace

void AddScrubPolicyCommands(CLI::App& pool, Cli& cli, int& rc) {
  auto* policy = pool.add_subcommand("scrub-policy", "scrub schedules, kept in the pool (default: monthly, staggered)")
                     ->require_subcommand(1);
  struct ScrubArgs {
    std::string pool, schedule;
  };
  auto& a = cli.Options<ScrubArgs>();
  auto* set = policy->add_subcommand(
      "set", "set POOL's scrub schedule: off, weekly, monthly or 'every N(m|h|d|w)', with ' at HH:MM' (UTC) for whole "
             "days; counted from the end of the pool's last scan");
  set->add_option("pool", a.pool, "pool")->required();
  set->add_option("schedule", a.schedule, "off | weekly | monthly | 'every N(m|h|d|w) [at HH:MM]'")->required();
  set->callback([&] {
    rc = cli.Request("PUT", "/v1/scrub-policies/" + Seg(a.pool), ScrubShowOne, {{"schedule", a.schedule}});
  });
  auto* show = policy->add_subcommand("show", "POOL's scrub schedule, state and next run; without POOL every pool here");
  show->add_option("pool", a.pool, "pool");
  show->callback([&] {
    rc = a.pool.empty() ? cli.Request("GET", "/v1/scrub-policies", ScrubTable)
                        : cli.Request("GET", "/v1/scrub-policies/" + Seg(a.pool), ScrubShowOne);
  });
  auto* clear = policy->add_subcommand("clear", "remove POOL's scrub schedule (the default, monthly, applies again)");
  clear->add_option("pool", a.pool, "pool")->required();
  clear->callback([&] { rc = cli.Request("DELETE", "/v1/scrub-policies/" + Seg(a.pool), ScrubShowOne); });
}

void AddSnapshotPolicyCommands(CLI::App& snapshot, Cli& cli, int& rc) {
  auto* policy = snapshot.add_subcommand("policy", "snapshot schedules with retention, kept in the pool")
                     ->require_subcommand(1);
  struct PolicyArgs {
    std::string dataset, schedule, keep, prefix;
    bool none = false;
  };
  auto& a = cli.Options<PolicyArgs>();

  auto* set = policy->add_subcommand(
      "set", "set DATASET's schedule (children inherit it unless they set their own): --schedule 'every 15m' "
             "(or hourly, daily, 'daily at 02:00', UTC) --keep '24 hourly, 30 daily' (or N: the newest N)");
  set->add_option("dataset", a.dataset, "filesystem")->required();
  set->add_option("--schedule", a.schedule, "every N(m|h|d), hourly, daily, 'daily at HH:MM' (UTC)");
  set->add_option("--keep", a.keep, "N, or 'N PERIOD, ...' with PERIOD latest|minutely|hourly|daily|weekly|monthly|yearly");
  set->add_option("--prefix", a.prefix, "snapshot name prefix (default auto): PREFIX-YYYYMMDDTHHMMSSZ");
  set->add_flag("--none", a.none, "no schedule here, even if the parent has one");
  set->callback([&] {
    rc = cli.Run([&]() -> Result<std::string> {
      json body = {{"schedule", a.none ? "none" : a.schedule}};
      if (!a.none) {
        if (a.schedule.empty() || a.keep.empty()) {
          return InvalidArgument(fmt::format("snapshot policy set '{}': give --schedule and --keep (or --none)", a.dataset));
        }
        body["keep"] = a.keep;
        if (!a.prefix.empty()) body["prefix"] = a.prefix;
      }
      return cli.Call("PUT", "/v1/snapshot-policies/" + Seg(a.dataset), body);
    }, ShowOne);
  });

  auto* show = policy->add_subcommand("show", "DATASET's policy and its last and next run; without DATASET every scheduled dataset");
  show->add_option("dataset", a.dataset, "filesystem");
  show->callback([&] {
    if (a.dataset.empty()) {
      rc = cli.Request("GET", "/v1/snapshot-policies", StatusTable);
    } else {
      rc = cli.Request("GET", "/v1/snapshot-policies/" + Seg(a.dataset), ShowOne);
    }
  });

  auto* clear = policy->add_subcommand("clear", "remove DATASET's own policy (it follows its parent's again, if any)");
  clear->add_option("dataset", a.dataset, "filesystem")->required();
  clear->callback([&] {
    rc = cli.Request("DELETE", "/v1/snapshot-policies/" + Seg(a.dataset), ShowOne);
  });
}

}  // namespace pk::cli
