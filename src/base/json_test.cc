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

// issue 17 item 3 / harden item 1: a name that is not UTF-8 is refused with the
// object, the byte and its offset; the message shows the bad byte escaped.
TEST(CheckUtf8Test, NamesTheByteAndItsOffset) {
  EXPECT_TRUE(CheckUtf8("name", "caf\xC3\xA9").has_value());
  auto s = CheckUtf8("SMB share name", "ab\xFF" "c");
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().message(), "SMB share name 'ab\\xffc' is not valid UTF-8 (byte 0xff at offset 2)");
  EXPECT_EQ(FindInvalidUtf8("\xC3\xA9\xC3"), 2u);
  EXPECT_EQ(FindInvalidUtf8("ok"), std::string_view::npos);
  EXPECT_EQ(EscapeNonUtf8("\xC3\xA9\n\xFE"), "\xC3\xA9\\x0a\\xfe");
}

TEST(CheckJsonUtf8Test, NamesTheMember) {
  nlohmann::json ok = {{"name", "caf\xC3\xA9"}, {"list", {"a", "b"}}};
  EXPECT_TRUE(CheckJsonUtf8("body", ok).has_value());
  nlohmann::json bad = {{"clients", {"*(ro)", std::string("h\xFF")}}};
  auto s = CheckJsonUtf8("POST /v1/x", bad);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().message(), "POST /v1/x field /clients/1 'h\\xff' is not valid UTF-8 (byte 0xff at offset 1)");
  nlohmann::json bad_key = {{std::string("k\xFF"), 1}};
  s = CheckJsonUtf8("body", bad_key);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().message(), "body field name under / 'k\\xff' is not valid UTF-8 (byte 0xff at offset 1)");
}

}  // namespace
}  // namespace pk
