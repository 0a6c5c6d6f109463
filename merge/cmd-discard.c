/* oneway-merge discard: throw the SEE's changes away.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * The overlay is reset, not deleted: a new, empty overlay for the same
 * base (with the same block size, compression and read tracking) is
 * written next to it, synced, and renamed over it, so the file stays
 * usable as a fresh SEE, and a crash leaves either the old overlay or
 * the new one, never a part of either.  It gets a new id: it is not
 * the overlay it replaces.  Refused while a plugin holds the overlay;
 * the shared lock taken to read it is kept until the rename is done,
 * so no plugin can start on the old one meanwhile.
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
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "json.h"
#include "oneway/error.h"
#include "oneway/escape.h"
#include "oneway/util.h"

/* On a terminal, the user's word; elsewhere, --yes or nothing. */
static int
confirm (const struct merge_opts *o, const char *shown, const struct ow_info *info)
{
  char answer[16];

  if (o->yes)
    return 1;
  if (!isatty (STDIN_FILENO)) {
    fprintf (stderr, "oneway-merge: discard throws away what the SEE wrote into %s; "
             "standard input is not a terminal to ask on: pass --yes to discard without "
             "asking\n", shown);
    return -1;
  }
  fprintf (stderr, "Throw away the SEE's changes in %s (%" PRIu64 " blocks written, %"
           PRIu64 " read)?\nThe overlay then starts afresh for the same base. [y/N] ",
           shown, info->written_blocks, info->read_blocks);
  if (!fgets (answer, sizeof answer, stdin))
    return 0;
  return strcmp (answer, "y\n") == 0 || strcmp (answer, "yes\n") == 0;
}

/* An empty overlay at tmp (an empty file) for the base of h. */
static int
make_fresh (const char *tmp, const char *base, const struct ow_header *h,
            struct ow_header *made)
{
  struct ow_open_params p = {
    .overlay = tmp, .base = base, .writable = true, .block_size = h->block_size,
    .compress = h->compress, .track_reads = (h->flags & OW_HDR_TRACK_READS) != 0,
  };
  struct ow_overlay *ov;
  struct ow_info info;
  int fd = -1, r;

  if (ow_open (&p, &ov) == -1)
    return -1;
  r = ow_close (ov);
  /* ow_close synced its checkpoint; the file as a whole once more, so
   * that nothing of it can be missing after the rename. */
  if (r == 0 && ((fd = open (tmp, O_RDONLY | O_CLOEXEC)) == -1 || fsync (fd) == -1)) {
    ow_error ("cannot sync the new overlay %s: %m", tmp);
    r = -1;
  }
  if (fd >= 0)
    close (fd);
  /* Read back as any reader will: what it is, and that it opens. */
  struct ow_open_params rp = { .overlay = tmp, .no_base = true, .compress = -1,
                               .track_reads = -1 };
  if (r == 0 && (r = ow_open (&rp, &ov)) == 0) {
    r = ow_get_info (ov, &info);
    if (r == 0)
      *made = info.header;
    ow_close (ov);
  }
  return r;
}

/* tmp takes path's place, with path's mode and owner; then the
 * directory's entry is made durable. */
static int
replace (const char *tmp, const char *path, const struct stat *old)
{
  char *dir = strdup (path);
  int dfd, r = -1;

  if (chmod (tmp, old->st_mode & 07777) == -1
      || ((old->st_uid != geteuid () || old->st_gid != getegid ())
          && chown (tmp, old->st_uid, old->st_gid) == -1)) {
    ow_error ("cannot give the new overlay %s the mode and owner of %s: %m", tmp, path);
    goto out;
  }
  if (rename (tmp, path) == -1) {
    ow_error ("cannot rename the new overlay %s to %s: %m", tmp, path);
    goto out;
  }
  r = 0;
  if (dir && (dfd = open (dirname (dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
    if (fsync (dfd) == -1) {
      ow_error ("the new overlay is in place, but its directory could not be synced: %m");
      r = -1;
    }
    close (dfd);
  }
 out:
  free (dir);
  return r;
}

static void
print_result (const struct merge_opts *o, const char *shown, const struct ow_info *old,
              const struct ow_header *made)
{
  char id[40];
  struct json j;

  merge_format_uuid (made->uuid, id);
  if (!o->json) {
    printf ("discarded the SEE's changes in %s (%" PRIu64 " blocks written, %" PRIu64
            " read): it is a fresh overlay for the same base now, id %s\n", shown,
            old->written_blocks, old->read_blocks, id);
    return;
  }
  json_init (&j, stdout);
  json_object_begin (&j);
  json_key (&j, "overlay"); json_string (&j, o->overlay);
  json_key (&j, "discarded"); json_bool (&j, true);
  json_key (&j, "written_blocks"); json_u64 (&j, old->written_blocks);
  json_key (&j, "read_blocks"); json_u64 (&j, old->read_blocks);
  json_key (&j, "base"); json_string (&j, made->base_name);
  json_key (&j, "id"); json_string (&j, id);
  json_object_end (&j);
  json_finish (&j);
}

int
cmd_discard (const struct merge_opts *o)
{
  char *shown = ow_escape (o->overlay, strlen (o->overlay)), *real = NULL, *tmp = NULL;
  struct ow_overlay *ov = NULL;
  struct ow_info info;
  struct ow_header made;
  struct stat st;
  int r = EXIT_ERROR, yes, fd;

  if (!shown || merge_refuse_while_committing (o) == -1)
    goto out;
  /* A symlink to the overlay stays one: its target is what is reset. */
  if (!(real = realpath (o->overlay, NULL))) {
    ow_error ("overlay %s: %m", shown);
    goto out;
  }
  if (merge_open (o, true, &ov) == -1)
    goto out;
  if (ow_get_info (ov, &info) == -1 || stat (real, &st) == -1) {
    ow_error ("overlay %s: %m", shown);
    goto out;
  }
  if ((yes = confirm (o, shown, &info)) != 1) {
    if (yes == 0) {
      fprintf (stderr, "oneway-merge: nothing discarded\n");
      r = EXIT_NO;
    }
    goto out;
  }
  /* Next to it, so that the rename stays in one filesystem; realpath
   * made real absolute, so there is a '/'. */
  {
    const char *slash = strrchr (real, '/');
    if (asprintf (&tmp, "%.*s/.%s.discard-XXXXXX", (int) (slash - real), real, slash + 1) < 0) {
      tmp = NULL;
      goto out;
    }
  }
  if ((fd = mkstemp (tmp)) == -1) {
    ow_error ("cannot make the new overlay next to %s: %m", shown);
    free (tmp);
    tmp = NULL;
    goto out;
  }
  close (fd);
  if (make_fresh (tmp, o->base ? o->base : info.header.base_name, &info.header, &made) == -1
      || replace (tmp, real, &st) == -1)
    goto out;
  free (tmp);
  tmp = NULL;
  print_result (o, shown, &info, &made);
  r = EXIT_YES;
 out:
  if (tmp) {
    unlink (tmp);
    free (tmp);
  }
  ow_close (ov);
  free (real);
  free (shown);
  return r;
}
