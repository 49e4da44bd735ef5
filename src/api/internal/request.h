// Helpers shared by the API's route files: JSON responses, body fields and
// query parameters, each failing with InvalidArgument naming the field.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/http.h"
#include "base/error.h"
#include "base/json_fields.h"

namespace pk::api::internal {

// A change already made stays made when the view cannot be refreshed
// afterwards: the failure is logged and the periodic refresh catches up.
void LogRefresh(const Status& refreshed);

HttpResponse JsonResponse(const nlohmann::json& body, int status = 200);
HttpResponse ErrorResponse(const Error& error);

// The body as a JSON object ({} when empty).
Result<nlohmann::json> ParseBody(const HttpRequest& request);
// A body's fields are read through one JsonFields (base/json_fields.h), so a
// route refuses, with PK_TRY(fields.Finish()) before it acts, every field it
// did not read. These return the first error at once. StringField: required.
Result<std::string> StringField(JsonFields& body, const char* field);
Result<bool> BoolField(JsonFields& body, const char* field, bool fallback);
Result<std::vector<std::string>> StringListField(JsonFields& body, const char* field);

std::string Query(const HttpRequest& r, const std::string& key, const std::string& fallback = "");
Result<bool> QueryBool(const HttpRequest& r, const std::string& key, bool fallback);
// A whole number in [min, max]; `fallback` when absent.
Result<int64_t> QueryInt(const HttpRequest& r, const std::string& key, int64_t fallback, int64_t min, int64_t max);

}  // namespace pk::api::internal
