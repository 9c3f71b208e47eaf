// The N-API surface of tensorkeep: one function per core operation, each
// checking its arguments and mapping core errors to coded JS errors. Blocking
// operations take an `async` flag: false runs on the calling thread (what a
// Piscina worker wants), true returns a Promise resolved from the libuv pool.
#include <napi.h>

#include <memory>

#include "codec.h"
#include "format_limits.h"
#include "glue.h"
#include "parallel.h"
#include "reader.h"
#include "snapshot.h"
#include "syscall_seam.h"
#include "thread_priority.h"
#include "writer.h"

namespace tk::addon {
namespace {

// 0 or undefined: one thread per hardware thread.
int get_threads(const Napi::Value& v) {
  if (v.IsUndefined()) return hardware_threads();
  double n = get_number(v, "threads");
  if (!(n >= 0 && n <= 64) || n != double(int(n))) throw_code(v.Env(), "E_BAD_INPUT", "threads must be an integer in [0, 64]");
  return n == 0 ? hardware_threads() : int(n);
}

TensorSource get_tensor(const Napi::Value& v, size_t i) {
  Napi::Env env = v.Env();
  if (!v.IsObject()) throw_code(env, "E_BAD_INPUT", "tensor " + std::to_string(i) + " must be an object");
  Napi::Object o = v.As<Napi::Object>();
  TensorSource t;
  t.name = get_string(o.Get("name"), "tensor name");
  std::string dtype = get_string(o.Get("dtype"), "tensor dtype");
  if (!dtype_from_name(dtype, &t.dtype)) throw_code(env, "E_BAD_INPUT", "unknown dtype \"" + dtype + "\"");
  Napi::Value shape = o.Get("shape");
  if (!shape.IsArray()) throw_code(env, "E_BAD_INPUT", "Expected array for tensor shape");
  Napi::Array dims = shape.As<Napi::Array>();
  for (uint32_t d = 0; d < dims.Length(); d++) t.shape.push_back(get_u64(dims.Get(d), "shape entry"));
  Bytes bytes = get_bytes(o.Get("data"), "tensor data");
  t.data = bytes.data;
  t.nbytes = bytes.len;
  return t;
}

WriteOptions get_write_options(const Napi::Value& v) {
  WriteOptions o;
  if (!v.IsObject()) return o;
  Napi::Object obj = v.As<Napi::Object>();
  if (obj.Has("codec")) {
    std::string name = get_string(obj.Get("codec"), "codec");
    if (!codec_from_name(name, &o.codec)) throw_code(v.Env(), "E_BAD_INPUT", "unknown codec \"" + name + "\"");
  }
  if (obj.Has("level")) o.level = int(get_number(obj.Get("level"), "level"));
  if (obj.Has("chunkBytes")) o.chunk_bytes = get_u64(obj.Get("chunkBytes"), "chunkBytes");
  o.threads = get_threads(obj.Get("threads"));
  return o;
}

// writeCheckpoint(path, tensors, headJson, options, async, links?: {followLinks?: boolean}):
// without followLinks (a store's own file) the file's directory is never a link.
Napi::Value WriteCheckpoint(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = get_path(info[0], "path");
  if (!info[1].IsArray()) throw_code(env, "E_BAD_INPUT", "Expected array of tensors");
  Napi::Array list = info[1].As<Napi::Array>();
  std::vector<TensorSource> tensors;
  for (uint32_t i = 0; i < list.Length(); i++) tensors.push_back(get_tensor(list.Get(i), i));
  std::string head = get_string(info[2], "head JSON");
  WriteOptions options = get_write_options(info[3]);
  bool async = info[4].ToBoolean();
  bool store_dir = info[5].IsObject() && !info[5].As<Napi::Object>().Get("followLinks").ToBoolean();
  return run<WriteResult>(
      env, async, [=] { return write_checkpoint(path, tensors, head, options, store_dir); },
      [](Napi::Env env, WriteResult& r) -> Napi::Value {
        Napi::Object out = Napi::Object::New(env);
        out.Set("fileBytes", Napi::Number::New(env, double(r.file_bytes)));
        out.Set("rawBytes", Napi::Number::New(env, double(r.raw_bytes)));
        out.Set("indexJson", Napi::String::New(env, r.index_json));
        return out;
      },
      {info[1]});
}

// checkWrite(tensors, headJson, options, checkValues): what writeCheckpoint
// would refuse before it creates a file, thrown now (E_BAD_INPUT).
Napi::Value CheckWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) throw_code(env, "E_BAD_INPUT", "Expected array of tensors");
  Napi::Array list = info[0].As<Napi::Array>();
  std::vector<TensorSource> tensors;
  for (uint32_t i = 0; i < list.Length(); i++) tensors.push_back(get_tensor(list.Get(i), i));
  std::string head = get_string(info[1], "head JSON");
  WriteOptions options = get_write_options(info[2]);
  bool check_values = info[3].ToBoolean();
  core(env, [&] { check_write(tensors, head, options, check_values); });
  return env.Undefined();
}

