#!/usr/bin/python3
# oneway: randomized operations against the plugin and a plain-file model.
# Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
#
# Run by tests/test-random-ops.sh.  It starts and stops its own nbdkit
# (nbdkit -f --exit-with-parent, so that it dies with us), kills only
# that PID, and checks after every restart, after kill -9, and at the
# end that the whole export equals the model.  The model is every
# completed operation: with one synchronous client each acknowledged
# write is in the overlay file (in the page cache at least) before the
# reply, so not even kill -9 may lose it.
#
#   random-ops.py make-base SEED SIZE FILE
#   random-ops.py run --seed N --plugin SO --base B --overlay OV --tmp DIR
#                     --name NAME --block-size BS --ops N

import argparse
import hashlib
import mmap
import os
import random
import shlex
import subprocess
import sys
import threading
import time
import traceback

import nbd

MiB = 1 << 20


def make_base(seed, size, path):
    """A base with random data, zeroes and holes."""
    r = random.Random(seed ^ 0x5eed)
    with open(path, "wb") as f:
        f.truncate(size)
        off = 0
        while off < size:
            n = min(size - off, r.choice([4096, 65536, MiB]) * r.randint(1, 4))
            k = r.random()
            if k < 0.6:
                f.seek(off)
                f.write(r.randbytes(n))
            elif k < 0.7:
                f.seek(off)
                f.write(bytes(n))       # zeroes that are allocated
            off += n                    # else a hole


class Failure(Exception):
    pass


class Server:
    """An nbdkit that we started, and only that one."""

    def __init__(self, a):
        self.a = a
        self.sock = os.path.join(a.tmp, a.name + ".sock")
        self.log = os.path.join(a.tmp, "nbdkit-%s.log" % a.name)
        self.pidfile = os.path.join(a.tmp, a.name + ".pid")
        self.proc = None
        self.env = dict(os.environ)
        for kv in shlex.split(os.environ.get("NBDKIT_ENV", "")):
            k, v = kv.split("=", 1)
            self.env[k] = v

    def uri(self):
        return "nbd+unix:///?socket=" + self.sock

    def start(self, params):
        # Ready means the pidfile exists: nbdkit writes it once it
        # listens (the socket file appears a moment before that).
        for f in (self.sock, self.pidfile):
            if os.path.exists(f):
                os.unlink(f)
        cmd = ["nbdkit", "-f", "--exit-with-parent", "-U", self.sock,
               "-P", self.pidfile, self.a.plugin, "base=" + self.a.base,
               "overlay=" + self.a.overlay] + params
        with open(self.log, "ab") as log:
            log.write(("+ %s\n" % " ".join(cmd)).encode())
            log.flush()
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, env=self.env)
        for _ in range(1200):
            if os.path.exists(self.pidfile) and os.path.getsize(self.pidfile):
                return
            if self.proc.poll() is not None:
                raise Failure("nbdkit %s exited with status %d at start"
                              % (" ".join(params), self.proc.returncode))
            time.sleep(0.025)
        raise Failure("nbdkit did not start")

    def stop(self):
        self.proc.terminate()
        try:
            rc = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise Failure("nbdkit did not stop within 60 s of SIGTERM")
        self.proc = None
        if rc != 0:
            raise Failure("nbdkit exited with status %d on a clean stop" % rc)

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


