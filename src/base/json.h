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

#include "base/error.h"

namespace pk {

// `indent` as nlohmann's: -1 compact, N pretty with N spaces.
std::string DumpJson(const nlohmann::json& value, int indent = -1);

// True when `s` is well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF).
bool IsValidUtf8(std::string_view s);

// The offset of the first byte of `s` that does not start a well-formed UTF-8
// sequence, or npos when `s` is valid UTF-8.
size_t FindInvalidUtf8(std::string_view s);

// `s` with every byte that is not part of a well-formed UTF-8 sequence, and
// every control character, written as \xNN: shows a bad name in a message
// without carrying the bad bytes on (a JSON dump would turn them into U+FFFD).
std::string EscapeNonUtf8(std::string_view s);

// Names taken from the API or the CLI into properties, share names or
// configuration files must be UTF-8: the JSON API, pool properties and SMB
// names cannot carry other bytes faithfully. OkStatus for UTF-8, otherwise
// InvalidArgument "WHAT 'a\xff' is not valid UTF-8 (byte 0xff at offset 1)".
Status CheckUtf8(std::string_view what, std::string_view s);

// CheckUtf8 for every string and object key in `value`; `what` names the
// document, the message adds the member's JSON pointer ("field /name").
Status CheckJsonUtf8(std::string_view what, const nlohmann::json& value);

}  // namespace pk
