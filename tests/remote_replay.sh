#!/bin/sh
# Every committed trace replayed in process and through `vits-sim serve`
# (a server process per trace, over a socketpair) must give the same
# report and the same exit status: plainly, with every n-th guest-memory
# read failing as a lost message would, and with a small max_access.
#
#   remote_replay.sh VITS_SIM TRACE_DIR WORK_DIR
set -u
sim=$1
dir=$2
work=$3
mkdir -p "$work"
fail=0
runs=0
for trace in "$dir"/*.trace; do
    for opts in "" "--fail-reads 3" "--fail-reads 7 --max-access 40" "--fail-reads 2" \
                "--max-access 8"; do
        name=$(basename "$trace" .trace)
        "$sim" replay $opts "$trace" >"$work/$name.in" 2>&1
        a=$?
        "$sim" replay --remote $opts "$trace" >"$work/$name.out" 2>&1
        b=$?
        runs=$((runs + 1))
        if [ "$a" != "$b" ] || ! cmp -s "$work/$name.in" "$work/$name.out"; then
            echo "DIFFERENT: $trace with '$opts': exit $a in process, $b out of process"
            diff "$work/$name.in" "$work/$name.out" | head -20
            fail=1
        fi
        # a plain replay of a committed trace passes both ways
        if [ -z "$opts" ] && [ "$b" != 0 ]; then
            echo "FAILED out of process: $trace (exit $b)"
            cat "$work/$name.out"
            fail=1
        fi
    done
done
[ "$runs" -gt 0 ] || { echo "no traces in $dir"; exit 1; }
echo "$runs replays compared"
exit $fail
