#include "zfs/label.h"

#include <cctype>
#include <iterator>

#include <fmt/format.h>

namespace pk::zfs {

bool RefusedAsInUse(std::string_view message) {
  std::string m(message);
  for (auto& c : m) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return m.find("in use from other system") != std::string::npos ||
         m.find("in use from another system") != std::string::npos ||
         m.find("last accessed by another system") != std::string::npos;
}

std::string LabelStateName(uint64_t state) {
  static constexpr std::string_view kNames[] = {"active",       "exported", "destroyed", "spare",
                                                "l2cache",      "uninitialized", "unavail", "potentially active"};
  if (state < std::size(kNames)) return std::string(kNames[state]);
  return fmt::format("state {}", state);
}

std::string HostidText(uint64_t hostid) { return fmt::format("0x{:08x}", hostid); }

namespace {
constexpr std::string_view kLabelOf = "label of '";
constexpr std::string_view kImportedBy = "': last imported by host '";
constexpr std::string_view kHostidOpen = "' (hostid ";
}  // namespace

std::string LabelClause(const VdevLabel& label) {
  return fmt::format("{}{}{}{}{}{}), state {}, txg {}", kLabelOf, label.device, kImportedBy, label.hostname,
                     kHostidOpen, label.hostid ? HostidText(*label.hostid) : "none", LabelStateName(label.state),
                     label.txg);
}

std::optional<LabelImporter> FindLabelImporter(std::string_view text) {
  // The last clause: the adapter appends it to the tool's own words.
  size_t at = text.rfind(kLabelOf);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(at + kLabelOf.size());
  size_t by = rest.find(kImportedBy);
  if (by == std::string_view::npos) return std::nullopt;
  LabelImporter li;
  li.device = std::string(rest.substr(0, by));
  rest.remove_prefix(by + kImportedBy.size());
  size_t id = rest.find(kHostidOpen);
  if (id == std::string_view::npos) return std::nullopt;
  li.host = std::string(rest.substr(0, id));
  rest.remove_prefix(id + kHostidOpen.size());
  size_t close = rest.find(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view hostid = rest.substr(0, close);
  if (hostid != "none") li.hostid = std::string(hostid);
  return li;
}

}  // namespace pk::zfs
