// `poolkeeper events [-f] [--after SEQ]`: the state changes of pool services,
// one line each (one JSON object per line with --json).
#include <cstdio>

#include "base/json.h"
#include "cli/cli.h"

namespace pk::cli {
namespace {

std::string EventLines(const json& j) {
  std::string out;
  for (const auto& e : j["events"]) {
    std::string prev = e.value("previous", "");
    out += fmt::format("{}  {}  {}{}: {}\n", e.value("time", ""), e.value("resource", ""),
                       prev.empty() ? "" : prev + " -> ", e.value("state", ""), e.value("reason", ""));
  }
  return out;
}

}  // namespace

void AddEventCommands(CLI::App& app, Cli& cli, int& rc) {
  struct EventOptions {
    bool follow = false;
    uint64_t after = 0;
  };
  auto& o = cli.Options<EventOptions>();
  auto* events = app.add_subcommand("events", "state changes of pool services (persistent, newest last)");
  events->add_flag("-f,--follow", o.follow, "keep printing new events as they happen");
  events->add_option("--after", o.after, "only events after this sequence number");
  events->callback([&] {
    uint64_t after = o.after;
    do {
      std::string target = fmt::format("/v1/events?after={}{}", after, o.follow ? "&wait=30" : "");
      auto r = cli.Call("GET", target);
      if (!r) {
        rc = Fail(r.error());
        return;
      }
      auto j = json::parse(*r, nullptr, false);
      if (j.is_discarded()) {
        rc = kExitFailure;
        return;
      }
      if (cli.globals().json) {
        for (const auto& e : j["events"]) fmt::print("{}\n", DumpJson(e));
      } else {
        fmt::print("{}", EventLines(j));
      }
      std::fflush(stdout);
      if (!j["events"].empty()) after = j["events"].back().value("seq", after);
    } while (o.follow);
    rc = kExitOk;
  });
}

}  // namespace pk::cli
