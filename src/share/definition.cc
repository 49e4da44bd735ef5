#include "share/definition.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <set>

#include <fmt/format.h>

#include "base/json.h"
#include "base/json_fields.h"
#include "sys/users.h"
#include "zfs/types.h"

namespace pk::share {
namespace {

using nlohmann::json;

constexpr std::string_view kIqnPrefix = "iqn.2026-11.org.poolkeeper:";

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsHex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

bool IsIpv4(std::string_view text) {
  in_addr addr{};
  return inet_pton(AF_INET, std::string(text).c_str(), &addr) == 1;
}

// "a.b.c.d/len" with len 0..32.
bool IsIpv4Network(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos || !IsIpv4(text.substr(0, slash))) return false;
  std::string_view len = text.substr(slash + 1);
  if (len.empty() || len.size() > 2 || !std::all_of(len.begin(), len.end(), ::isdigit)) return false;
  return std::stoi(std::string(len)) <= 32;
}

bool IsHostName(std::string_view text) {
  if (text.empty() || text.size() > 253 || text.front() == '-' || text.front() == '.') return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.';
  });
}

// Bytes, or a size as zfs takes it ("64M", "1.5G").
void GetSize(JsonFields& f, const char* name, uint64_t& out) {
  if (const json* v = f.Raw(name); v && v->is_string()) {
    auto size = zfs::ParseSize(v->get<std::string>());
    f.Check(name, size);
    if (size) out = *size;
    return;
  }
  f.Get(name, out);
}

Status CheckChap(const IscsiDefinition& d) {
  if (d.chap_user.empty() != (d.chap_secret.empty() && d.chap_secret_ref.empty())) {
    return InvalidArgument("chap_user and chap_secret must be given together");
  }
  if (d.chap_user.empty()) return OkStatus();
  if (!d.chap_secret_ref.empty() &&
      (!d.chap_secret_ref.starts_with("guid:") || d.chap_secret_ref.size() == 5 || d.chap_secret_ref.size() > 25 ||
       !std::all_of(d.chap_secret_ref.begin() + 5, d.chap_secret_ref.end(), ::isdigit))) {
    return InvalidArgument(fmt::format("chap_secret_ref '{}' is not \"guid:\" and a number", d.chap_secret_ref));
  }
  // tgt splits its parameters on ',' (user=U,password=S).
  if (d.chap_user.find_first_of(",=") != std::string::npos || d.chap_secret.find(',') != std::string::npos) {
    return InvalidArgument("CHAP user and secret must not contain ',' (and the user no '=')");
  }
  auto printable = [](std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c < 127; });
  };
  if (d.chap_user.size() > 255 || !printable(d.chap_user)) {
    return InvalidArgument(fmt::format("CHAP user '{}' must be 1..255 printable characters without spaces", d.chap_user));
  }
  // Empty with a reference: the secret is in the pool's store (filled in when served).
  if (!d.chap_secret.empty() && (d.chap_secret.size() < 12 || d.chap_secret.size() > 16 || !printable(d.chap_secret))) {
    return InvalidArgument("CHAP secret must be 12..16 printable characters without spaces (RFC 3720 initiators)");
  }
  return OkStatus();
}

Status CheckFileName(std::string_view file) {
  // Before the other checks: their messages quote the name.
  PK_TRY(CheckUtf8("LUN file name", file));
  if (file.empty() || file.size() > 255 || file == "." || file == ".." || file.front() == '-' ||
      file.find('/') != std::string_view::npos ||
      std::any_of(file.begin(), file.end(), [](char c) { return static_cast<unsigned char>(c) < ' '; })) {
    return InvalidArgument(fmt::format("'{}' is not a plain file name inside the dataset", file));
  }
  return OkStatus();
}

