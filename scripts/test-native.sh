#!/usr/bin/env bash
# Native unit tests under AddressSanitizer + UBSan (build-asan/), then the
# checkpoint reader under libFuzzer (build-fuzz/, needs clang).
#   FUZZ_SECONDS=60   how long to fuzz; 0 skips fuzzing
#   FUZZ_REQUIRED=1   fail, rather than skip, when clang/libFuzzer is missing
#                     (TK_REQUIRE_ALL=1, set by CI for every part, implies it)
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
fuzz_seconds=${FUZZ_SECONDS:-60}
san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -O1 -g"
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
jobs=2

echo "== native tests (ASan + UBSan)"
# zstd's compressor without UBSan (still under ASan): see CMakeLists.txt.
cmake -S . -B build-asan -DTK_NATIVE_TESTS=ON -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_C_FLAGS="$san" -DCMAKE_CXX_FLAGS="$san" -DTK_ZSTD_COMPRESS_OPTIONS=-fno-sanitize=undefined > /dev/null
cmake --build build-asan -j "$jobs"
(cd build-asan && ctest --output-on-failure)
# Each program's count of checks (ctest shows a passing program's output only in its log).
grep -h '^[a-z_]*: [0-9]* passed, [0-9]* failed$' build-asan/Testing/Temporary/LastTest.log

if [ "$fuzz_seconds" = 0 ]; then
  echo "== fuzzing skipped (FUZZ_SECONDS=0); done in $((SECONDS - started)) s"
  exit 0
fi
skip_fuzz() {
  echo "== fuzzing skipped: $1"
  if [ "${FUZZ_REQUIRED:-0}" = 1 ] || [ "${TK_REQUIRE_ALL:-0}" = 1 ]; then exit 1; fi
  echo "== NOT TESTED: the reader under libFuzzer ($1)"
  exit 0
}
if ! command -v clang++ > /dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    echo "== installing clang"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang > /dev/null
  else
    skip_fuzz "clang++ not found (install clang, or run as root to have it installed)"
  fi
fi
probe=$(mktemp -d)
printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' > "$probe/p.cc"
if ! clang++ -fsanitize=fuzzer "$probe/p.cc" -o "$probe/p" 2> /dev/null; then
  rm -rf "$probe"
  skip_fuzz "clang++ cannot link libFuzzer (-fsanitize=fuzzer)"
fi
rm -rf "$probe"

echo "== reader fuzzer (libFuzzer + ASan + UBSan), ${fuzz_seconds} s"
fuzz_flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -O1 -g"
# The reader never compresses: zstd's compressor is built uninstrumented.
cmake -S . -B build-fuzz -DTK_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_C_FLAGS="$fuzz_flags" -DCMAKE_CXX_FLAGS="$fuzz_flags" -DTK_ZSTD_COMPRESS_OPTIONS=-fno-sanitize=all > /dev/null
cmake --build build-fuzz -j "$jobs" --target reader_fuzz
# Fuzz a copy of the seeds so new inputs do not pollute the repository.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
cp native/fuzz/corpus/* "$work/corpus/"
log=build-fuzz/fuzz.log
if ! build-fuzz/reader_fuzz "$work/corpus" -max_total_time="$fuzz_seconds" -rss_limit_mb=2048 -timeout=25 \
    -dict=native/fuzz/reader.dict -artifact_prefix="$work/" -print_final_stats=1 > "$log" 2>&1; then
  tail -n 60 "$log"
  mkdir -p build-fuzz/artifacts
  cp "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* build-fuzz/artifacts/ 2> /dev/null || true
  echo "== FUZZER FINDING: inputs in build-fuzz/artifacts/, full log in $log"
  echo "   reproduce: build-fuzz/reader_fuzz build-fuzz/artifacts/<file>"
  exit 1
fi
grep -E '^Done [0-9]+ runs|number_of_executed_units|new_units_added|peak_rss' "$log"
echo "== corpus grew from $(ls native/fuzz/corpus | wc -l) to $(ls "$work/corpus" | wc -l) inputs; log in $log"
echo "== done in $((SECONDS - started)) s"
