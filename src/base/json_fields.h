// JsonFields: the one way fields are read out of a JSON object (a request
// body, a state file, a share definition, a helper's status). Each Get names
// the field it reads; the first wrong type, failed check or (at Finish) field
// that nobody asked for becomes an InvalidArgument that names the object
// (`context`) and the field. Nothing is returned half-read: callers act only
// after Finish() is OK.
// Thread-safety: one object per parse, not shared.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"

namespace pk {

class JsonFields {
 public:
  // Unknown fields are refused by default; kIgnore is for files a newer
  // version may have written with more fields (forward compatibility).
  enum class Unknown { kRefuse, kIgnore };

  // `context` prefixes every error ("nfs share of 'tank/a'"); empty: none.
  JsonFields(const nlohmann::json& j, std::string context);
  // The object is referred to, not copied: a temporary would be gone before
  // the first Get (ASan: stack-use-after-scope).
  JsonFields(nlohmann::json&&, std::string) = delete;

  // Reads `name` into `out` when present and not null; leaves `out` as it is
  // otherwise. T: bool, int, int64_t, uint32_t, uint64_t, double, std::string,
  // std::vector<std::string>, or std::optional of one of those.
  template <typename T>
  void Get(const char* name, T& out);
  // Like Get, but absent (or null) is an error: "field 'name' is required".
  template <typename T>
  void Require(const char* name, T& out);
  // Whether `name` is present and not null; marks it known.
  bool Has(const char* name);
  // The raw value of `name` for a caller's own checks (nullptr when absent or
  // null, or after an error); marks it known.
  const nlohmann::json* Raw(const char* name);

  void Fail(std::string_view field, std::string_view why);
  template <typename T>
  void Check(std::string_view field, const Result<T>& result) {
    if (!result) Fail(field, result.error().message());
  }
  bool ok() const { return error_.empty(); }
  // The first error so far (InvalidArgument), without the unknown-field check.
  Status status() const;

  // InvalidArgument for the first error or (with kRefuse) an unknown field.
  Status Finish(Unknown unknown = Unknown::kRefuse);

 private:
  void WrongType(std::string_view field, std::string_view expected);

  const nlohmann::json& j_;
  std::string context_;
  std::set<std::string> seen_;
  std::string error_;
};

// ---- implementation of the templates ----

namespace internal {
// The value's check and conversion for each supported type; false: wrong
// type, with `why` set to what was expected.
bool ReadJsonValue(const nlohmann::json& v, bool& out, std::string_view& why);
bool ReadJsonValue(const nlohmann::json& v, int& out, std::string_view& why);
bool ReadJsonValue(const nlohmann::json& v, int64_t& out, std::string_view& why);
bool ReadJsonValue(const nlohmann::json& v, uint32_t& out, std::string_view& why);
bool ReadJsonValue(const nlohmann::json& v, uint64_t& out, std::string_view& why);
bool ReadJsonValue(const nlohmann::json& v, double& out, std::string_view& why);
bool ReadJsonValue(const nlohmann::json& v, std::string& out, std::string_view& why);
bool ReadJsonValue(const nlohmann::json& v, std::vector<std::string>& out, std::string_view& why);

template <typename T>
struct IsOptional : std::false_type {};
template <typename T>
struct IsOptional<std::optional<T>> : std::true_type {};
}  // namespace internal

template <typename T>
void JsonFields::Get(const char* name, T& out) {
  const nlohmann::json* v = Raw(name);
  if (!v) return;
  std::string_view why;
  if constexpr (internal::IsOptional<T>::value) {
    typename T::value_type value{};
    if (!internal::ReadJsonValue(*v, value, why)) return WrongType(name, why);
    out = std::move(value);
  } else {
    if (!internal::ReadJsonValue(*v, out, why)) return WrongType(name, why);
  }
}

template <typename T>
void JsonFields::Require(const char* name, T& out) {
  if (!Has(name)) return Fail(name, "is required");
  Get(name, out);
}

}  // namespace pk
