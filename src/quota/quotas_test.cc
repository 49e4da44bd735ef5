#include "quota/quotas.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testing/fake_user_directory.h"
#include "testing/fake_zfs.h"

namespace pk::quota {
namespace {

using ::testing::HasSubstr;

class QuotasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    zfs_.AddImportedPool("tank", {{"tank", "on", "/tank", false}, {"tank/home", "on", "/tank/home", false}});
    users_.Add(sys::AccountKind::kUser, "alice", 1001);
    users_.Add(sys::AccountKind::kUser, "bob", 1002);
    users_.Add(sys::AccountKind::kGroup, "staff", 50);
  }
  static zfs::DatasetName Home() { return *zfs::DatasetName::Parse("tank/home"); }
  std::vector<std::string> Names(const ListQuery& q) {
    auto rows = quotas_.List(Home(), q);
    EXPECT_TRUE(rows) << rows.error().ToString();
    std::vector<std::string> out;
    if (rows) {
      for (const auto& r : *rows) out.push_back(r.name);
    }
    return out;
  }

  pk::testing::FakeZfs zfs_{zfs::Dialect::kZfsFuse};
  pk::testing::FakeUserDirectory users_;
  Quotas quotas_{zfs_, zfs_, &users_};
};

// issue 19 item 3: the quota logic of api/quota_routes.cc, now in src/quota.
TEST_F(QuotasTest, SubjectByNameOrIdExactlyOne) {
  auto alice = quotas_.SubjectOf("alice", "", "ctx");
  ASSERT_TRUE(alice) << alice.error().ToString();
  EXPECT_EQ(alice->id, 1001u);
  EXPECT_EQ(alice->kind, zfs::QuotaKind::kUser);
  auto numeric = quotas_.SubjectOf("", "4242", "ctx");
  ASSERT_TRUE(numeric);
  EXPECT_EQ(numeric->kind, zfs::QuotaKind::kGroup);
  EXPECT_EQ(numeric->id, 4242u);
  EXPECT_THAT(quotas_.SubjectOf("alice", "staff", "ctx").error().message(), HasSubstr("not both"));
  EXPECT_THAT(quotas_.SubjectOf("", "", "ctx").error().message(), HasSubstr("give a user or a group"));
  auto unknown = quotas_.SubjectOf("nosuch", "", "set quota on 'tank/home'");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(unknown.error().message(), HasSubstr("set quota on 'tank/home'"));
  EXPECT_THAT(quotas_.SubjectOf("a;reboot", "", "ctx").error().message(), HasSubstr("'a;reboot'"));
}

TEST_F(QuotasTest, NoDirectoryRefusesNamesButTakesIds) {
  Quotas blind(zfs_, zfs_, nullptr);
  EXPECT_EQ(blind.SubjectOf("alice", "", "ctx").error().code(), ErrorCode::kUnavailable);
  EXPECT_TRUE(blind.SubjectOf("1001", "", "ctx"));
}

TEST_F(QuotasTest, SetReadsBackNamedAndClearRemoves) {
  zfs::QuotaSubject alice{zfs::QuotaKind::kUser, 1001};
  auto set = quotas_.Set(Home(), alice, Limits{.bytes = 10ull << 30});
  ASSERT_TRUE(set) << set.error().ToString();
  EXPECT_EQ(set->name, "alice");
  EXPECT_EQ(set->usage.quota, 10ull << 30);
  EXPECT_EQ(zfs_.CountCalls("set-quota tank/home user@1001=10737418240"), 1u);
  auto got = quotas_.Get(Home(), alice);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->usage.quota, 10ull << 30);
  EXPECT_EQ(zfs_.CountCalls("list-quotas tank/home user"), 0u) << "a single subject must not list";
  ASSERT_TRUE(quotas_.Clear(Home(), alice));
  EXPECT_EQ(zfs_.CountCalls("clear-quota tank/home user@1001"), 1u);
  // No limit, or a zero one: refused before zfs is called.
  EXPECT_FALSE(quotas_.Set(Home(), alice, Limits{}));
  EXPECT_FALSE(quotas_.Set(Home(), alice, Limits{.bytes = 0}));
  EXPECT_EQ(zfs_.CountCalls("set-quota tank/home user@1001=0"), 0u);
}

TEST_F(QuotasTest, ListNamesFiltersAndSorts) {
  zfs_.SetQuotaUsage("tank/home", zfs::QuotaKind::kUser, 1001, 100);
  zfs_.SetQuotaUsage("tank/home", zfs::QuotaKind::kUser, 1002, 300);
  zfs_.SetQuotaUsage("tank/home", zfs::QuotaKind::kUser, 424242, 200);
  ASSERT_TRUE(quotas_.Set(Home(), {zfs::QuotaKind::kUser, 1001}, Limits{.bytes = 1024}));
  ASSERT_TRUE(quotas_.Set(Home(), {zfs::QuotaKind::kUser, 1002}, Limits{.bytes = 100000}));
  EXPECT_THAT(Names({}), ::testing::ElementsAre("424242", "alice", "bob"));
  EXPECT_THAT(Names({.sort = SortBy::kUsed}), ::testing::ElementsAre("bob", "424242", "alice"));
  EXPECT_THAT(Names({.sort = SortBy::kQuota}), ::testing::ElementsAre("bob", "alice", "424242"));
  // alice 100/1024 before bob 300/100000; no quota (424242) last.
  EXPECT_THAT(Names({.sort = SortBy::kPercent}), ::testing::ElementsAre("alice", "bob", "424242"));
  EXPECT_THAT(Names({.filter = "b"}), ::testing::ElementsAre("bob"));
  EXPECT_THAT(Names({.filter = "4242"}), ::testing::ElementsAre("424242"));
  EXPECT_TRUE(Names({.kind = zfs::QuotaKind::kGroup}).empty());
}

}  // namespace
}  // namespace pk::quota
