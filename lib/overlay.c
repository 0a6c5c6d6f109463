/* oneway: opening, creating and closing an overlay.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "oneway/crc32c.h"
#include "oneway/error.h"
#include "oneway/fingerprint.h"
#include "oneway/util.h"
#include "overlay-internal.h"

#ifdef OW_TEST_HOOKS
int (*ow_test_hook) (enum ow_hook_point where, void *ov);
#endif

/* A failure a test injects in place of the call (test-hooks.h). */
static bool
injected (enum ow_hook_point where, void *ov)
{
  int e = OW_HOOK_RESULT (where, ov);

  if (e)
    errno = e;
  return e != 0;
}

/* The default backend: a file. */
static int
file_pread (void *h, void *buf, size_t count, uint64_t offset)
{
  return ow_pread_full (((struct ow_overlay *) h)->fd, buf, count, offset);
}

static int
file_pwritev (void *h, const struct iovec *iov, int iovcnt, uint64_t offset)
{
  int fd = ((struct ow_overlay *) h)->fd;
  size_t total = 0;
  ssize_t r;

  if (injected (OW_HOOK_FILE_WRITE, h))
    return -1;
  for (int i = 0; i < iovcnt; i++)
    total += iov[i].iov_len;
  if (iovcnt <= IOV_MAX) {
    do
      r = pwritev (fd, iov, iovcnt, offset);
    while (r == -1 && errno == EINTR);
    if (r == -1)
      return -1;
    if ((size_t) r == total)
      return 0;
  }
  else
    r = 0;
  /* Short or oversized: finish piece by piece. */
  for (int i = 0; i < iovcnt; i++) {
    size_t skip = (size_t) r < iov[i].iov_len ? (size_t) r : iov[i].iov_len;
    r -= skip;
    if (ow_pwrite_full (fd, (char *) iov[i].iov_base + skip, iov[i].iov_len - skip,
                        offset + skip) == -1)
      return -1;
    offset += iov[i].iov_len;
  }
  return 0;
}

static int
file_sync (void *h)
{
  if (injected (OW_HOOK_FILE_SYNC, h))
    return -1;
  return fdatasync (((struct ow_overlay *) h)->fd);
}

static int
file_truncate (void *h, uint64_t size)
{
  if (injected (OW_HOOK_FILE_TRUNCATE, h))
    return -1;
  return ftruncate (((struct ow_overlay *) h)->fd, size);
}

static int
file_size (void *h, uint64_t *size)
{
  struct stat st;

  if (fstat (((struct ow_overlay *) h)->fd, &st) == -1)
    return -1;
  *size = st.st_size;
  return 0;
}

static const struct ow_file_ops file_ops = {
  file_pread, file_pwritev, file_sync, file_truncate, file_size,
};

/* Make the new file's directory entry durable too: without it a power
 * cut can take the whole overlay away, flushed writes and all. */
