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

Bytes get_bytes(const Napi::Value& v, const char* what) {
  if (v.IsTypedArray()) {
    auto ta = v.As<Napi::TypedArray>();
    Napi::ArrayBuffer ab = ta.ArrayBuffer();
    return {static_cast<uint8_t*>(ab.Data()) + ta.ByteOffset(), ta.ByteLength()};
  }
  if (v.IsDataView()) {
    auto dv = v.As<Napi::DataView>();
    return {static_cast<uint8_t*>(dv.ArrayBuffer().Data()) + dv.ByteOffset(), dv.ByteLength()};
  }
  if (v.IsArrayBuffer()) {
    auto ab = v.As<Napi::ArrayBuffer>();
    return {static_cast<uint8_t*>(ab.Data()), ab.ByteLength()};
  }
  // SharedArrayBuffer has no node-addon-api wrapper before napi 10; reach it
  // through a Uint8Array view made in JS instead (see src/native.ts).
  throw_code(v.Env(), "E_BAD_INPUT", std::string("Expected TypedArray or ArrayBuffer for ") + what);
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
