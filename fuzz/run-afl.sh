#!/bin/sh
# Fuzz with AFL++ for SECONDS (default 300) from the committed seeds, then
# report executions, speed, corpus size, crashes and hangs; exit non-zero
# on any crash or hang. fuzz/run-afl.sh [SECONDS]
# Environment: VITS_FUZZ_BUILD (build dir, default build-fuzz-afl),
# VITS_FUZZ_OUT (output dir, default BUILD/afl-out), VITS_FUZZ_MEM (MB,
# default 512), VITS_FUZZ_JOBS (afl-fuzz instances, default 1).
set -eu
cd "$(dirname "$0")/.."
secs=${1:-300}
build=${VITS_FUZZ_BUILD:-build-fuzz-afl}
out=${VITS_FUZZ_OUT:-$build/afl-out}
mem=${VITS_FUZZ_MEM:-512}
jobs=${VITS_FUZZ_JOBS:-1}
target=$(sh fuzz/build.sh afl "$build")

# This machine: no CPU frequency governor to check, no UI, crashes go to
# the output directory whatever the core pattern, no network.
export AFL_SKIP_CPUFREQ=1 AFL_NO_UI=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
export AFL_NO_AFFINITY=1 AFL_SKIP_BIN_CHECK=0 AFL_QUIET=1
rm -rf "$out"
mkdir -p "$out"
pids=""
for i in $(seq 1 "$jobs"); do
    if [ "$i" -eq 1 ]; then role="-M main"; else role="-S sec$i"; fi
    # shellcheck disable=SC2086
    afl-fuzz -i fuzz/corpus -o "$out" -x fuzz/vits.dict -m "$mem" -t 2000 -V "$secs" $role \
        -- "$target" >"$out/afl-$i.log" 2>&1 &
    pids="$pids $!"
done
status=0
for p in $pids; do
    wait "$p" || status=$?
done

total_execs=0 total_crashes=0 total_hangs=0 speed=0 corpus=0
for stats in "$out"/*/fuzzer_stats; do
    [ -f "$stats" ] || continue
    get() { sed -n "s/^$1 *: *//p" "$stats" | head -n 1; }
    e=$(get execs_done) s=$(get execs_per_sec) c=$(get corpus_count)
    cr=$(get saved_crashes) h=$(get saved_hangs) cov=$(get bitmap_cvg)
    [ -n "$cr" ] || cr=$(get unique_crashes)
    [ -n "$h" ] || h=$(get unique_hangs)
    [ -n "$c" ] || c=$(get paths_total)
    echo "$(basename "$(dirname "$stats")"): execs $e, $s execs/s, corpus $c, crashes $cr, hangs $h, bitmap $cov"
    total_execs=$((total_execs + e))
    total_crashes=$((total_crashes + cr))
    total_hangs=$((total_hangs + h))
    speed=$(awk "BEGIN { print $speed + $s }")
    corpus=$((corpus + c))
done
if [ "$total_execs" -eq 0 ] || [ "$status" -ne 0 ]; then
    echo "afl-fuzz failed (exit $status, $total_execs executions); its log:"
    tail -n 30 "$out"/afl-1.log
    exit 1
fi
echo "AFL++ ${secs}s: $total_execs executions, $speed execs/s, corpus $corpus, crashes $total_crashes, hangs $total_hangs"
if [ "$total_crashes" -ne 0 ] || [ "$total_hangs" -ne 0 ]; then
    echo "findings in $out/*/crashes and $out/*/hangs; replay one with: build-*/fuzz/vits-fuzz FILE"
    ls "$out"/*/crashes "$out"/*/hangs 2>/dev/null
    exit 1
fi
