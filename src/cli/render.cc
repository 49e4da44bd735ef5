#include "cli/render.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "base/json.h"

namespace pk::cli {

using nlohmann::json;

std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows,
                        const std::vector<size_t>& right_aligned) {
  std::vector<size_t> width(header.size());
  for (size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < cells.size(); ++i) {
      bool right = std::find(right_aligned.begin(), right_aligned.end(), i) != right_aligned.end();
      if (right) {
        out += fmt::format("{:>{}}", cells[i], width[i]);
        if (i + 1 < cells.size()) out += "  ";
      } else if (i + 1 < cells.size()) {
        out += fmt::format("{:<{}}  ", cells[i], width[i]);
      } else {
        out += cells[i];
      }
    }
    out += '\n';
  };
  line(header);
  for (const auto& row : rows) line(row);
  return out;
}

std::string HumanSize(uint64_t bytes) {
  static constexpr const char* kUnits = "KMGTPE";
  if (bytes < 1024) return std::to_string(bytes);
  double v = static_cast<double>(bytes);
  int unit = -1;
  while (v >= 1024 && unit < 5) {
    v /= 1024;
    ++unit;
  }
  // zfs prints three significant digits: 1.50K, 15.0M, 150G.
  int decimals = v < 10 ? 2 : v < 100 ? 1 : 0;
  return fmt::format("{:.{}f}{}", v, decimals, kUnits[unit]);
}

std::string HumanSize(const std::string& bytes) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(bytes.data(), bytes.data() + bytes.size(), v);
  if (ec != std::errc() || p != bytes.data() + bytes.size() || bytes.empty()) return bytes;
  return HumanSize(v);
}

bool IsSizeProperty(std::string_view property) {
  static constexpr std::string_view kSizes[] = {
      "used", "available", "referenced", "quota", "refquota", "reservation", "refreservation",
      "usedbysnapshots", "usedbydataset", "usedbychildren", "usedbyrefreservation", "volsize",
      "recordsize", "volblocksize", "written", "logicalused", "logicalreferenced"};
  for (auto s : kSizes) {
    if (property == s) return true;
  }
  for (auto prefix : {"userused@", "userquota@", "groupused@", "groupquota@", "projectused@", "projectquota@"}) {
    if (property.starts_with(prefix)) return true;
  }
  return false;
}

std::string Prop(const json& d, const char* name) {
  auto props = d.find("properties");
  if (props == d.end() || !props->contains(name)) return "-";
  return (*props)[name].value("value", "-");
}

std::function<std::string(const json&)> Done(std::string verb) {
  return [verb = std::move(verb)](const json& j) {
    for (const char* k : {"pool", "dataset", "snapshot", "destroyed", "exported", "imported", "rolled_back"}) {
      if (j.contains(k)) return fmt::format("{} '{}'\n", verb, j[k].get<std::string>());
    }
    return verb + "\n";
  };
}

std::string ServiceView(const json& s) {
  std::string out = fmt::format("{:>8}: {}\n{:>8}: {}\n{:>8}: {}\n{:>8}: {}\n", "resource", s.value("resource", ""), "state",
                                s.value("state", ""), "reason", s.value("reason", ""), "since", s.value("since", ""));
  if (s.contains("start_at")) out += fmt::format("{:>8}: {}\n", "start at", s.value("start_at", ""));
  if (!s.value("health", "").empty()) out += fmt::format("{:>8}: {}\n", "health", s.value("health", ""));
  const char* section = s.contains("exec") ? "exec" : "policy";
  out += fmt::format("  {}:\n", section);
  for (const auto& [k, v] : s[section].items()) {
    if (k == "pool") continue;
    out += fmt::format("    {}: {}\n", k, v.is_string() ? v.get<std::string>() : DumpJson(v));
  }
  return out;
}

namespace {

void VdevRows(const json& v, int depth, std::vector<std::vector<std::string>>& rows) {
  std::string name = std::string(depth * 2, ' ') + v.value("name", "");
  std::string state = v.value("state", "");
  if (state == "AVAIL" || state == "INUSE" || state.empty()) {
    rows.push_back({name, state, "", "", "", v.value("note", "")});
  } else {
    rows.push_back({name, state, std::to_string(v.value("read_errors", 0ULL)),
                    std::to_string(v.value("write_errors", 0ULL)),
                    std::to_string(v.value("checksum_errors", 0ULL)), v.value("note", "")});
  }
  if (v.contains("children")) {
    for (const auto& c : v["children"]) VdevRows(c, depth + 1, rows);
  }
}

void Field(std::string& out, const char* key, const std::string& value) {
  if (value.empty()) return;
  out += fmt::format("{:>6}: {}\n", key, value);
}

}  // namespace

