// api::ApiClient: calls poolkeeperd's API and turns answers into Results.
// A 2xx answer yields its JSON body; any other answer becomes the Error the
// daemon sent (code and message), so callers see the daemon's own words.
// Thread-safety: stateless apart from its configuration; safe to share.
#pragma once

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "api/http.h"
#include "base/error.h"

namespace pk::api {

class ApiClient {
 public:
  ApiClient(Endpoint endpoint, std::string bearer_token,
            std::chrono::milliseconds timeout = std::chrono::minutes(10))
      : endpoint_(std::move(endpoint)), token_(std::move(bearer_token)), timeout_(timeout) {}

  // `target` is the path and query, already percent-encoded ("/v1/pools/tank").
  Result<nlohmann::json> Call(std::string_view method, const std::string& target,
                              const nlohmann::json& body = nullptr) const;
  // Like Call, but returns a 2xx answer's body as sent, unparsed (the CLI
  // prints it as it is for --json: parsing a 12k-dataset list costs more than
  // the daemon takes to serve it).
  Result<std::string> CallRaw(std::string_view method, const std::string& target,
                              const nlohmann::json& body = nullptr) const;

 private:
  Endpoint endpoint_;
  std::string token_;
  std::chrono::milliseconds timeout_;
};

}  // namespace pk::api
