/* oneway: a simulated overlay file that can crash and lose power.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "memfile.h"

unsigned
mf_rand (unsigned *s)
{
  *s = *s * 1103515245 + 12345;
  return *s >> 8;
}

void
mf_init (struct memfile *m, long crash_at, unsigned rng)
{
  memset (m, 0, sizeof *m);
  pthread_mutex_init (&m->lock, NULL);
  m->crash_at = crash_at;
  m->rng = rng;
}

void
mf_free (struct memfile *m)
{
  for (size_t i = 0; i < m->nhist; i++)
    free (m->hist[i].data);
  free (m->hist);
  free (m->vol);
  pthread_mutex_destroy (&m->lock);
  memset (m, 0, sizeof *m);
}

static void
reserve (struct memfile *m, uint64_t size)
{
  if (size > m->cap) {
    uint64_t cap = m->cap ? m->cap : 65536;
    while (cap < size)
      cap *= 2;
    m->vol = realloc (m->vol, cap);
    ck_assert_ptr_nonnull (m->vol);
    memset (m->vol + m->cap, 0, cap - m->cap);
    m->cap = cap;
  }
}

static void
put (struct memfile *m, uint64_t off, const uint8_t *p, uint64_t len)
{
  if (len == 0)
    return;
  reserve (m, off + len);
  if (off > m->size)
    memset (m->vol + m->size, 0, off - m->size);
  memcpy (m->vol + off, p, len);
  if (off + len > m->size)
    m->size = off + len;
}

static void
set_size (struct memfile *m, uint64_t size)
{
  reserve (m, size);
  if (size > m->size)
    memset (m->vol + m->size, 0, size - m->size);
  m->size = size;
}

static void
record (struct memfile *m, enum mf_kind kind, uint64_t off, const uint8_t *p,
        uint64_t len)
{
  struct mf_op *op;

  if (m->nhist == m->hcap) {
    m->hcap = m->hcap ? m->hcap * 2 : 256;
    m->hist = realloc (m->hist, m->hcap * sizeof *m->hist);
    ck_assert_ptr_nonnull (m->hist);
  }
  op = &m->hist[m->nhist++];
  *op = (struct mf_op) { kind, off, len, NULL };
  if (p) {
    op->data = malloc (len ? len : 1);
    ck_assert_ptr_nonnull (op->data);
    memcpy (op->data, p, len);
  }
}

size_t
mf_mark (struct memfile *m)
{
  size_t n;

  pthread_mutex_lock (&m->lock);
  n = m->nhist;
  record (m, MF_MARK, 0, NULL, 0);
  pthread_mutex_unlock (&m->lock);
  return n;
}

/* Counts an operation; true if this one is where the crash happens. */
static bool
tick (struct memfile *m)
{
  if (m->crashed)
    return true;
  if (++m->ops == m->crash_at) {
    m->crashed = true;
    return true;
  }
  return false;
}

static int
mf_pread (void *h, void *buf, size_t count, uint64_t offset)
{
  struct memfile *m = h;
  int r = 0;

  pthread_mutex_lock (&m->lock);
  if (offset > m->size || count > m->size - offset) {
    errno = EIO;
    r = -1;
  }
  else
    memcpy (buf, m->vol + offset, count);
  pthread_mutex_unlock (&m->lock);
  return r;
}

static int
mf_pwritev (void *h, const struct iovec *iov, int n, uint64_t offset)
{
  struct memfile *m = h;
  uint64_t len = 0;
  uint8_t *flat;
  bool was_crashed;
  int r = 0;

  for (int i = 0; i < n; i++)
    len += iov[i].iov_len;
  flat = malloc (len ? len : 1);
  ck_assert_ptr_nonnull (flat);
  for (int i = 0, at = 0; i < n; at += iov[i].iov_len, i++)
    memcpy (flat + at, iov[i].iov_base, iov[i].iov_len);
  pthread_mutex_lock (&m->lock);
  was_crashed = m->crashed;
  if (tick (m)) {
    if (!was_crashed)
      len = len ? mf_rand (&m->rng) % len : 0;   /* lands torn: a prefix */
    else
      len = 0;
    errno = EIO;
    r = -1;
  }
  if (len) {
    put (m, offset, flat, len);
    record (m, MF_WRITE, offset, flat, len);
  }
  pthread_mutex_unlock (&m->lock);
  free (flat);
  if (r == -1)
    errno = EIO;
  return r;
}

