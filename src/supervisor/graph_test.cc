#include "supervisor/graph.h"

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pk::supervisor {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Levels = std::vector<std::vector<std::string>>;
using Edges = std::vector<std::pair<std::string, std::string>>;

// Adds `id` -> `after` and fails the test if it is refused.
void Edge(DependencyGraph& g, const std::string& id, const std::string& after) {
  auto s = g.AddEdge(id, after);
  ASSERT_TRUE(s) << s.error().ToString();
}

TEST(DependencyGraphTest, EmptyGraphHasNoLevels) {
  DependencyGraph g;
  auto levels = g.Levels();
  ASSERT_TRUE(levels);
  EXPECT_THAT(*levels, IsEmpty());
  EXPECT_TRUE(g.CheckAcyclic());
}

TEST(DependencyGraphTest, LinearChain) {
  DependencyGraph g;
  // Added out of order on purpose.
  Edge(g, "share:s", "pool:tank");
  Edge(g, "ip:vip", "share:s");
  Edge(g, "pool:tank", "exec:warmup");
  auto levels = g.Levels();
  ASSERT_TRUE(levels) << levels.error().ToString();
  EXPECT_EQ(*levels, (Levels{{"exec:warmup"}, {"pool:tank"}, {"share:s"}, {"ip:vip"}}));
  EXPECT_TRUE(g.CheckAcyclic());
}

TEST(DependencyGraphTest, Diamond) {
  DependencyGraph g;
  Edge(g, "share:b", "pool:a");
  Edge(g, "share:c", "pool:a");
  Edge(g, "ip:d", "share:c");
  Edge(g, "ip:d", "share:b");
  auto levels = g.Levels();
  ASSERT_TRUE(levels);
  EXPECT_EQ(*levels, (Levels{{"pool:a"}, {"share:b", "share:c"}, {"ip:d"}}));
}

TEST(DependencyGraphTest, LevelIsOneAfterDeepestDependency) {
  DependencyGraph g;
  Edge(g, "c", "a");  // shallow dependency
  Edge(g, "c", "b");  // deep dependency
  Edge(g, "b", "a");
  auto levels = g.Levels();
  ASSERT_TRUE(levels);
  EXPECT_EQ(*levels, (Levels{{"a"}, {"b"}, {"c"}}));
}

TEST(DependencyGraphTest, IndependentResourcesShareALevelSorted) {
  DependencyGraph g;
  g.AddResource("pool:z");
  g.AddResource("pool:a");
  g.AddResource("ip:m");
  g.AddResource("pool:a");  // idempotent
  Edge(g, "share:y", "pool:z");
  Edge(g, "share:x", "pool:a");
  auto levels = g.Levels();
  ASSERT_TRUE(levels);
  EXPECT_EQ(*levels, (Levels{{"ip:m", "pool:a", "pool:z"}, {"share:x", "share:y"}}));
  EXPECT_EQ(g.resources().size(), 5u);
}

TEST(DependencyGraphTest, DuplicateEdgeIsNoOp) {
  DependencyGraph g;
  Edge(g, "b", "a");
  Edge(g, "b", "a");
  EXPECT_THAT(g.DirectDependencies("b"), ElementsAre("a"));
  auto levels = g.Levels();
  ASSERT_TRUE(levels);
  EXPECT_EQ(*levels, (Levels{{"a"}, {"b"}}));
}

TEST(DependencyGraphTest, SelfEdgeRefused) {
  DependencyGraph g;
  auto s = g.AddEdge("pool:a", "pool:a");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(s.error().message(), ::testing::HasSubstr("pool:a"));
  EXPECT_THAT(g.resources(), IsEmpty());  // nothing added
  EXPECT_TRUE(g.CheckAcyclic());
}

TEST(DependencyGraphTest, EmptyIdRefused) {
  DependencyGraph g;
  auto s = g.AddEdge("", "pool:a");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(g.AddEdge("pool:a", ""));
  EXPECT_THAT(g.resources(), IsEmpty());
}

TEST(DependencyGraphTest, TwoCycleNamedExactly) {
  DependencyGraph g;
  Edge(g, "pool:b", "pool:a");
  Edge(g, "pool:a", "pool:b");
  auto s = g.CheckAcyclic();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(s.error().message(), "dependency cycle: pool:a -> pool:b -> pool:a");
  auto levels = g.Levels();
  ASSERT_FALSE(levels);
  EXPECT_EQ(levels.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(levels.error().message(), "dependency cycle: pool:a -> pool:b -> pool:a");
}

TEST(DependencyGraphTest, ThreeCycleNamedExactlyWhateverTheInsertionOrder) {
  std::vector<std::pair<std::string, std::string>> edges = {
      {"pool:a", "pool:b"}, {"pool:b", "pool:c"}, {"pool:c", "pool:a"}};
  std::sort(edges.begin(), edges.end());
  do {
    DependencyGraph g;
    for (const auto& [id, after] : edges) Edge(g, id, after);
    auto levels = g.Levels();
    ASSERT_FALSE(levels);
    EXPECT_EQ(levels.error().code(), ErrorCode::kFailedPrecondition);
    EXPECT_EQ(levels.error().message(), "dependency cycle: pool:a -> pool:b -> pool:c -> pool:a");
  } while (std::next_permutation(edges.begin(), edges.end()));
}

TEST(DependencyGraphTest, CycleStartsFromSmallestIdOnTheCycle) {
  DependencyGraph g;
  // pool:c -> pool:d -> pool:b -> pool:c; pool:a only depends on the cycle
  // and is not part of it, so it must not be named.
  Edge(g, "pool:a", "pool:c");
  Edge(g, "pool:c", "pool:d");
  Edge(g, "pool:d", "pool:b");
  Edge(g, "pool:b", "pool:c");
  auto s = g.CheckAcyclic();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message(), "dependency cycle: pool:b -> pool:c -> pool:d -> pool:b");
}

TEST(DependencyGraphTest, ShortestCycleThroughSmallestIdIsNamed) {
  DependencyGraph g;
  // Two cycles through pool:a: a -> b -> c -> a and a -> d -> a.
  Edge(g, "pool:a", "pool:b");
  Edge(g, "pool:b", "pool:c");
  Edge(g, "pool:c", "pool:a");
  Edge(g, "pool:a", "pool:d");
  Edge(g, "pool:d", "pool:a");
  auto s = g.CheckAcyclic();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message(), "dependency cycle: pool:a -> pool:d -> pool:a");
}

