// Fuzz target: `tgtadm --mode target --op show` output (share::ParseTgtTargets).
#include <cstddef>
#include <cstdint>
#include <string>

#include "share/iscsi_tgt.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  (void)pk::share::ParseTgtTargets(text);
  return 0;
}
