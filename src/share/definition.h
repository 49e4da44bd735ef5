// share definitions: what a dataset shares, stored in the dataset itself as a
// ZFS user property so the definition travels with the pool (BRIEF.md: the
// pool carries its own configuration).
//
// One property per protocol, each a compact JSON object with a schema version:
//   org.poolkeeper:share.iscsi = {"v":1,"iqn":"iqn...","lun":1,...}
//   org.poolkeeper:share.nfs   = {"v":1,"clients":["10.0.0.0/8(rw,root_squash)"],...}
//   org.poolkeeper:share.smb   = {"v":1,"name":"projects","read_only":false,...}
// A property that does not decode (unknown version, bad field) is reported for
// its dataset and never served; the other shares of the pool still are.
//
// iSCSI identities (LU serial, NAA 6) are not stored: they are derived from the
// dataset's `guid`, which survives export/import, a change of head and a
// rename, so initiators see the same LU wherever the pool is served.
//
// Thread-safety: value types and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "zfs/names.h"

namespace pk::share {

inline constexpr int kSchemaVersion = 1;
// ZFS user property values are limited (OpenZFS 8 KiB, older pools less);
// a definition above this is refused when written.
inline constexpr size_t kMaxPropertyBytes = 4000;

enum class Protocol { kIscsi, kNfs, kSmb };
std::string_view ProtocolName(Protocol protocol);  // "iscsi", "nfs", "smb"
Result<Protocol> ParseProtocol(std::string_view text);
std::string_view PropertyFor(Protocol protocol);   // "org.poolkeeper:share.iscsi", ...
inline constexpr Protocol kAllProtocols[] = {Protocol::kIscsi, Protocol::kNfs, Protocol::kSmb};

// An iSCSI qualified name ("iqn.2026-11.org.example:target0") or an EUI name
// ("eui.0123456789abcdef"), RFC 3720 section 3.2.6: lower case, at most 223 bytes.
class Iqn {
 public:
  static Result<Iqn> Parse(std::string_view text);
  const std::string& str() const { return name_; }
  auto operator<=>(const Iqn&) const = default;