TEST(DependencyGraphTest, CycleWithUnrelatedAcyclicPart) {
  DependencyGraph g;
  // Acyclic part, including ids that sort before the cycle.
  Edge(g, "exec:b", "exec:a");
  Edge(g, "ip:x", "exec:b");
  g.AddResource("aaa:lonely");
  // Cycle.
  Edge(g, "share:q", "share:p");
  Edge(g, "share:r", "share:q");
  Edge(g, "share:p", "share:r");
  // Something downstream of the cycle with a smaller id.
  Edge(g, "ip:y", "share:r");
  auto levels = g.Levels();
  ASSERT_FALSE(levels);
  EXPECT_EQ(levels.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(levels.error().message(),
            "dependency cycle: share:p -> share:r -> share:q -> share:p");
  EXPECT_EQ(g.CheckAcyclic().error().message(), levels.error().message());
}

TEST(DependencyGraphTest, DependentsAndDependencies) {
  DependencyGraph g;
  Edge(g, "share:b", "pool:a");
  Edge(g, "share:c", "pool:a");
  Edge(g, "ip:d", "share:b");
  Edge(g, "ip:d", "share:c");
  Edge(g, "ip:e", "ip:d");
  g.AddResource("pool:other");

  EXPECT_THAT(g.Dependents("pool:a"), ElementsAre("ip:d", "ip:e", "share:b", "share:c"));
  EXPECT_THAT(g.Dependents("share:b"), ElementsAre("ip:d", "ip:e"));
  EXPECT_THAT(g.Dependents("ip:e"), IsEmpty());
  EXPECT_THAT(g.Dependencies("ip:e"), ElementsAre("ip:d", "pool:a", "share:b", "share:c"));
  EXPECT_THAT(g.Dependencies("share:c"), ElementsAre("pool:a"));
  EXPECT_THAT(g.Dependencies("pool:a"), IsEmpty());
  EXPECT_THAT(g.DirectDependencies("ip:d"), ElementsAre("share:b", "share:c"));
  EXPECT_THAT(g.Dependents("pool:other"), IsEmpty());
  EXPECT_THAT(g.Dependencies("pool:other"), IsEmpty());
  EXPECT_THAT(g.Dependents("pool:unknown"), IsEmpty());
  EXPECT_THAT(g.Dependencies("pool:unknown"), IsEmpty());
  EXPECT_THAT(g.DirectDependencies("pool:unknown"), IsEmpty());
}

TEST(DependencyGraphTest, TransitiveSetsOnACycleExcludeTheIdItself) {
  DependencyGraph g;
  Edge(g, "a", "b");
  Edge(g, "b", "a");
  EXPECT_THAT(g.Dependencies("a"), ElementsAre("b"));
  EXPECT_THAT(g.Dependents("a"), ElementsAre("b"));
}

// 1,000 resources with random edges that only point from a later to an
// earlier position in a random permutation (so the graph is a DAG whose
// topological order is unrelated to the sort order of the ids).
TEST(DependencyGraphTest, RandomDagLevelsRespectEveryEdge) {
  constexpr int kNodes = 1000;
  std::mt19937 rng(20240611);  // fixed seed: deterministic
  std::vector<std::string> ids;
  for (int i = 0; i < kNodes; ++i) ids.push_back(fmt::format("res:{:04}", i));
  std::shuffle(ids.begin(), ids.end(), rng);

  DependencyGraph g;
  std::vector<std::pair<std::string, std::string>> edges;
  std::uniform_int_distribution<int> fanout(0, 5);
  for (int i = 0; i < kNodes; ++i) {
    g.AddResource(ids[i]);
    if (i == 0) continue;
    std::uniform_int_distribution<int> pick(0, i - 1);
    for (int k = fanout(rng); k > 0; --k) {
      const std::string& after = ids[pick(rng)];
      Edge(g, ids[i], after);
      edges.emplace_back(ids[i], after);
    }
  }
  ASSERT_GT(edges.size(), 1000u);

  auto levels = g.Levels();
  ASSERT_TRUE(levels) << levels.error().ToString();
  std::map<std::string, size_t> level_of;
  for (size_t l = 0; l < levels->size(); ++l) {
    const auto& level = (*levels)[l];
    EXPECT_FALSE(level.empty());
    EXPECT_TRUE(std::is_sorted(level.begin(), level.end())) << "level " << l;
    for (const std::string& id : level) {
      EXPECT_TRUE(level_of.emplace(id, l).second) << id << " appears twice";
    }
  }
  ASSERT_EQ(level_of.size(), static_cast<size_t>(kNodes));
  for (const auto& [id, after] : edges) {
    EXPECT_GT(level_of.at(id), level_of.at(after)) << id << " starts after " << after;
  }
  // Kahn levels are tight: a resource above level 0 has a dependency exactly
  // one level below it.
  for (const auto& [id, l] : level_of) {
    auto deps = g.DirectDependencies(id);
    if (l == 0) {
      EXPECT_THAT(deps, IsEmpty()) << id;
      continue;
    }
    bool tight = std::any_of(deps.begin(), deps.end(),
                             [&](const std::string& d) { return level_of.at(d) + 1 == l; });
    EXPECT_TRUE(tight) << id << " at level " << l;
  }

  // Reversing one edge closes a cycle; the error must name a real cycle:
  // consecutive ids joined by edges, starting and ending at its smallest id.
  const auto& [from, to] = edges.back();
  Edge(g, to, from);
  auto s = g.CheckAcyclic();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kFailedPrecondition);
  const std::string prefix = "dependency cycle: ";
  ASSERT_TRUE(s.error().message().starts_with(prefix)) << s.error().message();
  std::vector<std::string> cycle;
  std::string rest = s.error().message().substr(prefix.size());
  for (size_t pos; (pos = rest.find(" -> ")) != std::string::npos; rest.erase(0, pos + 4)) {
    cycle.push_back(rest.substr(0, pos));
  }
  cycle.push_back(rest);
  ASSERT_GE(cycle.size(), 3u) << s.error().message();
  EXPECT_EQ(cycle.front(), cycle.back());
  EXPECT_EQ(*std::min_element(cycle.begin(), cycle.end()), cycle.front());
  for (size_t i = 0; i + 1 < cycle.size(); ++i) {
    EXPECT_TRUE(g.DirectDependencies(cycle[i]).contains(cycle[i + 1]))
        << cycle[i] << " -> " << cycle[i + 1] << " is not an edge";
  }
}

