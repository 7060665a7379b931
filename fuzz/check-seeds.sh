#!/bin/sh
# The committed seeds are what the generator writes: check-seeds.sh GEN CORPUS TMPDIR
set -eu
gen=$1 corpus=$2 tmp=$3
rm -rf "$tmp"
mkdir -p "$tmp"
"$gen" "$tmp" >/dev/null
status=0
for f in "$tmp"/seed-*; do
    name=$(basename "$f")
    if ! cmp -s "$f" "$corpus/$name"; then
        echo "fuzz/corpus/$name differs from what vits-fuzz-gen writes (regenerate it)"
        status=1
    fi
done
for f in "$corpus"/seed-*; do
    [ -e "$tmp/$(basename "$f")" ] || { echo "fuzz/corpus/$(basename "$f") is no longer generated"; status=1; }
done
exit $status
