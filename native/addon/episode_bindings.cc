// N-API bindings of the episode log (native/core/episode_*): the segment
// writer (commit and roll run on the libuv pool behind a Promise, so
// encoding, write and fsync stay off the JavaScript thread), batches encoded
// ahead of their commit (opaque objects handed back to it), recovery's
// segment scan, and replay's range read, whose decoded records are handed to
// JavaScript as one ArrayBuffer without a copy.
#include <napi.h>

#include <cstring>
#include <memory>

#include "episode_reader.h"
#include "episode_writer.h"
#include "glue.h"

namespace tk::addon {
namespace {

using episodes::Damage;
using episodes::EpisodeWriter;
using episodes::SegmentHeader;

SegmentHeader get_header(const Napi::Value& v) {
  if (!v.IsObject()) throw_code(v.Env(), "E_BAD_INPUT", "Expected a segment header object");
  Napi::Object o = v.As<Napi::Object>();
  return {get_u64(o.Get("seq"), "segment seq"), get_u64(o.Get("firstId"), "first record id"),
          get_number(o.Get("createdMs"), "segment creation time")};
}

Napi::Array damages_to_js(Napi::Env env, const std::vector<Damage>& damages) {
  Napi::Array out = Napi::Array::New(env, damages.size());
  for (size_t i = 0; i < damages.size(); i++) {
    Napi::Object d = Napi::Object::New(env);
    d.Set("offset", Napi::Number::New(env, double(damages[i].offset)));
    d.Set("bytes", Napi::Number::New(env, double(damages[i].bytes)));
    d.Set("problem", Napi::String::New(env, damages[i].problem));
    out.Set(uint32_t(i), d);
  }
  return out;
}

// Raw-form chunks and their record counts from two JS arrays; the chunk
// values go to `keep`, which holds them for the asynchronous call.
std::vector<episodes::BatchChunk> get_chunks(const Napi::Value& chunks_value, const Napi::Value& counts_value,
                                             std::vector<Napi::Value>& keep) {
  Napi::Env env = chunks_value.Env();
  if (!chunks_value.IsArray() || !counts_value.IsArray()) throw_code(env, "E_BAD_INPUT", "Expected arrays of batch chunks and record counts");
  Napi::Array chunk_values = chunks_value.As<Napi::Array>(), counts = counts_value.As<Napi::Array>();
  if (chunk_values.Length() != counts.Length()) throw_code(env, "E_BAD_INPUT", "batch chunks and record counts differ in number");
  std::vector<episodes::BatchChunk> chunks;
  for (uint32_t i = 0; i < chunk_values.Length(); i++) {
    Napi::Value v = chunk_values.Get(i);
    Bytes bytes = get_bytes(v, "batch chunk");
    chunks.push_back({bytes.data, bytes.len, size_t(get_u64(counts.Get(i), "record count"))});
    keep.push_back(v);
  }
  return chunks;
}

Codec get_codec(const Napi::Value& v) {
  std::string name = get_string(v, "codec");
  Codec codec;
  if (!codec_from_name(name, &codec)) throw_code(v.Env(), "E_BAD_INPUT", "unknown codec \"" + name + "\"");
  return codec;
}

// Frames encoded ahead of their commit: opaque to JavaScript, handed back to commit().
class EncodedBatchWrap : public Napi::ObjectWrap<EncodedBatchWrap> {
 public:
  static Napi::Function Define(Napi::Env env) { return DefineClass(env, "NativeEncodedBatch", {}); }
  explicit EncodedBatchWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EncodedBatchWrap>(info) {}

  // episodeEncode(chunks: Uint8Array[], counts: number[], codec, level) -> Promise<NativeEncodedBatch>
  static Napi::Value Encode(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::vector<Napi::Value> keep;
    std::vector<episodes::BatchChunk> chunks = get_chunks(info[0], info[1], keep);
    Codec codec = get_codec(info[2]);
    int level = int(get_number(info[3], "level"));
    return run<std::shared_ptr<const episodes::EncodedBatch>>(
        env, true,
        [=] { return std::make_shared<const episodes::EncodedBatch>(episodes::encode_ahead(chunks, codec, level)); },
        [](Napi::Env env, std::shared_ptr<const episodes::EncodedBatch>& batch) -> Napi::Value {
          Napi::Object obj = addon_data(env).encoded_batch.New({});
          Unwrap(obj)->batch_ = batch;
          return obj;
        },
        keep);
  }

