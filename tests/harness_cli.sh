#!/bin/sh
# Command-line checks of vits-sim, run by ctest:
#   harness_cli.sh MODE VITS_SIM SOURCE_DIR WORK_DIR
# Exit 0 on success, 77 when a needed tool (dtc) is missing (skipped).
set -u
mode=$1 sim=$2 src=$3 work=$4
mkdir -p "$work"
out="$work/$mode.out"
fail() { echo "FAIL ($mode): $*"; echo "--- output:"; cat "$out" 2>/dev/null; exit 1; }
# run EXPECTED_STATUS CMD...: run, keep stdout+stderr in $out
run() {
    want=$1; shift
    "$@" >"$out" 2>&1
    got=$?
    [ "$got" -eq "$want" ] || fail "exit status $got, expected $want: $*"
}
has() { grep -q -- "$1" "$out" || fail "no \"$1\" in the output"; }

case $mode in
mismatch)
    run 1 "$sim" replay "$src/tests/traces/mismatch.trace"
    has "mismatch.trace:23: mismatch: ack 0 8192"
    has "mismatch.trace:25: mismatch: expect-idle"
    has "mismatches: 2"
    run 1 "$sim" replay "$src/tests/traces/unannounced.trace"
    has "unannounced.trace:17: mismatch: command error 0x010a04"
    has "unannounced.trace:20: mismatch: cmd-error 0x010a04 announced, but no command failed"
    run 0 "$sim" replay "$src/tests/traces/announced.trace"
    has "result: PASS"
    ;;
migrate)
    run 0 "$sim" replay "$src/tests/traces/migrate.trace"
    has "migrate 1"
    has "result: PASS"
    # the migration scenario, recorded afresh, replays as the committed one
    run 0 "$sim" record migrate "$work/migrate.trace"
    grep -v '^#' "$work/migrate.trace" >"$work/fresh"
    grep -v '^#' "$src/harness/traces/migrate.trace" >"$work/committed"
    cmp -s "$work/fresh" "$work/committed" || fail "the migrate scenario records another trace"
    run 0 "$sim" replay --strict "$work/migrate.trace" "$src/harness/traces/migrate-queued.trace" \
        "$src/harness/traces/migrate-stalled.trace"
    has "migrate-stalled.trace: replayed"
    has "result: PASS"
    ;;
dtc)
    command -v dtc >/dev/null 2>&1 || { echo "dtc not found: skipped"; exit 77; }
    run 0 "$sim" dtb --vcpus 3 "$work/vm.dtb"
    run 0 dtc -I dtb -O dts "$work/vm.dtb"
    has 'compatible = "arm,gic-v3";'
    has '#interrupt-cells = <0x03>;'
    has 'interrupt-controller;'
    has 'ranges;'
    has 'reg = <0x00 0x8000000 0x00 0x10000 0x00 0x80a0000 0x00 0x60000>;'
    has 'its@8080000 {'
    has 'compatible = "arm,gic-v3-its";'
    has 'msi-controller;'
    has '#msi-cells = <0x01>;'
    has 'reg = <0x00 0x8080000 0x00 0x20000>;'
    has 'phandle = <0x02>;'
    has 'cpu@2 {'
    # and back: dtc's own blob of that source parses the same
    dtc -I dtb -O dts -o "$work/vm.dts" "$work/vm.dtb" && dtc -I dts -O dtb -o "$work/vm2.dtb" "$work/vm.dts" ||
        fail "dtc round trip"
    run 0 "$sim" simulate --dtb "$work/vm2.dtb" --msis 2000 --no-progress
    has "3 vCPUs"
    # a tree without an ITS node
    grep -v -e 'gic-v3-its' "$work/vm.dts" >"$work/noits.dts"
    dtc -I dts -O dtb -o "$work/noits.dtb" "$work/noits.dts" 2>/dev/null || fail "dtc noits"
    run 2 "$sim" simulate --dtb "$work/noits.dtb" --msis 10
    has "noits.dtb: no usable ITS node"
    ;;
dtb)
    run 0 "$sim" dtb --vcpus 2 -o "$work/two.dtb"
    run 0 "$sim" replay --dtb "$work/two.dtb" "$src/harness/traces/example.trace"
    has "result: PASS"
    run 0 "$sim" dtb --vcpus 3 --its-base 0x10000000 "$work/three.dtb"
    run 2 "$sim" replay --dtb "$work/three.dtb" "$src/harness/traces/example.trace"
    has "trace says 2 vCPUs, the device tree 3"
    head -c 100 "$work/two.dtb" >"$work/short.dtb"
    run 2 "$sim" replay --dtb "$work/short.dtb" "$src/harness/traces/example.trace"
    has "short.dtb: truncated device tree blob"
    echo "this text file is not a device tree blob at all" >"$work/text.dtb"
    run 2 "$sim" simulate --dtb "$work/text.dtb"
    has "text.dtb: not a valid device tree blob"
    run 2 "$sim" simulate --dtb "$work/missing.dtb"
    has "missing.dtb: cannot open"
    ;;
decode)
    printf '# MAPD, MAPC, a MAPTI with a bad INTID, junk\n0x8 0x1 0x8000000040330000 0x0\n0x9 0x0 0x8000000000000000 0x0\n0x10000000a 0x0000006400000000 0x0 0x0\n0x77 0x0 0x0 0x0\n' >"$work/q.hex"
    run 1 "$sim" decode --vcpus 2 "$work/q.hex"
    has "MAPD     DeviceID=0x0 Size=1 (4 events) ITT_addr=0x40330000 V=1"
    has "MAPC     ICID=0 RDbase=0 V=1"
    has "pINTID 100 is not an LPI"
    has "unknown command number 0x77"
    has "4 commands, 2 malformed"
    run 2 "$sim" decode "$work/nonexistent"
    has "nonexistent: cannot open"
    ;;
help)
    for c in simulate replay record decode dtb; do
        run 0 "$sim" $c --help
        has "usage: vits-sim $c"
    done
    run 2 "$sim" simulate --vcpus x
    has "--vcpus .x. is not a number"
    run 2 "$sim" frobnicate
    has "unknown command"
    ;;
*)
    echo "unknown mode $mode"
    exit 2
    ;;
esac
echo "ok ($mode)"
