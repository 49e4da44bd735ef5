// `poolkeeper migrate start|status|list|cancel`: shadow migration (issue 6).
#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include "cli/cli.h"
#include "cli/render.h"

namespace pk::cli {
namespace {

std::string Duration(double seconds) {
  if (seconds < 0) return "-";
  auto s = static_cast<int64_t>(seconds + 0.5);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

std::string RenderStatus(const json& j) {
  std::string out;
  auto num = [&](const char* k) { return j.contains(k) && j[k].is_number() ? j[k].get<double>() : -1.0; };
  out += fmt::format("dataset   {}\n", j.value("dataset", ""));
  out += fmt::format("source    {}\n", j.value("source", ""));
  std::string state = j.value("state", "unknown");
  if (j.contains("helper_running") && !j.value("helper_running", false) && state != "complete") {
    state += " (no helper running" + (j.contains("helper_error") ? ": " + j.value("helper_error", "") : "") + ")";
  }
  out += fmt::format("state     {}\n", state);
  if (!j.contains("files_done")) return out;
  out += fmt::format("files     {} copied", j.value("files_done", uint64_t{0}));
  if (j.contains("source_files") && j["source_files"].is_number()) {
    out += fmt::format(" (the source has {} files)", j.value("source_files", uint64_t{0}));
  }
  out += "\n";
  out += fmt::format("bytes     {} copied", HumanSize(j.value("bytes_done", uint64_t{0})));
  if (j.contains("bytes_remaining") && j["bytes_remaining"].is_number()) {
    out += fmt::format(", {} remaining (estimated from the source)", HumanSize(j.value("bytes_remaining", uint64_t{0})));
  }
  out += "\n";
  out += fmt::format("rate      {}/s\n", HumanSize(static_cast<uint64_t>(std::max(0.0, num("rate_bytes_per_second")))));
  out += fmt::format("elapsed   {}   eta {}\n", Duration(num("elapsed_seconds")), Duration(num("eta_seconds")));
  const auto& failed = j.contains("failed") ? j["failed"] : json::array();
  if (failed.empty()) {
    out += "failed    none\n";
  } else {
    out += fmt::format("failed    {} entries (retried automatically)\n", failed.size());
    std::vector<std::vector<std::string>> rows;
    for (const auto& f : failed) {
      rows.push_back({f.value("path", ""), std::to_string(f.value("retries", 0)), f.value("error", "")});
    }
    out += RenderTable({"SOURCE PATH", "RETRIES", "ERROR"}, rows, {1});
  }
  return out;
}

}  // namespace

void AddMigrateCommands(CLI::App& app, Cli& cli, int& rc) {
  struct MigrateOptions {
    std::string dataset, source, bwlimit;
    int concurrency = 0;
    bool follow = false, yes = false, preserve_special = false;
    double interval = 2.0;
  };
  auto& a = cli.Options<MigrateOptions>();
  const bool& json_out = cli.globals().json;
  auto* m = app.add_subcommand("migrate", "shadow migration: serve a filesystem at once while it is pulled from an old server")
                ->require_subcommand(1);

  auto* start = m->add_subcommand("start", "start migrating an empty filesystem from a source (file:///dir or nfs://host/export)");
  start->add_option("dataset", a.dataset, "the empty filesystem")->required();
  start->add_option("--source", a.source, "file:///path or nfs://host/export (NFSv3)")->required();
  start->add_option("--concurrency", a.concurrency, "background copies at once (default 4)")->check(CLI::Range(1, 64));
  start->add_option("--bwlimit", a.bwlimit, "background bandwidth limit per second, e.g. 50M (default unlimited)");
  start->add_flag("--preserve-special", a.preserve_special,
                  "keep set-user/group-ID bits and create device nodes from the source (default: dropped, each reported)");
  start->callback([&] {
    json body = {{"dataset", a.dataset}, {"source", a.source}};
    if (a.concurrency) body["concurrency"] = a.concurrency;
    if (!a.bwlimit.empty()) body["bwlimit"] = a.bwlimit;
    if (a.preserve_special) body["preserve_special"] = true;
    rc = cli.Request("POST", "/v1/migrations", [](const json& j) {
      return fmt::format("migration of '{}' from '{}' started; clients can use it now\n", j.value("dataset", ""),
                         j.value("source", ""));
    }, body);
  });

  auto* status = m->add_subcommand("status", "progress, rate, time left and failed entries of a migration");
  status->add_option("dataset", a.dataset, "the migrating filesystem")->required();
  status->add_flag("-f,--follow", a.follow, "repeat until the migration is complete (one JSON object per line with --json)");
  status->add_option("--interval", a.interval, "seconds between reports with --follow (default 2)");
  status->callback([&] {
    std::string target = "/v1/migrations/" + Seg(a.dataset);
    while (true) {
      auto r = cli.Call("GET", target);
      if (a.follow && json_out && r) {
        fmt::print("{}\n", *r);  // one object per line
        std::fflush(stdout);
        rc = 0;
      } else {
        rc = cli.Print(r, RenderStatus);
        if (a.follow && r && !json_out) fmt::print("\n");
      }
      if (!a.follow || !r) return;
      auto j = json::parse(*r, nullptr, false);
      std::string state = j.is_object() ? j.value("state", "") : "";
      if (state == "complete" || state == "cancelled") return;
      std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(a.interval * 1000)));
    }
  });

  auto* list = m->add_subcommand("list", "migrations under way in the imported pools");
  list->callback([&] {
    rc = cli.Request("GET", "/v1/migrations", [](const json& j) {
      std::vector<std::vector<std::string>> rows;
      for (const auto& s : j["migrations"]) {
        rows.push_back({s.value("dataset", ""), s.value("state", ""), s.value("source", ""),
                        std::to_string(s.value("files_done", uint64_t{0})),
                        HumanSize(s.value("bytes_done", uint64_t{0}))});
      }
      if (rows.empty()) return std::string("no migrations\n");
      return RenderTable({"DATASET", "STATE", "SOURCE", "FILES", "BYTES"}, rows, {3, 4});
    });
  });

  auto* cancel = m->add_subcommand("cancel", "abandon a migration (cannot be undone: unmigrated files stay empty)");
  cancel->add_option("dataset", a.dataset, "the migrating filesystem")->required();
  cancel->add_flag("-y,--yes", a.yes, "do not ask for confirmation");
  cancel->callback([&] {
    if (!a.yes) {
      fmt::print(stderr,
                 "Cancel the migration of '{}'? What was not migrated yet is lost from it for good: unlisted "
                 "directories stay empty and uncopied files stay empty placeholders. Type 'yes' to cancel: ",
                 a.dataset);
      std::string answer;
      if (!std::getline(std::cin, answer) || (answer != "yes" && answer != "y")) {
        fmt::print(stderr, "poolkeeper: not cancelled\n");
        rc = 1;
        return;
      }
    }
    rc = cli.Request("DELETE", "/v1/migrations/" + Seg(a.dataset), [](const json& j) {
      return fmt::format("migration of '{}' cancelled\n", j.value("cancelled", ""));
    });
  });
}

}  // namespace pk::cli
