#!/usr/bin/env bash
# Randomized operations against a plain-file model (tests/random-ops.py):
# a few thousand writes (aligned or not, big and small, with FUA or not),
# zeroes, trims, flushes, reads, block-status queries, clean restarts,
# kill -9 with restarts, and writes from several connections at once,
# on a 32 MiB disk with block size 4096 and on a 16 MiB one with 512
# (sizes that are not a multiple of the block size).  The whole export
# is compared with the model after every restart and at the end.
#
# The seed is printed first, and every failure names it: replay with
# ONEWAY_SEED=N.  That a seed replays is checked too: a short run done
# twice with one seed must do the same operations to the same end.
. tests/functions.sh
require nbdkit
require_nbd_python
py=$nbdpy

seed=${ONEWAY_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
[[ $seed =~ ^[0-9]+$ ]] || fail "ONEWAY_SEED must be a number, not '$seed'"
echo "seed: $seed (replay with ONEWAY_SEED=$seed)"
export NBDKIT_ENV="$(_nbdkit_env)"

fail_seed ()
{
    fail "$* (replay with ONEWAY_SEED=$seed)"
}

# random_ops NAME SEED BS SIZE OPS: one run on a fresh base and overlay;
# its output is in $tmp/NAME.out.
random_ops ()
{
    local name=$1 s=$2 bs=$3 size=$4 nops=$5
    local base=$tmp/base-$name.img ov=$tmp/$name.ow
    $py "$abs_top_srcdir/tests/random-ops.py" make-base $s $size "$base"
    remember_base "$base"
    $py "$abs_top_srcdir/tests/random-ops.py" run --seed $s \
        --plugin "$plugin" --base "$base" --overlay "$ov" \
        --tmp "$tmp" --name $name --block-size $bs --ops $nops > "$tmp/$name.out" ||
        { cat "$tmp/$name.out"; fail_seed "$name: the view differs from the model"; }
    cat "$tmp/$name.out"
    oneway-merge info "$ov" --json > "$tmp/info.json" ||
        fail_seed "$name: oneway-merge info failed"
    [ "$(json_get "$tmp/info.json" 'd["state"]')" = clean ] ||
        fail_seed "$name: not clean after the final stop"
    [ "$(json_get "$tmp/info.json" 'd["block_size"]')" = $bs ] ||
        fail_seed "$name: info reports block size $(json_get "$tmp/info.json" 'd["block_size"]')"
    rm -f "$ov" "$tmp/$name.model"
}

digest ()
{
    sed -n 's/^.*: digest of the operations and the final view: //p' "$tmp/$1.out"
}

# block size, disk size, operations
runs=(
    "4096 $((32 * 1024 * 1024 + 2560)) 2500"
    "512 $((16 * 1024 * 1024 + 1000)) 1200"
)
i=0
for run in "${runs[@]}"; do
    set -- $run
    random_ops rnd$1 $((seed + i)) $1 $2 $3
    i=$((i + 1))
done

# The replay: the same seed twice, the same digest.
for name in again1 again2; do
    random_ops $name $seed 4096 $((4 * 1024 * 1024 + 100)) 300
done
d1=$(digest again1) d2=$(digest again2)
[ -n "$d1" ] || fail_seed "random-ops.py printed no digest"
[ "$d1" = "$d2" ] ||
    fail_seed "two runs with one seed differ (digests $d1 and $d2): the seed does not replay"
