/* oneway: unit tests of the overlay's commit records.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * What `oneway-merge commit` applied is kept in the overlay as a chain
 * of COMMIT records (docs/overlay-format.md, "Commit records").  On
 * real files: the chain read back in order through every way an
 * overlay is opened again (a clean close and its checkpoint, a killed
 * writer and a replay, read-only, the plugin's later opens), what is
 * refused, and damage found.  On the simulated file (memfile.h): a
 * crash at every file operation of an overlay's life that appends
 * records, by the process's death and by power cuts, leaves a chain
 * holding every record whose append returned, and maybe the one being
 * appended, nothing else; and a failed sync during an append breaks
 * the overlay until it is opened again.
 */
#include <config.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memfile.h"
#include "oneway/crc32c.h"
#include "oneway/format.h"
#include "oneway/overlay.h"
#include "testlib.h"

#define KiB 1024
#define MiB (1024 * 1024)
#define BS 4096

#define ck_assert_errno(want)                                           \
  do {                                                                  \
    int e_ = errno;                                                     \
    ck_assert_msg (e_ == (want), "errno is %d (%s), expected %s (%s)",  \
                   e_, strerror (e_), #want, strerror (want));          \
  } while (0)

/* ---- the chain as a string ---- */

/* Records are short strings in most tests; a chain reads back as
 * "first|second|third". */
struct chain {
  char text[4096];
  int n;
  int stop_at;                  /* fn returns 7 at this record (1-based), 0: never */
};

static int
add_record (void *opaque, const void *payload, uint32_t len)
{
  struct chain *c = opaque;
  size_t have = strlen (c->text);

  ck_assert_uint_lt (have + len + 2, sizeof c->text);
  if (c->n)
    c->text[have++] = '|';
  memcpy (c->text + have, payload, len);
  c->text[have + len] = '\0';
  c->n++;
  return c->n == c->stop_at ? 7 : 0;
}

/* The chain, or "ERROR" if it cannot be read. */
static const char *
read_chain (struct ow_overlay *ov, struct chain *c)
{
  memset (c, 0, sizeof *c);
  if (ow_commit_records (ov, add_record, c) != 0)
    return "ERROR";
  return c->text;
}

static void
append (struct ow_overlay *ov, const char *s)
{
  ck_assert_msg (ow_append_commit_record (ov, s, strlen (s)) == 0,
                 "appending %s: %s", s, tl_last_error ());
}

static uint32_t
count_records (struct ow_overlay *ov)
{
  struct ow_info in;

  ck_assert_int_eq (ow_get_info (ov, &in), 0);
  return in.commit_records;
}

/* ---- real files ---- */

#define DISK (4 * MiB)

static const char *base, *ovpath;

static void
setup (void)
{
  tl_capture_errors ();
  base = tl_path ("base.img");
  ovpath = tl_path ("box.ow");
  tl_make_base (base, DISK, 1);
}

static void
teardown (void)
{
  tl_cleanup ();
}

/* Block b written with seed, or checked to hold it. */
static void
write_block (struct ow_overlay *ov, uint64_t b, uint32_t seed)
{
  uint8_t buf[BS];

  tl_fill (buf, BS, b * BS, seed);
  ck_assert_int_eq (ow_pwrite (ov, buf, BS, b * BS, false), 0);
}

static void
check_block (struct ow_overlay *ov, uint64_t b, uint32_t seed)
{
  uint8_t buf[BS], want[BS];

  tl_fill (want, BS, b * BS, seed);
  ck_assert_int_eq (ow_pread (ov, buf, BS, b * BS), 0);
  ck_assert_msg (memcmp (buf, want, BS) == 0, "block %lu does not hold seed %u",
                 (unsigned long) b, seed);
}

/* The header a reader uses, straight from the file. */
static void
read_disk_header (const char *path, struct ow_header *h)
{
  uint8_t slot[OW_HEADER_SLOT_SIZE];
  struct ow_header s[2];
  int ok[2], fd = open (path, O_RDONLY);

  ck_assert_int_ge (fd, 0);
  for (int i = 0; i < 2; i++) {
    ck_assert_int_eq (pread (fd, slot, sizeof slot, i * OW_HEADER_SLOT_SIZE), sizeof slot);
    ok[i] = ow_header_decode (slot, &s[i]) == 0;
  }
  close (fd);
  ck_assert (ok[0] || ok[1]);
  *h = ok[0] && (!ok[1] || s[0].generation > s[1].generation) ? s[0] : s[1];
}

/* The record header at off, decoded with the overlay's salt. */
static void
read_record (const char *path, const struct ow_header *h, uint64_t off,
             struct ow_record *rec)
{
  uint8_t hdr[OW_REC_HDR_SIZE];
  int fd = open (path, O_RDONLY);

  ck_assert_int_ge (fd, 0);
  ck_assert_int_eq (pread (fd, hdr, sizeof hdr, off), sizeof hdr);
  close (fd);
  ck_assert_int_eq (ow_record_decode (hdr, ow_crc32c (0, h->uuid, 16), rec), 0);
}

/* Offsets of the chain's records, newest first. */
static int
chain_offsets (const char *path, uint64_t *offs, int max)
{
  struct ow_header h;
  struct ow_record rec;
  int n = 0;

  read_disk_header (path, &h);
  for (uint64_t off = h.last_commit; off; off = rec.block) {
    ck_assert_int_lt (n, max);
    read_record (path, &h, off, &rec);
    ck_assert_uint_eq (rec.type, OW_REC_COMMIT);
    offs[n++] = off;
  }
  return n;
}

START_TEST (test_no_records)
{
  struct ow_overlay *ov = tl_open (ovpath, base, true, 0, -1);
  struct chain c;
  uint8_t slot[OW_HEADER_SLOT_SIZE];
  int fd;

  write_block (ov, 3, 10);
  ck_assert_str_eq (read_chain (ov, &c), "");
  ck_assert_int_eq (c.n, 0);
  ck_assert_int_eq (ow_close (ov), 0);
  ov = tl_open (ovpath, NULL, false, 0, -1);
  ck_assert_str_eq (read_chain (ov, &c), "");
  ck_assert_int_eq (c.n, 0);
  ck_assert_uint_eq (count_records (ov), 0);
  ck_assert_int_eq (ow_close (ov), 0);
  /* Both header slots as the first version wrote them: no feature
   * bits, zeroes from 160 to the base's name. */
  fd = open (ovpath, O_RDONLY);
  for (int i = 0; i < 2; i++) {
    ck_assert_int_eq (pread (fd, slot, sizeof slot, i * OW_HEADER_SLOT_SIZE), sizeof slot);
    for (int k = 16; k < 24; k++)
      ck_assert_uint_eq (slot[k], 0);
    for (int k = 160; k < 256; k++)
      ck_assert_uint_eq (slot[k], 0);
  }
  close (fd);
}
END_TEST

START_TEST (test_append_and_reopen)
{
  struct ow_overlay *ov = tl_open (ovpath, base, true, 0, -1);
  struct ow_info in;
  struct ow_header h;
  struct chain c;

  write_block (ov, 1, 11);
  append (ov, "first");
  ck_assert_uint_eq (count_records (ov), 1);
  write_block (ov, 2, 12);
  append (ov, "second");
  write_block (ov, 1, 13);                      /* again */
  append (ov, "third");
  write_block (ov, 4, 14);
  ck_assert_str_eq (read_chain (ov, &c), "first|second|third");
  ck_assert_uint_eq (count_records (ov), 3);
  ck_assert_int_eq (ow_close (ov), 0);
  read_disk_header (ovpath, &h);
  ck_assert_uint_eq (h.incompat, OW_INCOMPAT_COMMIT_RECORDS);
  ck_assert_uint_ne (h.last_commit, 0);

  /* Clean close: the checkpoint path. */
  ov = tl_open (ovpath, NULL, false, 0, -1);
  ck_assert_int_eq (ow_get_info (ov, &in), 0);
  ck_assert (in.used_checkpoint);
  ck_assert_uint_eq (in.commit_records, 3);
  ck_assert_str_eq (read_chain (ov, &c), "first|second|third");
  check_block (ov, 1, 13);
  check_block (ov, 2, 12);
  check_block (ov, 4, 14);
  ck_assert_int_eq (ow_close (ov), 0);

  /* The plugin's writer opens keep them: they drop the checkpoint,
   * and write headers of their own. */
  for (int i = 0; i < 2; i++) {
    ov = tl_open (ovpath, base, true, 0, -1);
    write_block (ov, 20 + i, 20 + i);
    ck_assert_int_eq (ow_flush (ov), 0);
    write_block (ov, 30 + i, 30 + i);
    ck_assert_str_eq (read_chain (ov, &c), "first|second|third");
    ck_assert_int_eq (ow_close (ov), 0);
  }

  /* More, then more writes, then clean closes, twice. */
  for (int i = 0; i < 2; i++) {
    ov = tl_open (ovpath, base, true, 0, -1);
    append (ov, i ? "fifth" : "fourth");
    write_block (ov, 40 + i, 40 + i);
    ck_assert_int_eq (ow_close (ov), 0);
  }
  ov = tl_open (ovpath, NULL, false, 0, -1);
  ck_assert_str_eq (read_chain (ov, &c), "first|second|third|fourth|fifth");
  ck_assert_uint_eq (count_records (ov), 5);
  check_block (ov, 41, 41);
  check_block (ov, 31, 31);
  ck_assert_int_eq (ow_close (ov), 0);

  /* The replay path reads the same: the checkpoint spoilt, the open
   * falls back to it. */
  read_disk_header (ovpath, &h);
  ck_assert (h.flags & OW_HDR_CLEAN);
  tl_corrupt_byte (ovpath, h.checkpoint_offset + 40);
  ov = tl_open (ovpath, NULL, false, 0, -1);
  ck_assert_int_eq (ow_get_info (ov, &in), 0);
  ck_assert (!in.used_checkpoint);
  ck_assert_uint_eq (in.commit_records, 5);
  ck_assert_str_eq (read_chain (ov, &c), "first|second|third|fourth|fifth");
  ck_assert_int_eq (ow_close (ov), 0);
}
END_TEST

/* A writer killed after its appends, with writes after them. */
static void
kill_child (void *opaque)
{
  struct ow_overlay *ov;
  uint8_t buf[BS];

  if (tl_try_open (ovpath, base, true, 0, -1, &ov) == -1)
    _exit (1);
  for (int i = 0; i < 3; i++) {
    static const char *names[] = { "one", "two", "three" };
    tl_fill (buf, BS, i * BS, 50 + i);
    if (ow_pwrite (ov, buf, BS, i * BS, false) == -1
        || ow_append_commit_record (ov, names[i], strlen (names[i])) == -1)
      _exit (2);
  }
  tl_fill (buf, BS, 9 * BS, 59);
  if (ow_pwrite (ov, buf, BS, 9 * BS, false) == -1)
    _exit (3);
  _exit (0);
}

START_TEST (test_after_kill)
{
  struct ow_overlay *ov;
  struct ow_info in;
  struct chain c;

  tl_in_child (kill_child, NULL);
  ov = tl_open (ovpath, NULL, false, 0, -1);    /* replays the log */
  ck_assert_int_eq (ow_get_info (ov, &in), 0);
  ck_assert (!in.was_clean);
  ck_assert (!in.used_checkpoint);
  ck_assert_uint_eq (in.commit_records, 3);
  ck_assert_str_eq (read_chain (ov, &c), "one|two|three");
  for (int i = 0; i < 3; i++)
    check_block (ov, i, 50 + i);
  check_block (ov, 9, 59);
  ck_assert_int_eq (ow_close (ov), 0);
  /* The plugin recovers it, and appends on. */
  ov = tl_open (ovpath, base, true, 0, -1);
  ck_assert_str_eq (read_chain (ov, &c), "one|two|three");
  append (ov, "four");
  ck_assert_int_eq (ow_close (ov), 0);
  ov = tl_open (ovpath, NULL, false, 0, -1);
  ck_assert_str_eq (read_chain (ov, &c), "one|two|three|four");
  ck_assert_int_eq (ow_close (ov), 0);
}
END_TEST

START_TEST (test_refusals)
{
  struct ow_open_params p = { .overlay = ovpath, .base = base, .writable = true,
                              .compress = OW_COMPRESS_NONE, .track_reads = 1,
                              .max_size = 1 * MiB };
  struct ow_overlay *ov;
  uint8_t buf[BS], *big;
  struct chain c;
  int n;

  ov = tl_open (ovpath, base, true, 0, -1);
  errno = 0;
  ck_assert_int_eq (ow_append_commit_record (ov, "x", 0), -1);
  ck_assert_errno (EINVAL);
  ck_assert_ptr_nonnull (strstr (tl_last_error (), ovpath));
  errno = 0;
  ck_assert_int_eq (ow_append_commit_record (ov, "x", OW_COMMIT_RECORD_MAX + 1), -1);
  ck_assert_errno (EINVAL);
  /* Nothing was appended, nor marked. */
  ck_assert_str_eq (read_chain (ov, &c), "");
  ck_assert_int_eq (ow_close (ov), 0);
  struct ow_header h;
  read_disk_header (ovpath, &h);
  ck_assert_uint_eq (h.incompat, 0);

  ov = tl_open (ovpath, NULL, false, 0, -1);
  errno = 0;
  ck_assert_int_eq (ow_append_commit_record (ov, "x", 1), -1);
  ck_assert_errno (EROFS);
  ck_assert_ptr_nonnull (strstr (tl_last_error (), "read-only"));
  ck_assert_int_eq (ow_close (ov), 0);

  /* Over max-overlay-size: EFBIG.  A small record still fits when data
   * has filled what data may take. */
  unlink (ovpath);
  ck_assert_int_eq (ow_open (&p, &ov), 0);
  for (n = 0;; n++) {
    tl_fill (buf, BS, n * BS, 3000 + n);
    if (ow_pwrite (ov, buf, BS, n * BS, false) == -1) {
      ck_assert_errno (ENOSPC);
      break;
    }
    ck_assert_int_lt (n, 1000);
  }
  append (ov, "small");
  big = calloc (1, 2 * MiB);
  errno = 0;
  ck_assert_int_eq (ow_append_commit_record (ov, big, 2 * MiB), -1);
  ck_assert_errno (EFBIG);
  ck_assert_ptr_nonnull (strstr (tl_last_error (), ovpath));
  free (big);
  ck_assert_str_eq (read_chain (ov, &c), "small");
  ck_assert_int_eq (ow_close (ov), 0);
  ck_assert_uint_le (tl_file_size (ovpath), 1 * MiB);
  ck_assert_int_eq (ow_open (&p, &ov), 0);
  ck_assert_str_eq (read_chain (ov, &c), "small");
  ck_assert_int_eq (ow_close (ov), 0);
}
END_TEST

/* fn's non-zero return stops the walk and is what comes back. */
START_TEST (test_fn_stops)
{
  struct ow_overlay *ov = tl_open (ovpath, base, true, 0, -1);
  struct chain c = { .stop_at = 2 };

  append (ov, "a");
  append (ov, "b");
  append (ov, "c");
  ck_assert_int_eq (ow_commit_records (ov, add_record, &c), 7);
  ck_assert_str_eq (c.text, "a|b");
  ck_assert_int_eq (ow_close (ov), 0);
}
END_TEST

/* Payloads are bytes: any value, long ones too. */
struct bytes_check {
  int n;
  uint32_t lens[3];
};

static int
check_bytes (void *opaque, const void *payload, uint32_t len)
{
  struct bytes_check *b = opaque;
  uint8_t *want = malloc (len);

  ck_assert_int_lt (b->n, 3);
  ck_assert_uint_eq (len, b->lens[b->n]);
  tl_fill (want, len, 0, 700 + b->n);
  ck_assert_int_eq (memcmp (payload, want, len), 0);
  free (want);
  b->n++;
  return 0;
}

START_TEST (test_binary_payloads)
{
  struct bytes_check b = { .lens = { 1, 4 * MiB + 3, 4093 } };
  struct ow_overlay *ov = tl_open (ovpath, base, true, 0, -1);

  for (int i = 0; i < 3; i++) {
    uint8_t *p = malloc (b.lens[i]);
    tl_fill (p, b.lens[i], 0, 700 + i);
    ck_assert_int_eq (ow_append_commit_record (ov, p, b.lens[i]), 0);
    free (p);
  }
  ck_assert_int_eq (ow_close (ov), 0);
  ov = tl_open (ovpath, NULL, false, 0, -1);
  ck_assert_int_eq (ow_commit_records (ov, check_bytes, &b), 0);
  ck_assert_int_eq (b.n, 3);
  ck_assert_int_eq (ow_close (ov), 0);
}
END_TEST

/* Appends from threads, among writes and flushes: one chain, each
 * thread's records in its order. */
struct appender {
  struct ow_overlay *ov;
  int id;
};

static void *
append_thread (void *opaque)
{
  struct appender *a = opaque;
  char s[16];

  for (int i = 0; i < 8; i++) {
    uint8_t buf[BS];
    snprintf (s, sizeof s, "%c%d", 'a' + a->id, i);
    tl_fill (buf, BS, 0, i);
    if (ow_pwrite (a->ov, buf, BS, (a->id * 16 + i) * (uint64_t) BS, false) == -1
        || ow_append_commit_record (a->ov, s, strlen (s)) == -1
        || (i % 3 == 0 && ow_flush (a->ov) == -1))
      return (void *) 1;
  }
  return NULL;
}

START_TEST (test_threads)
{
  struct ow_overlay *ov = tl_open (ovpath, base, true, 0, -1);
  struct appender a[4];
  pthread_t t[4];
  struct chain c;
  void *ret;

  for (int i = 0; i < 4; i++) {
    a[i] = (struct appender) { ov, i };
    ck_assert_int_eq (pthread_create (&t[i], NULL, append_thread, &a[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    ck_assert_int_eq (pthread_join (t[i], &ret), 0);
    ck_assert_ptr_null (ret);
  }
  ck_assert_int_eq (ow_close (ov), 0);
  ov = tl_open (ovpath, NULL, false, 0, -1);
  read_chain (ov, &c);
  ck_assert_int_eq (c.n, 32);
  ck_assert_uint_eq (count_records (ov), 32);
  for (int id = 0; id < 4; id++) {
    const char *p = c.text;
    for (int i = 0; i < 8; i++) {
      char s[16];
      snprintf (s, sizeof s, "%c%d", 'a' + id, i);
      p = strstr (p, s);
      ck_assert_msg (p != NULL, "%s missing or out of order in %s", s, c.text);
    }
  }
  ck_assert_int_eq (ow_close (ov), 0);
}
END_TEST

/* Damage in the chain is reported, with the overlay and the offset,
 * and fn sees nothing of a damaged chain. */
START_TEST (test_damaged_chain)
{
  struct ow_overlay *ov = tl_open (ovpath, base, true, 0, -1);
  const char *copy = tl_path ("copy.ow");
  char save[1024], restore[1024], off_text[32];
  uint64_t offs[8];
  struct chain c;

  append (ov, "first");
  write_block (ov, 5, 5);
  append (ov, "second");
  append (ov, "third");
  ck_assert_int_eq (ow_close (ov), 0);
  ck_assert_int_eq (chain_offsets (ovpath, offs, 8), 3);
  snprintf (save, sizeof save, "cp %s %s", ovpath, copy);
  snprintf (restore, sizeof restore, "cp %s %s", copy, ovpath);
  ck_assert_int_eq (system (save), 0);

  /* A byte of the middle record's payload: the checkpoint path opens,
   * the chain does not read. */
  tl_corrupt_byte (ovpath, offs[1] + OW_REC_HDR_SIZE + 2);
  ov = tl_open (ovpath, NULL, false, 0, -1);
  tl_clear_error ();
  errno = 0;
  memset (&c, 0, sizeof c);
  ck_assert_int_eq (ow_commit_records (ov, add_record, &c), -1);
  ck_assert_errno (EBADMSG);
  ck_assert_int_eq (c.n, 0);
  snprintf (off_text, sizeof off_text, "offset %" PRIu64, offs[1]);
  ck_assert_ptr_nonnull (strstr (tl_last_error (), ovpath));
  ck_assert_ptr_nonnull (strstr (tl_last_error (), off_text));
  ck_assert_ptr_nonnull (strstr (tl_last_error (), "corrupt"));
  check_block (ov, 5, 5);                        /* the view still serves */
  ck_assert_int_eq (ow_close (ov), 0);
  /* The replay path finds it too, in the flushed log: corrupt. */
  ck_assert_int_eq (system (restore), 0);
  tl_corrupt_byte (ovpath, offs[1] + OW_REC_HDR_SIZE + 2);
  struct ow_header h;
  read_disk_header (ovpath, &h);
  tl_corrupt_byte (ovpath, h.checkpoint_offset + 40);
  ck_assert_int_eq (tl_try_open (ovpath, NULL, false, 0, -1, &ov), -1);
  ck_assert_errno (EBADMSG);
  ck_assert_ptr_nonnull (strstr (tl_last_error (), "corrupt"));

  /* The oldest record's link, in its header. */
  ck_assert_int_eq (system (restore), 0);
  tl_corrupt_byte (ovpath, offs[2] + 16);
  ov = tl_open (ovpath, NULL, false, 0, -1);
  ck_assert_str_eq (read_chain (ov, &c), "ERROR");
  snprintf (off_text, sizeof off_text, "offset %" PRIu64, offs[2]);
  ck_assert_ptr_nonnull (strstr (tl_last_error (), off_text));
  ck_assert_int_eq (ow_close (ov), 0);

  /* The newest record's header: the header leads nowhere, and the
   * overlay does not open. */
  ck_assert_int_eq (system (restore), 0);
  tl_corrupt_byte (ovpath, offs[0] + 8);
  tl_clear_error ();
  ck_assert_int_eq (tl_try_open (ovpath, NULL, false, 0, -1, &ov), -1);
  ck_assert_errno (EBADMSG);
  snprintf (off_text, sizeof off_text, "offset %" PRIu64, offs[0]);
  ck_assert_ptr_nonnull (strstr (tl_last_error (), off_text));
  ck_assert_int_eq (tl_try_open (ovpath, base, true, 0, -1, &ov), -1);
  ck_assert_errno (EBADMSG);
}
END_TEST

/* The record header at off, edited and encoded again with a good
 * checksum: damage that only the chain's own rules can find. */
static void
edit_record (const char *path, uint64_t off, void (*edit) (struct ow_record *, void *),
             void *arg)
{
  struct ow_header h;
  struct ow_record rec;
  uint8_t hdr[OW_REC_HDR_SIZE];
  int fd;

  read_disk_header (path, &h);
  read_record (path, &h, off, &rec);
  edit (&rec, arg);
  ow_record_encode (&rec, ow_crc32c (0, h.uuid, 16), hdr);
  fd = open (path, O_WRONLY);
  ck_assert_int_eq (pwrite (fd, hdr, sizeof hdr, off), sizeof hdr);
  close (fd);
}

static void set_count (struct ow_record *r, void *arg) { r->count = *(uint32_t *) arg; }
static void set_link (struct ow_record *r, void *arg) { r->block = *(uint64_t *) arg; }
static void set_length (struct ow_record *r, void *arg) { r->payload_length = *(uint32_t *) arg; }

START_TEST (test_crafted_links)
{
  struct ow_overlay *ov = tl_open (ovpath, base, true, 0, -1);
  const char *copy = tl_path ("copy.ow");
  char save[1024], restore[1024];
  uint64_t offs[8], link;
  uint32_t n;
  struct chain c;

  write_block (ov, 0, 1);
  append (ov, "first");
  write_block (ov, 1, 2);
  append (ov, "second");
  append (ov, "third");
  ck_assert_int_eq (ow_close (ov), 0);
  ck_assert_int_eq (chain_offsets (ovpath, offs, 8), 3);
  snprintf (save, sizeof save, "cp %s %s", ovpath, copy);
  snprintf (restore, sizeof restore, "cp %s %s", copy, ovpath);
  ck_assert_int_eq (system (save), 0);

  /* The middle one numbered out of sequence. */
  n = 5;
  edit_record (ovpath, offs[1], set_count, &n);
  ov = tl_open (ovpath, NULL, false, 0, -1);
  ck_assert_str_eq (read_chain (ov, &c), "ERROR");
  ck_assert_ptr_nonnull (strstr (tl_last_error (), "out of sequence"));
  ck_assert_int_eq (ow_close (ov), 0);

  /* The newest linking to a record that is not a commit record. */
  ck_assert_int_eq (system (restore), 0);
  link = OW_LOG_START;
  edit_record (ovpath, offs[0], set_link, &link);
  ov = tl_open (ovpath, NULL, false, 0, -1);
  ck_assert_str_eq (read_chain (ov, &c), "ERROR");
  ck_assert_ptr_nonnull (strstr (tl_last_error (), "not a commit record"));
  ck_assert_int_eq (ow_close (ov), 0);

  /* Linking forward, to itself: refused by the record's own rules. */
  ck_assert_int_eq (system (restore), 0);
  edit_record (ovpath, offs[1], set_link, &offs[1]);
  ov = tl_open (ovpath, NULL, false, 0, -1);
  ck_assert_str_eq (read_chain (ov, &c), "ERROR");
  ck_assert_ptr_nonnull (strstr (tl_last_error (), "impossible link"));
  ck_assert_int_eq (ow_close (ov), 0);

  /* A record that runs into the next one of the chain. */
  ck_assert_int_eq (system (restore), 0);
  n = offs[0] - offs[1];
  edit_record (ovpath, offs[1], set_length, &n);
  ov = tl_open (ovpath, NULL, false, 0, -1);
  ck_assert_str_eq (read_chain (ov, &c), "ERROR");
  ck_assert_ptr_nonnull (strstr (tl_last_error (), "longer than"));
  ck_assert_int_eq (ow_close (ov), 0);

  /* The newest claiming more records than the log has room for: the
   * walk is not even started, nor memory taken for it. */
  ck_assert_int_eq (system (restore), 0);
  n = UINT32_MAX;
  edit_record (ovpath, offs[0], set_count, &n);
  ck_assert_int_eq (tl_try_open (ovpath, NULL, false, 0, -1, &ov), -1);
  ck_assert_errno (EBADMSG);
  ck_assert_ptr_nonnull (strstr (tl_last_error (), "impossible commit record"));
}
END_TEST

static void
rewrite_headers (const char *path, void (*edit) (struct ow_header *))
{
  uint8_t slot[OW_HEADER_SLOT_SIZE];
  struct ow_header h;
  int fd = open (path, O_RDWR);

  for (int i = 0; i < 2; i++) {
    ck_assert_int_eq (pread (fd, slot, sizeof slot, i * OW_HEADER_SLOT_SIZE), sizeof slot);
    ck_assert_int_eq (ow_header_decode (slot, &h), 0);
    edit (&h);
    ow_header_encode (&h, slot);
    ck_assert_int_eq (pwrite (fd, slot, sizeof slot, i * OW_HEADER_SLOT_SIZE), sizeof slot);
  }
  close (fd);
}

static void clear_bit (struct ow_header *h) { h->incompat = 0; }
static void set_bit_only (struct ow_header *h)
{
  h->incompat = OW_INCOMPAT_COMMIT_RECORDS;
  h->last_commit = 0;
}
static void head_past_flushed (struct ow_header *h) { h->last_commit = h->durable_end; }
static void head_at_log_start (struct ow_header *h) { h->last_commit = OW_LOG_START; }
static void head_misaligned (struct ow_header *h) { h->last_commit += 4; }

START_TEST (test_header_rules)
{
  struct ow_overlay *ov = tl_open (ovpath, base, true, 0, -1);
  const char *copy = tl_path ("copy.ow");
  char save[1024], restore[1024];
  struct chain c;

  write_block (ov, 0, 1);
  append (ov, "only");
  ck_assert_int_eq (ow_close (ov), 0);
  snprintf (save, sizeof save, "cp %s %s", ovpath, copy);
  snprintf (restore, sizeof restore, "cp %s %s", copy, ovpath);
  ck_assert_int_eq (system (save), 0);

  /* A head without the bit, or outside the flushed log: corrupt. */
  void (*bad[]) (struct ow_header *) = { clear_bit, head_past_flushed, head_misaligned };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ck_assert_int_eq (system (restore), 0);
    rewrite_headers (ovpath, bad[i]);
    ck_assert_int_eq (tl_try_open (ovpath, NULL, false, 0, -1, &ov), -1);
    ck_assert_errno (EINVAL);
    ck_assert_ptr_nonnull (strstr (tl_last_error (), "commit records"));
  }
  /* A head that is not a COMMIT record (the log's first is data). */
  ck_assert_int_eq (system (restore), 0);
  rewrite_headers (ovpath, head_at_log_start);
  ck_assert_int_eq (tl_try_open (ovpath, NULL, false, 0, -1, &ov), -1);
  ck_assert_errno (EBADMSG);
  ck_assert_ptr_nonnull (strstr (tl_last_error (), "not a commit record"));

  /* The bit without a head (a first append that failed): no records,
   * and writable. */
  ck_assert_int_eq (system (restore), 0);
  rewrite_headers (ovpath, set_bit_only);
  ov = tl_open (ovpath, base, true, 0, -1);
  ck_assert_str_eq (read_chain (ov, &c), "");
  append (ov, "again");
  ck_assert_int_eq (ow_close (ov), 0);
  ov = tl_open (ovpath, NULL, false, 0, -1);
  ck_assert_str_eq (read_chain (ov, &c), "again");
  ck_assert_int_eq (ow_close (ov), 0);
}
END_TEST

/* ---- the simulated file: crashes ---- */

#define SIM_DISK (256 * KiB)
#define SIM_BLOCKS (SIM_DISK / BS)

enum step_kind { S_OPEN, S_WRITE, S_APPEND, S_FLUSH, S_CLOSE };

struct step {
  enum step_kind kind;
  int block, nblocks;           /* S_WRITE: blocks written, each once in a life */
  const char *record;           /* S_APPEND */
};

/* An overlay's life: made, written, records appended among writes,
 * flushed, closed (a checkpoint), opened again (which drops it), more
 * of the same, closed. */
static const struct step life[] = {
  { S_OPEN, 0, 0, NULL },
  { S_WRITE, 0, 4, NULL },
  { S_APPEND, 0, 0, "first" },
  { S_WRITE, 4, 3, NULL },
  { S_APPEND, 0, 0, "second" },
  { S_WRITE, 8, 2, NULL },
  { S_APPEND, 0, 0, "third" },
  { S_WRITE, 10, 2, NULL },
  { S_FLUSH, 0, 0, NULL },
  { S_WRITE, 12, 1, NULL },
  { S_CLOSE, 0, 0, NULL },
  { S_OPEN, 0, 0, NULL },
  { S_WRITE, 13, 2, NULL },
  { S_APPEND, 0, 0, "fourth" },
  { S_WRITE, 15, 1, NULL },
  { S_CLOSE, 0, 0, NULL },
};
#define LIFE_STEPS (int) (sizeof life / sizeof life[0])

static const char *sim_base;

static uint32_t
block_seed (int b)
{
  return 1000 + b;
}

static struct ow_open_params
sim_params (struct memfile *m, bool writable, int compress)
{
  return (struct ow_open_params) {
    .overlay = "sim.ow", .base = sim_base, .writable = writable, .block_size = BS,
    .compress = compress, .track_reads = 1, .ops = &mf_ops, .ops_handle = m,
  };
}

/* Runs the life on m; end[i] is where step i's mark is in m's history. */
static void
run_life (struct memfile *m, int compress, size_t *end)
{
  struct ow_open_params p = sim_params (m, true, compress);
  struct ow_overlay *ov = NULL;
  uint8_t buf[4 * BS];

  for (int i = 0; i < LIFE_STEPS; i++) {
    const struct step *s = &life[i];
    switch (s->kind) {
    case S_OPEN:
      ck_assert_int_eq (ow_open (&p, &ov), 0);
      break;
    case S_WRITE:
      for (int k = 0; k < s->nblocks; k++)
        tl_fill (buf + k * BS, BS, (uint64_t) (s->block + k) * BS, block_seed (s->block + k));
      ck_assert_int_eq (ow_pwrite (ov, buf, s->nblocks * BS, (uint64_t) s->block * BS,
                                   false), 0);
      break;
    case S_APPEND:
      append (ov, s->record);
      break;
    case S_FLUSH:
      ck_assert_int_eq (ow_flush (ov), 0);
      break;
    case S_CLOSE:
      ck_assert_int_eq (ow_close (ov), 0);
      ov = NULL;
      break;
    }
    end[i] = mf_mark (m);
  }
}

/* The expected chain after step i (inclusive): "first|second|...". */
static void
chain_after (int last, char *out, size_t len)
{
  out[0] = '\0';
  for (int i = 0; i <= last && i < LIFE_STEPS; i++)
    if (life[i].kind == S_APPEND)
      snprintf (out + strlen (out), len - strlen (out), "%s%s",
                out[0] ? "|" : "", life[i].record);
}

/* A log holds COMMIT records only under a header with their feature
 * bit: what an older oneway accepts never has one, not even one that a
 * crash left out of the chain.  Walks the records as a replay would,
 * to the first that is not valid. */
static void
check_bit_before_records (const struct memfile *sv, const char *what)
{
  struct ow_header h[2], *use = NULL;
  uint32_t salt;

  for (int i = 0; i < 2; i++)
    if (sv->size >= (uint64_t) (i + 1) * OW_HEADER_SLOT_SIZE
        && ow_header_decode (sv->vol + i * OW_HEADER_SLOT_SIZE, &h[i]) == 0
        && (!use || h[i].generation > use->generation))
      use = &h[i];
  if (!use || (use->incompat & OW_INCOMPAT_COMMIT_RECORDS))
    return;
  salt = ow_crc32c (0, use->uuid, 16);
  for (uint64_t pos = OW_LOG_START; pos + OW_REC_HDR_SIZE <= sv->size; ) {
    struct ow_record rec;
    if (ow_record_decode (sv->vol + pos, salt, &rec) == -1)
      break;
    ck_assert_msg (rec.type != OW_REC_COMMIT, "%s: a commit record at offset %lu, "
                   "and the header does not say so", what, (unsigned long) pos);
    pos += ow_record_length (rec.payload_length);
  }
}

/* A survivor of a crash after upto operations of the life: recovered
 * by a writer, it holds every record whose append returned and maybe
 * the one being appended; every block written before the last flush
 * that returned (or, in a process crash, before the last step that
 * returned) holds its value, every other block its value or the
 * base's.  Then a record appended to it follows what survived. */
static void
check_survivor (struct memfile *sv, const size_t *end, size_t upto, bool power,
                int compress, const char *what)
{
  struct ow_open_params p = sim_params (sv, true, compress);
  int done = -1, durable = -1;
  char done_chain[256], next_chain[256], got_chain[4096], want[4200];
  struct ow_overlay *ov;
  struct chain c;
  uint8_t *view = malloc (SIM_DISK), *blk = malloc (BS);

  for (int i = 0; i < LIFE_STEPS && end[i] <= upto; i++) {
    done = i;
    if (life[i].kind == S_APPEND || life[i].kind == S_FLUSH || life[i].kind == S_CLOSE
        || !power)
      durable = i;
  }
  chain_after (done, done_chain, sizeof done_chain);
  chain_after (done + 1, next_chain, sizeof next_chain);
  check_bit_before_records (sv, what);

  tl_clear_error ();
  if (ow_open (&p, &ov) == -1) {
    /* Only while the overlay was being made: no overlay yet. */
    ck_assert_msg (done < 0 && errno == EINVAL, "%s: recovery failed: %s", what,
                   tl_last_error ());
    goto out;
  }
  snprintf (got_chain, sizeof got_chain, "%s", read_chain (ov, &c));
  ck_assert_msg (strcmp (got_chain, done_chain) == 0 || strcmp (got_chain, next_chain) == 0,
                 "%s: the chain is \"%s\", want \"%s\" or \"%s\"", what, got_chain,
                 done_chain, next_chain);
  ck_assert_uint_eq (count_records (ov), c.n);
  ck_assert_int_eq (ow_pread (ov, view, SIM_DISK, 0), 0);
  for (int i = 0; i < LIFE_STEPS; i++) {
    if (life[i].kind != S_WRITE)
      continue;
    for (int b = life[i].block; b < life[i].block + life[i].nblocks; b++) {
      bool ok;
      tl_fill (blk, BS, (uint64_t) b * BS, block_seed (b));
      ok = memcmp (view + b * BS, blk, BS) == 0;
      if (!ok && i > durable) {
        tl_fill (blk, BS, (uint64_t) b * BS, 42);
        ok = memcmp (view + b * BS, blk, BS) == 0;
      }
      ck_assert_msg (ok, "%s: block %d holds neither its %s value%s", what, b,
                     i <= durable ? "flushed" : "written", i <= durable ? "" : " nor the base's");
    }
  }
  append (ov, "after");
  ck_assert_int_eq (ow_close (ov), 0);
  p.writable = false;
  ck_assert_int_eq (ow_open (&p, &ov), 0);
  snprintf (want, sizeof want, "%s%safter", got_chain, got_chain[0] ? "|" : "");
  ck_assert_str_eq (read_chain (ov, &c), want);
  ck_assert_int_eq (ow_close (ov), 0);
 out:
  free (view);
  free (blk);
}

static long
crash_sample (void)
{
  const char *sample = getenv ("ONEWAY_CRASH_SAMPLE");
  long step = sample ? atol (sample) : 1;
  return step < 1 ? 1 : step;
}

/* The recovery of a survivor (of a crash of that kind) crashed in turn
 * at each of its file operations; what that leaves must pass the same
 * check. */
static void
crash_recovery (struct memfile *sv, const size_t *end, size_t upto, bool power_cut,
                int compress)
{
  for (long j = 1; ; j++) {
    struct memfile attempt, again;
    struct ow_open_params p = sim_params (&attempt, true, compress);
    struct ow_overlay *ov;
    unsigned rng = j;
    bool crashed;
    char what[128];

    mf_survivor (sv, sv->nhist, false, &rng, &attempt);
    attempt.crash_at = j;
    if (ow_open (&p, &ov) == 0)
      ow_close (ov);
    crashed = attempt.crashed;
    for (int power = 0; crashed && power < 2; power++) {
      mf_survivor (&attempt, attempt.nhist, power, &rng, &again);
      snprintf (what, sizeof what, "crash at %zu (%s), recovery crashed at %ld (%s)",
                upto, power_cut ? "power" : "process", j, power ? "power" : "process");
      check_survivor (&again, end, upto, power_cut, compress, what);
      mf_free (&again);
    }
    mf_free (&attempt);
    if (!crashed)
      break;
  }
}

/* Power cuts leave each write since the last sync whole, lost or torn,
 * at random: a crash inside an append is tried with many, so that the
 * unlucky ones (a header lost, the next one torn) come up. */
#define APPEND_SURVIVORS 41

static bool
inside_append (const size_t *end, size_t upto)
{
  for (int i = 1; i < LIFE_STEPS; i++)
    if (life[i].kind == S_APPEND && end[i - 1] < upto && upto <= end[i])
      return true;
  return false;
}

START_TEST (test_crash_points)
{
  int compress = _i;
  struct memfile m;
  size_t end[LIFE_STEPS];
  long step = crash_sample (), points = 0;
  char *b = strdup (tl_path ("base.img"));

  tl_capture_errors ();
  sim_base = b;
  tl_make_base (sim_base, SIM_DISK, 42);
  mf_init (&m, -1, 5);
  run_life (&m, compress, end);
  for (size_t upto = 0; upto <= m.nhist; upto += step) {
    unsigned rng = 77 + upto;
    char what[128];
    int survivors = inside_append (end, upto) ? APPEND_SURVIVORS : 5;
    for (int i = 0; i < survivors; i++) {
      struct memfile sv;
      bool power = i > 0;
      mf_survivor (&m, upto, power, &rng, &sv);
      snprintf (what, sizeof what, "crash at %zu of %zu (%s, %d)", upto, m.nhist,
                power ? "power" : "process", i);
      /* First: check_survivor appends to sv. */
      if (i == 1 && upto % (8 * step) == 0)
        crash_recovery (&sv, end, upto, power, compress);
      check_survivor (&sv, end, upto, power, compress, what);
      mf_free (&sv);
    }
    points++;
  }
  printf ("commit records, %s: %ld crash points in a life of %zu operations\n",
          compress ? "lz4" : "none", points, m.nhist);
  mf_free (&m);
  free (b);
  tl_cleanup ();
}
END_TEST

/* The nth sync of an append fails: the append fails with EIO, the
 * overlay takes nothing more until it is opened again, and then holds
 * the records before and maybe the new one, and every flushed block. */
static bool
append_with_failed_sync (int which, long nth, int compress)
{
  struct memfile m;
  struct ow_open_params p;
  struct ow_overlay *ov;
  uint8_t buf[BS];
  long before;
  size_t stopped;
  unsigned rng = 3;
  bool failed;
  struct chain c;
  char *b = strdup (tl_path ("base.img"));

  sim_base = b;
  tl_make_base (sim_base, SIM_DISK, 42);
  mf_init (&m, -1, 9);
  p = sim_params (&m, true, compress);
  ck_assert_int_eq (ow_open (&p, &ov), 0);
  for (int i = 0; i < which; i++) {
    write_block (ov, i, block_seed (i));
    append (ov, i ? "second" : "first");
  }
  write_block (ov, 10, block_seed (10));
  before = m.syncs;
  m.fail_sync = before + nth;
  errno = 0;
  failed = ow_append_commit_record (ov, "new", 3) == -1;
  if (!failed) {
    /* Fewer syncs than nth: every one was tried. */
    ck_assert_int_lt (m.syncs, before + nth);
    m.fail_sync = 0;
    ck_assert_int_eq (ow_close (ov), 0);
    goto out;
  }
  ck_assert_errno (EIO);
  ck_assert_str_ne (tl_last_error (), "");
  stopped = mf_mark (&m);
  errno = 0;
  ck_assert_int_eq (ow_append_commit_record (ov, "more", 4), -1);
  ck_assert_errno (EIO);
  tl_fill (buf, BS, 20 * BS, 5);
  ck_assert_int_eq (ow_pwrite (ov, buf, BS, 20 * BS, false), -1);
  ck_assert_errno (EIO);
  ck_assert_int_eq (ow_flush (ov), -1);
  ck_assert_errno (EIO);
  ck_assert_int_eq (ow_close (ov), -1);
  ck_assert_errno (EIO);
  ck_assert_uint_eq (mf_mark (&m), stopped + 1);  /* nothing written since */

  for (int i = 0; i < 6; i++) {
    struct memfile sv;
    const char *want_before = which == 0 ? "" : which == 1 ? "first" : "first|second";
    const char *want_after = which == 0 ? "new" : which == 1 ? "first|new"
      : "first|second|new";
    mf_survivor (&m, m.nhist, i > 0, &rng, &sv);
    p = sim_params (&sv, true, compress);
    ck_assert_msg (ow_open (&p, &ov) == 0, "reopening after a failed sync: %s",
                   tl_last_error ());
    read_chain (ov, &c);
    ck_assert_msg (strcmp (c.text, want_before) == 0 || strcmp (c.text, want_after) == 0,
                   "sync %ld of append %d failed: the chain is \"%s\"", nth, which, c.text);
    for (int k = 0; k < which; k++)
      check_block (ov, k, block_seed (k));
    append (ov, "retry");                       /* writable again */
    write_block (ov, 30, 30);
    ck_assert_int_eq (ow_close (ov), 0);
    p.writable = false;
    ck_assert_int_eq (ow_open (&p, &ov), 0);
    check_block (ov, 30, 30);
    struct chain d;
    read_chain (ov, &d);
    ck_assert_int_eq (d.n, c.n + 1);
    ck_assert_int_eq (ow_close (ov), 0);
    mf_free (&sv);
  }
 out:
  mf_free (&m);
  free (b);
  return failed;
}

START_TEST (test_sync_failure)
{
  int compress = _i;

  tl_capture_errors ();
  /* The first append (which also marks the header), and later ones. */
  for (int which = 0; which < 3; which++) {
    long nth;
    for (nth = 1; append_with_failed_sync (which, nth, compress); nth++)
      ck_assert_int_lt (nth, 20);
    /* Every sync of it was failed once: the first append syncs the
     * header's feature bit, then each syncs its record (a flush), the
     * flush's header before its own, and its own. */
    ck_assert_int_eq (nth - 1, which == 0 ? 4 : 3);
  }
  tl_cleanup ();
}
END_TEST

static void
add_tests (TCase *tc)
{
  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_set_timeout (tc, 600);
  tcase_add_test (tc, test_no_records);
  tcase_add_test (tc, test_append_and_reopen);
  tcase_add_test (tc, test_after_kill);
  tcase_add_test (tc, test_refusals);
  tcase_add_test (tc, test_fn_stops);
  tcase_add_test (tc, test_binary_payloads);
  tcase_add_test (tc, test_threads);
  tcase_add_test (tc, test_damaged_chain);
  tcase_add_test (tc, test_crafted_links);
  tcase_add_test (tc, test_header_rules);
  tcase_add_loop_test (tc, test_crash_points, 0, 2);
  tcase_add_loop_test (tc, test_sync_failure, 0, 2);
}

int
main (void)
{
  return tl_run ("commit-records", add_tests);
}
