// cluster::PacemakerFacts: what the OCF agent asks Pacemaker, through its
// command-line tools run by sys::ProcessRunner (never a shell).
// Thread-safety: as safe as the runner it is given.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "cluster/crm_mon.h"
#include "cluster/pool_agent.h"
#include "sys/process_runner.h"

namespace pk::cluster {

struct PacemakerTools {
  std::string crm_attribute = "/usr/sbin/crm_attribute";
  std::string crm_mon = "/usr/sbin/crm_mon";
  std::string cibadmin = "/usr/sbin/cibadmin";
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};
  std::string hostid_file = "/etc/hostid";
};

class PacemakerFacts : public ClusterFacts {
 public:
  // Status() and FencingEnabled() run a tool each time; nothing is cached.
  PacemakerFacts(sys::ProcessRunner& runner, PacemakerTools tools = {}) : runner_(runner), tools_(std::move(tools)) {}

  // `crm_attribute --type crm_config --name stonith-enabled --query --quiet
  // --default true`: Pacemaker's default is true.
  Result<bool> FencingEnabled() override;

  // `crm_mon -1 --output-as=xml --fence-history=2` and `cibadmin --query
  // --scope configuration`, parsed. Unavailable when the cluster cannot be reached.
  Result<ClusterStatus> Status() override;
  // uname's nodename up to the first '.'.
  std::string LocalHead() override;
  // /etc/hostid (4 bytes, little-endian) as "0x%08x"; "" without one.
  std::string LocalHostId() override;
  // `crm_attribute --type nodes --node HEAD --name pk-hostid --update ID`,
  // then the heads' `pk-hostid` from `cibadmin --query --scope nodes`.
  Result<std::map<std::string, std::string>> ExchangeHostIds(const std::string& mine) override;

 private:
  // Runs `program args` and returns its stdout; Unavailable (with the tool's stderr) when it fails.
  Result<std::string> Run(const std::string& program, std::vector<std::string> args, const std::string& what);

  sys::ProcessRunner& runner_;
  PacemakerTools tools_;
};

// Runs `program args` with the tool environment and `timeout`; returns its
// stdout (`stdin_data`, e.g. XML carrying a secret, goes to its stdin, never
// its argv). Unavailable naming `what`, the tool, its exit and its stderr (or
// stdout, where crm_mon --output-as=xml reports) when it fails.
Result<std::string> RunTool(sys::ProcessRunner& runner, const std::string& program, std::vector<std::string> args,
                            std::chrono::milliseconds timeout, const std::string& what,
                            std::optional<std::string> stdin_data = std::nullopt);

// The `pk-hostid` node attributes of `cibadmin --query --scope nodes`, by node name.
Result<std::map<std::string, std::string>> ParseNodeHostIds(std::string_view nodes_xml);

// Pacemaker's boolean spellings (crm_is_true): true/on/yes/y/1 and false/off/no/n/0.
Result<bool> ParsePacemakerBool(std::string_view text);

}  // namespace pk::cluster
