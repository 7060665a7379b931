#!/bin/sh
# Build the fuzz target for a fuzzer: fuzz/build.sh afl|libfuzzer|replay [BUILD_DIR]
#   afl        afl-clang-fast (AFL++ persistent mode): BUILD_DIR/fuzz/vits-fuzz
#   libfuzzer  clang -fsanitize=fuzzer,address,undefined: BUILD_DIR/vits-fuzz-libfuzzer
#   replay     the plain replay driver with ASan and UBSan: BUILD_DIR/fuzz/vits-fuzz
set -eu
cd "$(dirname "$0")/.."
kind=${1:-afl}
jobs=$(nproc 2>/dev/null || echo 2)
case $kind in
afl)
    build=${2:-build-fuzz-afl}
    command -v afl-clang-fast >/dev/null || { echo "afl-clang-fast not found (Debian: afl++)" >&2; exit 1; }
    # AFL++'s instrumentation, no sanitizer: speed; the replay builds
    # run the corpus under ASan/UBSan/TSan.
    cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_C_COMPILER=afl-clang-fast -DVITS_WERROR=OFF -DVITS_BUILD_TESTS=OFF \
        -DVITS_BUILD_EXAMPLES=OFF -DVITS_BUILD_HARNESS=OFF -DVITS_BUILD_BENCH=OFF >/dev/null
    AFL_QUIET=1 cmake --build "$build" -j "$jobs" --target vits-fuzz >/dev/null
    echo "$build/fuzz/vits-fuzz"
    ;;
libfuzzer)
    build=${2:-build-fuzz-libfuzzer}
    mkdir -p "$build"
    flags="-std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all"
    flags="$flags -D_POSIX_C_SOURCE=200809L -Iinclude -Wall -Wextra"
    # shellcheck disable=SC2086
    clang $flags -o "$build/vits-fuzz-libfuzzer" lpi/*.c its/*.c fuzz/target.c fuzz/model.c \
        fuzz/env.c fuzz/libfuzzer.c -lpthread
    echo "$build/vits-fuzz-libfuzzer"
    ;;
replay)
    build=${2:-build-fuzz-replay}
    cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
        -DVITS_SANITIZE=address,undefined -DVITS_BUILD_TESTS=OFF -DVITS_BUILD_EXAMPLES=OFF \
        -DVITS_BUILD_HARNESS=OFF -DVITS_BUILD_BENCH=OFF >/dev/null
    cmake --build "$build" -j "$jobs" --target vits-fuzz >/dev/null
    echo "$build/fuzz/vits-fuzz"
    ;;
*)
    echo "usage: $0 afl|libfuzzer|replay [BUILD_DIR]" >&2
    exit 2
    ;;
esac
