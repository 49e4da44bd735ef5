#include "base/json.h"

#include <gtest/gtest.h>

namespace pk {
namespace {

// issue 17 item 3 (API side): outside bytes that are not UTF-8 never make a dump throw.
TEST(DumpJsonTest, InvalidUtf8IsReplacedNotThrown) {
  nlohmann::json j = {{"value", std::string("a\xff\xfe" "b")}};
  std::string out;
  ASSERT_NO_THROW(out = DumpJson(j));
  EXPECT_EQ(out, "{\"value\":\"a\xEF\xBF\xBD\xEF\xBF\xBD" "b\"}");
  EXPECT_TRUE(IsValidUtf8(out));
  EXPECT_EQ(DumpJson(nlohmann::json{{"a", 1}}, 2), "{\n  \"a\": 1\n}");
}

TEST(IsValidUtf8Test, AcceptsWellFormedRefusesTheRest) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("tank/a b"));
  EXPECT_TRUE(IsValidUtf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("tank\xFF"));
  EXPECT_FALSE(IsValidUtf8("\xC3"));              // truncated
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xE2\x82"));          // truncated at the end
}

}  // namespace
}  // namespace pk
