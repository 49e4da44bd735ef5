#include "api/internal/request.h"

#include <charconv>

#include <fmt/format.h>

#include "api/json_codec.h"
#include "base/json.h"
#include "base/log.h"

namespace pk::api::internal {

using nlohmann::json;

void LogRefresh(const Status& refreshed) {
  if (!refreshed) GetLogger("api")->warn("inventory refresh after a change failed: {}", refreshed.error().message());
}

HttpResponse JsonResponse(const json& body, int status) {
  HttpResponse r;
  r.status = status;
  r.body = DumpJson(body);
  return r;
}

HttpResponse ErrorResponse(const Error& error) { return JsonResponse(ErrorToJson(error), HttpStatusFor(error.code())); }

Result<json> ParseBody(const HttpRequest& request) {
  if (request.body.empty()) return json::object();
  json body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return InvalidArgument("request body is not valid JSON");
  if (!body.is_object()) return InvalidArgument("request body must be a JSON object");
  return body;
}

Result<std::string> StringField(JsonFields& body, const char* field) {
  std::string out;
  body.Require(field, out);
  PK_TRY(body.status());
  return out;
}

Result<bool> BoolField(JsonFields& body, const char* field, bool fallback) {
  bool out = fallback;
  body.Get(field, out);
  PK_TRY(body.status());
  return out;
}

Result<std::vector<std::string>> StringListField(JsonFields& body, const char* field) {
  std::vector<std::string> out;
  body.Get(field, out);
  PK_TRY(body.status());
  return out;
}

std::string Query(const HttpRequest& r, const std::string& key, const std::string& fallback) {
  auto it = r.query.find(key);
  return it == r.query.end() ? fallback : it->second;
}

Result<bool> QueryBool(const HttpRequest& r, const std::string& key, bool fallback) {
  std::string v = Query(r, key);
  if (v.empty()) return fallback;
  if (v == "true" || v == "1" || v == "yes") return true;
  if (v == "false" || v == "0" || v == "no") return false;
  return InvalidArgument(fmt::format("query parameter '{}' must be true or false, not '{}'", key, v));
}

Result<int64_t> QueryInt(const HttpRequest& r, const std::string& key, int64_t fallback, int64_t min, int64_t max) {
  std::string v = Query(r, key);
  if (v.empty()) return fallback;
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || n < min || n > max) {
    return InvalidArgument(fmt::format("query parameter '{}' must be a whole number from {} to {}, not '{}'", key, min, max, v));
  }
  return n;
}

}  // namespace pk::api::internal