  // The batch of a NativeEncodedBatch object, checked to be one.
  static std::shared_ptr<const episodes::EncodedBatch> get(const Napi::Value& v) {
    Napi::Env env = v.Env();
    if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(addon_data(env).encoded_batch.Value()) || !Unwrap(v.As<Napi::Object>())->batch_)
      throw_code(env, "E_BAD_INPUT", "Expected an encoded batch");
    return Unwrap(v.As<Napi::Object>())->batch_;
  }

 private:
  std::shared_ptr<const episodes::EncodedBatch> batch_;
};

class EpisodeWriterWrap : public Napi::ObjectWrap<EpisodeWriterWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeEpisodeWriter",
                       {InstanceMethod("commit", &EpisodeWriterWrap::Commit), InstanceMethod("roll", &EpisodeWriterWrap::Roll),
                        InstanceMethod("size", &EpisodeWriterWrap::Size), InstanceMethod("broken", &EpisodeWriterWrap::Broken),
                        InstanceMethod("close", &EpisodeWriterWrap::Close)});
  }

  explicit EpisodeWriterWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EpisodeWriterWrap>(info) {}

  // episodeWriterOpen(path, validBytes, level)
  static Napi::Value Open(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string path = get_path(info[0], "segment path");
    uint64_t valid = get_u64(info[1], "valid bytes");
    int level = int(get_number(info[2], "level"));
    auto writer = core(env, [&] { return std::make_shared<EpisodeWriter>(path, valid, level); });
    Napi::Object obj = addon_data(env).episode_writer.New({});
    Unwrap(obj)->writer_ = std::move(writer);
    return obj;
  }

 private:
  std::shared_ptr<EpisodeWriter> writer(Napi::Env env) {
    if (!writer_) throw_code(env, "E_CLOSED", "episode writer is closed");
    return writer_;
  }

  // commit(ahead: NativeEncodedBatch[], chunks: Uint8Array[], counts: number[], codec) -> Promise<Float64Array [offset, frameBytes, ...]>
  Napi::Value Commit(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto w = writer(env);
    if (!info[0].IsArray()) throw_code(env, "E_BAD_INPUT", "Expected an array of encoded batches");
    Napi::Array ahead_values = info[0].As<Napi::Array>();
    std::vector<std::shared_ptr<const episodes::EncodedBatch>> ahead;
    for (uint32_t i = 0; i < ahead_values.Length(); i++) ahead.push_back(EncodedBatchWrap::get(ahead_values.Get(i)));
    std::vector<Napi::Value> keep;
    std::vector<episodes::BatchChunk> chunks = get_chunks(info[1], info[2], keep);
    Codec codec = get_codec(info[3]);
    return run<std::vector<episodes::WrittenRecord>>(
        env, true, [=] { return w->commit(ahead, chunks, codec); },
        [](Napi::Env env, std::vector<episodes::WrittenRecord>& written) -> Napi::Value {
          Napi::Float64Array out = Napi::Float64Array::New(env, written.size() * 2);
          for (size_t i = 0; i < written.size(); i++) {
            out[2 * i] = double(written[i].offset);
            out[2 * i + 1] = double(written[i].frame_bytes);
          }
          return out;
        },
        keep);
  }

  // roll(indexPath, indexBytes: Uint8Array, segmentPath, header) -> Promise<void>
  Napi::Value Roll(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto w = writer(env);
    Bytes index = get_bytes(info[1], "index bytes");
    episodes::Roll roll{get_path(info[0], "index path"), std::string(reinterpret_cast<const char*>(index.data), index.len),
                        get_path(info[2], "segment path"), get_header(info[3])};
    return run<bool>(
        env, true, [=] { return w->roll(roll), true; }, [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
  }

  Napi::Value Size(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(writer(info.Env())->size())); }
  Napi::Value Broken(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), writer(info.Env())->broken()); }

  // Idempotent; an in-flight commit keeps its own reference.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    writer_.reset();
    return info.Env().Undefined();
  }

  std::shared_ptr<EpisodeWriter> writer_;
};

// episodeCreateSegment(path, header): a new segment holding only its header.
Napi::Value CreateSegment(const Napi::CallbackInfo& info) {
  std::string path = get_path(info[0], "segment path");
  SegmentHeader header = get_header(info[1]);
  core(info.Env(), [&] { EpisodeWriter::create_segment(path, header); });
  return info.Env().Undefined();
}

