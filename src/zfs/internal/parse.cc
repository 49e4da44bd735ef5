#include "zfs/internal/parse.h"

#include "base/text.h"
#include "zfs/names.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <map>
#include <regex>
#include <set>

#include <fmt/format.h>

namespace pk::zfs::internal {
namespace {

// Vdev type from its printed name: "mirror-0", "raidz2-1", "spare-3", a path.
std::string VdevTypeFromName(std::string_view name) {
  auto head = name.substr(0, name.find('-'));
  if (head == "mirror" || head == "replacing" || head == "spare") return std::string(head);
  if (head == "raidz" || head == "raidz1") return "raidz1";
  if (head == "raidz2" || head == "raidz3" || head == "draid") return std::string(head);
  if (name.starts_with("/dev/")) return "disk";
  if (name.starts_with("/")) return "file";
  return "disk";
}

bool IsSectionName(std::string_view name) {
  return name == "logs" || name == "cache" || name == "spares" || name == "special" ||
         name == "dedup";
}

// One line of the config table, without the leading tab.
struct VdevLine {
  int depth = 0;
  Vdev vdev;
};

Result<uint64_t> ParseErrorCount(std::string_view text) {
  // zpool prints "1.2K" for large counts without -p; accept both.
  if (auto exact = ParseUint(text)) return exact;
  return ParseHumanSize(text);
}

bool IsVdevState(std::string_view word) {
  for (std::string_view state : {"ONLINE", "DEGRADED", "FAULTED", "OFFLINE", "UNAVAIL", "REMOVED",
                                 "AVAIL", "INUSE", "SUSPENDED", "SPLIT"}) {
    if (word == state) return true;
  }
  return false;
}

// "<indent><name>  <STATE>  <READ> <WRITE> <CKSUM>  <note>"; state, counters
// and note are optional: section headers ("logs") have none, `zpool import`
// trees and spares ("AVAIL   ", "INUSE     currently in use") have no counters.
// Tokenised by hand rather than with one regex: a lazy name group lets the
// note swallow the whole line, and a spare's note looks like three counters.
Result<VdevLine> ParseVdevLine(std::string_view line) {
  VdevLine out;
  size_t indent = line.find_first_not_of(' ');
  if (indent == std::string_view::npos) return Internal("empty vdev line");
  out.depth = static_cast<int>(indent) / 2;
  struct Token {
    size_t begin, end;
  };
  std::vector<Token> tokens;
  for (size_t i = indent; i < line.size();) {
    if (line[i] == ' ' || line[i] == '\t' || line[i] == '\r') {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < line.size() && line[end] != ' ' && line[end] != '\t' && line[end] != '\r') ++end;
    tokens.push_back({i, end});
    i = end;
  }
  auto word = [&](size_t t) { return line.substr(tokens[t].begin, tokens[t].end - tokens[t].begin); };
  size_t state = 1;
  while (state < tokens.size() && !IsVdevState(word(state))) ++state;
  if (state >= tokens.size()) {  // no state: a section header, or a name with no state
    out.vdev.name = std::string(Trim(line.substr(indent)));
    return out;
  }
  out.vdev.name = std::string(line.substr(indent, tokens[state - 1].end - indent));
  out.vdev.state = std::string(word(state));
  size_t next = state + 1;
  if (next + 3 <= tokens.size()) {
    auto r = ParseErrorCount(word(next));
    auto w = ParseErrorCount(word(next + 1));
    auto c = ParseErrorCount(word(next + 2));
    if (r && w && c) {
      out.vdev.read_errors = *r;
      out.vdev.write_errors = *w;
      out.vdev.checksum_errors = *c;
      next += 3;
    }
  }
  if (next < tokens.size()) out.vdev.note = std::string(Trim(line.substr(tokens[next].begin)));
  return out;
}

// Builds the tree from config lines (each already stripped of its tab).
struct ConfigTree {
  Vdev root;
  std::vector<Vdev> logs, caches, spares;
};

Result<ConfigTree> ParseConfig(const std::vector<std::string_view>& lines) {
  ConfigTree tree;
  std::vector<Vdev>* section = nullptr;  // non-null inside logs/cache/spares
  std::vector<Vdev*> stack;              // stack[d] = last vdev at depth d
  bool have_root = false;
  for (auto raw : lines) {
    PK_ASSIGN_OR_RETURN(VdevLine vl, ParseVdevLine(raw));
    if (vl.depth == 0) {
      stack.clear();
      if (!have_root) {
        tree.root = vl.vdev;
        tree.root.type = "root";
        stack.push_back(&tree.root);
        have_root = true;
        section = nullptr;
        continue;
      }
      if (IsSectionName(vl.vdev.name)) {
        section = vl.vdev.name == "logs"     ? &tree.logs
                  : vl.vdev.name == "cache"  ? &tree.caches
                  : vl.vdev.name == "spares" ? &tree.spares
                                             : &tree.root.children;
        stack.push_back(nullptr);
        continue;
      }
      return Internal(fmt::format("unexpected top-level line '{}'", raw));
    }
    Vdev v = vl.vdev;
    v.type = VdevTypeFromName(v.name);
    if (v.type == "disk" || v.type == "file") v.path = v.name;
    if (static_cast<size_t>(vl.depth) > stack.size()) {
      return Internal(fmt::format("vdev line '{}' is indented too deep", raw));
    }
    stack.resize(vl.depth);
    std::vector<Vdev>* siblings = nullptr;
    if (vl.depth == 1) {
      siblings = section ? section : &tree.root.children;
    } else {
      Vdev* parent = stack[vl.depth - 1];
      if (!parent) return Internal(fmt::format("vdev line '{}' has no parent", raw));
      siblings = &parent->children;
    }
    siblings->push_back(std::move(v));
    stack.push_back(&siblings->back());
  }
  if (!have_root) return Internal("config section has no pool line");
  return tree;
}

struct Block {
  std::vector<std::pair<std::string, std::string>> fields;  // key -> text (multi-line joined)
  std::vector<std::string_view> config;                      // vdev lines, tab stripped
};

// Splits `zpool status`/`zpool import` text into blocks, one per "pool:".
std::vector<Block> ParseBlocks(std::string_view text) {
  static const std::regex kField(R"(^\s*([a-z]+): ?(.*)$)");
  std::vector<Block> blocks;
  bool in_config = false;
  bool config_header_seen = false;
  for (auto line : SplitLines(text)) {
    if (in_config) {
      if (Trim(line).empty()) {
        if (config_header_seen) in_config = false;
        continue;
      }
      if (line.front() == '\t') {
        auto body = line.substr(1);
        if (!config_header_seen) {
          config_header_seen = true;  // "NAME STATE READ WRITE CKSUM"
          if (Trim(body).starts_with("NAME")) continue;
        }
        blocks.back().config.push_back(body);
        continue;
      }
      in_config = false;
    }
    std::match_results<std::string_view::const_iterator> m;
    if (!line.empty() && line.front() != '\t' && std::regex_match(line.begin(), line.end(), m, kField)) {
      std::string key = m[1].str();
      if (key == "pool") blocks.emplace_back();
      if (blocks.empty()) continue;
      blocks.back().fields.emplace_back(key, std::string(Trim(m[2].str())));
      if (key == "config") {
        in_config = true;
        config_header_seen = false;
      }
      continue;
    }
    if (!blocks.empty() && !blocks.back().fields.empty() && !Trim(line).empty()) {
      auto& text_so_far = blocks.back().fields.back().second;
      if (!text_so_far.empty()) text_so_far += ' ';
      text_so_far += Trim(line);
    }
  }
  return blocks;
}

std::string Field(const Block& b, std::string_view key) {
  for (const auto& [k, v] : b.fields) {
    if (k == key) return v;
  }
  return "";
}

}  // namespace

std::vector<std::string_view> SplitTabs(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  while (true) {
    size_t tab = line.find('\t', start);
    if (tab == std::string_view::npos) {
      fields.push_back(line.substr(start));
      return fields;
    }
    fields.push_back(line.substr(start, tab - start));
    start = tab + 1;
  }
}

Result<uint64_t> ParseUint(std::string_view text) {
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) {
    return InvalidArgument(fmt::format("'{}' is not an unsigned integer", text));
  }
  return value;
}

