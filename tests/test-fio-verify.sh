#!/usr/bin/env bash
# fio with verification through the nbd engine: four jobs in parallel,
# each on its own 8 MiB region, random writes of 512 B to 64 KiB at
# iodepth 16 (sizes not a multiple of 512, so many writes are partial
# blocks, done by read-modify-write), each block checked with crc32c
# as it goes and at the end.  Then a clean restart and the same job
# with --verify_only; then a second workload ending in an fsync, kill
# -9, restart, and --verify_only again.  Both compress=lz4 and none.
. tests/functions.sh
require nbdkit nbdinfo fio

fio --enghelp=nbd >/dev/null 2>&1 || skip "fio has no nbd engine"

base=$tmp/base.img
head -c 32M /dev/urandom > "$base"
remember_base "$base"

# verify_backlog is given in the write phase only: fio 3.33 with
# --verify_only and verify_backlog checks just a part of the blocks.
cat > "$tmp/job.fio" <<'JOB'
[global]
ioengine=nbd
uri=${FIO_URI}
rw=randwrite
bsrange=512-64k
bs_unaligned=1
iodepth=16
size=8m
offset_increment=8m
numjobs=4
verify=crc32c
do_verify=1
verify_fatal=1
verify_backlog=${FIO_BACKLOG}
randseed=${FIO_SEED}
fsync=${FIO_FSYNC}
end_fsync=1
# fio would leave its verify state files in the current directory.
verify_state_save=0

[w]
JOB

# run_fio NAME SEED [fio options] (FIO_FSYNC=N: an fsync every N writes): fails unless every job succeeded;
# with --verify_only, also unless every job read back what it wrote.
run_fio ()
{
    local name=$1 seed=$2; shift 2
    local verify=0 out=$tmp/fio-$name.json status=0
    [ "${1:-}" = --verify_only ] && verify=1
    FIO_SEED=$seed FIO_BACKLOG=$((verify ? 0 : 64)) FIO_FSYNC=${FIO_FSYNC:-0} \
        fio --output-format=json --output="$out" "$@" "$tmp/job.fio" \
        2> "$tmp/fio-$name.err" || status=$?
    if [ $status -ne 0 ]; then
        head -n 20 "$tmp/fio-$name.err" >&2
        fail "fio $name: exit status $status"
    fi
    python3 - "$out" "$verify" <<'PY' || fail "fio $name: the JSON report is not right"
import json, sys
d = json.load(open(sys.argv[1]))
jobs = d["jobs"]
assert len(jobs) == 4, "%d jobs" % len(jobs)
for j in jobs:
    assert j["error"] == 0, "job error %d" % j["error"]
    # The regions are 8 MiB; the random map leaves only small gaps.
    assert j["write"]["io_bytes"] > 7 << 20, "wrote %d" % j["write"]["io_bytes"]
    assert j["read"]["io_bytes"] == j["write"]["io_bytes"], \
        "verified %d of %d bytes" % (j["read"]["io_bytes"], j["write"]["io_bytes"])
PY
}

for compress in lz4 none; do
    ov=$tmp/$compress.ow
    export FIO_URI=$(uri $compress)
    start_plugin $compress base="$base" overlay="$ov" compress=$compress
    pid=$server_pid
    run_fio $compress-write1 1

    # A clean restart: everything is still there.
    stop_server $pid
    start_plugin $compress base="$base" overlay="$ov" compress=$compress
    pid=$server_pid
    run_fio $compress-verify1 1 --verify_only

    # A second workload over the first, with fsyncs as it goes and at
    # the end, then kill -9.
    FIO_FSYNC=97 run_fio $compress-write2 2
    kill9_server $pid
    start_plugin $compress base="$base" overlay="$ov" compress=$compress
    pid=$server_pid
    run_fio $compress-verify2 2 --verify_only

    # The check can fail: damage 64 KiB in the middle of each region,
    # and every job must report it.
    /usr/bin/python3 -c '
import nbd, sys
h = nbd.NBD(); h.connect_uri(sys.argv[1])
for r in range(4):
    h.zero(65536, r * (8 << 20) + (4 << 20))
h.flush()' "$FIO_URI"
    if FIO_SEED=2 FIO_BACKLOG=0 FIO_FSYNC=0 fio --output-format=json \
        --output="$tmp/fio-neg.json" --verify_only "$tmp/job.fio" 2>/dev/null; then
        fail "$compress: fio --verify_only did not notice damaged data"
    fi
    n=$(json_get "$tmp/fio-neg.json" 'sum(1 for j in d["jobs"] if j["error"] != 0)')
    [ "$n" = 4 ] || fail "$compress: only $n of 4 fio jobs noticed damaged data"
    stop_server $pid
done