Result<Definition> IscsiFromJson(const json& j, const zfs::DatasetName& dataset) {
  JsonFields f(j, fmt::format("iscsi share of '{}'", dataset.str()));
  IscsiDefinition d;
  d.iqn = DefaultIqn(dataset);
  std::string iqn;
  std::vector<std::string> initiators = {"ALL"};
  f.Get("iqn", iqn);
  f.Get("lun", d.lun);
  f.Get("file", d.file);
  GetSize(f, "size", d.size_bytes);
  f.Get("chap_user", d.chap_user);
  f.Get("chap_secret", d.chap_secret);
  f.Get("chap_secret_ref", d.chap_secret_ref);
  f.Get("initiators", initiators);
  f.Get("read_only", d.read_only);
  if (f.ok() && !iqn.empty()) {
    auto parsed = Iqn::Parse(iqn);
    f.Check("iqn", parsed);
    if (parsed) d.iqn = *parsed;
  }
  if (d.lun < 1 || d.lun > 255) f.Fail("lun", fmt::format("is {}: must be 1..255 (LUN 0 is the target's controller)", d.lun));
  f.Check("file", CheckFileName(d.file));
  f.Check("chap_user", CheckChap(d));
  d.initiators.clear();
  for (const auto& text : initiators) {
    auto parsed = IscsiInitiator::Parse(text);
    f.Check("initiators", parsed);
    if (parsed) d.initiators.push_back(*parsed);
  }
  if (f.ok() && d.initiators.empty()) f.Fail("initiators", "is empty: list initiators, or \"ALL\"");
  if (f.ok() && d.initiators.size() > 1 &&
      std::any_of(d.initiators.begin(), d.initiators.end(), [](const auto& i) { return i.text == "ALL"; })) {
    f.Fail("initiators", "mixes \"ALL\" with other entries");
  }
  PK_TRY(f.Finish());
  return d;
}

Status CheckPseudo(std::string_view pseudo) {
  // The path is written into ganesha's configuration: only plain path characters.
  bool plain = std::all_of(pseudo.begin(), pseudo.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || std::string_view("/._-:+@").find(c) != std::string_view::npos;
  });
  if (!pseudo.starts_with('/') || !plain || pseudo.find("//") != std::string_view::npos ||
      pseudo.find("/..") != std::string_view::npos || pseudo.find("/./") != std::string_view::npos ||
      (pseudo.size() > 1 && pseudo.ends_with('/')) || pseudo.size() > 1024) {
    return InvalidArgument(fmt::format(
        "pseudo path '{}' must be an absolute path of letters, digits and /._-:+@ without '..' or empty components", pseudo));
  }
  return OkStatus();
}

Result<Definition> NfsFromJson(const json& j, const zfs::DatasetName& dataset) {
  JsonFields f(j, fmt::format("nfs share of '{}'", dataset.str()));
  NfsDefinition d;
  // Default pseudo path: "/" + the dataset name, with what a pseudo path
  // cannot hold (blanks, say) as '_'.
  d.pseudo = "/" + dataset.str();
  for (char& c : d.pseudo) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && std::string_view("/._-:+@").find(c) == std::string_view::npos) c = '_';
  }
  std::vector<std::string> clients;
  f.Get("clients", clients);
  f.Get("pseudo", d.pseudo);
  for (const auto& text : clients) {
    auto parsed = NfsClient::Parse(text);
    f.Check("clients", parsed);
    if (parsed) d.clients.push_back(*parsed);
  }
  if (f.ok() && d.clients.empty()) f.Fail("clients", "is empty: give at least one client spec, e.g. \"*(ro)\"");
  f.Check("pseudo", CheckPseudo(d.pseudo));
  PK_TRY(f.Finish());
  return d;
}

Status CheckSmbName(std::string_view name) {
  constexpr std::string_view kBad = "[]\\/:;|=,+*?<>\"%";
  PK_TRY(CheckUtf8("SMB share name", name));
  if (name.empty() || name.size() > 80) return InvalidArgument(fmt::format("SMB share name '{}' must be 1..80 characters", name));
  for (char c : name) {
    if (static_cast<unsigned char>(c) < ' ' || kBad.find(c) != std::string_view::npos) {
      return InvalidArgument(fmt::format("SMB share name '{}' contains '{}': not allowed are control characters and {}", name,
                                         c < ' ' ? std::string("\\x") + fmt::format("{:02x}", c) : std::string(1, c), kBad));
    }
  }
  if (name.front() == ' ' || name.back() == ' ') return InvalidArgument(fmt::format("SMB share name '{}' starts or ends with a space", name));
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower == "global" || lower == "homes" || lower == "printers" || lower == "ipc$") {
    return InvalidArgument(fmt::format("SMB share name '{}' is reserved by samba", name));
  }
  return OkStatus();
}