std::string ScanProgressText(const json& p) {
  const std::string state = p.value("state", "none");
  if (state == "none") return "";
  std::string out = p.value("kind", "") + " " + state;
  if (p.contains("percent_done")) out += fmt::format(", {:.2f}% done", p.value("percent_done", 0.0));
  if (p.contains("done_bytes") && p.contains("total_bytes")) {
    out += fmt::format(", {} of {}", HumanSize(p.value("done_bytes", 0ULL)), HumanSize(p.value("total_bytes", 0ULL)));
  }
  if (p.contains("rate_bytes_per_second")) out += fmt::format(" at {}/s", HumanSize(p.value("rate_bytes_per_second", 0ULL)));
  if (p.contains("eta_seconds")) out += fmt::format(", {} s to go", p.value("eta_seconds", 0ULL));
  if (p.contains("errors")) out += fmt::format(", {} errors", p.value("errors", 0ULL));
  if (p.contains("processed_bytes")) {
    out += fmt::format(", {} {}", HumanSize(p.value("processed_bytes", 0ULL)),
                       p.value("kind", "") == "resilver" ? "resilvered" : "repaired");
  }
  if (p.contains("elapsed_seconds") && state != "scanning") out += fmt::format(" in {} s", p.value("elapsed_seconds", 0ULL));
  if (p.contains("start_time")) out += ", started " + p.value("start_time", "");
  if (p.contains("end_time")) out += (state == "paused" ? ", paused " : ", ended ") + p.value("end_time", "");
  return out;
}

std::string RenderPoolStatus(const json& pool) {
  std::string out;
  Field(out, "pool", pool.value("name", ""));
  Field(out, "state", pool.value("state", ""));
  Field(out, "status", pool.value("status", ""));
  Field(out, "action", pool.value("action", ""));
  Field(out, "scan", pool.value("scan", ""));
  Field(out, "progress", ScanProgressText(pool.value("scan_progress", json::object())));
  out += "config:\n\n";
  std::vector<std::vector<std::string>> rows;
  VdevRows(pool["vdevs"], 0, rows);
  for (const char* section : {"logs", "caches", "spares"}) {
    if (!pool.contains(section) || pool[section].empty()) continue;
    rows.push_back({std::string(section) == "caches" ? "cache" : section, "", "", "", "", ""});
    for (const auto& v : pool[section]) VdevRows(v, 1, rows);
  }
  std::string table = RenderTable({"NAME", "STATE", "READ", "WRITE", "CKSUM", ""}, rows, {2, 3, 4});
  size_t start = 0;
  while (start < table.size()) {
    size_t nl = table.find('\n', start);
    std::string line = table.substr(start, nl - start);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += "\t" + line + "\n";
    start = nl + 1;
  }
  out += "\n";
  Field(out, "errors", pool.value("errors", ""));
  if (pool.contains("poolkeeper")) {
    const auto& pk = pool["poolkeeper"];
    const auto& inv = pk["inventory"];
    out += "\npoolkeeper:\n";
    out += fmt::format("  datasets: {} filesystems and volumes, {} snapshots\n", pk.value("datasets", 0),
                       pk.value("snapshots", 0));
    out += fmt::format("  capacity: {} used of {}, {} free\n", HumanSize(pool.value("allocated", 0ULL)),
                       HumanSize(pool.value("size", 0ULL)), HumanSize(pool.value("free", 0ULL)));
    out += fmt::format("  guid: {}\n", pool.value("guid", ""));
    out += fmt::format("  zfs: {}\n", pk.value("dialect", ""));
    if (pk.contains("adopted")) {
      out += fmt::format("  adopted: {}\n", pk.value("adopted", false) ? "yes" : "no, " + pk.value("held", std::string("held")));
    }
    out += fmt::format("  inventory: generation {}, refreshed {:.0f} s ago{}\n", inv.value("generation", 0),
                       inv.value("age_seconds", 0.0),
                       inv.value("last_error", "").empty() ? "" : ", last refresh failed: " + inv.value("last_error", ""));
  }
  return out;
}

}  // namespace pk::cli
