#!/bin/sh
# Build and run the whole test suite:
#  1. gcc, warnings as errors, every test (including the packaging test);
#  2. clang with ASan and UBSan, every test;
#  3. clang with TSan, every test (the concurrency tests are the point);
#  4. the example embedding under each;
#  5. a short AFL++ run of the fuzz target from the committed seeds
#     (VITS_FUZZ_SECONDS, default 90; 0 skips it), failing on any crash
#     or hang (the corpus replay itself is a ctest in every build above);
#  6. clang-format check of every C file.
set -eu
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

echo "== gcc build + tests"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc >/dev/null
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs"
./build/examples/vits-example >/dev/null

echo "== clang ASan+UBSan build + tests"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
    -DVITS_SANITIZE=address,undefined >/dev/null
cmake --build build-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j "$jobs"
./build-asan/examples/vits-example >/dev/null

echo "== clang TSan build + tests"
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
    -DVITS_SANITIZE=thread >/dev/null
cmake --build build-tsan -j "$jobs"
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    ctest --test-dir build-tsan --output-on-failure -j "$jobs"

echo "== AFL++ fuzzing (${VITS_FUZZ_SECONDS:-90} s)"
if [ "${VITS_FUZZ_SECONDS:-90}" -gt 0 ]; then
    sh fuzz/run-afl.sh "${VITS_FUZZ_SECONDS:-90}"
fi

echo "== clang-format"
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find include its lpi tests examples fuzz -name '*.[ch]')
clang-format --dry-run --Werror $files
echo "all tests passed"