Result<Definition> SmbFromJson(const json& j, const zfs::DatasetName& dataset) {
  JsonFields f(j, fmt::format("smb share of '{}'", dataset.str()));
  SmbDefinition d;
  // Default share name: the dataset's last component.
  d.name = dataset.str().substr(dataset.str().rfind('/') + 1);
  f.Get("name", d.name);
  f.Get("read_only", d.read_only);
  f.Get("valid_users", d.valid_users);
  f.Get("guest_ok", d.guest_ok);
  f.Check("name", CheckSmbName(d.name));
  for (const auto& user : d.valid_users) {
    f.Check("valid_users", sys::AccountName::Parse(user, sys::AccountKind::kUser));
  }
  PK_TRY(f.Finish());
  return d;
}

}  // namespace

std::string_view ProtocolName(Protocol protocol) {
  switch (protocol) {
    case Protocol::kIscsi: return "iscsi";
    case Protocol::kNfs: return "nfs";
    case Protocol::kSmb: return "smb";
  }
  return "?";
}

Result<Protocol> ParseProtocol(std::string_view text) {
  for (Protocol p : kAllProtocols) {
    if (ProtocolName(p) == text) return p;
  }
  return InvalidArgument(fmt::format("unknown share protocol '{}' (known: iscsi, nfs, smb)", text));
}

std::string_view PropertyFor(Protocol protocol) {
  switch (protocol) {
    case Protocol::kIscsi: return "org.poolkeeper:share.iscsi";
    case Protocol::kNfs: return "org.poolkeeper:share.nfs";
    case Protocol::kSmb: return "org.poolkeeper:share.smb";
  }
  return "";
}

Result<Iqn> Iqn::Parse(std::string_view text) {
  auto bad = [&](std::string_view why) { return InvalidArgument(fmt::format("IQN '{}' is not valid: {}", text, why)); };
  if (text.size() > 223) return bad("longer than 223 bytes");
  if (text.starts_with("eui.")) {
    std::string_view hex = text.substr(4);
    if (hex.size() != 16 || !std::all_of(hex.begin(), hex.end(), IsHex)) return bad("an EUI name is 'eui.' and 16 hex digits");
    return Iqn(std::string(text));
  }
  if (!text.starts_with("iqn.")) return bad("must start with 'iqn.' (or 'eui.')");
  // iqn.YYYY-MM.reversed.domain[:anything]
  std::string_view rest = text.substr(4);
  if (rest.size() < 9 || !std::isdigit(rest[0]) || !std::isdigit(rest[1]) || !std::isdigit(rest[2]) ||
      !std::isdigit(rest[3]) || rest[4] != '-' || !std::isdigit(rest[5]) || !std::isdigit(rest[6]) || rest[7] != '.') {
    return bad("expected 'iqn.YYYY-MM.' followed by a reversed domain name");
  }
  int month = (rest[5] - '0') * 10 + (rest[6] - '0');
  if (month < 1 || month > 12) return bad("the month must be 01..12");
  std::string_view naming = rest.substr(8);
  size_t colon = naming.find(':');
  std::string_view domain = naming.substr(0, colon);
  if (domain.empty() || domain.front() == '.' || domain.back() == '.' || domain.front() == '-') {
    return bad("the naming authority (reversed domain) is empty or malformed");
  }
  for (char c : text) {
    if (c >= 'A' && c <= 'Z') return bad("upper-case letters are not allowed (IQNs are lower case)");
    if (!IsLowerAlnum(c) && c != '.' && c != '-' && c != ':') {
      return bad(fmt::format("character '{}' is not allowed (only a-z 0-9 . - :)", c));
    }
  }
  if (colon != std::string_view::npos && colon + 1 == naming.size()) return bad("nothing after ':'");
  return Iqn(std::string(text));
}

