// cluster::PacemakerFacts: what the OCF agent asks Pacemaker, through its
// command-line tools run by sys::ProcessRunner (never a shell).
// Thread-safety: as safe as the runner it is given.
#pragma once

#include <chrono>
#include <string>

#include "cluster/pool_agent.h"
#include "sys/process_runner.h"

namespace pk::cluster {

struct PacemakerTools {
  std::string crm_attribute = "/usr/sbin/crm_attribute";
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};
};

class PacemakerFacts : public ClusterFacts {
 public:
  PacemakerFacts(sys::ProcessRunner& runner, PacemakerTools tools = {}) : runner_(runner), tools_(std::move(tools)) {}

  // `crm_attribute --type crm_config --name stonith-enabled --query --quiet
  // --default true`: Pacemaker's default is true.
  Result<bool> FencingEnabled() override;

 private:
  sys::ProcessRunner& runner_;
  PacemakerTools tools_;
};

// Pacemaker's boolean spellings (crm_is_true): true/on/yes/y/1 and false/off/no/n/0.
Result<bool> ParsePacemakerBool(std::string_view text);

}  // namespace pk::cluster