class ReaderWrap : public Napi::ObjectWrap<ReaderWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeReader",
                       {InstanceMethod("decode", &ReaderWrap::Decode), InstanceMethod("verifyAll", &ReaderWrap::VerifyAll),
                        InstanceMethod("close", &ReaderWrap::Close)});
  }

  explicit ReaderWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ReaderWrap>(info) {}

  static Napi::Value Wrap(Napi::Env env, std::shared_ptr<CheckpointReader> reader) {
    // Per-environment constructor: every worker thread loads its own copy.
    Napi::Object obj = addon_data(env).reader.New({});
    ReaderWrap::Unwrap(obj)->reader_ = reader;
    obj.Set("indexJson", Napi::String::New(env, reader->index_json()));
    obj.Set("fileBytes", Napi::Number::New(env, double(reader->file_size())));
    return obj;
  }

 private:
  std::shared_ptr<CheckpointReader> open_reader(Napi::Env env) {
    if (!reader_) throw_code(env, "E_CLOSED", "reader is closed");
    return reader_;
  }

  // decode(targets: {tensor: number, data: view}[], verify, threads, async)
  Napi::Value Decode(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto reader = open_reader(env);
    if (!info[0].IsArray()) throw_code(env, "E_BAD_INPUT", "Expected array of decode targets");
    Napi::Array list = info[0].As<Napi::Array>();
    std::vector<CheckpointReader::Target> targets;
    for (uint32_t i = 0; i < list.Length(); i++) {
      Napi::Value item = list.Get(i);
      if (!item.IsObject()) throw_code(env, "E_BAD_INPUT", "decode target must be an object");
      Napi::Object o = item.As<Napi::Object>();
      Bytes b = get_bytes(o.Get("data"), "decode target data");
      targets.push_back({size_t(get_u64(o.Get("tensor"), "tensor position")), b.data, b.len});
    }
    bool verify = info[1].ToBoolean();
    int threads = get_threads(info[2]);
    return run<bool>(
        env, info[3].ToBoolean(), [=] { return reader->decode(targets, verify, threads), true; },
        [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); }, {info[0]});
  }

  Napi::Value VerifyAll(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto reader = open_reader(env);
    int threads = get_threads(info[0]);
    return run<bool>(
        env, info[1].ToBoolean(), [=] { return reader->verify_all(threads), true; },
        [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    reader_.reset();  // in-flight async work holds its own reference
    return info.Env().Undefined();
  }

  std::shared_ptr<CheckpointReader> reader_;
};

// openReader(path, async, options?: {followLinks?: boolean})
Napi::Value OpenReader(const Napi::CallbackInfo& info) {
  std::string path = get_path(info[0], "path");
  bool follow_links = false;
  if (info[2].IsObject()) follow_links = info[2].As<Napi::Object>().Get("followLinks").ToBoolean();
  return run<std::shared_ptr<CheckpointReader>>(
      info.Env(), info[1].ToBoolean(), [=] { return std::make_shared<CheckpointReader>(path, follow_links); },
      [](Napi::Env env, std::shared_ptr<CheckpointReader>& r) { return ReaderWrap::Wrap(env, r); });
}

// snapshot(sources: view[], destination: view, offsets: number[], threads)
Napi::Value Snapshot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray() || !info[2].IsArray()) throw_code(env, "E_BAD_INPUT", "Expected arrays of sources and offsets");
  Napi::Array sources = info[0].As<Napi::Array>(), offsets = info[2].As<Napi::Array>();
  if (sources.Length() != offsets.Length()) throw_code(env, "E_BAD_INPUT", "sources and offsets differ in length");
  Bytes dst = get_bytes(info[1], "destination");
  std::vector<CopySpan> spans;
  for (uint32_t i = 0; i < sources.Length(); i++) {
    Bytes src = get_bytes(sources.Get(i), "source");
    uint64_t off = get_u64(offsets.Get(i), "offset");
    if (off > dst.len || src.len > dst.len - off)
      throw_code(env, "E_BAD_INPUT", "source " + std::to_string(i) + " does not fit the destination at offset " + std::to_string(off));
    spans.push_back({src.data, dst.data + off, src.len});
  }
  snapshot_copy(spans, get_threads(info[3]));
  return env.Undefined();
}