Iqn DefaultIqn(const zfs::DatasetName& dataset) {
  std::string suffix;
  for (char c : dataset.str()) {
    char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    suffix += c == '/' ? '.' : (IsLowerAlnum(l) || l == '.' || l == '-') ? l : '-';
  }
  std::string text = std::string(kIqnPrefix) + suffix;
  if (text.size() > 223) text.resize(223);
  return *Iqn::Parse(text);
}

Result<IscsiInitiator> IscsiInitiator::Parse(std::string_view text) {
  if (text == "ALL" || IsIpv4(text) || IsIpv4Network(text)) return IscsiInitiator{std::string(text)};
  if (text.starts_with("iqn.") || text.starts_with("eui.")) {
    if (auto iqn = Iqn::Parse(text); !iqn) return std::unexpected(iqn.error());
    return IscsiInitiator{std::string(text)};
  }
  return InvalidArgument(fmt::format(
      "initiator '{}' is not an initiator name (iqn./eui.), an IPv4 address, an IPv4 network a.b.c.d/len, or ALL", text));
}

Result<NfsClient> NfsClient::Parse(std::string_view spec) {
  auto bad = [&](std::string_view why) { return InvalidArgument(fmt::format("NFS client spec '{}' does not parse: {}", spec, why)); };
  NfsClient c;
  size_t open = spec.find('(');
  c.match = std::string(spec.substr(0, open));
  if (c.match != "*" && !IsIpv4(c.match) && !IsIpv4Network(c.match) && !IsHostName(c.match)) {
    return bad(fmt::format("'{}' is not *, an IPv4 address, an IPv4 network a.b.c.d/len or a host name", c.match));
  }
  if (open == std::string_view::npos) return c;
  if (!spec.ends_with(')') || spec.find('(', open + 1) != std::string_view::npos) return bad("expected MATCH(option,option,...)");
  std::string_view options = spec.substr(open + 1, spec.size() - open - 2);
  bool access_set = false;
  bool squash_set = false;
  while (!options.empty()) {
    size_t comma = options.find(',');
    std::string_view opt = options.substr(0, comma);
    options = comma == std::string_view::npos ? std::string_view() : options.substr(comma + 1);
    auto set_once = [&](bool& flag, std::string_view what) -> Status {
      if (flag) return bad(fmt::format("{} given twice", what));
      flag = true;
      return OkStatus();
    };
    if (opt == "rw" || opt == "ro") {
      PK_TRY(set_once(access_set, "rw/ro"));
      c.access = opt == "rw" ? NfsAccess::kReadWrite : NfsAccess::kReadOnly;
    } else if (opt == "root_squash" || opt == "no_root_squash" || opt == "all_squash") {
      PK_TRY(set_once(squash_set, "squash"));
      c.squash = opt == "root_squash" ? NfsSquash::kRootSquash
                 : opt == "no_root_squash" ? NfsSquash::kNoRootSquash : NfsSquash::kAllSquash;
    } else if (opt.starts_with("sec=")) {
      c.sec.clear();
      std::string_view flavours = opt.substr(4);
      while (true) {
        size_t colon = flavours.find(':');
        std::string flavour(flavours.substr(0, colon));
        if (flavour != "sys" && flavour != "krb5" && flavour != "krb5i" && flavour != "krb5p") {
          return bad(fmt::format("unknown security flavour '{}' (known: sys, krb5, krb5i, krb5p)", flavour));
        }
        c.sec.push_back(flavour);
        if (colon == std::string_view::npos) break;
        flavours = flavours.substr(colon + 1);
      }
    } else {
      return bad(fmt::format("unknown option '{}' (known: rw, ro, root_squash, no_root_squash, all_squash, sec=)", opt));
    }
  }
  return c;
}

std::string NfsClient::ToString() const {
  std::string_view squash_text = squash == NfsSquash::kRootSquash ? "root_squash"
                                 : squash == NfsSquash::kNoRootSquash ? "no_root_squash" : "all_squash";
  return fmt::format("{}({},{},sec={})", match, access == NfsAccess::kReadWrite ? "rw" : "ro", squash_text,
                     fmt::join(sec, ":"));
}

Protocol ProtocolOf(const Definition& definition) {
  return std::visit(
      [](const auto& d) {
        using T = std::decay_t<decltype(d)>;
        if constexpr (std::is_same_v<T, IscsiDefinition>) return Protocol::kIscsi;
        if constexpr (std::is_same_v<T, NfsDefinition>) return Protocol::kNfs;
        return Protocol::kSmb;
      },
      definition);
}

