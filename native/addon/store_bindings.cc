// N-API bindings of the per-model store primitives (docs/ARCHITECTURE.md, "On disk"): the
// journal, atomic replacement, removal, truncation, .tmp cleanup, directory
// creation and sync, quarantine and the model LOCK. Synchronous by default
// (a few system calls each, made on the calling thread); the journal's
// sync(true) and the store operations' trailing `async` flag run them on a
// libuv thread behind a Promise, so the trainer's event loop never waits on
// the disk.
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "file_io.h"
#include "glue.h"
#include "journal.h"
#include "store_ops.h"

namespace tk::addon {
namespace {

class JournalWrap : public Napi::ObjectWrap<JournalWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeJournal",
                       {InstanceMethod("append", &JournalWrap::Append), InstanceMethod("appendMany", &JournalWrap::AppendMany),
                        InstanceMethod("sync", &JournalWrap::Sync),
                        InstanceMethod("size", &JournalWrap::Size), InstanceMethod("close", &JournalWrap::Close)});
  }

  explicit JournalWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<JournalWrap>(info) {}

  // journalOpen(path)
  static Napi::Value Open(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string path = get_path(info[0], "path");
    auto writer = core(env, [&] { return std::make_shared<JournalWriter>(path); });
    Napi::Object obj = addon_data(env).journal.New({});
    JournalWrap* self = Unwrap(obj);
    self->writer_ = std::move(writer);
    self->path_ = path;
    return obj;
  }

 private:
  JournalWriter& writer(Napi::Env env) {
    if (!writer_) throw_code(env, "E_CLOSED", "journal " + path_ + " is closed");
    return *writer_;
  }

  // append(record: Uint8Array, sync: boolean)
  Napi::Value Append(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    JournalWriter& w = writer(env);
    Bytes record = get_bytes(info[0], "record");
    bool sync = info[1].ToBoolean();
    core(env, [&] { w.append(record.data, record.len, sync); });
    return env.Undefined();
  }

  // appendMany(records: Uint8Array, lengths: Uint32Array, sync: boolean):
  // the payloads end to end, one frame each, one pwrite for all.
  Napi::Value AppendMany(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    JournalWriter& w = writer(env);
    Bytes records = get_bytes(info[0], "records");
    if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array)
      throw_code(env, "E_BAD_INPUT", "Expected Uint32Array for lengths");
    Napi::Uint32Array lengths = info[1].As<Napi::Uint32Array>();
    uint64_t sum = 0;
    for (size_t i = 0; i < lengths.ElementLength(); i++) sum += lengths[i];
    if (sum != records.len)
      throw_code(env, "E_BAD_INPUT", "the lengths add up to " + std::to_string(sum) + " bytes, records holds " + std::to_string(records.len));
    bool sync = info[2].ToBoolean();
    core(env, [&] { w.append_many(records.data, lengths.Data(), lengths.ElementLength(), sync); });
    return env.Undefined();
  }

  // sync(async?: boolean): with async, a Promise settled from a libuv
  // thread. The writer is shared with that thread, so a close() meanwhile
  // only drops this object's reference: the fd stays open until the fsync
  // returns. Appends may go on during the fsync (one fd, no shared state).
  Napi::Value Sync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    writer(env);
    std::shared_ptr<JournalWriter> w = writer_;
    return run<bool>(
        env, info[0].ToBoolean(), [w] { return w->sync(), true; },
        [](Napi::Env e, bool&) -> Napi::Value { return e.Undefined(); });
  }

  Napi::Value Size(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(writer(info.Env()).size()));
  }

  // Idempotent. Unsynced records are not promised anyway, so the close
  // result does not matter.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    writer_.reset();
    return info.Env().Undefined();
  }

  std::shared_ptr<JournalWriter> writer_;
  std::string path_;
};

class LockWrap : public Napi::ObjectWrap<LockWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeLock", {InstanceMethod("release", &LockWrap::Release)});
  }

  explicit LockWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LockWrap>(info) {}

  // lockFile(path): E_LOCKED names the holder's pid.
  static Napi::Value Acquire(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string path = get_path(info[0], "path");
    auto lock = core(env, [&] { return std::make_unique<FileLock>(path); });
    Napi::Object obj = addon_data(env).lock.New({});
    Unwrap(obj)->lock_ = std::move(lock);
    return obj;
  }

 private:
  // Idempotent; a lock never released is dropped when the object is collected
  // or the process exits.
  Napi::Value Release(const Napi::CallbackInfo& info) {
    lock_.reset();
    return info.Env().Undefined();
  }

  std::unique_ptr<FileLock> lock_;
};

// journalScan(path) -> {records: Buffer[], offsets, validBytes, fileBytes, problem}
Napi::Value JournalScanJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = get_path(info[0], "path");
  JournalScan scan = core(env, [&] { return scan_journal(path); });
  Napi::Array records = Napi::Array::New(env, scan.records.size());
  Napi::Array offsets = Napi::Array::New(env, scan.offsets.size());
  for (size_t i = 0; i < scan.records.size(); i++) {
    const std::string& r = scan.records[i];
    records.Set(uint32_t(i), Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(r.data()), r.size()));
    offsets.Set(uint32_t(i), Napi::Number::New(env, double(scan.offsets[i])));
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("records", records);
  out.Set("offsets", offsets);
  out.Set("validBytes", Napi::Number::New(env, double(scan.valid_bytes)));
  out.Set("fileBytes", Napi::Number::New(env, double(scan.file_bytes)));
  out.Set("problem", scan.problem.empty() ? env.Null() : Napi::String::New(env, scan.problem));
  return out;
}

