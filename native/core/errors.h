// Error type shared by every core module. Codes mirror the public
// CheckpointError codes (src/errors.ts) so the addon maps them one to one.
#pragma once
#include <stdexcept>
#include <string>

namespace tk {

enum class ErrorCode { BadInput, Corrupt, Version, Locked, NoSpace, Io, NotFound };

const char* error_code_name(ErrorCode code);  // "E_BAD_INPUT", ...

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message, int sys_errno = 0)
      : std::runtime_error(message), code_(code), sys_errno_(sys_errno) {}
  ErrorCode code() const { return code_; }
  int sys_errno() const { return sys_errno_; }

 private:
  ErrorCode code_;
  int sys_errno_;
};

}  // namespace tk
