// For src/hw's unit tests: the recorded trees and outputs under tests/data/hw/
// (PK_TEST_DATA_DIR is set by src/hw/CMakeLists.txt).
#pragma once

#include <fstream>
#include <sstream>
#include <string>

namespace pk::hw::internal {

inline std::string HwData(const std::string& relative) { return std::string(PK_TEST_DATA_DIR) + "/hw/" + relative; }

// The file's text, or "" (the test then fails on what it parses).
inline std::string ReadHwData(const std::string& relative) {
  std::ifstream in(HwData(relative), std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace pk::hw::internal
