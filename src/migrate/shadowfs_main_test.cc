// poolkeeper-shadowfs as a process: what it prints when it fails.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sys/process_runner.h"

namespace pk::migrate {
namespace {

// Issue 17 item 3: an error that quotes a path which is not UTF-8 is printed
// as valid JSON (pk::DumpJson: U+FFFD for the bad byte) instead of the helper
// dying on nlohmann's exception, so poolkeeperd reads the reason.
TEST(ShadowfsMain, AnErrorNamingAPathThatIsNotUtf8IsValidJson) {
  auto runner = sys::MakePosixProcessRunner();
  sys::Command c{.program = PK_SHADOWFS_BIN,
                 .args = {"cancel", "--dir", "/nonexistent/pk-shadowfs-test/caf\xe9"},
                 .env = sys::DefaultToolEnvironment()};
  auto r = runner->Run(c);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->status.ToString(), "exited 1") << r->err;
  auto j = nlohmann::json::parse(r->out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(j.is_object()) << r->out;
  EXPECT_EQ(j.value("code", ""), "not_found") << r->out;
  EXPECT_NE(j.value("message", "").find("/nonexistent/pk-shadowfs-test/caf\xef\xbf\xbd"), std::string::npos) << r->out;
}

}  // namespace
}  // namespace pk::migrate