Result<uint64_t> ParseHumanSize(std::string_view text) {
  auto bad = [&] { return InvalidArgument(fmt::format("'{}' is not a size", text)); };
  if (text.empty()) return InvalidArgument("empty size");
  std::string number(text);
  double scale = 1;
  static constexpr std::string_view kSuffixes = "BKMGTPEZ";
  auto pos = kSuffixes.find(static_cast<char>(std::toupper(static_cast<unsigned char>(number.back()))));
  if (pos != std::string_view::npos) {
    scale = std::pow(1024.0, static_cast<double>(pos));
    number.pop_back();
  }
  // Digits with at most one decimal point (or comma, as some locales print):
  // from_chars alone would also take "inf", "nan", "1e3" and "-0".
  int points = 0;
  bool digits = false;
  for (char& c : number) {
    if (c == ',') c = '.';
    if (c == '.') {
      ++points;
    } else if (c >= '0' && c <= '9') {
      digits = true;
    } else {
      return bad();
    }
  }
  if (!digits || points > 1) return bad();
  double value = 0;
  auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (ec != std::errc() || ptr != number.data() + number.size()) return bad();
  double bytes = std::round(value * scale);
  // 2^64 is exactly representable; anything at or above it does not fit.
  if (!std::isfinite(bytes) || bytes >= 18446744073709551616.0) {
    return InvalidArgument(fmt::format("size '{}' is too large", text));
  }
  return static_cast<uint64_t>(bytes);
}

