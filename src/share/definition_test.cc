#include "share/definition.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pk::share {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using nlohmann::json;

zfs::DatasetName Ds(std::string_view name) { return *zfs::DatasetName::Parse(name); }

TEST(IqnTest, AcceptsRfc3720Names) {
  EXPECT_TRUE(Iqn::Parse("iqn.2026-11.org.example:target0"));
  EXPECT_TRUE(Iqn::Parse("iqn.2001-04.com.example"));
  EXPECT_TRUE(Iqn::Parse("eui.02004567A425678D"));
}

TEST(IqnTest, RefusesMalformedNamesWithTheReason) {
  EXPECT_THAT(Iqn::Parse("iqn.2026-13.org.example:x").error().message(), HasSubstr("month"));
  EXPECT_THAT(Iqn::Parse("iqn.2026-11.org.Example:x").error().message(), HasSubstr("upper-case"));
  EXPECT_THAT(Iqn::Parse("iqn.2026-11.org.example:a;rm -rf").error().message(), HasSubstr("';' is not allowed"));
  EXPECT_THAT(Iqn::Parse("target0").error().message(), HasSubstr("must start with 'iqn.'"));
  EXPECT_THAT(Iqn::Parse("iqn.26-11.org").error().message(), HasSubstr("YYYY-MM"));
  EXPECT_THAT(Iqn::Parse("eui.123").error().message(), HasSubstr("16 hex"));
  EXPECT_FALSE(Iqn::Parse("iqn.2026-11.org.example:" + std::string(220, 'a')));
}

TEST(IqnTest, DefaultIqnIsDerivedFromTheDatasetAndValid) {
  EXPECT_EQ(DefaultIqn(Ds("tank/VMs/disk 1")).str(), "iqn.2026-11.org.poolkeeper:tank.vms.disk-1");
}

TEST(NfsClientTest, ParsesExportsStyleSpecs) {
  auto c = NfsClient::Parse("10.0.0.0/8(rw,no_root_squash,sec=sys:krb5)");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->match, "10.0.0.0/8");
  EXPECT_EQ(c->access, NfsAccess::kReadWrite);
  EXPECT_EQ(c->squash, NfsSquash::kNoRootSquash);
  EXPECT_EQ(c->ToString(), "10.0.0.0/8(rw,no_root_squash,sec=sys:krb5)");
  EXPECT_EQ(NfsClient::Parse("*")->ToString(), "*(ro,root_squash,sec=sys)");
  EXPECT_EQ(NfsClient::Parse("host-1.example(rw)")->ToString(), "host-1.example(rw,root_squash,sec=sys)");
}

TEST(NfsClientTest, RefusesWhatDoesNotParse) {
  EXPECT_THAT(NfsClient::Parse("10.0.0.1(rw,bogus)").error().message(), HasSubstr("unknown option 'bogus'"));
  EXPECT_THAT(NfsClient::Parse("10.0.0.1(rw,ro)").error().message(), HasSubstr("given twice"));
  EXPECT_THAT(NfsClient::Parse("10.0.0.1(rw").error().message(), HasSubstr("expected MATCH("));
  EXPECT_THAT(NfsClient::Parse("a;b(rw)").error().message(), HasSubstr("is not *"));
  EXPECT_THAT(NfsClient::Parse("1.2.3.4/33").error().message(), HasSubstr("is not *"));
  EXPECT_THAT(NfsClient::Parse("*(sec=none)").error().message(), HasSubstr("flavour 'none'"));
}

TEST(DefinitionTest, IscsiDefaultsAndRoundTrip) {
  auto d = FromJson(Protocol::kIscsi, json{{"size", 1 << 20}}, Ds("tank/vm1"));
  ASSERT_TRUE(d) << d.error().message();
  auto& i = std::get<IscsiDefinition>(*d);
  EXPECT_EQ(i.iqn.str(), "iqn.2026-11.org.poolkeeper:tank.vm1");
  EXPECT_EQ(i.lun, 1);
  EXPECT_EQ(i.initiators.size(), 1u);
  auto back = Decode(Protocol::kIscsi, Encode(*d), Ds("tank/vm1"));
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, *d);
}

TEST(DefinitionTest, ChapSecretIsRedacted) {
  auto d = FromJson(Protocol::kIscsi, json{{"chap_user", "alice"}, {"chap_secret", "0123456789ab"}}, Ds("tank/vm1"));
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(RedactedJson(*d)["chap_secret"], "***");
  EXPECT_EQ(ToJson(*d)["chap_secret"], "0123456789ab");
}

