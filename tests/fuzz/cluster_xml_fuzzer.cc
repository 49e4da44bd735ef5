// Fuzz target: crm_mon and CIB XML (src/cluster/crm_mon.h, cib.h). The input
// is `crm_mon --output-as=xml` text, optionally followed by a NUL byte and
// `cibadmin --query` text; the whole input is also parsed as a CIB alone.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cluster/cib.h"
#include "cluster/crm_mon.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  size_t nul = text.find('\0');
  std::string_view crm_mon = text.substr(0, nul);
  std::string_view cib = nul == std::string_view::npos ? std::string_view() : text.substr(nul + 1);
  (void)pk::cluster::ParseClusterStatus(crm_mon, cib);
  (void)pk::cluster::ParseCibConfig(text);
  return 0;
}