Result<Definition> FromJson(Protocol protocol, const json& fields, const zfs::DatasetName& dataset) {
  switch (protocol) {
    case Protocol::kIscsi: return IscsiFromJson(fields, dataset);
    case Protocol::kNfs: return NfsFromJson(fields, dataset);
    case Protocol::kSmb: return SmbFromJson(fields, dataset);
  }
  return Internal("unknown protocol");
}

json ToJson(const Definition& definition) {
  return std::visit(
      [](const auto& d) -> json {
        using T = std::decay_t<decltype(d)>;
        if constexpr (std::is_same_v<T, IscsiDefinition>) {
          json initiators = json::array();
          for (const auto& i : d.initiators) initiators.push_back(i.text);
          json j = {{"iqn", d.iqn.str()}, {"lun", d.lun}, {"file", d.file}, {"size", d.size_bytes},
                    {"chap_user", d.chap_user}, {"chap_secret", d.chap_secret}, {"initiators", initiators},
                    {"read_only", d.read_only}};
          if (!d.chap_secret_ref.empty()) j["chap_secret_ref"] = d.chap_secret_ref;
          return j;
        } else if constexpr (std::is_same_v<T, NfsDefinition>) {
          json clients = json::array();
          for (const auto& c : d.clients) clients.push_back(c.ToString());
          return {{"clients", clients}, {"pseudo", d.pseudo}};
        } else {
          return {{"name", d.name}, {"read_only", d.read_only}, {"valid_users", d.valid_users}, {"guest_ok", d.guest_ok}};
        }
      },
      definition);
}

json RedactedJson(const Definition& definition) {
  json j = ToJson(definition);
  if (j.contains("chap_secret") && (!j["chap_secret"].get<std::string>().empty() || j.contains("chap_secret_ref"))) {
    j["chap_secret"] = "***";
  }
  return j;
}

std::string Encode(const Definition& definition) {
  json j = ToJson(definition);
  j.erase("chap_secret");  // issue 17 item 5: the secret lives in the pool's ChapSecretStore
  j["v"] = kSchemaVersion;
  return DumpJson(j);
}

std::string RedactPropertyValue(std::string_view property, const std::string& value) {
  if (property != PropertyFor(Protocol::kIscsi) || value.find("chap_secret") == std::string::npos) return value;
  json j = json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return "(not shown: an unreadable iSCSI share definition)";
  if (j.contains("chap_secret")) j["chap_secret"] = "***";
  return DumpJson(j);
}

Result<Definition> Decode(Protocol protocol, std::string_view value, const zfs::DatasetName& dataset) {
  auto context = [&] { return fmt::format("property {} of '{}'", PropertyFor(protocol), dataset.str()); };
  json j = json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument(fmt::format("{}: not a JSON object", context()));
  if (!j.contains("v") || !j["v"].is_number_integer()) return InvalidArgument(fmt::format("{}: no schema version \"v\"", context()));
  int version = j["v"].get<int>();
  if (version != kSchemaVersion) {
    return InvalidArgument(fmt::format("{}: schema version {} (this Poolkeeper reads version {})", context(), version, kSchemaVersion));
  }
  j.erase("v");
  return FromJson(protocol, j, dataset);
}

IscsiIdentity IdentityFor(uint64_t dataset_guid) {
  IscsiIdentity id{.serial = fmt::format("PK{:016X}", dataset_guid)};
  id.naa = LioNaaFor(id.serial);
  id.scsi_id = "pk" + id.naa.substr(2);
  id.naa_lio = id.naa;
  return id;
}

std::string LioNaaFor(const std::string& serial) {
  std::string digits;
  for (char c : serial) {
    if (std::isxdigit(static_cast<unsigned char>(c)) && digits.size() < 25) {
      digits.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
  }
  digits.resize(25, '0');
  return "0x6001405" + digits;
}

std::string Share::Id() const { return fmt::format("{}:{}", ProtocolName(protocol()), dataset); }

}  // namespace pk::share