// issue 17 item 5: the property carries the CHAP user and a reference to the
// pool's secret store, never the secret; an old property that still holds
// one decodes with it (to be moved) and the API shows it as "***".
TEST(DefinitionTest, EncodeNeverWritesTheChapSecret) {
  auto d = FromJson(Protocol::kIscsi, json{{"chap_user", "alice"}, {"chap_secret", "0123456789ab"}}, Ds("tank/vm1"));
  ASSERT_TRUE(d) << d.error().message();
  std::get<IscsiDefinition>(*d).chap_secret_ref = "guid:42";
  std::string value = Encode(*d);
  EXPECT_THAT(value, Not(HasSubstr("0123456789ab")));
  EXPECT_THAT(value, HasSubstr(R"("chap_secret_ref":"guid:42")"));
  auto back = Decode(Protocol::kIscsi, value, Ds("tank/vm1"));
  ASSERT_TRUE(back) << back.error().message();
  const auto& i = std::get<IscsiDefinition>(*back);
  EXPECT_EQ(i.chap_user, "alice");
  EXPECT_EQ(i.chap_secret, "");
  EXPECT_EQ(i.chap_secret_ref, "guid:42");
  EXPECT_EQ(RedactedJson(*back)["chap_secret"], "***");

  const std::string old = R"({"v":1,"chap_user":"alice","chap_secret":"0123456789ab"})";
  auto legacy = Decode(Protocol::kIscsi, old, Ds("tank/vm1"));
  ASSERT_TRUE(legacy) << legacy.error().message();
  EXPECT_EQ(std::get<IscsiDefinition>(*legacy).chap_secret, "0123456789ab");
  EXPECT_EQ(std::get<IscsiDefinition>(*legacy).chap_secret_ref, "");
  EXPECT_THAT(RedactPropertyValue("org.poolkeeper:share.iscsi", old), Not(HasSubstr("0123456789ab")));
  EXPECT_THAT(RedactPropertyValue("org.poolkeeper:share.iscsi", old), HasSubstr(R"("chap_secret":"***")"));
  EXPECT_EQ(RedactPropertyValue("org.poolkeeper:share.nfs", "x"), "x");
  EXPECT_THAT(FromJson(Protocol::kIscsi, json{{"chap_user", "a"}, {"chap_secret_ref", "/etc/x"}}, Ds("tank/vm1")).error().message(),
              HasSubstr("chap_secret_ref"));
  EXPECT_THAT(FromJson(Protocol::kIscsi, json{{"chap_user", "a"}, {"chap_secret", "0123456,89ab"}}, Ds("tank/vm1")).error().message(),
              HasSubstr("','"));
}

TEST(DefinitionTest, BadFieldsAreNamed) {
  auto ds = Ds("tank/vm1");
  EXPECT_THAT(FromJson(Protocol::kIscsi, json{{"lun", 0}}, ds).error().message(), HasSubstr("field 'lun'"));
  EXPECT_THAT(FromJson(Protocol::kIscsi, json{{"lun", "1"}}, ds).error().message(), HasSubstr("must be an integer"));
  EXPECT_THAT(FromJson(Protocol::kIscsi, json{{"chap_user", "a"}}, ds).error().message(), HasSubstr("together"));
  EXPECT_THAT(FromJson(Protocol::kIscsi, json{{"chap_user", "a"}, {"chap_secret", "short"}}, ds).error().message(),
              HasSubstr("12..16"));
  EXPECT_THAT(FromJson(Protocol::kIscsi, json{{"initiators", {"ALL", "10.0.0.1"}}}, ds).error().message(), HasSubstr("mixes"));
  EXPECT_THAT(FromJson(Protocol::kIscsi, json{{"file", "../x"}}, ds).error().message(), HasSubstr("plain file name"));
  EXPECT_THAT(FromJson(Protocol::kIscsi, json{{"colour", "red"}}, ds).error().message(), HasSubstr("unknown field 'colour'"));
  EXPECT_THAT(FromJson(Protocol::kNfs, json{{"clients", json::array()}}, ds).error().message(), HasSubstr("at least one"));
  EXPECT_THAT(FromJson(Protocol::kNfs, json{{"clients", {"*"}}, {"pseudo", "/a\";x"}}, ds).error().message(), HasSubstr("pseudo path"));
  EXPECT_THAT(FromJson(Protocol::kSmb, json{{"name", "a/b"}}, ds).error().message(), HasSubstr("contains '/'"));
  EXPECT_THAT(FromJson(Protocol::kSmb, json{{"name", "Global"}}, ds).error().message(), HasSubstr("reserved"));
  EXPECT_THAT(FromJson(Protocol::kSmb, json{{"valid_users", {"a;b"}}}, ds).error().message(), HasSubstr("valid_users"));
}

