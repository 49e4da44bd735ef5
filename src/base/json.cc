#include "base/json.h"

#include <cstdint>

#include <fmt/format.h>

namespace pk {

std::string DumpJson(const nlohmann::json& value, int indent) {
  return value.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace {

// The length of the well-formed UTF-8 sequence at s[i], or 0 when there is none.
size_t SequenceAt(std::string_view s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t extra;
  uint32_t cp;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) {
    extra = 1;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    extra = 2;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    extra = 3;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (s.size() - i <= extra) return 0;
  for (size_t k = 1; k <= extra; ++k) {
    auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
  if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return extra + 1;
}

Status CheckJsonUtf8At(std::string_view what, const nlohmann::json& value, const std::string& pointer) {
  std::string field = pointer.empty() ? std::string(what) : fmt::format("{} field {}", what, pointer);
  if (value.is_string()) return CheckUtf8(field, value.get_ref<const std::string&>());
  if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) PK_TRY(CheckJsonUtf8At(what, value[i], fmt::format("{}/{}", pointer, i)));
  } else if (value.is_object()) {
    for (const auto& [key, member] : value.items()) {
      PK_TRY(CheckUtf8(fmt::format("{} field name under {}", what, pointer.empty() ? "/" : pointer), key));
      PK_TRY(CheckJsonUtf8At(what, member, pointer + "/" + key));
    }
  }
  return OkStatus();
}

}  // namespace

size_t FindInvalidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t n = SequenceAt(s, i);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

bool IsValidUtf8(std::string_view s) { return FindInvalidUtf8(s) == std::string_view::npos; }

std::string EscapeNonUtf8(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    size_t n = SequenceAt(s, i);
    auto c = static_cast<unsigned char>(s[i]);
    if (n == 0 || c < 0x20 || c == 0x7F) {
      out += fmt::format("\\x{:02x}", c);
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

Status CheckUtf8(std::string_view what, std::string_view s) {
  size_t bad = FindInvalidUtf8(s);
  if (bad == std::string_view::npos) return OkStatus();
  return InvalidArgument(fmt::format("{} '{}' is not valid UTF-8 (byte 0x{:02x} at offset {})", what, EscapeNonUtf8(s),
                                     static_cast<unsigned char>(s[bad]), bad));
}

Status CheckJsonUtf8(std::string_view what, const nlohmann::json& value) { return CheckJsonUtf8At(what, value, ""); }

}  // namespace pk
