// N-API glue shared by the bindings (glue.h): argument checks, error mapping,
// the sync/async runner.
#include "glue.h"

#include <cstring>

namespace tk::addon {

void throw_code(Napi::Env env, const char* code, const std::string& message) {
  throw to_js_error(env, Failure{code, message, 0});
}

std::string get_string(const Napi::Value& v, const char* what) {
  if (!v.IsString()) throw_code(v.Env(), "E_BAD_INPUT", std::string("Expected string for ") + what);
  return v.As<Napi::String>().Utf8Value();
}

double get_number(const Napi::Value& v, const char* what) {
  if (!v.IsNumber()) throw_code(v.Env(), "E_BAD_INPUT", std::string("Expected number for ") + what);
  return v.As<Napi::Number>().DoubleValue();
}

uint64_t get_u64(const Napi::Value& v, const char* what) {
  double n = get_number(v, what);
  if (!(n >= 0 && n <= 9007199254740991.0) || n != double(uint64_t(n)))
    throw_code(v.Env(), "E_BAD_INPUT", std::string("Expected non-negative integer for ") + what);
  return uint64_t(n);
}

std::string get_path(const Napi::Value& v, const char* what) {
  std::string path = get_string(v, what);
  // The system calls would silently cut the path at a NUL byte.
  if (path.empty() || path.find('\0') != std::string::npos)
    throw_code(v.Env(), "E_BAD_INPUT", std::string("Expected a non-empty path without NUL bytes for ") + what);
  return path;
}

Bytes get_bytes(const Napi::Value& v, const char* what) {
  napi_env env = v.Env();
  void* data = nullptr;
  size_t len = 0;
  // The C calls (unlike Napi::TypedArray::ArrayBuffer()) also accept views of
  // a SharedArrayBuffer, which is what the staging slabs are.
  if (v.IsTypedArray()) {
    napi_typedarray_type type;
    size_t length;
    if (napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr) == napi_ok)
      return {static_cast<uint8_t*>(data), v.As<Napi::TypedArray>().ByteLength()};
  } else if (v.IsDataView()) {
    if (napi_get_dataview_info(env, v, &len, &data, nullptr, nullptr) == napi_ok) return {static_cast<uint8_t*>(data), len};
  } else if (v.IsArrayBuffer()) {
    auto ab = v.As<Napi::ArrayBuffer>();
    return {static_cast<uint8_t*>(ab.Data()), ab.ByteLength()};
  }
  throw_code(v.Env(), "E_BAD_INPUT", std::string("Expected TypedArray, DataView or ArrayBuffer for ") + what);
}

Failure capture(const std::exception& e) {
  if (auto* err = dynamic_cast<const Error*>(&e)) return {error_code_name(err->code()), err->what(), err->sys_errno()};
  if (dynamic_cast<const std::bad_alloc*>(&e)) return {"E_IO", "out of memory", 0};
  return {"E_IO", e.what(), 0};
}

Napi::Error to_js_error(Napi::Env env, const Failure& f) {
  Napi::Error err = Napi::Error::New(env, f.message);
  err.Set("code", Napi::String::New(env, f.code));
  if (f.sys_errno) {
    err.Set("errno", Napi::Number::New(env, f.sys_errno));
    err.Set("syscallError", Napi::String::New(env, std::strerror(f.sys_errno)));
  }
  return err;
}

}  // namespace tk::addon