static int
mf_sync (void *h)
{
  struct memfile *m = h;
  int r = 0;

  pthread_mutex_lock (&m->lock);
  if (tick (m))
    r = -1;
  else if (++m->syncs == m->fail_sync) {
    record (m, MF_SYNC_FAILED, 0, NULL, 0);
    r = -1;
  }
  else
    record (m, MF_SYNC, 0, NULL, 0);
  pthread_mutex_unlock (&m->lock);
  if (r == -1)
    errno = EIO;
  return r;
}

static int
mf_truncate (void *h, uint64_t size)
{
  struct memfile *m = h;
  int r = 0;

  pthread_mutex_lock (&m->lock);
  if (tick (m))
    r = -1;
  else {
    set_size (m, size);
    record (m, MF_TRUNCATE, size, NULL, 0);
  }
  pthread_mutex_unlock (&m->lock);
  if (r == -1)
    errno = EIO;
  return r;
}

static int
mf_size (void *h, uint64_t *size)
{
  struct memfile *m = h;

  pthread_mutex_lock (&m->lock);
  *size = m->size;
  pthread_mutex_unlock (&m->lock);
  return 0;
}

const struct ow_file_ops mf_ops = { mf_pread, mf_pwritev, mf_sync, mf_truncate, mf_size };

static void
apply (struct memfile *out, const struct mf_op *op, uint64_t len)
{
  if (op->kind == MF_TRUNCATE)
    set_size (out, op->off);
  else if (op->kind == MF_WRITE)
    put (out, op->off, op->data, len);
}

void
mf_survivor (struct memfile *m, size_t upto, bool power, unsigned *rng,
             struct memfile *out)
{
  size_t first_pending = 0;

  pthread_mutex_lock (&m->lock);
  ck_assert_uint_le (upto, m->nhist);
  mf_init (out, -1, 0);
  if (!power) {
    for (size_t i = 0; i < upto; i++)
      apply (out, &m->hist[i], m->hist[i].len);
    if (upto < m->nhist && m->hist[upto].kind == MF_WRITE && m->hist[upto].len)
      apply (out, &m->hist[upto], mf_rand (rng) % m->hist[upto].len);
    goto out;
  }
  /* What syncs made durable; a failed sync drops what it should have. */
  for (size_t i = 0; i < upto; i++) {
    const struct mf_op *op = &m->hist[i];
    if (op->kind == MF_SYNC)
      for (size_t j = first_pending; j < i; j++)
        apply (out, &m->hist[j], m->hist[j].len);
    if (op->kind == MF_SYNC || op->kind == MF_SYNC_FAILED)
      first_pending = i + 1;
  }
  /* Then what the disk happened to get of the rest. */
  for (size_t j = first_pending; j < upto; j++) {
    const struct mf_op *op = &m->hist[j];
    unsigned how = mf_rand (rng) % 4;
    if (how == 0)
      continue;                                 /* lost */
    if (how < 3 || op->kind != MF_WRITE) {
      apply (out, op, op->len);
      continue;
    }
    for (uint64_t s = 0; s < op->len; s += 512) /* torn: some sectors */
      if (mf_rand (rng) % 2)
        put (out, op->off + s, op->data + s, op->len - s < 512 ? op->len - s : 512);
  }
 out:
  /* What survived is on the disk: a crash of the survivor (recovery
   * crashing in turn) starts from all of it. */
  if (out->size)
    record (out, MF_WRITE, 0, out->vol, out->size);
  record (out, MF_SYNC, 0, NULL, 0);
  pthread_mutex_unlock (&m->lock);
}
