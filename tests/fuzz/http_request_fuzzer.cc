// Fuzz target: the API server's HTTP request-head parser
// (api/internal/http_parse.h, the code HttpServer runs on every request).
// The input is what a client sends; the head ends at the first blank line,
// as the server reads it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/internal/http_parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  size_t end = text.find("\r\n\r\n");
  pk::api::HttpRequest request;
  (void)pk::api::internal::ParseRequestHead(text.substr(0, end), 1 << 20, request);
  (void)request.Header("content-type");
  return 0;
}
