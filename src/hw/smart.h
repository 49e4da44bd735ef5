// SMART (issue 20 item 3): `smartctl -j` output of ATA, SCSI and NVMe disks
// parsed into a SmartReport, and SmartReader, which runs smartctl through
// sys::ProcessRunner with a timeout and `-n standby` (a sleeping disk is
// reported as kStandby, never woken).
//
// A report is kFailing when the drive's own health check failed, or any of:
// reallocated, pending or offline-uncorrectable sectors (ATA 5, 197, 198),
// grown defects (SCSI), an NVMe critical warning bit, NVMe media errors, a
// failed self-test in the log; `reasons` says which, in words. Thresholds and
// the problems they make are diagnosis's (issue 20 item 4).
// Thread-safety: ParseSmartctl is pure; SmartReader may be used from any thread.
#pragma once

#include <chrono>
#include <string>

#include "base/error.h"
#include "hw/disk.h"
#include "sys/process_runner.h"

namespace pk::hw {

// smartctl's JSON (json_format_version 1, smartmontools 7.x). Never fails on
// a well-formed document: what smartctl could not do is the report's state
// (kStandby, kUnsupported, kError) with its message. Text that is not a JSON
// object is InvalidArgument naming `origin`.
Result<SmartReport> ParseSmartctl(std::string_view json_text, std::string_view origin);

enum class SelfTest { kShort, kLong };
Result<SelfTest> ParseSelfTest(std::string_view text);  // "short" | "long"
std::string_view SelfTestName(SelfTest test);

struct SmartOptions {
  std::string smartctl = "/usr/sbin/smartctl";
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
};

class SmartReader {
 public:
  SmartReader(sys::ProcessRunner& runner, SmartOptions options) : runner_(runner), options_(std::move(options)) {}
  // `smartctl -j -a -n standby DEVNODE`; a tool that cannot run or times out is
  // a report in kError naming the disk, not an error (the poll goes on).
  SmartReport Read(const std::string& devnode, std::chrono::system_clock::time_point now);
  // `smartctl -j -t short|long DEVNODE`: starts the drive's self-test (it runs in the drive).
  Status StartSelfTest(const std::string& devnode, SelfTest test);

 private:
  sys::ProcessRunner& runner_;
  SmartOptions options_;
};

}  // namespace pk::hw
