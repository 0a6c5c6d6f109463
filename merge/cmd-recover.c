/* oneway-merge recover: replay the SEE filesystem's journal into the overlay.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * What the kernel would do on the next mount of the SEE view, done
 * offline: the replayed blocks are writes of the SEE's own state, so
 * they go into the overlay like any other write.  The base is never
 * written (the overlay engine has no way to).
 */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>

#include "commands.h"
#include "extfs.h"
#include "jbd2.h"
#include "json.h"

static void
print_json (const struct merge_opts *o, const struct probe *p,
            const struct jbd2_replay_result *res)
{
  struct json j;

  json_init (&j, stdout);
  json_object_begin (&j);
  json_key (&j, "filesystem"); json_string (&j, p->fstype);
  json_key (&j, "needed"); json_bool (&j, res->needed);
  json_key (&j, "dry_run"); json_bool (&j, o->dry_run);
  json_key (&j, "transactions"); json_u64 (&j, res->transactions);
  json_key (&j, "blocks_replayed"); json_u64 (&j, res->blocks_replayed);
  json_key (&j, "blocks_revoked"); json_u64 (&j, res->blocks_revoked);
  if (res->needed) {
    json_key (&j, "first_tid"); json_u64 (&j, res->first_tid);
    json_key (&j, "next_tid"); json_u64 (&j, res->next_tid);
  }
  json_key (&j, "failed_commit"); json_bool (&j, res->failed_commit);
  json_key (&j, "orphans"); json_u64 (&j, res->orphans);
  json_object_end (&j);
  json_finish (&j);
}

static void
print_human (const struct merge_opts *o, const struct probe *p,
             const struct jbd2_replay_result *res)
{
  if (!res->needed) {
    printf ("the %s filesystem in the SEE view is clean: nothing to replay\n", p->fstype);
    return;
  }
  printf ("%s %" PRIu32 " transaction%s (%" PRIu32 " to %" PRIu32 "): %" PRIu64
          " block%s %s the overlay, %" PRIu64 " skipped as revoked; the base is untouched\n",
          o->dry_run ? "would replay" : "replayed", res->transactions,
          res->transactions == 1 ? "" : "s", res->first_tid,
          res->next_tid ? res->next_tid - 1 : 0, res->blocks_replayed,
          res->blocks_replayed == 1 ? "" : "s", o->dry_run ? "into" : "written into",
          res->blocks_revoked);
  if (res->failed_commit)
    printf ("transaction %" PRIu32 " and those after it failed their checksum and were "
            "dropped, as the kernel would; the filesystem is marked as having errors\n",
            res->failed_tid);
  if (res->orphans)
    printf ("%" PRIu32 " inode%s on the orphan list: the kernel would finish deleting "
            "them on the next mount; diff shows them as they are\n", res->orphans,
            res->orphans == 1 ? " is" : "s are");
}

int
cmd_recover (const struct merge_opts *o)
{
  struct ow_overlay *ov;
  struct disk see;
  struct probe p;
  struct extfs x;
  struct findings findings = { 0 };
  struct jbd2_replay_result res = { 0 };
  int r = -1;

  if ((!o->dry_run && merge_refuse_while_committing (o) == -1)
      || merge_open_for_tool (o, &ov) == -1)
    return EXIT_ERROR;
  disk_see_view (ov, !o->dry_run, &see);
  if (probe_disk (&see, o->partition, &p) == -1)
    goto out;
  if (!p.ext) {
    fprintf (stderr, "oneway-merge: the SEE view holds %s: there is no ext journal to "
             "replay\n", p.what);
    goto out;
  }
  if (extfs_open (&x, &see, &p, !o->dry_run, &findings) == -1)
    goto out;
  r = jbd2_replay (x.fs, o->dry_run, &res);
  /* After a replay libext2fs's copy of the superblock is stale; the
   * replay made sure closing writes nothing. */
  extfs_close (&x);
  if (r == 0 && !o->dry_run && res.needed && ow_flush (ov) == -1) {
    perror ("oneway-merge: recover: flushing the overlay");
    r = -1;
  }
  if (r == 0) {
    if (o->json)
      print_json (o, &p, &res);
    else
      print_human (o, &p, &res);
  }
 out:
  findings_free (&findings);
  if (ow_close (ov) == -1)
    r = -1;
  return r == 0 ? EXIT_YES : EXIT_ERROR;
}