class Tester:
    def __init__(self, a):
        self.a = a
        self.r = random.Random(a.seed)
        self.bs = a.block_size
        self.srv = Server(a)
        self.size = os.path.getsize(a.base)
        # The model: a plain file, mapped.
        self.model_path = os.path.join(a.tmp, a.name + ".model")
        with open(a.base, "rb") as src, open(self.model_path, "wb") as dst:
            while True:
                b = src.read(4 * MiB)
                if not b:
                    break
                dst.write(b)
        self.model_f = open(self.model_path, "r+b")
        self.model = mmap.mmap(self.model_f.fileno(), self.size)
        self.h = None
        self.history = []
        # Every operation and the final view: two runs with one seed
        # must end with the same digest.
        self.digest = hashlib.sha256()
        self.stats = {}
        self.hot = self.r.randrange(0, self.size - 256 * 1024) & ~4095

    # ---- bookkeeping
    def note(self, what):
        self.digest.update(what.encode() + b"\n")
        self.history.append(what)
        if len(self.history) > 40:
            del self.history[0]
        k = what.split()[0]
        self.stats[k] = self.stats.get(k, 0) + 1

    def connect(self):
        h = nbd.NBD()
        h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
        h.connect_uri(self.srv.uri())
        if h.get_size() != self.size:
            raise Failure("export size %d, base size %d" % (h.get_size(), self.size))
        return h

    def start(self):
        params = ["block-size=%d" % self.bs]
        if self.r.random() < 0.3 and self.started_once:
            params = []         # the overlay knows its block size
        c = self.r.choice(["lz4", "none", None])
        if c:
            params.append("compress=" + c)
        self.srv.start(params)
        self.started_once = True
        self.h = self.connect()

    def drop_handle(self):
        if self.h is not None:
            try:
                self.h.shutdown()
            except nbd.Error:
                pass
            self.h = None       # the handle closes when dropped

    # ---- data and places
    def data(self, n):
        k = self.r.random()
        if k < 0.6:
            return self.r.randbytes(n)
        if k < 0.85:
            pat = self.r.randbytes(self.r.randint(1, 100))
            return (pat * (n // len(pat) + 1))[:n]
        if k < 0.95:
            return bytes(n)
        # Mostly zero with a little data: not a zero block.
        b = bytearray(n)
        b[self.r.randrange(n)] = self.r.randint(1, 255)
        return bytes(b)

    def place(self):
        r, bs, size = self.r, self.bs, self.size
        k = r.random()
        if k < 0.10:
            n = r.randint(1, 16)
        elif k < 0.42:
            n = r.randint(1, 2 * bs + 1)
        elif k < 0.67:
            n = bs * r.randint(1, 8)
        elif k < 0.84:
            n = r.randint(1, 64) * 4096
        elif k < 0.97:
            n = r.randint(1, MiB // 2)
        else:
            n = r.randint(MiB // 2, 2 * MiB)
        n = min(n, size)
        k = r.random()
        if k < 0.3:
            # the hot area: many overwrites of the same blocks
            off = self.hot + r.randrange(256 * 1024)
        elif k < 0.35:
            off = size - n      # up to the very end
        else:
            off = r.randrange(size)
        if r.random() < 0.5:
            off -= off % r.choice([512, bs, 4096])
        off = max(0, min(off, size - n))
        return off, n

    # ---- checks
    def compare(self, h, off, n, what):
        got = h.pread(n, off)
        want = self.model[off:off + n]
        if got != want:
            i = next(i for i in range(n) if got[i] != want[i])
            j = next(i for i in range(n - 1, -1, -1) if got[i] != want[i])
            raise Failure(
                "%s: data differs from the model in [%d, %d) at bytes %d..%d "
                "(block %d of %d bytes): expected %s, got %s"
                % (what, off, off + n, off + i, off + j, (off + i) // self.bs,
                   self.bs, want[i:i + 16].hex(), got[i:i + 16].hex()))

    def full_compare(self, what):
        for off in range(0, self.size, 8 * MiB):
            self.compare(self.h, off, min(8 * MiB, self.size - off), what)

    def check_extents(self, off, n):
        bad = []

        def cb(ctx, o, entries, err):
            if ctx != nbd.CONTEXT_BASE_ALLOCATION:
                return 0
            for i in range(0, len(entries), 2):
                ln, fl = entries[i], entries[i + 1]
                if fl & nbd.STATE_ZERO:
                    e = min(o + ln, self.size)
                    if self.model[o:e] != bytes(e - o):
                        bad.append((o, ln))
                o += ln
            return 0
        self.h.block_status(n, off, cb)
        if bad:
            raise Failure("block status says zero at %s but the model has data there"
                          % bad[:4])

    # ---- operations
    def op_write(self):
        off, n = self.place()
        buf = self.data(n)
        fua = self.r.random() < 0.1
        self.note("write %d+%d%s" % (off, n, " fua" if fua else ""))
        self.h.pwrite(buf, off, nbd.CMD_FLAG_FUA if fua else 0)
        self.model[off:off + n] = buf

    def op_zero(self):
        off, n = self.place()
        fl = self.r.choice([0, nbd.CMD_FLAG_NO_HOLE, nbd.CMD_FLAG_FAST_ZERO,
                            nbd.CMD_FLAG_FUA])
        self.note("zero %d+%d flags=%d" % (off, n, fl))
        self.h.zero(n, off, fl)
        self.model[off:off + n] = bytes(n)

    def op_trim(self):
        off, n = self.place()
        self.note("trim %d+%d" % (off, n))
        self.h.trim(n, off)
        self.model[off:off + n] = bytes(n)

    def op_read(self):
        off, n = self.place()
        self.note("read %d+%d" % (off, n))
        self.compare(self.h, off, n, "read %d+%d" % (off, n))

    def op_flush(self):
        self.note("flush")
        self.h.flush()

    def op_extents(self):
        off, n = self.place()
        self.note("extents %d+%d" % (off, n))
        self.check_extents(off, n)

    def op_full(self):
        self.note("full-compare")
        self.full_compare("full compare")

    def op_restart(self):
        self.note("restart")
        self.drop_handle()
        self.srv.stop()
        self.start()
        self.full_compare("after a clean restart")

    def op_kill9(self):
        self.note("kill9")
        # Do not even disconnect: the crash comes with the client still on.
        self.srv.kill9()
        self.h = None
        self.start()
        self.full_compare("after kill -9 and restart")

    def op_multiconn(self):
        """Several connections write disjoint byte ranges (which may
        share blocks: the plugin must merge them), a flush on one of
        them, kill -9, and the view must have all of it."""
        r = self.r
        k = r.randint(2, 4)
        if not self.h.can_multi_conn():
            raise Failure("the plugin does not advertise multi-conn")
        hs = [self.h] + [self.connect() for _ in range(k - 1)]
        span = r.randint(64 * 1024, 2 * MiB)
        start = r.randrange(0, self.size - span)
        cuts = sorted(r.sample(range(start + 1, start + span), r.randint(8, 40)))
        edges = [start] + cuts + [start + span]
        work = [[] for _ in hs]
        for i in range(len(edges) - 1):
            o, e = edges[i], edges[i + 1]
            kind = "zero" if r.random() < 0.15 else "write"
            buf = bytes(e - o) if kind == "zero" else self.data(e - o)
            work[r.randrange(k)].append((kind, o, buf))
        for w in work:
            r.shuffle(w)
        errors = []

        def run(h, items):
            try:
                for kind, o, buf in items:
                    if kind == "zero":
                        h.zero(len(buf), o)
                    else:
                        h.pwrite(buf, o)
            except Exception as e:
                errors.append(e)
        ts = [threading.Thread(target=run, args=(hs[i], work[i])) for i in range(k)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errors:
            raise Failure("multi-conn writes failed: %s" % errors[0])
        for items in work:
            for kind, o, buf in items:
                self.model[o:o + len(buf)] = buf
        self.note("multiconn %d handles %d+%d %d pieces" % (k, start, span, len(edges) - 1))
        # Every connection sees every other's writes.
        for h in hs:
            self.compare(h, start, span, "multi-conn: read back on one of %d connections" % k)
        r.choice(hs).flush()
        self.srv.kill9()
        del hs
        self.h = None
        self.start()
        self.full_compare("multi-conn writes, flush on one connection, kill -9")

    def run(self):
        ops = [(self.op_write, 35), (self.op_read, 18), (self.op_zero, 8),
               (self.op_trim, 6), (self.op_flush, 5), (self.op_extents, 3),
               (self.op_full, 0.2), (self.op_restart, 0.25), (self.op_kill9, 0.3),
               (self.op_multiconn, 0.25)]
        fns = [f for f, _ in ops]
        weights = [w for _, w in ops]
        self.started_once = False
        self.start()
        self.full_compare("at the start")
        for i in range(self.a.ops):
            self.i = i
            f = self.r.choices(fns, weights)[0]
            f()
        # Each kind of crash and restart at least once.
        for f, k in ((self.op_restart, "restart"), (self.op_kill9, "kill9"),
                     (self.op_multiconn, "multiconn")):
            if not self.stats.get(k):
                f()
        self.full_compare("at the end")
        self.drop_handle()
        self.srv.stop()
        # And once more after the final clean stop.
        self.start()
        self.full_compare("after the final restart")
        self.drop_handle()
        self.srv.stop()


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "make-base":
        make_base(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
        return 0
    p = argparse.ArgumentParser()
    p.add_argument("cmd", choices=["run"])
    for o in ("plugin", "base", "overlay", "tmp", "name"):
        p.add_argument("--" + o, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--block-size", type=int, default=4096)
    p.add_argument("--ops", type=int, default=3000)
    a = p.parse_args()
    t = Tester(a)
    t0 = time.time()
    try:
        t.run()
    except Exception as e:
        print("FAIL: seed %d, block size %d, operation %d: %s"
              % (a.seed, a.block_size, getattr(t, "i", -1), e), file=sys.stderr)
        if not isinstance(e, Failure):
            traceback.print_exc()
        print("the last operations:", file=sys.stderr)
        for h in t.history:
            print("   ", h, file=sys.stderr)
        return 1
    finally:
        t.srv.cleanup()
    t.digest.update(t.model[:])
    print("%s: seed %d, %d operations in %.1f s: %s"
          % (a.name, a.seed, a.ops, time.time() - t0,
             ", ".join("%s %d" % kv for kv in sorted(t.stats.items()))))
    print("%s: digest of the operations and the final view: %s" % (a.name, t.digest.hexdigest()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
