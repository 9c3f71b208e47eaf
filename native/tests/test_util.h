// Shared helpers of the native tests: counting CHECK macros, an expected
// tk::Error check, a self-removing temp directory, small file helpers and
// deterministic test data. Each test is a standalone program whose main is
//   int main() { return tkt::run("name_test", {test_a, test_b}); }
#pragma once
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

#include "errors.h"

namespace tkt {

inline int g_passed = 0;
inline int g_failed = 0;

inline void fail(const char* file, int line, const std::string& message) {
  std::fprintf(stderr, "%s:%d: %s\n", file, line, message.c_str());
  ++g_failed;
}

inline bool contains(const std::string& s, const std::string& needle) { return s.find(needle) != std::string::npos; }

// Runs fn expecting a tk::Error of `code` whose message contains `needle`;
// returns the message ("" when the check failed).
template <typename Fn>
std::string check_throws(const char* file, int line, const char* expr, Fn&& fn, tk::ErrorCode code, const std::string& needle) {
  try {
    fn();
  } catch (const tk::Error& e) {
    if (e.code() == code && contains(e.what(), needle)) {
      ++g_passed;
      return e.what();
    }
    fail(file, line, std::string(expr) + ": threw " + tk::error_code_name(e.code()) + " '" + e.what() + "', wanted " +
                         tk::error_code_name(code) + " containing '" + needle + "'");
    return "";
  } catch (const std::exception& e) {
    fail(file, line, std::string(expr) + ": threw a non-tk exception: " + e.what());
    return "";
  }
  fail(file, line, std::string(expr) + ": did not throw, wanted " + tk::error_code_name(code));
  return "";
}

#define CHECK(cond)                                                  \
  do {                                                               \
    if (cond)                                                        \
      ++tkt::g_passed;                                               \
    else                                                             \
      tkt::fail(__FILE__, __LINE__, "CHECK failed: " #cond);         \
  } while (0)

// Evaluates to the error message, so a test can check more of it.
#define CHECK_THROWS_CODE(expr, code, needle) \
  tkt::check_throws(__FILE__, __LINE__, #expr, [&] { (void)(expr); }, code, needle)

// Runs every test function; an exception escaping one counts as a failure,
// and so does a test function that made no check at all (it would pass
// whatever the code did), or a program that ran none.
inline int run(const char* name, std::initializer_list<void (*)()> tests) {
  int index = 0;
  for (auto test : tests) {
    ++index;
    const int checks_before = g_passed + g_failed;
    try {
      test();
    } catch (const std::exception& e) {
      fail(name, 0, std::string("uncaught exception: ") + e.what());
    }
    if (g_passed + g_failed == checks_before) fail(name, 0, "test function #" + std::to_string(index) + " made no check");
  }
  if (tests.size() == 0) fail(name, 0, "no test function to run");
  std::printf("%s: %d passed, %d failed\n", name, g_passed, g_failed);
  return g_failed == 0 && g_passed > 0 ? 0 : 1;
}

// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/tktest.XXXXXX";
    if (!mkdtemp(tmpl.data())) {
      std::perror("mkdtemp");
      std::exit(2);
    }
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), std::streamsize(bytes.size()));
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

inline bool exists(const std::string& path) { return std::filesystem::exists(path); }

// Names in a directory (empty when it does not exist).
inline std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) names.push_back(entry.path().filename());
  return names;
}

// Deterministic bytes (splitmix64): incompressible test data.
inline std::vector<uint8_t> random_bytes(size_t n, uint64_t seed) {
  std::vector<uint8_t> out(n);
  uint64_t word = 0;
  for (size_t i = 0; i < n; i++) {
    if (i % 8 == 0) {
      uint64_t z = (seed += 0x9E3779B97F4A7C15ull);
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      word = z ^ (z >> 31);
    }
    out[i] = uint8_t(word >> (8 * (i % 8)));
  }
  return out;
}

// float32 values of a slow wave rounded to bfloat16 precision: the kind of
// data shuffle+zstd compresses well. n need not be a multiple of 4.
inline std::vector<uint8_t> compressible_bytes(size_t n) {
  std::vector<uint8_t> out(n);
  for (size_t i = 0; i < n; i += 4) {
    float f = float(i % 1000) * 0.01f - 5.0f;
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    bits &= 0xFFFF0000u;
    std::memcpy(out.data() + i, &bits, std::min<size_t>(4, n - i));
  }
  return out;
}

}  // namespace tkt
