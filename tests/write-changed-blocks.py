#!/usr/bin/python3
# Write through NBD the blocks in which SEE differs from BASE: makes an
# overlay from an image crafted offline (debugfs, byte patches), as if
# an SEE had written exactly those blocks.
#   write-changed-blocks.py BASE SEE URI [BLOCK_SIZE]
import sys

import nbd

base, see, uri = sys.argv[1:4]
bs = int(sys.argv[4]) if len(sys.argv) > 4 else 4096
h = nbd.NBD()
h.connect_uri(uri)
written = 0
with open(base, "rb") as a, open(see, "rb") as b:
    off = 0
    while True:
        x, y = a.read(bs), b.read(bs)
        if not y:
            break
        if x != y:
            h.pwrite(y, off)
            written += 1
        off += len(y)
h.flush()
h.shutdown()
print(written)
