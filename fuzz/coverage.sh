#!/bin/sh
# Line coverage of its/ and lpi/ reached by the fuzz corpus:
#   fuzz/coverage.sh [DIR...]
# builds the replay driver with gcc --coverage, replays fuzz/corpus,
# fuzz/regress and every DIR given (e.g. an AFL++ queue:
# build-fuzz-afl/afl-out/main/queue), and reports line coverage per file
# and in total (lcov). VITS_COVERAGE_BUILD sets the build dir (default
# build-fuzz-cov); VITS_COVERAGE_MIN (default 90) the percentage below
# which it exits non-zero.
set -eu
cd "$(dirname "$0")/.."
build=${VITS_COVERAGE_BUILD:-build-fuzz-cov}
min=${VITS_COVERAGE_MIN:-90}
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=gcc \
    -DCMAKE_C_FLAGS="--coverage -O0" -DCMAKE_EXE_LINKER_FLAGS=--coverage \
    -DVITS_BUILD_TESTS=OFF -DVITS_BUILD_EXAMPLES=OFF -DVITS_BUILD_HARNESS=OFF \
    -DVITS_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "$jobs" --target vits-fuzz >/dev/null
find "$build" -name '*.gcda' -delete
dirs="fuzz/corpus"
[ -d fuzz/regress ] && dirs="$dirs fuzz/regress"
"$build/fuzz/vits-fuzz" $dirs "$@" | tail -n 1
# The baseline (-i) lists every line of every file, so a file the corpus
# never reaches counts as 0%, not as absent.
lcov -q -c -i -d "$build/CMakeFiles/vits_objects.dir" -o "$build/base.info" 2>/dev/null
lcov -q -c -d "$build/CMakeFiles/vits_objects.dir" -o "$build/run.info" 2>/dev/null
lcov -q -a "$build/base.info" -a "$build/run.info" -o "$build/fuzz.info" 2>/dev/null
lcov -q -e "$build/fuzz.info" '*/its/*' '*/lpi/*' -o "$build/engine.info" 2>/dev/null
lcov -l "$build/engine.info" 2>/dev/null | sed -n '/|/p'
total=$(lcov --summary "$build/engine.info" 2>&1 | sed -n 's/.*lines\.*: *\([0-9.]*\)%.*/\1/p')
echo "its/ + lpi/ line coverage by the fuzz corpus: ${total}%"
if command -v genhtml >/dev/null; then
    genhtml -q -o "$build/html" "$build/engine.info" >/dev/null 2>&1 &&
        echo "report: $build/html/index.html"
fi
awk "BEGIN { exit !($total >= $min) }" || { echo "below ${min}%"; exit 1; }
