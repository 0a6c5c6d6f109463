/* oneway-merge info: what an overlay is and what it holds.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "commit-record.h"
#include "json.h"
#include "oneway/escape.h"
#include "oneway/util.h"

void
merge_format_uuid (const uint8_t *u, char *buf)
{
  sprintf (buf, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
           u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10],
           u[11], u[12], u[13], u[14], u[15]);
}

static void
format_hex (const uint8_t *p, size_t n, char *buf)
{
  for (size_t i = 0; i < n; i++)
    sprintf (buf + 2 * i, "%02x", p[i]);
}

static void
format_time (uint64_t t, char *buf, size_t len)
{
  time_t tt = t;
  struct tm tm;
  strftime (buf, len, "%Y-%m-%dT%H:%M:%SZ", gmtime_r (&tt, &tm));
}

static const char *
state_of (const struct ow_info *in)
{
  return in->was_clean ? "clean" : "unclean";
}

/* Whether the base (named in the header, or --base) is the one the
 * overlay was made for. */
struct base_check {
  const char *status;           /* matches, differs, unavailable */
  char detail[2048];
};

static void
check_base (struct ow_overlay *ov, const char *name, struct base_check *bc)
{
  char *why = NULL;
  int r;

  merge_capture_errors (bc->detail, sizeof bc->detail);
  r = ow_check_base (ov, name, &why);
  merge_capture_errors (NULL, 0);
  bc->status = r == 1 ? "matches" : r == 0 ? "differs" : "unavailable";
  if (why)
    snprintf (bc->detail, sizeof bc->detail, "%s", why);
  else if (r == 1)
    bc->detail[0] = '\0';
  free (why);
}

static const char *
fingerprint_method (uint32_t m)
{
  return m == OW_FINGERPRINT_SAMPLED_SHA256 ? "sampled-sha256" : "unknown";
}

/* Logical bytes of written data per stored byte. */
static double
ratio_of (const struct ow_info *in)
{
  return in->live_bytes
    ? (double) in->data_blocks * in->header.block_size / in->live_bytes : 0;
}

static void
commits_json (struct json *j, const struct applied *a)
{
  json_key (j, "commits");
  json_array_begin (j);
  for (size_t i = 0; i < a->ncommits; i++) {
    const struct commit_summary *cm = &a->commit[i];
    char id[2 * COMMIT_ID_SIZE + 1], when[32];
    size_t n = 0;

    format_hex (cm->id, COMMIT_ID_SIZE, id);
    format_time (cm->time, when, sizeof when);
    json_object_begin (j);
    json_key (j, "id"); json_string (j, id);
    json_key (j, "time"); json_string (j, when);
    json_key (j, "host"); json_bytes (j, cm->host.s, cm->host.len);
    for (int k = 0; k < CHANGE_KINDS; k++) {
      json_key (j, change_kind_names[k]); json_u64 (j, cm->count[k]);
      n += cm->count[k];
    }
    json_key (j, "changes"); json_u64 (j, n);
    json_object_end (j);
  }
  json_array_end (j);
}

static void
commits_human (const struct applied *a)
{
  for (size_t i = 0; i < a->ncommits; i++) {
    const struct commit_summary *cm = &a->commit[i];
    char id[2 * COMMIT_ID_SIZE + 1], when[32], *host = ow_escape (cm->host.s, cm->host.len);
    size_t n = 0;

    for (int k = 0; k < CHANGE_KINDS; k++)
      n += cm->count[k];
    format_hex (cm->id, COMMIT_ID_SIZE, id);
    format_time (cm->time, when, sizeof when);
    printf ("commit:       %s into %s: %zu change%s (%zu added, %zu modified, %zu deleted, "
            "%zu renamed), id %.16s…\n", when, host ? host : "?", n, n == 1 ? "" : "s",
            cm->count[CHANGE_ADDED], cm->count[CHANGE_MODIFIED], cm->count[CHANGE_DELETED],
            cm->count[CHANGE_RENAMED], id);
    free (host);
  }
}

static void
print_json (const char *path, const struct ow_info *in, const struct base_check *bc,
            const struct applied *commits)
{
  const struct ow_header *h = &in->header;
  char uuid[40], fp[2 * OW_FINGERPRINT_SIZE + 1], created[32];
  struct json j;

  merge_format_uuid (h->uuid, uuid);
  format_hex (h->fingerprint, OW_FINGERPRINT_SIZE, fp);
  format_time (h->created, created, sizeof created);
  json_init (&j, stdout);
  json_object_begin (&j);
  json_key (&j, "overlay"); json_string (&j, path);
  json_key (&j, "format_version"); json_u64 (&j, h->version);
  json_key (&j, "id"); json_string (&j, uuid);
  json_key (&j, "created"); json_string (&j, created);
  json_key (&j, "state"); json_string (&j, state_of (in));
  json_key (&j, "base");
  json_object_begin (&j);
  json_key (&j, "name"); json_string (&j, h->base_name);
  json_key (&j, "size"); json_u64 (&j, h->base_size);
  json_key (&j, "fingerprint"); json_string (&j, fp);
  json_key (&j, "fingerprint_method");
  json_string (&j, fingerprint_method (h->fingerprint_method));
  json_key (&j, "status"); json_string (&j, bc->status);
  if (bc->detail[0]) {
    json_key (&j, "status_detail"); json_string (&j, bc->detail);
  }
  json_object_end (&j);
  json_key (&j, "block_size"); json_u64 (&j, h->block_size);
  json_key (&j, "compression");
  json_string (&j, h->compress == OW_COMPRESS_LZ4 ? "lz4" : "none");
  json_key (&j, "track_reads"); json_bool (&j, h->flags & OW_HDR_TRACK_READS);
  json_key (&j, "written_blocks"); json_u64 (&j, in->written_blocks);
  json_key (&j, "data_blocks"); json_u64 (&j, in->data_blocks);
  json_key (&j, "zero_blocks"); json_u64 (&j, in->zero_blocks);
  json_key (&j, "read_blocks"); json_u64 (&j, in->read_blocks);
  json_key (&j, "read_set_coarse"); json_bool (&j, h->flags & OW_HDR_READ_ALL);
  json_key (&j, "file_size"); json_u64 (&j, in->file_size);
  json_key (&j, "log_size"); json_u64 (&j, in->log_end);
  json_key (&j, "stored_bytes"); json_u64 (&j, in->live_bytes);
  json_key (&j, "overhead_bytes");
  json_u64 (&j, in->log_end - OW_LOG_START
            - ow_min64 (in->live_bytes, in->log_end - OW_LOG_START));
  json_key (&j, "compression_ratio"); json_double (&j, ratio_of (in));
  json_key (&j, "torn_bytes"); json_u64 (&j, in->torn_bytes);
  commits_json (&j, commits);
  json_object_end (&j);
  json_finish (&j);
}

