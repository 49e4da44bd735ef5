#include "base/json_fields.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace pk {

using nlohmann::json;

JsonFields::JsonFields(const json& j, std::string context) : j_(j), context_(std::move(context)) {
  if (!j_.is_object()) Fail("", "must be a JSON object");
}

bool JsonFields::Has(const char* name) {
  seen_.insert(name);
  return j_.is_object() && j_.contains(name) && !j_.at(name).is_null();
}

const json* JsonFields::Raw(const char* name) {
  if (!Has(name) || !ok()) return nullptr;
  return &j_.at(name);
}

void JsonFields::Fail(std::string_view field, std::string_view why) {
  if (!ok()) return;
  std::string what = field.empty() ? std::string(why) : fmt::format("field '{}' {}", field, why);
  error_ = context_.empty() ? what : fmt::format("{}: {}", context_, what);
}

void JsonFields::WrongType(std::string_view field, std::string_view expected) {
  Fail(field, fmt::format("has the wrong type: {}", expected));
}

Status JsonFields::status() const {
  if (!ok()) return InvalidArgument(error_);
  return OkStatus();
}

Status JsonFields::Finish(Unknown unknown) {
  if (ok() && unknown == Unknown::kRefuse && j_.is_object()) {
    for (const auto& [key, value] : j_.items()) {
      if (!seen_.contains(key)) {
        Fail("", fmt::format("unknown field '{}' (known: {})", key, fmt::join(seen_, ", ")));
        break;
      }
    }
  }
  return status();
}

namespace internal {

bool ReadJsonValue(const json& v, bool& out, std::string_view& why) {
  if (!v.is_boolean()) {
    why = "must be true or false";
    return false;
  }
  out = v.get<bool>();
  return true;
}

bool ReadJsonValue(const json& v, int& out, std::string_view& why) {
  if (!v.is_number_integer() || v.get<int64_t>() < std::numeric_limits<int>::min() ||
      (v.is_number_unsigned() ? v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int>::max())
                              : v.get<int64_t>() > std::numeric_limits<int>::max())) {
    {
    why = "must be an integer";
    return false;
  }
  }
  out = v.get<int>();
  return true;
}

bool ReadJsonValue(const json& v, int64_t& out, std::string_view& why) {
  if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > INT64_MAX)) {
    {
    why = "must be an integer";
    return false;
  }
  }
  out = v.get<int64_t>();
  return true;
}

bool ReadJsonValue(const json& v, uint32_t& out, std::string_view& why) {
  if (!v.is_number_integer() || (!v.is_number_unsigned() && v.get<int64_t>() < 0) || v.get<uint64_t>() > UINT32_MAX) {
    {
    why = "must be a non-negative integer";
    return false;
  }
  }
  out = v.get<uint32_t>();
  return true;
}

bool ReadJsonValue(const json& v, uint64_t& out, std::string_view& why) {
  if (!v.is_number_integer() || (!v.is_number_unsigned() && v.get<int64_t>() < 0)) {
    {
    why = "must be a non-negative integer (bytes)";
    return false;
  }
  }
  out = v.get<uint64_t>();
  return true;
}

bool ReadJsonValue(const json& v, double& out, std::string_view& why) {
  if (!v.is_number()) {
    why = "must be a number";
    return false;
  }
  out = v.get<double>();
  return true;
}

bool ReadJsonValue(const json& v, std::string& out, std::string_view& why) {
  if (!v.is_string()) {
    why = "must be a string";
    return false;
  }
  out = v.get<std::string>();
  return true;
}

bool ReadJsonValue(const json& v, std::vector<std::string>& out, std::string_view& why) {
  if (!v.is_array() || !std::all_of(v.begin(), v.end(), [](const json& e) { return e.is_string(); })) {
    {
    why = "must be a list of strings";
    return false;
  }
  }
  out = v.get<std::vector<std::string>>();
  return true;
}

}  // namespace internal
}  // namespace pk