Napi::Value Xxh3(const Napi::CallbackInfo& info) {
  Bytes b = get_bytes(info[0], "data");
  return Napi::String::New(info.Env(), hash_hex(xxh3_64(b.data, b.len)));
}

Napi::Value LowerThreadPriority(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), lower_thread_priority(int(get_u64(info[0], "nice"))));
}

Napi::Value SetFaultPlan(const Napi::CallbackInfo& info) {
  sys::FaultPlan plan;
  std::string error;
  if (!sys::parse_fault_plan(get_string(info[0], "fault plan"), &plan, &error)) throw_code(info.Env(), "E_BAD_INPUT", error);
  sys::set_fault_plan(plan);
  return info.Env().Undefined();
}

Napi::Value ClearFaultPlan(const Napi::CallbackInfo& info) {
  sys::clear_fault_plan();
  return info.Env().Undefined();
}

Napi::Value FaultCallCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(sys::call_count()));
}

// takeFaultTrace(): the calls recorded since the plan was set (and clears them).
Napi::Value TakeFaultTrace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<sys::TraceEntry> trace = sys::take_trace();
  Napi::Array out = Napi::Array::New(env, trace.size());
  for (size_t i = 0; i < trace.size(); i++) {
    const sys::TraceEntry& e = trace[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("op", Napi::String::New(env, sys::op_name(e.op)));
    o.Set("path", Napi::String::New(env, e.path));
    o.Set("path2", Napi::String::New(env, e.path2));
    o.Set("offset", Napi::Number::New(env, double(e.offset)));
    o.Set("length", Napi::Number::New(env, double(e.length)));
    o.Set("flags", Napi::Number::New(env, e.flags));
    if (e.op == sys::Op::Pwrite) o.Set("data", Napi::Buffer<char>::Copy(env, e.data.data(), e.data.size()));
    out.Set(uint32_t(i), o);
  }
  return out;
}

// native.limits: every limit the reader enforces (native/core/format_limits.h),
// so TypeScript refuses the same inputs with the same numbers. Frozen.
Napi::Object Limits(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  auto set = [&](const char* name, double v) { o.Set(name, Napi::Number::New(env, v)); };
  set("maxIndexBytes", double(kMaxIndexBytes));
  set("minChunkBytes", double(kMinChunkBytes));
  set("maxChunkBytes", double(kMaxChunkBytes));
  set("defaultChunkBytes", double(kDefaultChunkBytes));
  set("chunkAlignment", double(kAlignment));
  set("maxNameBytes", double(kMaxNameBytes));
  set("maxDims", double(kMaxDims));
  set("maxTensorBytes", double(kMaxTensorBytes));
  set("minLevel", double(kMinLevel));
  set("maxLevel", double(kMaxLevel));
  set("maxJsonDepth", double(kMaxJsonDepth));
  set("maxZstdExpansion", double(kMaxZstdExpansion));
  set("maxJournalRecordBytes", double(kJournalMaxPayload));
  set("maxEpisodePayloadBytes", double(kEpisodeMaxPayloadBytes));
  set("maxEpisodeBlocks", double(kEpisodeMaxBlocks));
  o.Freeze();
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  data->reader = Napi::Persistent(ReaderWrap::Define(env));
  env.SetInstanceData(data);
  register_store_bindings(env, exports);
  register_episode_bindings(env, exports);
  exports.Set("writeCheckpoint", Napi::Function::New(env, WriteCheckpoint));
  exports.Set("checkWrite", Napi::Function::New(env, CheckWrite));
  exports.Set("openReader", Napi::Function::New(env, OpenReader));
  exports.Set("snapshot", Napi::Function::New(env, Snapshot));
  exports.Set("xxh3", Napi::Function::New(env, Xxh3));
  exports.Set("lowerThreadPriority", Napi::Function::New(env, LowerThreadPriority));
  exports.Set("setFaultPlan", Napi::Function::New(env, SetFaultPlan));
  exports.Set("clearFaultPlan", Napi::Function::New(env, ClearFaultPlan));
  exports.Set("faultCallCount", Napi::Function::New(env, FaultCallCount));
  exports.Set("takeFaultTrace", Napi::Function::New(env, TakeFaultTrace));
  exports.Set("formatVersion", Napi::Number::New(env, kFormatVersion));
  exports.Set("limits", Limits(env));
  return exports;
}

}  // namespace
}  // namespace tk::addon

static Napi::Object InitTensorkeep(Napi::Env env, Napi::Object exports) { return tk::addon::Init(env, exports); }

NODE_API_MODULE(tensorkeep, InitTensorkeep)
