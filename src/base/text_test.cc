#include "base/text.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pk {
namespace {

using ::testing::ElementsAre;

TEST(TextTest, SplitLinesDropsOnlyTheFinalEmptyLine) {
  EXPECT_THAT(SplitLines("a\n\nb\n"), ElementsAre("a", "", "b"));
  EXPECT_THAT(SplitLines("a"), ElementsAre("a"));
  EXPECT_TRUE(SplitLines("").empty());
}

TEST(TextTest, SplitFieldsSkipsRunsOfBlanksAndTabs) {
  EXPECT_THAT(SplitFields("  /tank\t\t127.0.0.1(rw)  x "), ElementsAre("/tank", "127.0.0.1(rw)", "x"));
  EXPECT_TRUE(SplitFields(" \t ").empty());
}

TEST(TextTest, UnescapeOctalDecodesOnlyThreeOctalDigits) {
  EXPECT_EQ(UnescapeOctal("/pk\\040lab/a\\011b\\134c\\012"), "/pk lab/a\tb\\c\n");
  // Not an escape: left as written, never an exception or a lost byte.
  EXPECT_EQ(UnescapeOctal("\\xyz\\08\\04"), "\\xyz\\08\\04");
  EXPECT_EQ(UnescapeOctal("end\\"), "end\\");
}

TEST(TextTest, TrimStripsBothEndsOfTheGivenCharacters) {
  EXPECT_EQ(Trim(" \t\r\n a b \v\f\n"), "a b");
  EXPECT_EQ(Trim(" \t "), "");
  EXPECT_EQ(Trim(""), "");
  // HTTP's optional white space is blanks and tabs only.
  EXPECT_EQ(Trim("\t x\r ", " \t"), "x\r");
}

TEST(TextTest, LowerTouchesOnlyAsciiLetters) {
  EXPECT_EQ(Lower("GloBAL-1$"), "global-1$");
  EXPECT_EQ(Lower("\xc3\x89T\xc3\x89"), "\xc3\x89t\xc3\x89");
}

}  // namespace
}  // namespace pk
