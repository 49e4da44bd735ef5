// Fuzz target: the zpool/zfs output parsers (src/zfs/internal/parse.h), both
// flavours (zfs-fuse and OpenZFS 2 golden files seed the corpus). Every
// parser sees every input: a crash, a sanitizer report or a hang is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "zfs/internal/parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace z = pk::zfs::internal;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)z::ParsePoolStatus(text);
  (void)z::ParseImportList(text);
  (void)z::ParsePoolList(text, true);
  (void)z::ParsePoolList(text, false);
  (void)z::ParseGetOutput(text);
  (void)z::ParseQuotaGet(text, pk::zfs::QuotaKind::kUser, {"root", "1000"});
  (void)z::ParseQuotaGet(text, pk::zfs::QuotaKind::kGroup, {"wheel"});
  (void)z::ParseOpenZfsUserspace(text, pk::zfs::QuotaKind::kUser);
  (void)z::ParseOpenZfsUserspace(text, pk::zfs::QuotaKind::kGroup);
  (void)z::ParseZfsFuseUserspaceNames(text, pk::zfs::QuotaKind::kUser);
  (void)z::ParseHumanSize(text.substr(0, 32));
  (void)z::ParseUint(text.substr(0, 32));
  return 0;
}