static int
sync_parent_dir (struct ow_overlay *ov)
{
  char *copy = strdup (ov->path);
  int dfd = -1, r = -1;

  if (copy && !injected (OW_HOOK_DIR_SYNC, ov)
      && (dfd = open (dirname (copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0)
    r = fsync (dfd);
  if (r == -1)
    ow_error ("cannot sync the directory of new overlay %s: %m", ov->path);
  if (dfd >= 0)
    close (dfd);
  free (copy);
  return r;
}

static int
lock_file (struct ow_overlay *ov)
{
  char name[64];
  pid_t holder;

  if (flock (ov->fd, (ov->writable ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0)
    return 0;
  if (errno != EWOULDBLOCK) {
    ow_error ("cannot lock overlay %s: %m", ov->path);
    return -1;
  }
  holder = ow_lock_holder (ov->fd);
  if (holder && ov->writable)
    ow_error ("overlay %s is in use by process %ld (%s); "
              "only one process may have it open for writing: stop that one first",
              ov->path, (long) holder, ow_process_name (holder, name, sizeof name));
  else if (holder)
    ow_error ("overlay %s is open for writing by process %ld (%s), "
              "probably a running nbdkit oneway; stop it (or disconnect it) first",
              ov->path, (long) holder, ow_process_name (holder, name, sizeof name));
  else
    ow_error ("overlay %s is locked by another process; stop it first", ov->path);
  errno = EBUSY;
  return -1;
}

static void
format_id (const uint8_t *fp, char *buf)
{
  for (int i = 0; i < 4; i++)
    sprintf (buf + 2 * i, "%02x", fp[i]);
}

/* Promise 6: a base that is not the one the overlay was made for is
 * refused, showing both.  Returns 1 if base matches, 0 if not, with
 * *why saying how, -1 on error. */
static int
compare_base (struct ow_overlay *ov, struct ow_base *base, char **why)
{
  const struct ow_header *h = &ov->opened_header;
  uint8_t fp[OW_FINGERPRINT_SIZE];
  char want_size[32], have_size[32], want_id[16], have_id[16];
  uint64_t have = ow_base_size (base);
  int r;

  *why = NULL;
  if (have == h->base_size) {
    if (ow_base_fingerprint (base, fp) == -1)
      return -1;
    if (memcmp (fp, h->fingerprint, sizeof fp) == 0)
      return 1;
  }
  else
    memset (fp, 0, sizeof fp);
  format_id (h->fingerprint, want_id);
  format_id (fp, have_id);
  ow_human_size (h->base_size, want_size, sizeof want_size);
  ow_human_size (have, have_size, sizeof have_size);
  if (have == h->base_size)
    r = asprintf (why, "overlay %s was made for base %s (size %s, id %s…) but base %s "
                  "(size %s) has different content (id %s…): it is another disk, or "
                  "it changed since; use the base the overlay was made for, or a new overlay",
                  ov->path, h->base_name, want_size, want_id, ow_base_name (base),
                  have_size, have_id);
  else
    r = asprintf (why, "overlay %s was made for base %s (size %s = %" PRIu64 " bytes, id %s…) "
                  "but base %s is %s (%" PRIu64 " bytes); use the base the overlay "
                  "was made for, or a new overlay",
                  ov->path, h->base_name, want_size, h->base_size, want_id,
                  ow_base_name (base), have_size, have);
  if (r == -1) {
    *why = NULL;
    return -1;
  }
  return 0;
}

static int
check_base_identity (struct ow_overlay *ov)
{
  char *why;
  int r = compare_base (ov, ov->base, &why);

  if (r == 0) {
    ow_error ("%s", why);
    free (why);
    errno = EINVAL;
  }
  return r == 1 ? 0 : -1;
}

int
ow_check_base (struct ow_overlay *ov, const char *name, char **why)
{
  struct ow_base *b;
  int r;

  *why = NULL;
  if (ow_base_open (name ? name : ov->opened_header.base_name, &b) == -1)
    return -1;
  r = compare_base (ov, b, why);
  ow_base_close (b);
  return r;
}

static int
create_overlay (struct ow_overlay *ov, const struct ow_open_params *p)
{
  struct ow_header *h = &ov->header;
  uint8_t slot[OW_HEADER_SLOT_SIZE];
  struct iovec iov = { slot, sizeof slot };

  memset (h, 0, sizeof *h);
  h->version = OW_VERSION;
  if (getrandom (h->uuid, sizeof h->uuid, 0) != sizeof h->uuid) {
    ow_error ("cannot get random bytes for the overlay id: %m");
    return -1;
  }
  h->block_size = p->block_size ? p->block_size : 4096;
  h->compress = p->compress >= 0 ? p->compress : OW_COMPRESS_LZ4;
  h->base_size = ow_base_size (ov->base);
  h->fingerprint_method = OW_FINGERPRINT_SAMPLED_SHA256;
  if (ow_base_fingerprint (ov->base, h->fingerprint) == -1)
    return -1;
  h->created = time (NULL);
  h->durable_end = OW_LOG_START;
  snprintf (h->base_name, sizeof h->base_name, "%s", ow_base_name (ov->base));
  /* Both slots, so that either may be overwritten first. */
  for (int gen = 0; gen < 2; gen++) {
    h->generation = gen;
    ow_header_encode (h, slot);
    if (ow_file_pwritev (ov, &iov, 1, gen * OW_HEADER_SLOT_SIZE) == -1) {
      ow_error ("cannot write overlay %s: %m", ov->path);
      return -1;
    }
  }
  if (ow_file_sync (ov) == -1) {
    ow_error ("cannot sync overlay %s: %m", ov->path);
    return -1;
  }
  if (ov->fd >= 0 && sync_parent_dir (ov) == -1)
    return -1;
  return 0;
}

/* The head of the commit records is a record in the flushed part of
 * the log, and only in an overlay that says it may have some. */
static bool
commit_head_possible (const struct ow_header *h)
{
  if (h->last_commit == 0)
    return true;
  return (h->incompat & OW_INCOMPAT_COMMIT_RECORDS)
    && h->last_commit >= OW_LOG_START && h->last_commit % OW_REC_ALIGN == 0
    && h->last_commit <= h->durable_end
    && h->durable_end - h->last_commit >= OW_REC_HDR_SIZE;
}

static int
read_header (struct ow_overlay *ov)
{
  uint8_t slot[OW_HEADER_SLOT_SIZE];
  struct ow_header h[2];
  int ok[2];
  bool magic = false;

  for (int i = 0; i < 2; i++) {
    if (ow_file_pread (ov, slot, sizeof slot, i * OW_HEADER_SLOT_SIZE) == -1) {
      ow_error ("cannot read overlay %s: %m", ov->path);
      return -1;
    }
    magic |= memcmp (slot, OW_MAGIC, 8) == 0;
    ok[i] = ow_header_decode (slot, &h[i]) == 0;
  }
  if (!ok[0] && !ok[1]) {
    errno = EINVAL;
    if (magic)
      ow_error ("overlay %s is corrupt: both copies of its header fail their checksum",
                ov->path);
    else
      ow_error ("%s is not a oneway overlay (no overlay header found)", ov->path);
    return -1;
  }
  ov->header = ok[0] && (!ok[1] || h[0].generation > h[1].generation) ? h[0] : h[1];
  ov->opened_header = ov->header;

  const struct ow_header *hd = &ov->header;
  if (hd->version != OW_VERSION || (hd->incompat & ~(uint64_t) OW_INCOMPAT_KNOWN)) {
    errno = ENOTSUP;
    ow_error ("overlay %s has format version %" PRIu32 " (features %#" PRIx64 "); "
              "this oneway reads version %d: use a newer oneway",
              ov->path, hd->version, hd->incompat, OW_VERSION);
    return -1;
  }
  if (ov->writable && (hd->ro_compat & ~(uint64_t) OW_RO_COMPAT_KNOWN)) {
    errno = ENOTSUP;
    ow_error ("overlay %s uses features (%#" PRIx64 ") this oneway cannot write; "
              "use a newer oneway", ov->path, hd->ro_compat);
    return -1;
  }
  if (hd->block_size < 512 || hd->block_size > 65536
      || (hd->block_size & (hd->block_size - 1))
      || hd->compress > OW_COMPRESS_LZ4 || hd->durable_end < OW_LOG_START) {
    errno = EINVAL;
    ow_error ("overlay %s is corrupt: its header has impossible values "
              "(block size %" PRIu32 ", compression %" PRIu32 ")",
              ov->path, hd->block_size, hd->compress);
    return -1;
  }
  if (!commit_head_possible (hd)) {
    errno = EINVAL;
    ow_error ("overlay %s is corrupt: its header says its commit records start at "
              "offset %" PRIu64 " (features %#" PRIx64 ", log flushed up to %" PRIu64 ")",
              ov->path, hd->last_commit, hd->incompat, hd->durable_end);
    return -1;
  }
  return 0;
}

static int
open_file (struct ow_overlay *ov, bool *created)
{
  *created = false;
  if (ov->writable) {
    ov->fd = open (ov->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (ov->fd >= 0)
      *created = true;
    else if (errno == EEXIST)
      ov->fd = open (ov->path, O_RDWR | O_CLOEXEC);
  }
  else
    ov->fd = open (ov->path, O_RDONLY | O_CLOEXEC);
  if (ov->fd == -1) {
    ow_error ("cannot open overlay %s: %m", ov->path);
    return -1;
  }
  ov->ops = &file_ops;
  ov->ops_handle = ov;
  return lock_file (ov);
}

/* Make the log ready to be appended to: drop a torn tail or the
 * checkpoint, and mark the overlay in use (not clean) durably before
 * the first new record can land. */
static int
prepare_for_writing (struct ow_overlay *ov)
{
  uint64_t tail = atomic_load (&ov->tail);

  ov->header.flags &= ~OW_HDR_CLEAN;
  ov->header.checkpoint_offset = ov->header.checkpoint_length = 0;
  ov->header.log_end = 0;
  ov->header.durable_end = tail;
  ov->header.compress = ov->compress;
  if (ov->track_reads)
    ov->header.flags |= OW_HDR_TRACK_READS;
  else
    ov->header.flags &= ~OW_HDR_TRACK_READS;
  if (ow_write_header (ov) == -1 || ow_file_sync (ov) == -1
      || ov->ops->truncate (ov->ops_handle, tail) == -1
      || ow_file_sync (ov) == -1) {
    ow_error ("cannot prepare overlay %s for writing: %m", ov->path);
    return -1;
  }
  return 0;
}

static int
init_state (struct ow_overlay *ov, const struct ow_open_params *p)
{
  const struct ow_header *h = &ov->header;

  ov->block_size = h->block_size;
  ov->block_shift = __builtin_ctz (h->block_size);
  ov->size = h->base_size;
  ov->nblocks = (ov->size + ov->block_size - 1) >> ov->block_shift;
  ov->salt = ow_crc32c (0, h->uuid, sizeof h->uuid);
  ov->compress = p->compress >= 0 ? (enum ow_compress) p->compress : OW_COMPRESS_LZ4;
  ov->track_reads = p->track_reads != 0;
  if (p->for_tool) {
    ov->compress = h->compress;
    ov->track_reads = h->flags & OW_HDR_TRACK_READS;
    ov->reads_untracked = true;
  }
  ov->max_size = p->max_size;
  if (ov->max_size) {
    /* Kept for read-set records and the checkpoint.  A sixteenth holds
     * the read set of thousands of scattered reads; past it the read
     * set is logged more coarsely (ow_log_reads). */
    ov->headroom = ov->max_size / 16;
    if (ov->headroom < 65536)
      ov->headroom = 65536;
    if (ov->headroom > 16 << 20)
      ov->headroom = 16 << 20;
    if (ov->headroom > ov->max_size)
      ov->headroom = ov->max_size;
  }
  if (ow_index_init (&ov->index, ov->nblocks) == -1
      || ow_sbitmap_init (&ov->readset, ov->nblocks, false) == -1
      || ow_sbitmap_init (&ov->pending, ov->nblocks, true) == -1
      || ow_slots_init (ov) == -1) {
    ow_error ("overlay %s: out of memory", ov->path);
    return -1;
  }
  return 0;
}

static void
free_overlay (struct ow_overlay *ov)
{
  int saved = errno;

  ow_index_free (&ov->index);
  ow_sbitmap_free (&ov->readset);
  ow_sbitmap_free (&ov->pending);
  ow_slots_free (ov);
  ow_base_close (ov->base);
  if (ov->fd >= 0)
    close (ov->fd);
  pthread_mutex_destroy (&ov->flush_lock);
  pthread_mutex_destroy (&ov->readset_lock);
  pthread_mutex_destroy (&ov->commit_lock);
  if (ov->stripes)
    for (int i = 0; i < OW_STRIPES; i++)
      pthread_rwlock_destroy (&ov->stripes[i]);
  free (ov->stripes);
  free (ov->inflight);
  free (ov->path);
  free (ov);
  errno = saved;
}

int
ow_open (const struct ow_open_params *p, struct ow_overlay **out)
{
  struct ow_overlay *ov = calloc (1, sizeof *ov);
  bool created = false;
  uint64_t fsize;

  if (!ov)
    return -1;
  ov->fd = -1;
  ov->writable = p->writable;
  pthread_mutex_init (&ov->flush_lock, NULL);
  pthread_mutex_init (&ov->readset_lock, NULL);
  pthread_mutex_init (&ov->commit_lock, NULL);
  /* Epoch 2: whatever the file holds was written before this open. */
  atomic_init (&ov->epoch, 2);
  ov->durable_epoch = 2;
  /* The header found may be only in the page cache (a writer that was
   * killed): made durable before another is written (ow_write_header). */
  ov->header_unsynced = true;
  ov->inflight = aligned_alloc (64, OW_INFLIGHT_MAX * sizeof *ov->inflight);
  ov->stripes = malloc (OW_STRIPES * sizeof *ov->stripes);
  ov->path = strdup (p->overlay);
  if (!ov->inflight || !ov->stripes || !ov->path) {
    free (ov->stripes);
    ov->stripes = NULL;
    free_overlay (ov);
    return -1;
  }
  for (int i = 0; i < OW_STRIPES; i++)
    pthread_rwlock_init (&ov->stripes[i], NULL);
  for (int i = 0; i < OW_INFLIGHT_MAX; i++)
    atomic_init (&ov->inflight[i].start, OW_INFLIGHT_FREE);

  if (p->block_size && (p->block_size < 512 || p->block_size > 65536
                        || (p->block_size & (p->block_size - 1)))) {
    errno = EINVAL;
    ow_error ("block size %" PRIu32 " is not a power of two from 512 to 65536",
              p->block_size);
    goto fail;
  }
  if (p->ops) {
    ov->ops = p->ops;
    ov->ops_handle = p->ops_handle;
  }
  else if (open_file (ov, &created) == -1)
    goto fail;
  if (ov->ops->size (ov->ops_handle, &fsize) == -1) {
    ow_error ("cannot get the size of overlay %s: %m", ov->path);
    goto fail;
  }
  ov->file_size_at_open = fsize;

  if (fsize == 0 && ov->writable) {
    if (!p->base) {
      errno = EINVAL;
      ow_error ("overlay %s is new: a base is needed to create it", ov->path);
      goto fail;
    }
    if (ow_base_open (p->base, &ov->base) == -1 || create_overlay (ov, p) == -1)
      goto fail;
    created = true;
    fsize = OW_LOG_START;
  }
  else {
    if (fsize < OW_LOG_START) {
      char magic[8] = "";
      errno = EINVAL;
      if (fsize == 0)
        ow_error ("overlay %s is empty: it was never used by the plugin", ov->path);
      else if (fsize < sizeof magic || ow_file_pread (ov, magic, sizeof magic, 0) == -1
               || memcmp (magic, OW_MAGIC, sizeof magic) != 0)
        ow_error ("%s is not a oneway overlay (no overlay header found)", ov->path);
      else
        ow_error ("overlay %s is truncated: it is shorter than its header", ov->path);
      goto fail;
    }
    if (read_header (ov) == -1)
      goto fail;
    if (p->block_size && p->block_size != ov->header.block_size) {
      errno = EINVAL;
      ow_error ("overlay %s has block size %" PRIu32 ", not %" PRIu32
                ": the block size is fixed when an overlay is created",
                ov->path, ov->header.block_size, p->block_size);
      goto fail;
    }
    if (!p->no_base) {
      if (ow_base_open (p->base ? p->base : ov->header.base_name, &ov->base) == -1
          || check_base_identity (ov) == -1)
        goto fail;
    }
  }
  if (init_state (ov, p) == -1 || ow_load (ov) == -1)
    goto fail;
  if (ov->writable && prepare_for_writing (ov) == -1)
    goto fail;
  *out = ov;
  return 0;

 fail:
  /* An overlay this call created and could not finish is not kept. */
  if (created && ov->fd >= 0)
    unlink (ov->path);
  free_overlay (ov);
  return -1;
}

int
ow_close (struct ow_overlay *ov)
{
  int r = 0;

  if (!ov)
    return 0;
  if (ov->writable && atomic_load (&ov->broken)) {
    /* Nothing more is written: the next open recovers from what the
     * disk holds. */
    ow_error ("overlay %s: closed without its checkpoint after a failed write or sync; "
              "the next open recovers what was flushed before", ov->path);
    errno = EIO;
    r = -1;
  }
  else if (ov->writable) {
    r = ow_flush (ov);
    if (r == 0) {
      pthread_mutex_lock (&ov->flush_lock);
      r = ow_write_checkpoint (ov);
      pthread_mutex_unlock (&ov->flush_lock);
    }
  }
  free_overlay (ov);
  return r;
}

uint64_t
ow_size (const struct ow_overlay *ov)
{
  return ov->size;
}

uint32_t
ow_block_size (const struct ow_overlay *ov)
{
  return ov->block_size;
}

/* Walk the written set in block order: the single entries sorted, the
 * zero ranges merged in.  Calls fn for each block run with its kind. */
struct written_walk {
  uint64_t *blocks;
  size_t n, cap;
  struct ow_zrange *z;
  size_t nz, zcap;
};

static int
collect_block (void *opaque, uint64_t block, const struct ow_loc *loc)
{
  struct written_walk *w = opaque;

  if (ow_grow_array (&w->blocks, &w->cap, w->n + 1, sizeof *w->blocks) == -1)
    return -1;
  /* The low bit of a block number shifted left carries "has data". */
  w->blocks[w->n++] = block << 1 | (loc->kind == OW_LOC_DATA);
  return 0;
}

static int
collect_zrange (void *opaque, uint64_t first, uint64_t count)
{
  struct written_walk *w = opaque;

  if (ow_grow_array (&w->z, &w->zcap, w->nz + 1, sizeof *w->z) == -1)
    return -1;
  w->z[w->nz++] = (struct ow_zrange) { first, first + count };
  return 0;
}

static int
cmp_u64 (const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
  return x < y ? -1 : x > y;
}

/* Emits sorted, merged ranges; counts data blocks on the way. */
static int
walk_written (struct ow_overlay *ov, uint64_t *data_blocks,
              int (*fn) (void *, uint64_t, uint64_t), void *opaque)
{
  struct written_walk w = { 0 };
  uint64_t run_start = 0, run_end = 0, ndata = 0;
  size_t i = 0, z = 0;
  int r = -1;

  if (ow_index_for_each_block (&ov->index, collect_block, &w) != 0
      || ow_index_for_each_zrange (&ov->index, collect_zrange, &w) != 0) {
    errno = ENOMEM;
    goto out;
  }
  if (w.n)
    qsort (w.blocks, w.n, sizeof *w.blocks, cmp_u64);
  for (;;) {
    uint64_t s, e;
    if (i < w.n && (z == w.nz || (w.blocks[i] >> 1) < w.z[z].start)) {
      s = w.blocks[i] >> 1;
      e = s + 1;
      ndata += w.blocks[i] & 1;
      i++;
    }
    else if (z < w.nz) {
      s = w.z[z].start;
      e = w.z[z].end;
      z++;
      /* Entries inside the range are newer; count their data, they add
       * no blocks. */
      while (i < w.n && (w.blocks[i] >> 1) < e)
        ndata += w.blocks[i++] & 1;
    }
    else
      break;
    if (s <= run_end && run_end > run_start) {
      if (e > run_end)
        run_end = e;
      continue;
    }
    if (run_end > run_start && fn && fn (opaque, run_start, run_end - run_start))
      goto out;
    run_start = s;
    run_end = e;
  }
  if (run_end > run_start && fn && fn (opaque, run_start, run_end - run_start))
    goto out;
  if (data_blocks)
    *data_blocks = ndata;
  r = 0;
 out:
  free (w.blocks);
  free (w.z);
  return r;
}

int
ow_written_ranges (struct ow_overlay *ov, int (*fn) (void *, uint64_t, uint64_t),
                   void *opaque)
{
  return walk_written (ov, NULL, fn, opaque);
}

int
ow_read_ranges (struct ow_overlay *ov, int (*fn) (void *, uint64_t, uint64_t),
                void *opaque)
{
  uint64_t b = 0;

  if (atomic_load (&ov->read_all))
    return ov->nblocks ? fn (opaque, 0, ov->nblocks) : 0;
  while ((b = ow_sbitmap_next_set (&ov->readset, b)) < ov->nblocks) {
    uint64_t e = ow_sbitmap_next_clear (&ov->readset, b);
    if (fn (opaque, b, e - b))
      return -1;
    b = e;
  }
  return 0;
}

static int
count_range (void *opaque, uint64_t first, uint64_t count)
{
  *(uint64_t *) opaque += count;
  return 0;
}

int
ow_get_info (struct ow_overlay *ov, struct ow_info *info)
{
  memset (info, 0, sizeof *info);
  info->header = ov->opened_header;
  info->was_clean = ov->was_clean;
  info->used_checkpoint = ov->used_checkpoint;
  info->file_size = ov->file_size_at_open;
  info->log_end = atomic_load (&ov->tail);
  info->torn_bytes = ov->torn_bytes;
  info->live_bytes = atomic_load (&ov->index.live_bytes);
  if (walk_written (ov, &info->data_blocks, count_range, &info->written_blocks) == -1)
    return -1;
  info->zero_blocks = info->written_blocks - info->data_blocks;
  info->read_blocks = atomic_load (&ov->read_all) ? ov->nblocks
                                                  : ow_sbitmap_count (&ov->readset);
  info->index_memory = ow_index_memory (&ov->index);
  pthread_mutex_lock (&ov->flush_lock);
  info->commit_records = ov->commit_count;
  pthread_mutex_unlock (&ov->flush_lock);
  return 0;
}

char
ow_block_kind (struct ow_overlay *ov, uint64_t block)
{
  struct ow_loc loc;

  ow_index_lookup (&ov->index, block, &loc);
  return loc.kind == OW_LOC_DATA ? 'd' : loc.kind == OW_LOC_ZERO ? 'z' : 'b';
}

int
ow_block_where (struct ow_overlay *ov, uint64_t block, uint64_t *offset,
                uint32_t *length)
{
  struct ow_loc loc;

  ow_index_lookup (&ov->index, block, &loc);
  if (loc.kind != OW_LOC_DATA)
    return -1;
  *offset = loc.offset;
  *length = loc.length;
  return 0;
}
