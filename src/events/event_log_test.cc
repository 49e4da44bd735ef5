#include "events/event_log.h"

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testing/fake_clock.h"

namespace pk::events {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using Clock = std::chrono::system_clock;

// 2026-11-22T03:20:00.123Z
const Clock::time_point kT0 = Clock::time_point(std::chrono::milliseconds(1795317600123));

// Delegates to the real filesystem; AppendDurably can be made to fail after
// writing a prefix of the data, as a full disk would.
class FlakyFileSystem final : public sys::FileSystem {
 public:
  Result<std::string> ReadFile(const std::string& path) override { return real_->ReadFile(path); }
  Status WriteFileAtomic(const std::string& path, std::string_view contents, mode_t mode) override {
    if (fail_writes) return MakeError(ErrorCode::kResourceExhausted, "write: No space left on device");
    return real_->WriteFileAtomic(path, contents, mode);
  }
  Result<bool> Exists(const std::string& path) override { return real_->Exists(path); }
  Status MakeDirs(const std::string& path, mode_t mode) override { return real_->MakeDirs(path, mode); }
  Status Remove(const std::string& path) override { return real_->Remove(path); }
  Status AppendDurably(const std::string& path, std::string_view data) override {
    if (fail_writes) {
      PK_TRY(real_->AppendDurably(path, data.substr(0, data.size() / 2)));
      return MakeError(ErrorCode::kResourceExhausted, "write: No space left on device");
    }
    return real_->AppendDurably(path, data);
  }

  Status CreateSparseFile(const std::string& path, uint64_t size, mode_t mode) override {
    return real_->CreateSparseFile(path, size, mode);
  }
  Result<DeviceInfo> StatDevice(const std::string& path) override { return real_->StatDevice(path); }

  bool fail_writes = false;

