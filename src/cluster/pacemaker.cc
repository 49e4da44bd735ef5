#include "cluster/pacemaker.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

namespace pk::cluster {

Result<bool> ParsePacemakerBool(std::string_view text) {
  std::string t;
  for (char c : text) {
    if (!std::isspace(static_cast<unsigned char>(c))) t.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  if (t == "true" || t == "on" || t == "yes" || t == "y" || t == "1") return true;
  if (t == "false" || t == "off" || t == "no" || t == "n" || t == "0") return false;
  return InvalidArgument(fmt::format("'{}' is not a Pacemaker boolean", text));
}

Result<bool> PacemakerFacts::FencingEnabled() {
  sys::Command c;
  c.program = tools_.crm_attribute;
  c.args = {"--type", "crm_config", "--name", "stonith-enabled", "--query", "--quiet", "--default", "true"};
  c.env = sys::DefaultToolEnvironment();
  c.timeout = tools_.timeout;
  auto r = runner_.Run(c);
  if (!r) return std::unexpected(r.error().WithContext("read cluster property stonith-enabled"));
  if (r->timed_out || !r->status.Success()) {
    return Unavailable(fmt::format("read cluster property stonith-enabled: crm_attribute {}{}: {}",
                                   r->status.ToString(), r->timed_out ? " (timed out)" : "", r->err));
  }
  auto value = ParsePacemakerBool(r->out);
  if (!value) return std::unexpected(value.error().WithContext("cluster property stonith-enabled"));
  return *value;
}

}  // namespace pk::cluster
