#include "cluster/names.h"

#include <arpa/inet.h>

#include <array>
#include <cctype>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

namespace pk::cluster {
namespace {

// Address bytes (4 or 16) of a textual address; empty when it does not parse.
std::vector<unsigned char> AddressBytes(const std::string& text) {
  std::array<unsigned char, 16> buf{};
  if (inet_pton(AF_INET, text.c_str(), buf.data()) == 1) return {buf.begin(), buf.begin() + 4};
  if (inet_pton(AF_INET6, text.c_str(), buf.data()) == 1) return {buf.begin(), buf.end()};
  return {};
}

}  // namespace

Result<HeadName> HeadName::Parse(std::string_view text) {
  if (text.empty()) return InvalidArgument("head name is empty");
  if (text.size() > 63) return InvalidArgument(fmt::format("head name '{}' is longer than 63 characters", text));
  if (!std::isalnum(static_cast<unsigned char>(text[0]))) {
    return InvalidArgument(fmt::format("head name '{}' must start with a letter or digit", text));
  }
  for (char c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return InvalidArgument(fmt::format("head name '{}' has '{}': only letters, digits, '-', '_' and '.' are allowed", text, c));
    }
  }
  return HeadName(std::string(text));
}

Result<std::string> CanonicalAddress(std::string_view text) {
  std::string t(text);
  std::array<unsigned char, 16> buf{};
  std::array<char, INET6_ADDRSTRLEN> out{};
  if (inet_pton(AF_INET, t.c_str(), buf.data()) == 1) return std::string(inet_ntop(AF_INET, buf.data(), out.data(), out.size()));
  if (inet_pton(AF_INET6, t.c_str(), buf.data()) == 1) return std::string(inet_ntop(AF_INET6, buf.data(), out.data(), out.size()));
  return InvalidArgument(fmt::format("'{}' is not an IPv4 or IPv6 address", text));
}

Result<Vip> Vip::Parse(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    return InvalidArgument(fmt::format("VIP '{}' has no prefix length: write ADDRESS/PREFIX, e.g. 10.0.0.5/24", text));
  }
  auto addr = CanonicalAddress(text.substr(0, slash));
  if (!addr) return InvalidArgument(fmt::format("VIP '{}': {}", text, addr.error().message()));
  Family family = addr->find(':') == std::string::npos ? Family::kIpv4 : Family::kIpv6;
  std::string_view p = text.substr(slash + 1);
  int prefix = -1;
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
  int max = family == Family::kIpv4 ? 32 : 128;
  if (p.empty() || ec != std::errc() || end != p.data() + p.size() || prefix < 1 || prefix > max) {
    return InvalidArgument(fmt::format("VIP '{}': prefix length '{}' is not a number from 1 to {}", text, p, max));
  }
  auto bytes = AddressBytes(*addr);
  bool all_zero = true;
  for (auto b : bytes) all_zero = all_zero && b == 0;
  if (all_zero || (family == Family::kIpv4 && (bytes[0] == 127 || bytes[0] >= 224)) ||
      (family == Family::kIpv6 && (*addr == "::1" || bytes[0] == 0xff))) {
    return InvalidArgument(fmt::format("VIP '{}': {} cannot float between heads (unspecified, loopback or multicast)", text, *addr));
  }
  if (family == Family::kIpv4 && prefix < 31) {
    // The network and broadcast addresses of the subnet cannot be a host's.
    uint32_t a = (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) | (uint32_t{bytes[2]} << 8) | bytes[3];
    uint32_t host = a & ((uint32_t{1} << (32 - prefix)) - 1);
    if (host == 0 || host == (uint32_t{1} << (32 - prefix)) - 1) {
      return InvalidArgument(fmt::format("VIP '{}': {} is the network or broadcast address of its subnet", text, *addr));
    }
  }
  return Vip(*addr, prefix, family);
}

Result<std::vector<Vip>> Vip::ParseList(std::string_view text) {
  std::vector<Vip> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string_view item = text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    PK_ASSIGN_OR_RETURN(auto vip, Vip::Parse(item));
    for (const auto& v : out) {
      if (v.address() == vip.address()) return InvalidArgument(fmt::format("VIP {} is given twice", vip.address()));
    }
    out.push_back(std::move(vip));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

bool Vip::SameSubnet(std::string_view other) const {
  auto a = AddressBytes(address_);
  auto b = AddressBytes(std::string(other));
  if (a.size() != b.size()) return false;
  int bits = prefix_;
  for (size_t i = 0; i < a.size() && bits > 0; ++i, bits -= 8) {
    unsigned char mask = bits >= 8 ? 0xff : static_cast<unsigned char>(0xff << (8 - bits));
    if ((a[i] & mask) != (b[i] & mask)) return false;
  }
  return true;
}

}  // namespace pk::cluster
