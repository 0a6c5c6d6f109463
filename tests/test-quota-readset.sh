#!/usr/bin/env bash
# max-overlay-size and the read set: reads cannot be refused, so once
# data has filled the overlay to its limit, reading many scattered base
# blocks must still leave room to record them: the next flush succeeds
# (promises 4 and 10), the overlay stays within the limit, and after a
# restart every block read is in the read set.  A 64 GiB sparse base has
# a read set of up to 2 MiB: as big as the limit itself.
. tests/functions.sh
require nbdkit

require_nbd_python

limit=$((2 * 1024 * 1024))
base=$tmp/base.img
ov=$tmp/box.ow
truncate -s 64G "$base" || skip "cannot make a 64 GiB sparse file in $tmp"
head -c 1M /dev/urandom | dd of="$base" bs=1M seek=100 conv=notrunc status=none
base_sum=$(du -B1 "$base" | cut -f1)-$(stat -c %Y "$base")-$(dd if="$base" bs=1M skip=100 count=1 status=none | sha256sum)

start_plugin box base="$base" overlay="$ov" max-overlay-size=2M
pid=$server_pid
"$nbdpy" - "$(uri box)" "$ov" "$tmp/read.txt" "$tmp/flush-failed" <<'EOF' || fail "see above"
import errno, os, random, sys
import nbd

uri, ov, out, flush_failed = sys.argv[1:5]
limit = 2 * 1024 * 1024
h = nbd.NBD()
h.connect_uri(uri)
nblocks = h.get_size() // 4096
n = 0
while True:
    try:
        h.pwrite(os.urandom(4096), n * 4096)
    except nbd.Error as e:
        if e.errnum != errno.ENOSPC:
            sys.exit("FAIL: write %d: errno %s, not ENOSPC" % (n, e.errnum))
        break
    n += 1
h.flush()
print("%d blocks fitted" % n)
rnd = random.Random(7)
blocks = sorted(set(rnd.randrange(1024, nblocks) for _ in range(20000)))
for b in blocks:
    h.pread(4096, b * 4096)
open(out, "w").write("\n".join(map(str, blocks)) + "\n")
try:
    h.flush()
except nbd.Error as e:
    # Reported at the end, after the read set is checked too.
    open(flush_failed, "w").write("a flush after reading %d scattered blocks of a full "
                                  "overlay failed: %s" % (len(blocks), e))
if os.stat(ov).st_size > limit:
    sys.exit("FAIL: the overlay is %d bytes, more than the limit" % os.stat(ov).st_size)
h.shutdown()
EOF
stop_server $pid
sz=$(stat -c %s "$ov")
[ "$sz" -le $limit ] || fail "the overlay is $sz bytes after a clean stop, more than $limit"

"$merge" blocks --json "$ov" > "$tmp/blocks.json" || fail "oneway-merge blocks failed"
readset_ok=yes
"$nbdpy" - "$tmp/blocks.json" "$tmp/read.txt" <<'EOF' || readset_ok=
import json, sys
d = json.load(open(sys.argv[1]))
want = [int(l) for l in open(sys.argv[2])]
import bisect
starts = [r[0] for r in d["read"]]
missing = 0
for b in want:
    i = bisect.bisect_right(starts, b) - 1
    if i < 0 or not (d["read"][i][0] <= b < d["read"][i][0] + d["read"][i][1]):
        missing += 1
if missing:
    sys.exit("FAIL: %d of the %d blocks read are not in the read set" % (missing, len(want)))
EOF

now=$(du -B1 "$base" | cut -f1)-$(stat -c %Y "$base")-$(dd if="$base" bs=1M skip=100 count=1 status=none | sha256sum)
[ "$now" = "$base_sum" ] || fail "the base changed"
[ ! -s "$tmp/flush-failed" ] || fail "$(cat "$tmp/flush-failed")"
[ -n "$readset_ok" ] || fail "after a clean stop the read set lacks blocks the SEE read"
