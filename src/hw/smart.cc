#include "hw/smart.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/json.h"
#include "base/text.h"
#include "hw/sys_tree.h"

namespace pk::hw {

using nlohmann::json;

namespace {

// j[a][b]... as T when present and of that type.
const json* At(const json& j, std::initializer_list<const char*> path) {
  const json* cur = &j;
  for (const char* key : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(key);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}
std::optional<uint64_t> U64(const json& j, std::initializer_list<const char*> path) {
  const json* v = At(j, path);
  if (v && v->is_number_unsigned()) return v->get<uint64_t>();
  if (v && v->is_number_integer() && v->get<int64_t>() >= 0) return static_cast<uint64_t>(v->get<int64_t>());
  return std::nullopt;
}
std::optional<int64_t> I64(const json& j, std::initializer_list<const char*> path) {
  const json* v = At(j, path);
  if (v && v->is_number_integer()) return v->get<int64_t>();
  return std::nullopt;
}
std::string Str(const json& j, std::initializer_list<const char*> path) {
  const json* v = At(j, path);
  if (!v || !v->is_string()) return "";
  auto checked = CheckAttribute("smartctl", v->get<std::string>());
  return checked ? *checked : EscapeNonUtf8(v->get<std::string>()).substr(0, 200);
}

constexpr const char* kNvmeWarnings[] = {
    "available spare below threshold", "temperature outside its thresholds", "NVM subsystem reliability degraded",
    "media placed in read-only mode", "volatile memory backup device failed", "persistent memory region read-only"};

void Ata(const json& j, SmartReport& r) {
  if (const json* table = At(j, {"ata_smart_attributes", "table"}); table && table->is_array()) {
    for (const auto& a : *table) {
      auto id = U64(a, {"id"});
      auto raw = U64(a, {"raw", "value"});
      if (!id || !raw) continue;
      // Only the low 16/32 bits count for these: vendors pack other data above.
      uint64_t low = *raw & 0xffffffffULL;
      if (*id == 5) r.reallocated_sectors = low;
      if (*id == 197) r.pending_sectors = low;
      if (*id == 198) r.offline_uncorrectable = low;
    }
  }
  if (const json* log = At(j, {"ata_smart_self_test_log", "standard", "table"}); log && log->is_array()) {
    for (const auto& t : *log) {
      const json* passed = At(t, {"status", "passed"});
      if (passed && passed->is_boolean() && !passed->get<bool>()) ++r.failed_self_tests;
    }
  }
  r.self_test_status = Str(j, {"ata_smart_data", "self_test", "status", "string"});
}

void Scsi(const json& j, SmartReport& r) {
  r.grown_defects = U64(j, {"scsi_grown_defect_list"});
  for (int i = 0; i < 20; ++i) {
    std::string key = fmt::format("scsi_self_test_{}", i);
    auto it = j.find(key);
    if (it == j.end()) break;
    auto result = U64(*it, {"result", "value"});
    // SPC self-test results 3..7: failed (unknown error, or a failed segment).
    if (result && *result >= 3 && *result <= 7) ++r.failed_self_tests;
    if (i == 0) r.self_test_status = Str(*it, {"result", "string"});
  }
}

void Nvme(const json& j, SmartReport& r) {
  const json* log = At(j, {"nvme_smart_health_information_log"});
  if (log) {
    r.critical_warning = U64(*log, {"critical_warning"});
    r.media_errors = U64(*log, {"media_errors"});
    r.percentage_used = U64(*log, {"percentage_used"});
    if (!r.temperature_c) r.temperature_c = I64(*log, {"temperature"});
    if (!r.power_on_hours) r.power_on_hours = U64(*log, {"power_on_hours"});
    if (r.critical_warning) {
      for (int bit = 0; bit < 6; ++bit) {
        if (*r.critical_warning & (1u << bit)) r.critical_warnings.push_back(kNvmeWarnings[bit]);
      }
    }
  }
  if (const json* table = At(j, {"nvme_self_test_log", "table"}); table && table->is_array()) {
    for (const auto& t : *table) {
      auto result = U64(t, {"self_test_result", "value"});
      // NVMe: 5 fatal error, 6 unknown failed segment, 7 failed segments.
      if (result && *result >= 5 && *result <= 7) ++r.failed_self_tests;
    }
  }
  r.self_test_status = Str(j, {"nvme_self_test_log", "current_self_test_operation", "string"});
}

}  // namespace

Result<SmartReport> ParseSmartctl(std::string_view json_text, std::string_view origin) {
  auto j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument(fmt::format("{}: not a JSON object", origin));
  SmartReport r;
  r.protocol = Str(j, {"device", "protocol"});
  // What smartctl said it could not do.
  std::string error;
  if (const json* msgs = At(j, {"smartctl", "messages"}); msgs && msgs->is_array()) {
    for (const auto& m : *msgs) {
      std::string text = Str(m, {"string"});
      std::string upper = text;
      for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (upper.find("STANDBY MODE") != std::string::npos || upper.find("SLEEP MODE") != std::string::npos) {
        r.state = SmartReport::State::kStandby;
        r.message = text;
        return r;
      }
      if (Str(m, {"severity"}) == "error" && error.empty()) error = text;
    }
  }
  const json* available = At(j, {"smart_support", "available"});
  bool has_data = At(j, {"smart_status"}) || At(j, {"nvme_smart_health_information_log"}) ||
                  At(j, {"ata_smart_attributes"}) || At(j, {"scsi_grown_defect_list"});
  if (!has_data) {
    if ((available && available->is_boolean() && !available->get<bool>()) ||
        error.find("Unable to detect device type") != std::string::npos) {
      r.state = SmartReport::State::kUnsupported;
      r.message = error.empty() ? "the device has no SMART" : error;
    } else {
      r.state = SmartReport::State::kError;
      r.message = error.empty() ? "smartctl reported no SMART data" : error;
    }
    return r;
  }
  if (const json* p = At(j, {"smart_status", "passed"}); p && p->is_boolean()) r.passed = p->get<bool>();
  r.temperature_c = I64(j, {"temperature", "current"});
  r.power_on_hours = U64(j, {"power_on_time", "hours"});
  if (r.protocol == "ATA") Ata(j, r);
  if (r.protocol == "SCSI") Scsi(j, r);
  if (r.protocol == "NVMe") Nvme(j, r);

  if (r.passed && !*r.passed) r.reasons.push_back("the drive's SMART health check failed");
  auto count = [&](const std::optional<uint64_t>& v, const char* what) {
    if (v && *v > 0) r.reasons.push_back(fmt::format("{} {}", *v, what));
  };
  count(r.reallocated_sectors, "reallocated sectors");
  count(r.pending_sectors, "pending sectors");
  count(r.offline_uncorrectable, "offline uncorrectable sectors");
  count(r.grown_defects, "grown defects");
  count(r.media_errors, "media errors");
  for (const auto& w : r.critical_warnings) r.reasons.push_back("critical warning: " + w);
  if (r.failed_self_tests > 0) r.reasons.push_back(fmt::format("{} failed self-test(s) in the log", r.failed_self_tests));
  r.state = r.reasons.empty() ? SmartReport::State::kOk : SmartReport::State::kFailing;
  return r;
}

Result<SelfTest> ParseSelfTest(std::string_view text) {
  if (text == "short") return SelfTest::kShort;
  if (text == "long") return SelfTest::kLong;
  return InvalidArgument(fmt::format("self-test '{}': expected short or long", EscapeNonUtf8(text)));
}

std::string_view SelfTestName(SelfTest test) { return test == SelfTest::kShort ? "short" : "long"; }

SmartReport SmartReader::Read(const std::string& devnode, std::chrono::system_clock::time_point now) {
  sys::Command cmd{.program = options_.smartctl,
                   .args = {"-j", "-a", "-n", "standby", devnode},
                   .env = sys::DefaultToolEnvironment(),
                   .timeout = options_.timeout};
  SmartReport r;
  auto ran = runner_.Run(cmd);
  if (!ran) {
    r.state = SmartReport::State::kError;
    r.message = fmt::format("SMART of {}: {}", devnode, ran.error().message());
  } else if (ran->timed_out) {
    r.state = SmartReport::State::kError;
    r.message = fmt::format("SMART of {}: smartctl did not answer within {} s", devnode, options_.timeout.count() / 1000);
  } else {
    auto parsed = ParseSmartctl(ran->out, cmd.ToString());
    if (parsed) {
      r = std::move(*parsed);
      if (!r.message.empty()) r.message = fmt::format("SMART of {}: {}", devnode, r.message);
    } else {
      r.state = SmartReport::State::kError;
      r.message = fmt::format("SMART of {}: smartctl {}: {}", devnode, ran->status.ToString(),
                              Trim(ran->err.empty() ? parsed.error().message() : ran->err));
    }
  }
  r.read_at = now;
  return r;
}

Status SmartReader::StartSelfTest(const std::string& devnode, SelfTest test) {
  sys::Command cmd{.program = options_.smartctl,
                   .args = {"-j", "-t", std::string(SelfTestName(test)), devnode},
                   .env = sys::DefaultToolEnvironment(),
                   .timeout = options_.timeout};
  std::string what = fmt::format("start {} self-test on {}", SelfTestName(test), devnode);
  PK_ASSIGN_OR_RETURN(auto r, runner_.Run(cmd));
  if (r.timed_out) return DeadlineExceeded(fmt::format("{}: smartctl did not answer in time", what));
  // Bits 0-2 of smartctl's exit status: it could not do what was asked.
  if (r.status.kind != sys::ExitStatus::Kind::kExited || (r.status.code & 0x7) != 0) {
    std::string said;
    auto j = json::parse(r.out, nullptr, false);
    if (!j.is_discarded()) {
      if (const json* msgs = At(j, {"smartctl", "messages"}); msgs && msgs->is_array() && !msgs->empty()) {
        said = Str((*msgs)[0], {"string"});
      }
    }
    if (said.empty()) said = std::string(Trim(r.err));
    return FailedPrecondition(fmt::format("{}: smartctl {}: {}", what, r.status.ToString(), said));
  }
  return OkStatus();
}

}  // namespace pk::hw
