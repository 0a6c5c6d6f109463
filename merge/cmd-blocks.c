/* oneway-merge blocks: the written and read sets as block ranges.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>

#include "commands.h"
#include "json.h"

struct emit {
  struct json *j;
  uint32_t block_size;
};

static int
emit_json (void *opaque, uint64_t first, uint64_t count)
{
  struct emit *e = opaque;

  json_array_begin (e->j);
  json_u64 (e->j, first);
  json_u64 (e->j, count);
  json_array_end (e->j);
  return 0;
}

/* One range per line: "first-last (count blocks)", or a lone block. */
static int
emit_human (void *opaque, uint64_t first, uint64_t count)
{
  if (count == 1)
    printf ("  %" PRIu64 "\n", first);
  else
    printf ("  %" PRIu64 "-%" PRIu64 " (%" PRIu64 " blocks)\n",
            first, first + count - 1, count);
  return 0;
}

int
cmd_blocks (const struct merge_opts *o)
{
  struct ow_overlay *ov;
  struct json j;
  struct emit e = { &j, 0 };
  int r;

  if (o->base) {
    fprintf (stderr, "oneway-merge: blocks does not read the base: --base has no effect\n");
    return EXIT_ERROR;
  }
  if (merge_open (o, false, &ov) == -1)
    return EXIT_ERROR;
  e.block_size = ow_block_size (ov);
  if (o->json) {
    json_init (&j, stdout);
    json_object_begin (&j);
    json_key (&j, "block_size"); json_u64 (&j, e.block_size);
    json_key (&j, "written");
    json_array_begin (&j);
    r = ow_written_ranges (ov, emit_json, &e);
    json_array_end (&j);
    json_key (&j, "read");
    json_array_begin (&j);
    r |= ow_read_ranges (ov, emit_json, &e);
    json_array_end (&j);
    json_object_end (&j);
    json_finish (&j);
  }
  else {
    printf ("block size %" PRIu32 "\nwritten:\n", e.block_size);
    r = ow_written_ranges (ov, emit_human, &e);
    printf ("read:\n");
    r |= ow_read_ranges (ov, emit_human, &e);
  }
  ow_close (ov);
  if (r) {
    perror ("oneway-merge: blocks");
    return EXIT_ERROR;
  }
  return EXIT_YES;
}
