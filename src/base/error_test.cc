#include "base/error.h"

#include <gtest/gtest.h>

namespace pk {
namespace {

Result<int> Half(int v) {
  if (v % 2) return InvalidArgument("value " + std::to_string(v) + " is odd");
  return v / 2;
}

Result<int> Quarter(int v) {
  PK_ASSIGN_OR_RETURN(int h, Half(v));
  PK_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status CheckEven(int v) {
  PK_TRY_CONTEXT(Half(v), "check " + std::to_string(v));
  return OkStatus();
}

TEST(ErrorTest, PropagatesValuesAndErrors) {
  EXPECT_EQ(*Quarter(8), 2);
  auto r = Quarter(6);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().message(), "value 3 is odd");
}

TEST(ErrorTest, ContextPrefixesMessage) {
  auto s = CheckEven(3);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message(), "check 3: value 3 is odd");
  EXPECT_EQ(s.error().ToString(), "invalid_argument: check 3: value 3 is odd");
}

TEST(ErrorTest, CodeNamesRoundTrip) {
  EXPECT_EQ(ErrorCodeName(ErrorCode::kNotFound), "not_found");
  EXPECT_EQ(ErrorCodeFromName("not_found"), ErrorCode::kNotFound);
  EXPECT_EQ(ErrorCodeFromName("bogus"), ErrorCode::kUnknown);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kNotFound), 404);
}

}  // namespace
}  // namespace pk