namespace {

using ScanMatch = std::match_results<std::string_view::const_iterator>;

bool Search(std::string_view text, const std::regex& re, ScanMatch& m) {
  return std::regex_search(text.begin(), text.end(), m, re);
}

std::optional<uint64_t> HumanBytes(const std::string& text) {
  auto v = ParseHumanSize(text);
  return v ? std::optional<uint64_t>(*v) : std::nullopt;
}

uint64_t Number(const std::string& text) { return ParseUint(text).value_or(0); }

// ctime(3) as zpool prints it: "Sun Nov 22 05:39:42 2026", "Mon Dec  7 11:09:07 2026".
constexpr std::string_view kTime = R"(([A-Z][a-z]{2} [A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2} \d{4}))";
// "0 days 00:00:17" or "00:00:03" (OpenZFS); groups: days, h, m, s.
constexpr std::string_view kClock = R"((?:(\d+) days )?(\d+):(\d{2}):(\d{2}))";

uint64_t ClockSeconds(const ScanMatch& m, size_t first) {
  uint64_t days = m[first].matched ? Number(m[first].str()) : 0;
  return ((days * 24 + Number(m[first + 1].str())) * 60 + Number(m[first + 2].str())) * 60 + Number(m[first + 3].str());
}

}  // namespace

ScanProgress ParseScan(std::string_view scan) {
  using Kind = ScanProgress::Kind;
  using State = ScanProgress::State;
  static const std::string time(kTime), clock(kClock);
  // OpenZFS 2.x (print_scan_status).
  static const std::regex kDone("^(scrub repaired|resilvered) (\\S+) in " + clock + " with (\\d+) errors on " + time);
  static const std::regex kCanceled("^(scrub|resilver) canceled on " + time);
  static const std::regex kRunning("^(scrub|resilver) in progress since " + time);
  static const std::regex kPaused("^scrub paused since " + time + " scrub started on " + time);
  static const std::regex kBytes("(\\S+) scanned(?: at (\\S+)/s)?, (\\S+) issued(?: at (\\S+)/s)?, (\\S+) total "
                                 "(\\S+) (?:resilvered|repaired), ([0-9.]+)% done");
  static const std::regex kEta(", " + clock + " to go");
  // zfs-fuse 0.7 / pool v23 (print_scrub_status): hours and minutes only.
  static const std::regex kOldDone("^(scrub|resilver) (completed|stopped) after (\\d+)h(\\d+)m with (\\d+) errors on " + time);
  static const std::regex kOldRunning("^(scrub|resilver) in progress for (\\d+)h(\\d+)m, ([0-9.]+)% done, (\\d+)h(\\d+)m to go");
  ScanProgress p;
  ScanMatch m;
  auto kind_of = [](const std::string& word) { return word.starts_with("scrub") ? Kind::kScrub : Kind::kResilver; };
  if (Search(scan, kDone, m)) {
    p.kind = kind_of(m[1].str());
    p.state = State::kFinished;
    p.processed_bytes = HumanBytes(m[2].str());
    p.elapsed_seconds = ClockSeconds(m, 3);
    p.errors = Number(m[7].str());
    p.end_time = m[8].str();
  } else if (Search(scan, kCanceled, m)) {
    p.kind = kind_of(m[1].str());
    p.state = State::kCanceled;
    p.end_time = m[2].str();
  } else if (Search(scan, kRunning, m) || Search(scan, kPaused, m)) {
    bool paused = scan.starts_with("scrub paused");
    p.kind = paused ? Kind::kScrub : kind_of(m[1].str());
    p.state = paused ? State::kPaused : State::kScanning;
    if (paused) {
      p.end_time = m[1].str();    // paused since
      p.start_time = m[2].str();
    } else {
      p.start_time = m[2].str();
    }
    ScanMatch b;
    if (Search(scan, kBytes, b)) {
      p.done_bytes = HumanBytes(b[3].str());
      p.total_bytes = HumanBytes(b[5].str());
      if (b[4].matched) p.rate_bytes_per_second = HumanBytes(b[4].str());
      p.processed_bytes = HumanBytes(b[6].str());
      p.percent_done = std::strtod(b[7].str().c_str(), nullptr);
    }
    ScanMatch e;
    if (!paused && Search(scan, kEta, e)) p.eta_seconds = ClockSeconds(e, 1);
  } else if (Search(scan, kOldDone, m)) {
    p.kind = kind_of(m[1].str());
    p.state = m[2].str() == "completed" ? State::kFinished : State::kCanceled;
    p.elapsed_seconds = (Number(m[3].str()) * 60 + Number(m[4].str())) * 60;
    p.errors = Number(m[5].str());
    p.end_time = m[6].str();
  } else if (Search(scan, kOldRunning, m)) {
    p.kind = kind_of(m[1].str());
    p.state = State::kScanning;
    p.elapsed_seconds = (Number(m[2].str()) * 60 + Number(m[3].str())) * 60;
    p.percent_done = std::strtod(m[4].str().c_str(), nullptr);
    p.eta_seconds = (Number(m[5].str()) * 60 + Number(m[6].str())) * 60;
  }
  return p;
}

