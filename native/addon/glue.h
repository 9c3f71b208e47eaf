// Shared N-API glue: argument checks, core-error -> JS-error mapping, and a
// runner that executes a blocking core call either on the calling thread or
// on the libuv pool behind a Promise. No policy lives here.
#pragma once
#include <napi.h>

#include <functional>
#include <memory>
#include <string>

#include "errors.h"

namespace tk::addon {

// Throws a JS Error with .code = "E_BAD_INPUT" (or the given code).
[[noreturn]] void throw_code(Napi::Env env, const char* code, const std::string& message);

std::string get_string(const Napi::Value& v, const char* what);
std::string get_path(const Napi::Value& v, const char* what);
double get_number(const Napi::Value& v, const char* what);
// A non-negative integer that a JS number holds exactly (<= 2^53 - 1).
uint64_t get_u64(const Napi::Value& v, const char* what);
// Pointer and length of a TypedArray or DataView (over an ArrayBuffer or a
// SharedArrayBuffer) or of an ArrayBuffer.
struct Bytes {
  uint8_t* data;
  size_t len;
};
Bytes get_bytes(const Napi::Value& v, const char* what);

// Per-environment state of the addon (the main thread and every worker
// thread load their own copy). N-API gives an addon one instance-data slot:
// every binding file keeps its constructors here, since a second
// SetInstanceData would replace the first.
struct AddonData {
  Napi::FunctionReference reader;   // NativeReader (addon.cc)
  Napi::FunctionReference journal;  // NativeJournal (store_bindings.cc)
  Napi::FunctionReference lock;     // NativeLock (store_bindings.cc)
  Napi::FunctionReference episode_writer;  // NativeEpisodeWriter (episode_bindings.cc)
  Napi::FunctionReference encoded_batch;   // NativeEncodedBatch (episode_bindings.cc)
};
inline AddonData& addon_data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

// Adds the journal, store-op and lock functions (store_bindings.cc); needs
// the AddonData to be set.
void register_store_bindings(Napi::Env env, Napi::Object exports);
// Adds the episode-log functions (episode_bindings.cc); needs the AddonData.
void register_episode_bindings(Napi::Env env, Napi::Object exports);

// A captured failure of a core call, turned into a JS Error later (possibly
// on another thread than the one that failed).
struct Failure {
  std::string code;
  std::string message;
  int sys_errno = 0;
};
Failure capture(const std::exception& e);
Napi::Error to_js_error(Napi::Env env, const Failure& f);

// Runs a core call on this thread and rethrows its failure as a coded JS
// error (the synchronous half of run(), without its result conversion).
template <typename F>
auto core(Napi::Env env, F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::exception& e) {
    throw to_js_error(env, capture(e));
  }
}

// Runs `work` (which must not touch JS) and converts its result with
// `convert` (on the JS thread). Synchronous: returns the converted value.
// Asynchronous: returns a Promise; `keep_alive` holds JS objects whose
// memory `work` uses until it has finished.
template <typename T>
Napi::Value run(Napi::Env env, bool async, std::function<T()> work,
                std::function<Napi::Value(Napi::Env, T&)> convert, std::vector<Napi::Value> keep_alive = {});

// ---- implementation of the template ----
template <typename T>
class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, std::function<T()> work, std::function<Napi::Value(Napi::Env, T&)> convert,
                const std::vector<Napi::Value>& keep_alive)
      : Napi::AsyncWorker(env, "tensorkeep"), deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)), convert_(std::move(convert)) {
    Napi::Array holder = Napi::Array::New(env, keep_alive.size());
    for (size_t i = 0; i < keep_alive.size(); i++) holder[i] = keep_alive[i];
    holder_ = Napi::Persistent(holder);
  }
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      result_ = std::make_unique<T>(work_());
    } catch (const std::exception& e) {
      failure_ = capture(e);
      SetError(failure_.message);
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    try {
      deferred_.Resolve(convert_(env, *result_));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error&) override { deferred_.Reject(to_js_error(Env(), failure_).Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<T()> work_;
  std::function<Napi::Value(Napi::Env, T&)> convert_;
  Napi::Reference<Napi::Array> holder_;
  std::unique_ptr<T> result_;
  Failure failure_;
};

template <typename T>
Napi::Value run(Napi::Env env, bool async, std::function<T()> work, std::function<Napi::Value(Napi::Env, T&)> convert,
                std::vector<Napi::Value> keep_alive) {
  if (async) {
    auto* worker = new PromiseWorker<T>(env, std::move(work), std::move(convert), keep_alive);
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  }
  T result;
  try {
    result = work();
  } catch (const std::exception& e) {
    throw to_js_error(env, capture(e));
  }
  return convert(env, result);
}

}  // namespace tk::addon
