// For the API's unit tests: a request as root sends it on the unix socket.
#pragma once

#include <map>
#include <string>

#include "api/http.h"

namespace pk::api::internal {

inline HttpRequest RootRequest(std::string method, std::string path, std::string body = "",
                               std::map<std::string, std::string> query = {}) {
  HttpRequest r;
  r.method = std::move(method);
  r.path = path;
  r.target = std::move(path);
  r.body = std::move(body);
  r.query = std::move(query);
  r.transport = Transport::kUnix;
  r.peer_uid = 0;
  return r;
}

}  // namespace pk::api::internal
