// pk::Error and pk::Result<T>: the one way failures travel in Poolkeeper.
//
// Every fallible function returns Result<T> (std::expected<T, Error>). An Error
// carries a canonical code (the absl/gRPC set, which maps to retry decisions,
// HTTP statuses and CLI exit codes) and a message an administrator can act on:
// it names the object and the cause. Layers add context with WithContext().
// Thread-safety: value types, no shared state.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace pk {

enum class ErrorCode {
  kOk = 0,
  kCancelled,
  kUnknown,
  kInvalidArgument,
  kDeadlineExceeded,
  kNotFound,
  kAlreadyExists,
  kPermissionDenied,
  kResourceExhausted,
  kFailedPrecondition,
  kAborted,
  kOutOfRange,
  kUnimplemented,
  kInternal,
  kUnavailable,
  kDataLoss,
  kUnauthenticated,
};

// Stable lower-case name of a code ("not_found"), used in JSON and logs.
std::string_view ErrorCodeName(ErrorCode code);
// Inverse of ErrorCodeName; unknown names map to kUnknown.
ErrorCode ErrorCodeFromName(std::string_view name);
// HTTP status used by the API for a code (404 for kNotFound, ...).
int HttpStatusFor(ErrorCode code);

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "context: message", keeping the code.
  Error WithContext(std::string_view context) const;

  // "not_found: import pool 'tank': ..." for logs.
  std::string ToString() const;

 private:
  ErrorCode code_;
  std::string message_;
};

template <typename T>
using Result = std::expected<T, Error>;

// Result of an operation that produces no value.
using Status = std::expected<void, Error>;

inline std::unexpected<Error> MakeError(ErrorCode code, std::string message) {
  return std::unexpected<Error>(Error(code, std::move(message)));
}
inline std::unexpected<Error> InvalidArgument(std::string m) { return MakeError(ErrorCode::kInvalidArgument, std::move(m)); }
inline std::unexpected<Error> NotFound(std::string m) { return MakeError(ErrorCode::kNotFound, std::move(m)); }
inline std::unexpected<Error> AlreadyExists(std::string m) { return MakeError(ErrorCode::kAlreadyExists, std::move(m)); }
inline std::unexpected<Error> FailedPrecondition(std::string m) { return MakeError(ErrorCode::kFailedPrecondition, std::move(m)); }
inline std::unexpected<Error> Internal(std::string m) { return MakeError(ErrorCode::kInternal, std::move(m)); }
inline std::unexpected<Error> Unavailable(std::string m) { return MakeError(ErrorCode::kUnavailable, std::move(m)); }
inline std::unexpected<Error> DeadlineExceeded(std::string m) { return MakeError(ErrorCode::kDeadlineExceeded, std::move(m)); }
inline std::unexpected<Error> PermissionDenied(std::string m) { return MakeError(ErrorCode::kPermissionDenied, std::move(m)); }
inline std::unexpected<Error> Unauthenticated(std::string m) { return MakeError(ErrorCode::kUnauthenticated, std::move(m)); }

inline Status OkStatus() { return {}; }

}  // namespace pk

#define PK_CONCAT_INNER_(a, b) a##b
#define PK_CONCAT_(a, b) PK_CONCAT_INNER_(a, b)

// Returns the error of a Result/Status expression from the enclosing function.
#define PK_TRY(expr)                                              \
  do {                                                            \
    auto&& pk_try_result_ = (expr);                               \
    if (!pk_try_result_) return std::unexpected(pk_try_result_.error()); \
  } while (0)

// Like PK_TRY, but prefixes the error message with `context`.
#define PK_TRY_CONTEXT(expr, context)                             \
  do {                                                            \
    auto&& pk_try_result_ = (expr);                               \
    if (!pk_try_result_)                                          \
      return std::unexpected(pk_try_result_.error().WithContext(context)); \
  } while (0)

#define PK_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr)  \
  auto tmp = (expr);                               \
  if (!tmp) return std::unexpected(tmp.error());   \
  lhs = std::move(*tmp)

// Declares or assigns `lhs` from a Result expression, or returns its error.
#define PK_ASSIGN_OR_RETURN(lhs, expr) \
  PK_ASSIGN_OR_RETURN_IMPL_(PK_CONCAT_(pk_aor_, __LINE__), lhs, expr)