 private:
  std::unique_ptr<sys::FileSystem> real_ = sys::MakeRealFileSystem();
};

class EventLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "pk_events_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/events.jsonl";
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  EventLogOptions Options(size_t max_events = 100) {
    EventLogOptions options;
    options.max_events = max_events;
    options.clock = &clock_;
    return options;
  }
  std::unique_ptr<EventLog> OpenLog(size_t max_events = 100) {
    auto log = EventLog::Open(fs_, path_, Options(max_events));
    EXPECT_TRUE(log.has_value()) << log.error().ToString();
    return log ? std::move(*log) : nullptr;
  }
  static Event Ev(std::string resource, std::string state, std::string previous = "", std::string reason = "") {
    Event e;
    e.resource = std::move(resource);
    e.state = std::move(state);
    e.previous = std::move(previous);
    e.reason = std::move(reason);
    return e;
  }
  static std::vector<uint64_t> Seqs(const std::vector<Event>& events) {
    std::vector<uint64_t> seqs;
    for (const auto& e : events) seqs.push_back(e.seq);
    return seqs;
  }
  std::string FileContents() const {
    std::ifstream in(path_, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  size_t FileLines() const {
    const std::string contents = FileContents();
    return static_cast<size_t>(std::count(contents.begin(), contents.end(), '\n'));
  }
  void WriteRaw(const std::string& contents) const {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out << contents;
  }

  std::string dir_;
  std::string path_;
  FlakyFileSystem fs_;
  pk::testing::FakeClock clock_{kT0};
};

TEST(EventTest, ToJsonHasRfc3339AndEpochMs) {
  Event e;
  e.seq = 7;
  e.time = kT0 + 456us;  // sub-millisecond part is dropped
  e.resource = "pool:tank";
  e.state = "online";
  e.previous = "mounting";
  e.reason = "import finished";
  const auto j = e.ToJson();
  EXPECT_EQ(j.at("seq"), 7);
  EXPECT_EQ(j.at("time"), "2026-11-22T03:20:00.123Z");
  EXPECT_EQ(j.at("epoch_ms"), 1795317600123);
  EXPECT_EQ(j.at("resource"), "pool:tank");
  EXPECT_EQ(j.at("state"), "online");
  EXPECT_EQ(j.at("previous"), "mounting");
  EXPECT_EQ(j.at("reason"), "import finished");

  auto back = Event::FromJson(j);
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(back->seq, 7u);
  EXPECT_EQ(back->time, kT0);
  EXPECT_EQ(back->resource, "pool:tank");
  EXPECT_EQ(back->previous, "mounting");
  EXPECT_EQ(back->reason, "import finished");
}

TEST(EventTest, TimeFormattingAtEdges) {
  Event e;
  e.time = Clock::time_point{};
  EXPECT_EQ(e.ToJson().at("time"), "1970-01-01T00:00:00.000Z");
  e.time = Clock::time_point(std::chrono::milliseconds(-1));
  EXPECT_EQ(e.ToJson().at("time"), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(e.ToJson().at("epoch_ms"), -1);
  EXPECT_EQ(Event::FromJson(e.ToJson()).value().time, e.time);
}

TEST(EventTest, FromJsonRejectsBadInputWithoutThrowing) {
  const auto base = nlohmann::json{{"seq", 1}, {"epoch_ms", 5}, {"resource", "pool:a"}, {"state", "online"}};
  EXPECT_TRUE(Event::FromJson(base).has_value());  // previous and reason are optional

  auto check = [](const nlohmann::json& j, const std::string& expected) {
    auto e = Event::FromJson(j);
    ASSERT_FALSE(e.has_value()) << j.dump();
    EXPECT_EQ(e.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(e.error().message(), HasSubstr(expected)) << j.dump();
  };
  check(nlohmann::json::array(), "not a JSON object");
  auto j = base;
  j.erase("seq");
  check(j, "\"seq\"");
  j = base;
  j["seq"] = -3;
  check(j, "\"seq\"");
  j = base;
  j["epoch_ms"] = "yesterday";
  check(j, "\"epoch_ms\"");
  j = base;
  j["epoch_ms"] = 18446744073709551615u;
  check(j, "out of range");
  j = base;
  j.erase("state");
  check(j, "\"state\"");
  j = base;
  j["reason"] = 42;
  check(j, "\"reason\"");
}

TEST_F(EventLogTest, OpenCreatesTheFile) {
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  EXPECT_TRUE(std::filesystem::exists(path_));
  EXPECT_EQ(FileContents(), "");
  EXPECT_EQ(log->LastSeq(), 0u);
  EXPECT_TRUE(log->Since(0).empty());
}

TEST_F(EventLogTest, OpenRejectsZeroMaxAndMissingDirectory) {
  auto log = EventLog::Open(fs_, path_, Options(0));
  ASSERT_FALSE(log.has_value());
  EXPECT_EQ(log.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(log.error().message(), HasSubstr("max_events"));

  const std::string missing = dir_ + "/no/such/dir/events.jsonl";
  log = EventLog::Open(fs_, missing, Options());
  ASSERT_FALSE(log.has_value());
  EXPECT_EQ(log.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(log.error().message(), HasSubstr("open event log '" + missing + "'"));
}

TEST_F(EventLogTest, AppendStampsSeqAndTimeFromInjectedClock) {
  auto log = OpenLog();
  clock_.SetWall(kT0 + 789us);
  auto first = log->Append(Ev("pool:tank", "online", "mounting", "imported"));
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  EXPECT_EQ(first->seq, 1u);
  EXPECT_EQ(first->time, kT0);  // truncated to the millisecond, as stored
  clock_.SetWall(kT0 + 2s);
  auto second = log->Append(Ev("share:nfs", "online"));
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->seq, 2u);
  EXPECT_EQ(second->time, kT0 + 2s);
  EXPECT_EQ(log->LastSeq(), 2u);

  // One line per event, in the documented format.
  EXPECT_EQ(FileLines(), 2u);
  const std::string contents = FileContents();
  const auto line = nlohmann::json::parse(contents.substr(0, contents.find('\n')));
  EXPECT_EQ(line.at("seq"), 1);
  EXPECT_EQ(line.at("time"), "2026-11-22T03:20:00.123Z");
  EXPECT_EQ(line.at("epoch_ms"), 1795317600123);
  EXPECT_EQ(line.at("resource"), "pool:tank");
  EXPECT_EQ(line.at("previous"), "mounting");
  EXPECT_EQ(line.at("reason"), "imported");
}

TEST_F(EventLogTest, SinceFiltersAndLimits) {
  auto log = OpenLog();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(log->Append(Ev("pool:p" + std::to_string(i), "online")).has_value());
  EXPECT_EQ(Seqs(log->Since(0)), (std::vector<uint64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(Seqs(log->Since(3)), (std::vector<uint64_t>{4, 5}));
  EXPECT_EQ(Seqs(log->Since(0, 2)), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(Seqs(log->Since(1, 2)), (std::vector<uint64_t>{2, 3}));
  EXPECT_TRUE(log->Since(5).empty());
  EXPECT_TRUE(log->Since(99).empty());
  EXPECT_TRUE(log->Since(0, 0).empty());
  EXPECT_EQ(log->Since(3).front().resource, "pool:p3");
}

TEST_F(EventLogTest, NewlinesAndInvalidUtf8InFieldsStayOnOneLine) {
  auto log = OpenLog();
  ASSERT_TRUE(log->Append(Ev("pool:tank", "faulted", "online", "zpool said:\nline two")).has_value());
  ASSERT_TRUE(log->Append(Ev("pool:tank", "faulted", "online", std::string("bad \xff byte"))).has_value());
  EXPECT_EQ(FileLines(), 2u);
  log.reset();
  auto reopened = OpenLog();
  const auto events = reopened->Since(0);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].reason, "zpool said:\nline two");
  EXPECT_THAT(events[1].reason, HasSubstr("bad "));
}

TEST_F(EventLogTest, PersistsAcrossReopenAndSeqContinues) {
  {
    auto log = OpenLog();
    ASSERT_TRUE(log->Append(Ev("pool:a", "importing")).has_value());
    clock_.Advance(1s);
    ASSERT_TRUE(log->Append(Ev("pool:a", "online", "importing", "done")).has_value());
  }
  auto log = OpenLog();
  EXPECT_EQ(log->LastSeq(), 2u);
  auto events = log->Since(0);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].seq, 2u);
  EXPECT_EQ(events[1].time, kT0 + 1s);
  EXPECT_EQ(events[1].state, "online");
  EXPECT_EQ(events[1].previous, "importing");
  EXPECT_EQ(events[1].reason, "done");

  auto third = log->Append(Ev("pool:a", "exporting"));
  ASSERT_TRUE(third.has_value());
  EXPECT_EQ(third->seq, 3u);
  EXPECT_EQ(FileLines(), 3u);
}

TEST_F(EventLogTest, FileStaysBoundedAndKeepsTheNewest) {
  constexpr size_t kMax = 5;
  auto log = OpenLog(kMax);
  for (int i = 1; i <= 37; ++i) {
    clock_.SetWall(kT0 + std::chrono::seconds(i));
    auto e = log->Append(Ev("exec:job", "run" + std::to_string(i)));
    ASSERT_TRUE(e.has_value()) << e.error().ToString();
    ASSERT_EQ(e->seq, static_cast<uint64_t>(i));
    ASSERT_LE(FileLines(), 2 * kMax) << "after append " << i;
    ASSERT_LE(log->Since(0).size(), kMax);
  }
  EXPECT_EQ(Seqs(log->Since(0)), (std::vector<uint64_t>{33, 34, 35, 36, 37}));
  EXPECT_EQ(log->Since(0).back().state, "run37");
  EXPECT_EQ(log->LastSeq(), 37u);

  // The file agrees after a reopen, and numbering goes on from the last kept event.
  log.reset();
  log = OpenLog(kMax);
  const auto events = log->Since(0);
  EXPECT_EQ(Seqs(events), (std::vector<uint64_t>{33, 34, 35, 36, 37}));
  EXPECT_EQ(events.front().time, kT0 + 33s);
  EXPECT_EQ(log->Append(Ev("exec:job", "again")).value().seq, 38u);
}

TEST_F(EventLogTest, ReopenWithSmallerMaxCompacts) {
  {
    auto log = OpenLog(100);
    for (int i = 0; i < 12; ++i) ASSERT_TRUE(log->Append(Ev("pool:a", "s")).has_value());
  }
  auto log = OpenLog(4);
  EXPECT_EQ(Seqs(log->Since(0)), (std::vector<uint64_t>{9, 10, 11, 12}));
  EXPECT_EQ(FileLines(), 4u);
}

TEST_F(EventLogTest, TornLastLineIsSkippedAndTheLogKeepsWorking) {
  {
    auto log = OpenLog();
    ASSERT_TRUE(log->Append(Ev("pool:a", "importing")).has_value());
    ASSERT_TRUE(log->Append(Ev("pool:a", "online")).has_value());
  }
  // A crash in the middle of writing event 3.
  WriteRaw(FileContents() + R"({"seq":3,"time":"2026-11-22T03:2)");

  auto log = OpenLog();
  EXPECT_EQ(log->LastSeq(), 2u);
  EXPECT_EQ(Seqs(log->Since(0)), (std::vector<uint64_t>{1, 2}));
  auto next = log->Append(Ev("pool:a", "exporting"));
  ASSERT_TRUE(next.has_value()) << next.error().ToString();
  EXPECT_EQ(next->seq, 3u);

  // The torn bytes are gone; every line parses; a reopen sees all three.
  EXPECT_THAT(FileContents(), ::testing::Not(HasSubstr("03:2\"")));
  EXPECT_EQ(FileLines(), 3u);
  log.reset();
  log = OpenLog();
  const auto events = log->Since(0);
  EXPECT_EQ(Seqs(events), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(events.back().state, "exporting");
}

TEST_F(EventLogTest, CorruptMiddleLinesAreSkipped) {
  WriteRaw(
      R"({"seq":1,"epoch_ms":1,"resource":"pool:a","state":"x"})" "\n"
      "garbage\n"
      "\n"
      R"({"seq":"two"})" "\n"
      R"({"seq":1,"epoch_ms":2,"resource":"pool:a","state":"dup"})" "\n"
      R"({"seq":5,"epoch_ms":3,"resource":"pool:a","state":"y"})" "\n");
  auto log = OpenLog();
  EXPECT_EQ(Seqs(log->Since(0)), (std::vector<uint64_t>{1, 5}));
  EXPECT_EQ(log->LastSeq(), 5u);
  EXPECT_EQ(FileLines(), 2u);  // repaired
  EXPECT_EQ(log->Append(Ev("pool:a", "z")).value().seq, 6u);
}

TEST_F(EventLogTest, FailedAppendRecordsNothingAndTheNextAppendRepairs) {
  auto log = OpenLog();
  ASSERT_TRUE(log->Append(Ev("pool:a", "importing")).has_value());

  fs_.fail_writes = true;
  auto failed = log->Append(Ev("pool:a", "online"));
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().code(), ErrorCode::kResourceExhausted);
  EXPECT_THAT(failed.error().message(), HasSubstr("append event 2 for 'pool:a' to '" + path_ + "'"));
  EXPECT_EQ(log->LastSeq(), 1u);
  EXPECT_EQ(log->Since(0).size(), 1u);
  // The repair rewrite fails too while the disk is full; still nothing recorded.
  EXPECT_FALSE(log->Append(Ev("pool:a", "online")).has_value());
  EXPECT_EQ(log->LastSeq(), 1u);

  fs_.fail_writes = false;
  auto ok = log->Append(Ev("pool:a", "online"));
  ASSERT_TRUE(ok.has_value()) << ok.error().ToString();
  EXPECT_EQ(ok->seq, 2u);  // the failed attempts did not use up a seq
  EXPECT_EQ(FileLines(), 2u);
  log.reset();
  log = OpenLog();
  EXPECT_EQ(Seqs(log->Since(0)), (std::vector<uint64_t>{1, 2}));
}

TEST_F(EventLogTest, WaitSinceReturnsAtOnceWhenEventsExist) {
  auto log = OpenLog();
  ASSERT_TRUE(log->Append(Ev("pool:a", "online")).has_value());
  const auto start = std::chrono::steady_clock::now();
  // A timeout far longer than any test run: returning proves it did not wait.
  const auto events = log->WaitSince(0, std::chrono::hours(1));
  EXPECT_EQ(Seqs(events), std::vector<uint64_t>{1});
  EXPECT_LT(std::chrono::steady_clock::now() - start, 30s);
}

TEST_F(EventLogTest, WaitSinceWakesOnAppendFromAnotherThread) {
  auto log = OpenLog();
  ASSERT_TRUE(log->Append(Ev("pool:a", "importing")).has_value());
  std::vector<Event> got;
  std::thread waiter([&] { got = log->WaitSince(1, std::chrono::hours(1)); });
  ASSERT_TRUE(log->Append(Ev("pool:a", "online")).has_value());
  waiter.join();  // hangs (and the test times out) if the append did not wake it
  EXPECT_EQ(Seqs(got), std::vector<uint64_t>{2});
  EXPECT_EQ(got.front().state, "online");
}

TEST_F(EventLogTest, WaitSinceTimesOutEmpty) {
  auto log = OpenLog();
  ASSERT_TRUE(log->Append(Ev("pool:a", "online")).has_value());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(log->WaitSince(1, 20ms).empty());
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, 20ms);
  EXPECT_LT(elapsed, 30s);
  EXPECT_TRUE(log->WaitSince(1, 0ms).empty());
  EXPECT_TRUE(log->WaitSince(1, -5ms).empty());
}

TEST_F(EventLogTest, CloseWakesWaitersAndLaterWaitsReturnAtOnce) {
  auto log = OpenLog();
  std::atomic<int> returned{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < 3; ++i) {
    waiters.emplace_back([&] {
      if (log->WaitSince(0, std::chrono::hours(1)).empty()) ++returned;
    });
  }
  log->Close();
  for (auto& t : waiters) t.join();  // hangs if Close did not wake them
  EXPECT_EQ(returned.load(), 3);

  EXPECT_TRUE(log->WaitSince(0, std::chrono::hours(1)).empty());
  // Appends still work after Close, and waits return what exists.
  ASSERT_TRUE(log->Append(Ev("pool:a", "stopping")).has_value());
  EXPECT_EQ(log->WaitSince(0, std::chrono::hours(1)).size(), 1u);
}

}  // namespace
}  // namespace pk::events