// episodeScanSegment(path) -> {headerOk, header, headerProblem, offsets, frameBytes, ids, times, heads, damages, goodEnd, fileBytes, tail}
Napi::Value ScanSegment(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = get_path(info[0], "segment path");
  episodes::SegmentScan scan = core(env, [&] { return episodes::scan_segment(path); });
  const size_t n = scan.records.size();
  Napi::Float64Array offsets = Napi::Float64Array::New(env, n), frame_bytes = Napi::Float64Array::New(env, n);
  Napi::Float64Array ids = Napi::Float64Array::New(env, n), times = Napi::Float64Array::New(env, n);
  Napi::Array heads = Napi::Array::New(env, n);
  for (size_t i = 0; i < n; i++) {
    const episodes::FrameInfo& f = scan.records[i].frame;
    offsets[i] = double(f.offset);
    frame_bytes[i] = double(f.frame_bytes);
    ids[i] = double(f.id);
    times[i] = f.time;
    heads.Set(uint32_t(i), Napi::String::New(env, scan.records[i].head));
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("headerOk", Napi::Boolean::New(env, scan.header_ok));
  Napi::Object header = Napi::Object::New(env);
  header.Set("seq", Napi::Number::New(env, double(scan.header.seq)));
  header.Set("firstId", Napi::Number::New(env, double(scan.header.first_id)));
  header.Set("createdMs", Napi::Number::New(env, scan.header.created_ms));
  out.Set("header", header);
  out.Set("headerProblem", scan.header_problem.empty() ? env.Null() : Napi::String::New(env, scan.header_problem));
  out.Set("offsets", offsets);
  out.Set("frameBytes", frame_bytes);
  out.Set("ids", ids);
  out.Set("times", times);
  out.Set("heads", heads);
  out.Set("damages", damages_to_js(env, scan.damages));
  out.Set("goodEnd", Napi::Number::New(env, double(scan.good_end)));
  out.Set("fileBytes", Napi::Number::New(env, double(scan.file_bytes)));
  out.Set("tail", scan.tail.empty() ? env.Null() : Napi::String::New(env, scan.tail));
  return out;
}

// episodeReadRange(path, offset, length, async) -> {buffer: ArrayBuffer, starts: Float64Array, schemas: Uint32Array, damages}
Napi::Value ReadRange(const Napi::CallbackInfo& info) {
  std::string path = get_path(info[0], "segment path");
  uint64_t offset = get_u64(info[1], "offset");
  uint64_t len = get_u64(info[2], "length");
  return run<episodes::RangeRead>(
      info.Env(), info[3].ToBoolean(), [=] { return episodes::read_range(path, offset, len); },
      [](Napi::Env env, episodes::RangeRead& read) -> Napi::Value {
        // The decoded bytes become the ArrayBuffer's memory: no copy.
        if (read.out.empty()) read.out.reserve(8);  // an external buffer needs a non-null pointer
        auto* owned = new episodes::FrameBytes(std::move(read.out));
        Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(
            env, owned->data(), owned->size(), [](Napi::Env, void*, episodes::FrameBytes* v) { delete v; }, owned);
        Napi::Float64Array starts = Napi::Float64Array::New(env, read.starts.size());
        for (size_t i = 0; i < read.starts.size(); i++) starts[i] = double(read.starts[i]);
        Napi::Uint32Array schemas = Napi::Uint32Array::New(env, read.schemas.size());
        if (!read.schemas.empty()) std::memcpy(schemas.Data(), read.schemas.data(), read.schemas.size() * 4);
        Napi::Object out = Napi::Object::New(env);
        out.Set("buffer", buffer);
        out.Set("starts", starts);
        out.Set("schemas", schemas);
        out.Set("damages", damages_to_js(env, read.damages));
        return out;
      });
}

}  // namespace

void register_episode_bindings(Napi::Env env, Napi::Object exports) {
  addon_data(env).episode_writer = Napi::Persistent(EpisodeWriterWrap::Define(env));
  addon_data(env).encoded_batch = Napi::Persistent(EncodedBatchWrap::Define(env));
  exports.Set("episodeEncode", Napi::Function::New(env, EncodedBatchWrap::Encode));
  exports.Set("episodeWriterOpen", Napi::Function::New(env, EpisodeWriterWrap::Open));
  exports.Set("episodeCreateSegment", Napi::Function::New(env, CreateSegment));
  exports.Set("episodeScanSegment", Napi::Function::New(env, ScanSegment));
  exports.Set("episodeReadRange", Napi::Function::New(env, ReadRange));
}

}  // namespace tk::addon