 private:
  explicit Iqn(std::string name) : name_(std::move(name)) {}
  std::string name_;
};

// The IQN Poolkeeper gives a dataset's target when none is given:
// iqn.2026-11.org.poolkeeper:<pool>.<dataset path with '/' as '.'>, lower-cased
// and with characters an IQN cannot hold replaced by '-'.
Iqn DefaultIqn(const zfs::DatasetName& dataset);

// An initiator ACL entry: an initiator name (IQN/EUI), an IPv4 address or an
// IPv4 network "a.b.c.d/len". "ALL" allows every initiator.
struct IscsiInitiator {
  std::string text;
  static Result<IscsiInitiator> Parse(std::string_view text);
  bool IsName() const { return text.starts_with("iqn.") || text.starts_with("eui."); }
  bool operator==(const IscsiInitiator&) const = default;
};

struct IscsiDefinition {
  Iqn iqn = DefaultIqn(*zfs::DatasetName::Parse("pool"));
  int lun = 1;                       // 1..255 (tgt keeps LUN 0 for its controller)
  // Backing store: on a volume the volume itself (/dev/zvol/POOL/NAME); on a
  // filesystem a file of `size_bytes` at the dataset's mountpoint, named
  // `file` (created sparse when the share is created; never deleted by Poolkeeper).
  std::string file = "lun.img";
  uint64_t size_bytes = 0;
  std::string chap_user;             // empty: no CHAP
  // 12..16 characters (RFC 3720 / tgt); never printed back, never in the
  // property (issue 17 item 5): in memory only, read from and written to the
  // pool's root-only ChapSecretStore. A property from before that still
  // carries it decodes with it and without a reference (moved on first serve).
  std::string chap_secret;
  // The key of the secret in the pool's ChapSecretStore ("guid:N"); what the
  // property carries instead of the secret. Empty: no stored secret (yet).
  std::string chap_secret_ref;
  std::vector<IscsiInitiator> initiators = {{"ALL"}};
  bool read_only = false;
  bool operator==(const IscsiDefinition&) const = default;
};

enum class NfsAccess { kReadWrite, kReadOnly };
enum class NfsSquash { kRootSquash, kNoRootSquash, kAllSquash };

// One client spec in exports(5) form: "MATCH(opt,opt,...)" where MATCH is "*",
// an IPv4 address, an IPv4 network "a.b.c.d/len" or a host name, and the
// options are rw|ro, root_squash|no_root_squash|all_squash, sec=sys|krb5|krb5i|krb5p
// (several flavours separated by ':'). Defaults: ro, root_squash, sec=sys
// (as exportfs).
struct NfsClient {
  std::string match;
  NfsAccess access = NfsAccess::kReadOnly;
  NfsSquash squash = NfsSquash::kRootSquash;
  std::vector<std::string> sec = {"sys"};
  static Result<NfsClient> Parse(std::string_view spec);
  std::string ToString() const;  // canonical form, every option spelled out
  bool operator==(const NfsClient&) const = default;
};

struct NfsDefinition {
  std::vector<NfsClient> clients;  // at least one
  // NFSv4 pseudo-root path; default "/" + dataset name.
  std::string pseudo;
  bool operator==(const NfsDefinition&) const = default;
};

struct SmbDefinition {
  std::string name;                      // share name: 1..80 chars, no []\/:;|=,+*?<>" or control chars
  bool read_only = false;
  std::vector<std::string> valid_users;  // account names; empty: any authenticated user
  bool guest_ok = false;
  bool operator==(const SmbDefinition&) const = default;
};

using Definition = std::variant<IscsiDefinition, NfsDefinition, SmbDefinition>;
Protocol ProtocolOf(const Definition& definition);

// Builds a definition from JSON fields (a decoded property, or an API body);
// missing fields take their defaults (the default IQN and NFS pseudo path
// derive from `dataset`). Unknown fields and bad values are InvalidArgument
// naming the dataset, the field and the cause. This is the only validation
// path: property decoding, share create and share set all go through it.
Result<Definition> FromJson(Protocol protocol, const nlohmann::json& fields, const zfs::DatasetName& dataset);
// Every field (the CHAP secret included; chap_secret_ref when set), without "v".
nlohmann::json ToJson(const Definition& definition);
// As ToJson, with the CHAP secret replaced by "***" (for the API and the CLI).
nlohmann::json RedactedJson(const Definition& definition);

// Property value <-> definition. Decode checks the schema version first.
// Encode never writes the CHAP secret (only chap_user and chap_secret_ref):
// store the secret first (issue 17 item 5).
std::string Encode(const Definition& definition);
// A property value as the API may show it: a share property's CHAP secret
// (one written before issue 17) replaced by "***"; other values unchanged.
std::string RedactPropertyValue(std::string_view property, const std::string& value);
Result<Definition> Decode(Protocol protocol, std::string_view value, const zfs::DatasetName& dataset);

// Identities derived from a dataset guid.
// What an initiator sees, on every head and after a rename of the dataset.
struct IscsiIdentity {
  std::string serial;   // "PK" + 16 upper-case hex digits of the guid (VPD page 0x80)
  // NAA 6 designator (VPD 0x83), the same with tgt and LIO: LIO has no NAA
  // setting and derives it from the unit serial (LioNaaFor): "0x6001405"
  // (its company id) + the guid's 16 hex digits + 9 zeros. tgt has no NAA
  // setting either but derives its NAA 6 from scsi_id (TgtNaaFor: one nibble
  // per character, the last 32 kept, the first forced to 6), so scsi_id is
  // chosen to make tgt present this same NAA.
  std::string naa;
  // "pk" + the NAA's 32 hex digits (34 characters; tgt takes up to 36): the
  // T10 vendor designator tgt presents (VPD 0x83). LIO presents its own.
  std::string scsi_id;
  // LIO's NAA, kept as a field of its own for the API: equal to `naa`.
  std::string naa_lio;
};
IscsiIdentity IdentityFor(uint64_t dataset_guid);
// LIO's NAA 6 for a LU with unit serial `serial` (target_core_spc.c,
// spc_gen_naa_6h_vendor_specific): 0x6, the 24-bit company id (0x001405 by
// default), then the first 25 hex digits of the serial (other characters
// skipped), zero-padded.
std::string LioNaaFor(const std::string& serial);

// A share resolved for serving: the definition plus where its data is now.
struct Share {
  std::string pool;
  std::string dataset;
  uint64_t guid = 0;
  // Filesystem: its mountpoint. Volume: its device node (/dev/zvol/POOL/NAME).
  std::string path;
  bool volume = false;
  Definition definition;

  Protocol protocol() const { return ProtocolOf(definition); }
  // "iscsi:tank/vm1" — how events, logs and errors name the share.
  std::string Id() const;
};

}  // namespace pk::share