Result<PoolStatus> ParsePoolStatus(std::string_view text) {
  auto blocks = ParseBlocks(text);
  if (blocks.empty()) return Internal("zpool status output has no 'pool:' line");
  const Block& b = blocks.front();
  PoolStatus st;
  st.name = Field(b, "pool");
  st.state = Field(b, "state");
  st.status = Field(b, "status");
  st.action = Field(b, "action");
  // OpenZFS prints "scan:"; zfs-fuse (and pre-2010 Solaris) the older "scrub:".
  st.scan = Field(b, "scan");
  if (st.scan.empty()) st.scan = Field(b, "scrub");
  st.scan_progress = ParseScan(st.scan);
  st.errors = Field(b, "errors");
  PK_ASSIGN_OR_RETURN(auto tree, ParseConfig(b.config));
  st.root = std::move(tree.root);
  st.logs = std::move(tree.logs);
  st.caches = std::move(tree.caches);
  st.spares = std::move(tree.spares);
  return st;
}

Result<std::vector<ImportablePool>> ParseImportList(std::string_view text) {
  std::vector<ImportablePool> pools;
  for (const Block& b : ParseBlocks(text)) {
    ImportablePool p;
    p.name = Field(b, "pool");
    PK_ASSIGN_OR_RETURN(p.guid, ParseUint(Field(b, "id")));
    p.state = Field(b, "state");
    p.status = Field(b, "status");
    if (!b.config.empty()) {
      PK_ASSIGN_OR_RETURN(auto tree, ParseConfig(b.config));
      p.root = std::move(tree.root);
    }
    pools.push_back(std::move(p));
  }
  return pools;
}