TEST(NestedPoolEdgesTest, FileVdevInsideAnotherPool) {
  auto edges = NestedPoolEdges({{"inner", {"/tank/vdevs/disk0.img"}}},
                               {{"tank", {"/tank", "/tank/vdevs"}}, {"inner", {"/inner"}}});
  EXPECT_EQ(edges, (Edges{{"inner", "tank"}}));
}

TEST(NestedPoolEdgesTest, PrefixIsByPathComponent) {
  // /mnt/ab/x is not inside /mnt/a.
  EXPECT_THAT(NestedPoolEdges({{"p", {"/mnt/ab/x"}}}, {{"q", {"/mnt/a"}}}), IsEmpty());
  EXPECT_THAT(NestedPoolEdges({{"p", {"/mnt/ab"}}}, {{"q", {"/mnt/a"}}}), IsEmpty());
  EXPECT_THAT(NestedPoolEdges({{"p", {"/mnt/a"}}}, {{"q", {"/mnt/ab"}}}), IsEmpty());
  EXPECT_EQ(NestedPoolEdges({{"p", {"/mnt/a/x"}}}, {{"q", {"/mnt/a"}}}), (Edges{{"p", "q"}}));
  // A path equal to the mountpoint (a vdev directory that is the mountpoint).
  EXPECT_EQ(NestedPoolEdges({{"p", {"/mnt/a"}}}, {{"q", {"/mnt/a"}}}), (Edges{{"p", "q"}}));
}

