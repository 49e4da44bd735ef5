#include "api/client.h"

#include <fmt/format.h>

#include "base/json.h"

namespace pk::api {

Result<nlohmann::json> ApiClient::Call(std::string_view method, const std::string& target,
                                       const nlohmann::json& body) const {
  PK_ASSIGN_OR_RETURN(auto text, CallRaw(method, target, body));
  auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return Internal(fmt::format("daemon sent a non-JSON answer to {} {}", method, target));
  return json;
}

Result<std::string> ApiClient::CallRaw(std::string_view method, const std::string& target,
                                       const nlohmann::json& body) const {
  // DumpJson would send bytes that are not UTF-8 as U+FFFD: the daemon would
  // create a share, property or migration under a name nobody typed.
  PK_TRY(CheckJsonUtf8(fmt::format("{} {}:", method, target), body));
  std::vector<std::pair<std::string, std::string>> headers;
  if (!token_.empty()) headers.emplace_back("Authorization", "Bearer " + token_);
  std::string payload = body.is_null() ? std::string() : DumpJson(body);
  if (!payload.empty()) headers.emplace_back("Content-Type", "application/json");
  PK_ASSIGN_OR_RETURN(auto resp, HttpRequestTo(endpoint_, method, target, payload, headers, timeout_));
  if (resp.status >= 200 && resp.status < 300) return std::move(resp.body);
  auto json = nlohmann::json::parse(resp.body, nullptr, /*allow_exceptions=*/false);
  if (!json.is_discarded() && json.contains("error") && json["error"].is_object()) {
    const auto& e = json["error"];
    return MakeError(ErrorCodeFromName(e.value("code", "unknown")), e.value("message", "unknown error"));
  }
  return Internal(fmt::format("daemon answered {} {} with HTTP {}: {}", method, target, resp.status, resp.body));
}

}  // namespace pk::api
