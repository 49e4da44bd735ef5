#include "base/unique_fd.h"

#include <fcntl.h>
#include <gtest/gtest.h>

namespace pk {
namespace {

bool IsOpen(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

int OpenNull() { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }

TEST(UniqueFdTest, ClosesOnScopeExitResetAndAssignment) {
  int a = OpenNull(), b = OpenNull(), c = OpenNull();
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  ASSERT_GE(c, 0);
  {
    UniqueFd fd(a);
    EXPECT_TRUE(fd.valid());
    fd.Reset(b);
    EXPECT_FALSE(IsOpen(a));
    EXPECT_EQ(fd.get(), b);
    UniqueFd other(c);
    fd = std::move(other);
    EXPECT_FALSE(IsOpen(b));
    EXPECT_FALSE(other.valid());
    EXPECT_EQ(fd.get(), c);
  }
  EXPECT_FALSE(IsOpen(c));
}

TEST(UniqueFdTest, ReleaseAndMoveHandOverWithoutClosing) {
  int a = OpenNull();
  ASSERT_GE(a, 0);
  UniqueFd first(a);
  UniqueFd second(std::move(first));
  EXPECT_FALSE(first.valid());
  EXPECT_TRUE(IsOpen(a));
  EXPECT_EQ(second.release(), a);
  EXPECT_TRUE(IsOpen(a));
  EXPECT_EQ(UniqueFd(a).Close(), 0);
  EXPECT_FALSE(IsOpen(a));
  EXPECT_EQ(UniqueFd().Close(), 0);
}

}  // namespace
}  // namespace pk
