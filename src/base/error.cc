#include "base/error.h"

#include <array>

namespace pk {
namespace {

struct CodeInfo {
  ErrorCode code;
  std::string_view name;
  int http;
};

constexpr std::array<CodeInfo, 17> kCodes = {{
    {ErrorCode::kOk, "ok", 200},
    {ErrorCode::kCancelled, "cancelled", 499},
    {ErrorCode::kUnknown, "unknown", 500},
    {ErrorCode::kInvalidArgument, "invalid_argument", 400},
    {ErrorCode::kDeadlineExceeded, "deadline_exceeded", 504},
    {ErrorCode::kNotFound, "not_found", 404},
    {ErrorCode::kAlreadyExists, "already_exists", 409},
    {ErrorCode::kPermissionDenied, "permission_denied", 403},
    {ErrorCode::kResourceExhausted, "resource_exhausted", 429},
    {ErrorCode::kFailedPrecondition, "failed_precondition", 409},
    {ErrorCode::kAborted, "aborted", 409},
    {ErrorCode::kOutOfRange, "out_of_range", 400},
    {ErrorCode::kUnimplemented, "unimplemented", 501},
    {ErrorCode::kInternal, "internal", 500},
    {ErrorCode::kUnavailable, "unavailable", 503},
    {ErrorCode::kDataLoss, "data_loss", 500},
    {ErrorCode::kUnauthenticated, "unauthenticated", 401},
}};

}  // namespace

std::string_view ErrorCodeName(ErrorCode code) {
  for (const auto& info : kCodes) {
    if (info.code == code) return info.name;
  }
  return "unknown";
}

ErrorCode ErrorCodeFromName(std::string_view name) {
  for (const auto& info : kCodes) {
    if (info.name == name) return info.code;
  }
  return ErrorCode::kUnknown;
}

int HttpStatusFor(ErrorCode code) {
  for (const auto& info : kCodes) {
    if (info.code == code) return info.http;
  }
  return 500;
}

Error Error::WithContext(std::string_view context) const {
  std::string message(context);
  message += ": ";
  message += message_;
  return Error(code_, std::move(message));
}

std::string Error::ToString() const {
  std::string out(ErrorCodeName(code_));
  out += ": ";
  out += message_;
  return out;
}

}  // namespace pk