Result<std::vector<PoolSummary>> ParsePoolList(std::string_view text, bool exact_sizes) {
  std::vector<PoolSummary> pools;
  auto size = [&](std::string_view s) { return exact_sizes ? ParseUint(s) : ParseHumanSize(s); };
  for (auto line : SplitLines(text)) {
    auto f = SplitTabs(line);
    if (f.size() != 7) {
      return Internal(fmt::format("zpool list line '{}' has {} fields, expected 7", line, f.size()));
    }
    PoolSummary p;
    p.name = std::string(f[0]);
    PK_ASSIGN_OR_RETURN(p.size, size(f[1]));
    PK_ASSIGN_OR_RETURN(p.allocated, size(f[2]));
    PK_ASSIGN_OR_RETURN(p.free, size(f[3]));
    p.health = std::string(f[4]);
    PK_ASSIGN_OR_RETURN(p.guid, ParseUint(f[5]));
    if (f[6] != "-") p.altroot = std::string(f[6]);
    pools.push_back(std::move(p));
  }
  return pools;
}

PropertyValue ParseSource(std::string_view value, std::string_view source) {
  PropertyValue pv;
  pv.value = std::string(value);
  static constexpr std::string_view kInherited = "inherited from ";
  if (source == "local") {
    pv.source = PropertySource::kLocal;
  } else if (source == "default") {
    pv.source = PropertySource::kDefault;
  } else if (source.starts_with(kInherited)) {
    pv.source = PropertySource::kInherited;
    pv.inherited_from = std::string(source.substr(kInherited.size()));
  } else if (source == "received") {
    pv.source = PropertySource::kReceived;
  } else if (source == "temporary") {
    pv.source = PropertySource::kTemporary;
  } else {
    pv.source = PropertySource::kNone;
  }
  return pv;
}

namespace {

// The source column of `zfs get` (see ParseSource).
bool IsSourceColumn(std::string_view s) {
  return s == "-" || s == "local" || s == "default" || s == "received" || s == "temporary" || s == "none" ||
         s.starts_with("inherited from ");
}

}  // namespace