TEST(DefinitionTest, NfsAndSmbDefaults) {
  auto nfs = FromJson(Protocol::kNfs, json{{"clients", {"127.0.0.1(rw)"}}}, Ds("tank/home"));
  ASSERT_TRUE(nfs);
  EXPECT_EQ(std::get<NfsDefinition>(*nfs).pseudo, "/tank/home");
  auto spaced = FromJson(Protocol::kNfs, json{{"clients", {"*"}}}, Ds("tank/my data"));
  ASSERT_TRUE(spaced) << spaced.error().message();
  EXPECT_EQ(std::get<NfsDefinition>(*spaced).pseudo, "/tank/my_data");
  auto smb = FromJson(Protocol::kSmb, json::object(), Ds("tank/projects/web"));
  ASSERT_TRUE(smb);
  EXPECT_EQ(std::get<SmbDefinition>(*smb).name, "web");
}

// Issue 17 item 3: Encode and RedactPropertyValue write through pk::DumpJson,
// so bytes that are not UTF-8 (here an SMB name built in code: FromJson
// refuses it) give valid JSON with U+FFFD, never an exception.
TEST(DefinitionTest, ValuesThatAreNotUtf8NeverThrow) {
  SmbDefinition d;
  d.name = "caf\xe9";
  Definition smb = d;
  std::string value;
  ASSERT_NO_THROW(value = Encode(smb));
  auto back = Decode(Protocol::kSmb, value, Ds("tank/a"));
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(std::get<SmbDefinition>(*back).name, "caf\xef\xbf\xbd");
  std::string shown;
  ASSERT_NO_THROW(shown = RedactPropertyValue("org.poolkeeper:share.iscsi", "{\"chap_secret\":\"x\",\"file\":\"\xe9\"}"));
  EXPECT_THAT(shown, HasSubstr("not shown"));
}

// harden item 1 (issue 17, UTF-8 names): an SMB share name or a LUN file name
// that is not UTF-8 cannot be carried by the JSON API, the pool property or
// SMB; it is refused with the field, the name, the byte and its offset.
TEST(DefinitionTest, NamesThatAreNotUtf8AreRefused) {
  auto ds = Ds("tank/a");
  auto smb = FromJson(Protocol::kSmb, json{{"name", "caf\xe9"}}, ds);
  ASSERT_FALSE(smb);
  EXPECT_THAT(smb.error().message(), HasSubstr("field 'name'"));
  EXPECT_THAT(smb.error().message(), HasSubstr("SMB share name 'caf\\xe9' is not valid UTF-8 (byte 0xe9 at offset 3)"));
  auto lun = FromJson(Protocol::kIscsi, json{{"file", "lun\xff.img"}}, ds);
  ASSERT_FALSE(lun);
  EXPECT_THAT(lun.error().message(), HasSubstr("field 'file'"));
  EXPECT_THAT(lun.error().message(), HasSubstr("LUN file name 'lun\\xff.img' is not valid UTF-8 (byte 0xff at offset 3)"));
  EXPECT_TRUE(FromJson(Protocol::kSmb, json{{"name", "caf\xc3\xa9"}}, ds));
  EXPECT_TRUE(FromJson(Protocol::kIscsi, json{{"file", "caf\xc3\xa9.img"}}, ds));
}

TEST(DefinitionTest, DecodeChecksTheSchemaVersion) {
  auto ds = Ds("tank/a");
  EXPECT_THAT(Decode(Protocol::kSmb, R"({"v":2,"name":"a"})", ds).error().message(), HasSubstr("schema version 2"));
  EXPECT_THAT(Decode(Protocol::kSmb, R"({"name":"a"})", ds).error().message(), HasSubstr("no schema version"));
  EXPECT_THAT(Decode(Protocol::kSmb, "garbage", ds).error().message(), HasSubstr("not a JSON object"));
}

TEST(IdentityTest, DerivedFromGuidDeterministically) {
  auto id = IdentityFor(0x1234'5678'9ABC'DEF0ULL);
  EXPECT_EQ(id.serial, "PK123456789ABCDEF0");
  EXPECT_EQ(id.naa, "0x6001405123456789abcdef0000000000");
  EXPECT_EQ(id.naa_lio, id.naa);
  EXPECT_EQ(id.scsi_id, "pk6001405123456789abcdef0000000000");
  EXPECT_EQ(IdentityFor(0x1234'5678'9ABC'DEF0ULL).naa, id.naa);
  EXPECT_NE(IdentityFor(1).serial, id.serial);
}

}  // namespace
}  // namespace pk::share