static void
print_human (const char *path, const struct ow_info *in, const struct base_check *bc,
             const struct applied *commits)
{
  const struct ow_header *h = &in->header;
  char uuid[40], fp[2 * OW_FINGERPRINT_SIZE + 1], created[32];
  char a[32], b[32], c[32];
  uint64_t bs = h->block_size;
  char *epath = ow_escape (path, strlen (path));
  char *ebase = ow_escape (h->base_name, strlen (h->base_name));

  merge_format_uuid (h->uuid, uuid);
  format_hex (h->fingerprint, OW_FINGERPRINT_SIZE, fp);
  format_time (h->created, created, sizeof created);
  printf ("overlay:      %s\n", epath ? epath : "?");
  printf ("format:       version %" PRIu32 ", id %s, created %s\n",
          h->version, uuid, created);
  if (in->was_clean)
    printf ("state:        clean (closed properly)\n");
  else if (in->torn_bytes)
    printf ("state:        not closed cleanly; %s of torn tail will be dropped "
            "when the plugin next opens it\n", ow_human_size (in->torn_bytes, a, sizeof a));
  else
    printf ("state:        not closed cleanly (its log is whole: every flushed write is there)\n");
  printf ("base:         %s\n", ebase ? ebase : "?");
  printf ("base size:    %s (%" PRIu64 " bytes)\n",
          ow_human_size (h->base_size, a, sizeof a), h->base_size);
  printf ("base id:      %.16s… (%s)\n", fp, fingerprint_method (h->fingerprint_method));
  if (strcmp (bc->status, "matches") == 0)
    printf ("base check:   matches\n");
  else {
    char *e = ow_escape (bc->detail, strlen (bc->detail));
    printf ("base check:   %s: %s\n", strcmp (bc->status, "differs") == 0
            ? "DIFFERS" : "unavailable", e ? e : "");
    free (e);
  }
  printf ("block size:   %" PRIu64 "\n", bs);
  printf ("compression:  %s\n", h->compress == OW_COMPRESS_LZ4 ? "lz4" : "none");
  printf ("written:      %" PRIu64 " blocks (%s): %" PRIu64 " with data, %" PRIu64
          " zeroed or trimmed\n", in->written_blocks,
          ow_human_size (in->written_blocks * bs, a, sizeof a),
          in->data_blocks, in->zero_blocks);
  if (h->flags & OW_HDR_READ_ALL)
    printf ("read:         all blocks (the read set did not fit in max-overlay-size, "
            "so every block counts as read)\n");
  else if (h->flags & OW_HDR_TRACK_READS)
    printf ("read:         %" PRIu64 " blocks (%s)\n", in->read_blocks,
            ow_human_size (in->read_blocks * bs, a, sizeof a));
  else
    printf ("read:         %" PRIu64 " blocks (%s; read tracking was off at the last run)\n",
            in->read_blocks, ow_human_size (in->read_blocks * bs, a, sizeof a));
  printf ("overlay size: %s file, %s of it stored data",
          ow_human_size (in->file_size, a, sizeof a),
          ow_human_size (in->live_bytes, b, sizeof b));
  if (in->live_bytes)
    printf (" (%.2f:1 for %s written)", ratio_of (in),
            ow_human_size (in->data_blocks * bs, c, sizeof c));
  printf ("\n");
  commits_human (commits);
  free (epath);
  free (ebase);
}

int
cmd_info (const struct merge_opts *o)
{
  struct ow_overlay *ov;
  struct ow_info in;
  struct base_check bc;
  struct applied a = { 0 };
  int r;

  if (merge_open (o, false, &ov) == -1)
    return EXIT_ERROR;
  r = ow_get_info (ov, &in);
  if (r == 0)
    check_base (ov, o->base, &bc);
  if (r == -1)
    perror ("oneway-merge: info");
  else
    r = applied_load (ov, o->overlay, &a);
  ow_close (ov);
  if (r == -1)
    return EXIT_ERROR;
  if (o->json)
    print_json (o->overlay, &in, &bc, &a);
  else
    print_human (o->overlay, &in, &bc, &a);
  applied_free (&a);
  return EXIT_YES;
}