Result<std::vector<Dataset>> ParseGetOutput(std::string_view text) {
  std::vector<Dataset> out;
  // zfs prints a value as it is, so a value holding "\n" spans lines (issue
  // 17 item 8: one such user property failed the whole inventory). A record
  // is complete once it has four columns and ends with a source; lines before
  // that belong to its value and are joined back with "\n". A line that
  // cannot start a record (fewer than three columns, or no dataset name and
  // property first) is the tail of a value that itself held "\tSOURCE\n": it
  // is dropped rather than failing every other dataset.
  std::string pending;
  auto emit = [&](std::string_view record) {
    auto f = SplitTabs(record);
    // A value may itself hold tabs (set by another tool): rejoin the middle.
    std::string value(f[2]);
    for (size_t i = 3; i + 1 < f.size(); ++i) value += "\t" + std::string(f[i]);
    std::string name(f[0]);
    if (out.empty() || out.back().name != name) {
      Dataset ds;
      ds.name = name;
      ds.type = name.find('@') != std::string::npos ? DatasetType::kSnapshot : DatasetType::kFilesystem;
      out.push_back(std::move(ds));
    }
    Dataset& ds = out.back();
    std::string property(f[1]);
    if (property == "type") {
      if (auto t = ParseDatasetType(value)) ds.type = *t;
    }
    ds.properties[property] = ParseSource(value, f.back());
  };
  // A whole record on one line, with a source zfs prints today.
  auto complete_record = [](std::string_view line) {
    auto f = SplitTabs(line);
    return f.size() >= 4 && IsSourceColumn(f.back()) && AnyName::Parse(f[0]) && PropertyName::Parse(f[1]);
  };
  for (auto line : SplitLines(text)) {
    // A pending record of four columns with a source this parser does not
    // know (a newer ZFS) ends where the next whole record starts.
    if (!pending.empty() && SplitTabs(pending).size() >= 4 && complete_record(line)) {
      emit(pending);
      pending.clear();
    }
    if (pending.empty() && line.empty()) continue;
    std::string candidate = pending.empty() ? std::string(line) : pending + "\n" + std::string(line);
    auto f = SplitTabs(candidate);
    if (pending.empty() && (f.size() < 3 || !AnyName::Parse(f[0]) || !PropertyName::Parse(f[1]))) {
      // Before any record this is not `zfs get -H` output at all (wrong columns, the human table).
      if (out.empty()) return Internal(fmt::format("zfs get line '{}' has {} fields, expected 4", line, f.size()));
      continue;
    }
    if (f.size() >= 4 && IsSourceColumn(f.back())) {
      emit(candidate);
      pending.clear();
    } else {
      pending = std::move(candidate);
    }
  }
  if (!pending.empty() && SplitTabs(pending).size() >= 4) {
    emit(pending);
    pending.clear();
  }
  if (!pending.empty()) {
    return Internal(fmt::format("zfs get output ends inside a record: '{}'", pending.substr(0, 200)));
  }
  return out;
}

namespace {

// A quota column: "-", "none" and "" mean no quota / not charged.
Result<uint64_t> QuotaNumber(std::string_view v) {
  if (v == "-" || v == "none" || v.empty()) return uint64_t{0};
  return ParseUint(v);
}

}  // namespace

Result<std::vector<QuotaUsage>> ParseQuotaGet(std::string_view text, QuotaKind kind,
                                              const std::vector<std::string>& subjects) {
  std::map<std::string, std::string, std::less<>> values;
  for (auto line : SplitLines(text)) {
    auto cols = SplitTabs(line);
    if (cols.size() != 2) return Internal(fmt::format("unexpected zfs get line '{}'", line));
    values[std::string(cols[0])] = std::string(cols[1]);
  }
  std::string_view k = QuotaKindName(kind);
  std::vector<QuotaUsage> out;
  for (const auto& s : subjects) {
    QuotaUsage u;
    u.kind = kind;
    u.zfs_name = s;
    u.id = ParseNumericId(s);
    auto field = [&](std::string_view what) -> Result<std::optional<uint64_t>> {
      auto it = values.find(fmt::format("{}{}@{}", k, what, s));
      if (it == values.end()) return std::optional<uint64_t>();
      auto v = QuotaNumber(it->second);
      if (!v) return std::unexpected(v.error().WithContext(fmt::format("{}{}@{}", k, what, s)));
      return std::optional<uint64_t>(*v);
    };
    PK_ASSIGN_OR_RETURN(auto used, field("used"));
    PK_ASSIGN_OR_RETURN(auto quota, field("quota"));
    if (!used || !quota) return Internal(fmt::format("zfs get printed no {}used/{}quota for '{}'", k, k, s));
    u.used = *used;
    u.quota = *quota;
    PK_ASSIGN_OR_RETURN(u.objused, field("objused"));
    PK_ASSIGN_OR_RETURN(u.objquota, field("objquota"));
    out.push_back(std::move(u));
  }
  return out;
}

