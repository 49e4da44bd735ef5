// Fuzz target: share definitions (share/definition.h). The input is an
// `org.poolkeeper:share.*` property value, decoded for each protocol (schema
// check, JSON, then FromJson, the one validation path the API shares); a
// definition that decodes must encode and decode to the same definition.
// Shadow-migration source URIs (migrate/source.h) are fuzzed here too: they
// reach the daemon the same ways (API body, dataset property).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "migrate/source.h"
#include "share/definition.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace s = pk::share;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  static const auto dataset = *pk::zfs::DatasetName::Parse("tank/fuzz");
  for (auto protocol : {s::Protocol::kIscsi, s::Protocol::kNfs, s::Protocol::kSmb}) {
    auto definition = s::Decode(protocol, text, dataset);
    if (!definition) continue;
    (void)s::RedactedJson(*definition);
    auto again = s::Decode(protocol, s::Encode(*definition), dataset);
    if (!again || !(*again == *definition)) std::abort();  // what we write we must read back
  }
  (void)s::ParseProtocol(text);
  (void)s::NfsClient::Parse(text);
  (void)s::Iqn::Parse(text);
  (void)s::IscsiInitiator::Parse(text);
  (void)pk::migrate::SourceUri::Parse(text);
  return 0;
}
