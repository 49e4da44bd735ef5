// Small text helpers shared by the parsers of tool output and /proc files.
// Thread-safety: pure functions.
#pragma once

#include <string_view>
#include <vector>

namespace pk {

// Splits text into lines without the trailing '\n'; drops a final empty line.
// The views point into `text`.
std::vector<std::string_view> SplitLines(std::string_view text);

}  // namespace pk
