#!/bin/sh
# Install vits into a scratch prefix, then build the example embedding as
# an out-of-tree program twice: with pkg-config only, and through CMake's
# find_package(vits). Each must run and deliver LPIs to the right vCPUs.
# usage: packaging.sh SOURCE_DIR BUILD_DIR C_COMPILER
set -eu
src=$1 build=$2 cc=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
libdir=$(ls -d "$tmp"/prefix/lib*/ | head -n1)

expect() {
    out=$1
    grep -q 'vCPU 3 <- LPI 8195' "$out" || { echo "FAIL: no LPI 8195 on vCPU 3"; cat "$out"; exit 1; }
    grep -q 'vCPU 0 took 2 LPIs' "$out" || { echo "FAIL: wrong delivery count"; cat "$out"; exit 1; }
}

# 1. pkg-config only
export PKG_CONFIG_PATH="$libdir/pkgconfig"
flags=$(pkg-config --cflags --libs vits)
echo "pkg-config --cflags --libs vits: $flags"
"$cc" -std=c11 -Wall -Wextra -Werror -o "$tmp/embed" "$src/examples/embed.c" $flags \
    -Wl,-rpath,"$libdir"
"$tmp/embed" >"$tmp/out1"
expect "$tmp/out1"
# the binary uses the shared library with its versioned SONAME
readelf -d "$tmp/embed" | grep -q 'NEEDED.*libvits.so.0' || { echo "FAIL: not linked to libvits.so.0"; exit 1; }

# 2. find_package(vits)
cmake -S "$src/tests/consumer" -B "$tmp/consumer" -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_PREFIX_PATH="$tmp/prefix" -DEMBED_SOURCE="$src/examples/embed.c" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
LD_LIBRARY_PATH="$libdir" "$tmp/consumer/consumer" >"$tmp/out2"
expect "$tmp/out2"
"$tmp/consumer/consumer_static" >"$tmp/out3"
expect "$tmp/out3"
echo "packaging: pkg-config and find_package consumers work"
