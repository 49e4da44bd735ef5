// The HTTP server's request-head parser, exposed for the fuzz targets
// (tests/fuzz) and nothing else: HttpServer itself calls the same code.
//
// Thread-safety: pure function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "api/http.h"

namespace pk::api::internal {

struct RequestHead {
  uint64_t content_length = 0;  // the body length to read after the head
  bool expect_continue = false;
};
// What the server answers on its own when the head is refused.
struct HeadReject {
  int status;  // 400, 411 or 413
  std::string message;
};

// Parses `head` (request line and headers, CRLF-separated, without the blank
// line that ends it) into `request` exactly as the server does before calling
// its handler; refuses a body above `max_body_bytes`.
std::expected<RequestHead, HeadReject> ParseRequestHead(std::string_view head, size_t max_body_bytes,
                                                        HttpRequest& request);

}  // namespace pk::api::internal
