// base::DumpJson: the one way Poolkeeper turns JSON into text.
//
// Strings in Poolkeeper's JSON often carry outside bytes: dataset names,
// property values, file names from a migration source, error messages that
// quote them. ZFS and the file systems accept any bytes but '/' and NUL, so
// they need not be UTF-8, and nlohmann's default dump() throws on invalid
// UTF-8. DumpJson replaces each invalid byte sequence with U+FFFD instead: the
// output is always valid JSON, and nothing outside can make a dump throw.
// Where the exact bytes matter (a name to send back), validate or encode them
// before they reach JSON (the API refuses non-UTF-8 names with 400).
//
// Thread-safety: a pure function.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace pk {

// `indent` as nlohmann's: -1 compact, N pretty with N spaces.
std::string DumpJson(const nlohmann::json& value, int indent = -1);

// True when `s` is well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF).
bool IsValidUtf8(std::string_view s);

}  // namespace pk
