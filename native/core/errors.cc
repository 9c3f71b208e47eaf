// The core error type (errors.h): codes and their names.
#include "errors.h"

namespace tk {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::BadInput: return "E_BAD_INPUT";
    case ErrorCode::Corrupt: return "E_CORRUPT";
    case ErrorCode::Version: return "E_VERSION";
    case ErrorCode::Locked: return "E_LOCKED";
    case ErrorCode::NoSpace: return "E_NOSPACE";
    case ErrorCode::Io: return "E_IO";
    case ErrorCode::NotFound: return "E_NOT_FOUND";
  }
  return "E_IO";
}

}  // namespace tk
