// Small text helpers shared by the parsers of tool output and /proc files.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pk {

// Splits text into lines without the trailing '\n'; drops a final empty line.
// The views point into `text`.
std::vector<std::string_view> SplitLines(std::string_view text);

// The fields of a line separated by runs of blanks (' ' or '\t'); no empty
// fields. The views point into `line`.
std::vector<std::string_view> SplitFields(std::string_view line);

// Decodes the three-digit octal escapes ("\040" for a space) that
// /proc/self/mountinfo, exportfs and the sunrpc caches write for blanks,
// newlines and backslashes. A backslash not followed by three octal digits
// stays as it is.
std::string UnescapeOctal(std::string_view text);

// The characters isspace() accepts in the C locale.
inline constexpr std::string_view kWhitespace = " \t\n\v\f\r";

// `text` without the leading and trailing characters that are in `chars`
// (ASCII whitespace unless told otherwise). The view points into `text`:
// keep the argument alive, or copy it into a std::string at once.
std::string_view Trim(std::string_view text, std::string_view chars = kWhitespace);

// `text` with ASCII letters in lower case, whatever the process locale.
std::string Lower(std::string_view text);

}  // namespace pk
