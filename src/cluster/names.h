// cluster names and addresses, validated at the edge (STYLE rule 3):
// HeadName (a cluster node's name as Corosync and Pacemaker know it) and Vip
// (a floating IPv4/IPv6 address with its prefix length).
// Thread-safety: plain values.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace pk::cluster {

// 1-63 characters: letters, digits, '-', '_' and '.', starting with a letter
// or digit (a host name, which Pacemaker also uses as an XML id part).
class HeadName {
 public:
  static Result<HeadName> Parse(std::string_view text);
  const std::string& str() const { return name_; }
  auto operator<=>(const HeadName&) const = default;

 private:
  explicit HeadName(std::string name) : name_(std::move(name)) {}
  std::string name_;
};

// "10.0.0.5/24" or "fd00::5/64". The prefix is required (IPaddr2 would
// otherwise guess it from the routes of whichever head starts it).
class Vip {
 public:
  enum class Family { kIpv4, kIpv6 };
  static Result<Vip> Parse(std::string_view text);
  // "ADDR/PREFIX[,ADDR/PREFIX...]"; duplicates refused.
  static Result<std::vector<Vip>> ParseList(std::string_view text);

  const std::string& address() const { return address_; }  // canonical (inet_ntop)
  int prefix() const { return prefix_; }
  Family family() const { return family_; }
  std::string str() const { return address_ + "/" + std::to_string(prefix_); }
  // Whether `other` (an address, no prefix) lies in this address's subnet.
  bool SameSubnet(std::string_view other) const;
  bool operator==(const Vip& o) const { return address_ == o.address_ && prefix_ == o.prefix_; }

 private:
  Vip(std::string address, int prefix, Family family) : address_(std::move(address)), prefix_(prefix), family_(family) {}
  std::string address_;
  int prefix_ = 0;
  Family family_ = Family::kIpv4;
};

// The canonical form of an IPv4 or IPv6 address; InvalidArgument otherwise.
Result<std::string> CanonicalAddress(std::string_view text);

}  // namespace pk::cluster