Result<std::vector<QuotaUsage>> ParseOpenZfsUserspace(std::string_view text, QuotaKind kind) {
  std::vector<QuotaUsage> out;
  std::string_view want = kind == QuotaKind::kUser ? "POSIX User" : "POSIX Group";
  for (auto line : SplitLines(text)) {
    if (line.empty()) continue;
    auto cols = SplitTabs(line);
    if (cols.size() < 4) return Internal(fmt::format("unexpected userspace line '{}'", line));
    if (cols[0] != want) continue;
    QuotaUsage u;
    u.kind = kind;
    u.zfs_name = std::string(cols[1]);
    u.id = ParseNumericId(cols[1]);
    PK_ASSIGN_OR_RETURN(u.used, QuotaNumber(cols[2]));
    PK_ASSIGN_OR_RETURN(u.quota, QuotaNumber(cols[3]));
    if (cols.size() >= 6) {
      PK_ASSIGN_OR_RETURN(auto ou, QuotaNumber(cols[4]));
      PK_ASSIGN_OR_RETURN(auto oq, QuotaNumber(cols[5]));
      u.objused = ou;
      u.objquota = oq;
    }
    out.push_back(std::move(u));
  }
  return out;
}

std::vector<std::string> ParseZfsFuseUserspaceNames(std::string_view text, QuotaKind kind) {
  std::vector<std::string> names;
  std::set<std::string, std::less<>> seen;
  std::string_view want = QuotaKindName(kind);
  for (auto line : SplitLines(text)) {
    auto words = SplitFields(line);
    if (words.size() != 4 || (words[0] != "used" && words[0] != "quota") || words[1] != want) continue;
    std::string_view name = words[2];
    if (name.find(',') != std::string_view::npos) continue;
    if (seen.insert(std::string(name)).second) names.emplace_back(name);
  }
  return names;
}

Result<VdevLabel> ParseZdbLabel(std::string_view text, const std::string& device) {
  // Sections start with "LABEL N" between dashed lines; a label's own fields
  // are indented by exactly 4 spaces (nested lists such as vdev_tree by more).
  VdevLabel label;
  label.device = device;
  bool in_label = false;  // inside a section, before its first nested field
  bool have = false;
  auto unquote = [](std::string_view v) {
    if (v.size() >= 2 && v.front() == '\'' && v.back() == '\'') v = v.substr(1, v.size() - 2);
    return std::string(v);
  };
  for (std::string_view line : SplitLines(text)) {
    if (line.starts_with("LABEL ")) {
      if (have) break;  // the first label that unpacked is enough
      in_label = true;
      continue;
    }
    if (!in_label || !line.starts_with("    ") || line.starts_with("     ")) continue;
    line.remove_prefix(4);
    size_t colon = line.find(": ");
    if (colon == std::string_view::npos) continue;
    std::string_view key = line.substr(0, colon);
    std::string_view value = Trim(line.substr(colon + 2));
    auto number = [&](uint64_t& out) -> Status {
      PK_ASSIGN_OR_RETURN(out, ParseUint(value));
      return OkStatus();
    };
    Status ok = OkStatus();
    if (key == "name") {
      label.pool = unquote(value);
      have = true;
    } else if (key == "pool_guid") {
      ok = number(label.pool_guid);
    } else if (key == "txg") {
      ok = number(label.txg);
    } else if (key == "state") {
      ok = number(label.state);
    } else if (key == "hostname") {
      label.hostname = unquote(value);
    } else if (key == "hostid") {
      uint64_t id = 0;
      ok = number(id);
      label.hostid = id;
    }
    if (!ok) {
      return std::unexpected(ok.error().WithContext(fmt::format("label of '{}': field '{}'", device, key)));
    }
  }
  if (!have) return NotFound(fmt::format("label of '{}': no ZFS label found (zdb -l unpacked none)", device));
  return label;
}

}  // namespace pk::zfs::internal