TEST(NestedPoolEdgesTest, TrailingAndRepeatedSlashesNormalised) {
  EXPECT_EQ(NestedPoolEdges({{"p", {"/mnt/a/x"}}}, {{"q", {"/mnt/a/"}}}), (Edges{{"p", "q"}}));
  EXPECT_EQ(NestedPoolEdges({{"p", {"/mnt/a/"}}}, {{"q", {"/mnt/a"}}}), (Edges{{"p", "q"}}));
  EXPECT_EQ(NestedPoolEdges({{"p", {"/mnt//a///x"}}}, {{"q", {"/mnt/a//"}}}), (Edges{{"p", "q"}}));
  EXPECT_THAT(NestedPoolEdges({{"p", {"/mnt/ab/"}}}, {{"q", {"/mnt/a/"}}}), IsEmpty());
}

TEST(NestedPoolEdgesTest, RootMountpointContainsEverything) {
  EXPECT_EQ(NestedPoolEdges({{"p", {"/var/lib/pools/p0.img"}}}, {{"rpool", {"/"}}}),
            (Edges{{"p", "rpool"}}));
  EXPECT_EQ(NestedPoolEdges({{"p", {"/x"}}}, {{"rpool", {"//"}}}), (Edges{{"p", "rpool"}}));
  // Nested mountpoints: the file needs both the root pool and the deeper one.
  EXPECT_EQ(NestedPoolEdges({{"p", {"/tank/f.img"}}}, {{"rpool", {"/"}}, {"tank", {"/tank"}}}),
            (Edges{{"p", "rpool"}, {"p", "tank"}}));
}

TEST(NestedPoolEdgesTest, OwnMountpointsIgnored) {
  EXPECT_THAT(NestedPoolEdges({{"p", {"/p/self.img"}}}, {{"p", {"/p", "/"}}}), IsEmpty());
  EXPECT_EQ(NestedPoolEdges({{"p", {"/p/self.img"}}}, {{"p", {"/p"}}, {"q", {"/"}}}),
            (Edges{{"p", "q"}}));
}

TEST(NestedPoolEdgesTest, SpecialMountpointsIgnored) {
  std::map<std::string, std::vector<std::string>> mps = {
      {"q", {"none", "legacy", "-", "", "relative/dir"}}};
  EXPECT_THAT(NestedPoolEdges({{"p", {"/none/x", "/legacy/x", "/-/x", "/x"}}}, mps), IsEmpty());
}

TEST(NestedPoolEdgesTest, NonAbsoluteVdevsIgnored) {
  EXPECT_THAT(NestedPoolEdges({{"p", {"sda", "", "disk/by-id/x"}}}, {{"q", {"/"}}}), IsEmpty());
}

TEST(NestedPoolEdgesTest, SeveralPoolsSortedAndDeduplicated) {
  auto edges = NestedPoolEdges(
      {
          {"zeta", {"/b/1.img", "/a/1.img", "/a/2.img"}},  // two vdevs in a, one in b
          {"alpha", {"/b/2.img", "/dev/sdb"}},
          {"a", {"/dev/sdc"}},
      },
      {
          {"a", {"/a"}},
          {"b", {"/b", "none"}},
          {"zeta", {"/zeta"}},
      });
  EXPECT_EQ(edges, (Edges{{"alpha", "b"}, {"zeta", "a"}, {"zeta", "b"}}));
}

TEST(NestedPoolEdgesTest, EmptyInputs) {
  EXPECT_THAT(NestedPoolEdges({}, {}), IsEmpty());
  EXPECT_THAT(NestedPoolEdges({{"p", {"/x"}}}, {}), IsEmpty());
  EXPECT_THAT(NestedPoolEdges({}, {{"q", {"/"}}}), IsEmpty());
}

}  // namespace
}  // namespace pk::supervisor