// The store operations below take a trailing `async` flag (default false):
// false runs on the calling thread and returns the result, true runs on a
// libuv thread and returns a Promise of it, so the event loop never waits
// on the disk.
Napi::Value Undefined(Napi::Env env, bool&) { return env.Undefined(); }

// truncateFile(path, length, async?)
Napi::Value TruncateFile(const Napi::CallbackInfo& info) {
  std::string path = get_path(info[0], "path");
  uint64_t len = get_u64(info[1], "length");
  return run<bool>(info.Env(), info[2].ToBoolean(), [=] { return truncate_file(path, len), true; }, Undefined);
}

// writeFileAtomic(path, data, async?): the async form writes a copy of the
// bytes, so the caller may reuse its buffer at once.
// writeFileAtomic(path, data: Uint8Array | Uint8Array[], async?): the pieces
// end to end. Async, the pieces are read in place on a libuv thread (kept
// alive until then, not copied): the caller must not change them meanwhile.
Napi::Value WriteFileAtomic(const Napi::CallbackInfo& info) {
  std::string path = get_path(info[0], "path");
  std::vector<Piece> pieces;
  if (info[1].IsArray()) {
    Napi::Array list = info[1].As<Napi::Array>();
    for (uint32_t i = 0; i < list.Length(); i++) {
      Bytes b = get_bytes(list.Get(i), "data");
      pieces.push_back({b.data, b.len});
    }
  } else {
    Bytes b = get_bytes(info[1], "data");
    pieces.push_back({b.data, b.len});
  }
  return run<bool>(info.Env(), info[2].ToBoolean(), [=] { return write_file_atomic(path, pieces), true; }, Undefined, {info[1]});
}

// removeFile(path, async?)
Napi::Value RemoveFile(const Napi::CallbackInfo& info) {
  std::string path = get_path(info[0], "path");
  return run<bool>(info.Env(), info[1].ToBoolean(), [=] { return remove_file(path), true; }, Undefined);
}

// clearTmpDir(dir, async?) -> number removed
Napi::Value ClearTmpDir(const Napi::CallbackInfo& info) {
  std::string dir = get_path(info[0], "dir");
  return run<size_t>(info.Env(), info[1].ToBoolean(), [=] { return clear_tmp_dir(dir); },
                     [](Napi::Env env, size_t& n) -> Napi::Value { return Napi::Number::New(env, double(n)); });
}

// makeDirs(path, async?) -> the directories created, outermost first
Napi::Value MakeDirs(const Napi::CallbackInfo& info) {
  std::string path = get_path(info[0], "path");
  return run<std::vector<std::string>>(info.Env(), info[1].ToBoolean(), [=] { return make_dirs(path); },
                                       [](Napi::Env env, std::vector<std::string>& made) -> Napi::Value {
                                         Napi::Array out = Napi::Array::New(env, made.size());
                                         for (size_t i = 0; i < made.size(); i++) out.Set(uint32_t(i), made[i]);
                                         return out;
                                       });
}

// readStoreFile(path, async?) -> Buffer: the whole file, which must be a
// regular file (a FIFO or symbolic link is E_IO at once, never a blocked read)
Napi::Value ReadStoreFile(const Napi::CallbackInfo& info) {
  std::string path = get_path(info[0], "path");
  return run<std::string>(info.Env(), info[1].ToBoolean(), [=] { return read_store_file(path); },
                          [](Napi::Env env, std::string& bytes) -> Napi::Value {
                            return Napi::Buffer<char>::Copy(env, bytes.data(), bytes.size());
                          });
}

// moveToQuarantine(dir, file, async?) -> the path the file now has
Napi::Value MoveToQuarantine(const Napi::CallbackInfo& info) {
  std::string dir = get_path(info[0], "dir");
  std::string file = get_path(info[1], "file");
  return run<std::string>(info.Env(), info[2].ToBoolean(), [=] { return move_to_quarantine(dir, file); },
                          [](Napi::Env env, std::string& to) -> Napi::Value { return Napi::String::New(env, to); });
}

Napi::Value EnsureDir(const Napi::CallbackInfo& info) {
  std::string path = get_path(info[0], "path");
  core(info.Env(), [&] { ensure_dir(path); });
  return info.Env().Undefined();
}

Napi::Value FsyncDir(const Napi::CallbackInfo& info) {
  std::string path = get_path(info[0], "path");
  core(info.Env(), [&] { fsync_dir(path); });
  return info.Env().Undefined();
}

}  // namespace

void register_store_bindings(Napi::Env env, Napi::Object exports) {
  AddonData& data = addon_data(env);
  data.journal = Napi::Persistent(JournalWrap::Define(env));
  data.lock = Napi::Persistent(LockWrap::Define(env));
  exports.Set("journalOpen", Napi::Function::New(env, JournalWrap::Open));
  exports.Set("journalScan", Napi::Function::New(env, JournalScanJs));
  exports.Set("truncateFile", Napi::Function::New(env, TruncateFile));
  exports.Set("writeFileAtomic", Napi::Function::New(env, WriteFileAtomic));
  exports.Set("removeFile", Napi::Function::New(env, RemoveFile));
  exports.Set("clearTmpDir", Napi::Function::New(env, ClearTmpDir));
  exports.Set("ensureDir", Napi::Function::New(env, EnsureDir));
  exports.Set("makeDirs", Napi::Function::New(env, MakeDirs));
  exports.Set("moveToQuarantine", Napi::Function::New(env, MoveToQuarantine));
  exports.Set("readStoreFile", Napi::Function::New(env, ReadStoreFile));
  exports.Set("fsyncDir", Napi::Function::New(env, FsyncDir));
  exports.Set("lockFile", Napi::Function::New(env, LockWrap::Acquire));
}

}  // namespace tk::addon
