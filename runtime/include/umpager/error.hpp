/// @file error.hpp
/// Exception family of the C++ API (the C API turns each into an error code).
#pragma once

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace umpager {

/// Bad input from the caller: a null, zero, unaligned, foreign or freed argument.
struct invalid_argument : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

/// Base of every failure that is not the caller's fault.
struct runtime_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// A kernel interface failed; `code()` is the errno.
struct system_error : runtime_error {
  system_error(int code, const std::string& what)
      : runtime_error(what + ": " + std::strerror(code)), code_(code) {}
  [[nodiscard]] int code() const noexcept { return code_; }

 private:
  int code_;
};

/// The kernel lacks a feature umpager needs, or policy forbids it; the message says what to change.
struct unsupported : runtime_error {
  using runtime_error::runtime_error;
};

/// Device (or host) memory could not be provided.
struct out_of_memory : runtime_error {
  using runtime_error::runtime_error;
};

/// A device driver operation failed (copy error, lost context, no device).
struct driver_error : runtime_error {
  using runtime_error::runtime_error;
};

/// The runtime was used after shutdown or a resolver failed and it closed.
struct closed_error : runtime_error {
  using runtime_error::runtime_error;
};

}  // namespace umpager

#define UMPAGER_STRINGIFY_DETAIL(x) #x
#define UMPAGER_STRINGIFY(x) UMPAGER_STRINGIFY_DETAIL(x)

/// Throws umpager::invalid_argument with `msg` unless `cond` holds.
#define UMPAGER_EXPECTS(cond, msg)                                      \
  do {                                                                  \
    if (!(cond)) throw ::umpager::invalid_argument(std::string(msg));   \
  } while (0)

/// Throws `kind` (an umpager exception type) with `msg`.
#define UMPAGER_FAIL(kind, msg) throw kind(std::string(msg))

/// Evaluates a syscall-like expression; throws umpager::system_error on -1.
#define UMPAGER_SYSCALL(expr, what)                                     \
  do {                                                                  \
    if ((expr) == -1) throw ::umpager::system_error(errno, (what));     \
  } while (0)
