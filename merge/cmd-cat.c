/* oneway-merge cat: a file as a view holds it.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "commands.h"
#include "oneway/error.h"
#include "oneway/escape.h"

/* Runs of holes are written from one buffer of zeroes, so a sparse
 * file of gigabytes streams quickly. */
static int
write_file (struct extfs *x, ext2_ino_t ino, struct ext2_inode_large *inode)
{
  struct extfs_file f;
  uint64_t size = EXT2_I_SIZE (inode), nblocks = size / x->bs + (size % x->bs != 0);
  char *buf = malloc (x->bs);
  int r = 0;

  if (!buf || extfs_file_open (x, ino, inode, &f) == -1) {
    free (buf);
    return -1;
  }
  for (uint64_t l = 0; l < nblocks && r == 0; l++) {
    size_t n = l == nblocks - 1 && size % x->bs ? size % x->bs : x->bs;
    if (extfs_file_block (&f, l, buf) == -1)
      r = -1;
    else if (fwrite (buf, 1, n, stdout) != n) {
      ow_error ("writing the file to standard output: %m");
      r = -1;
    }
  }
  extfs_file_close (&f);
  free (buf);
  return r;
}

int
cmd_cat (const struct merge_opts *o)
{
  struct ow_overlay *ov;
  struct analysis an;
  struct ext2_inode_large inode;
  ext2_ino_t ino;
  int v = o->base_view ? S0 : S1;
  int r = merge_open_views (o, &ov, &an);
  char *epath = ow_escape (o->path, strlen (o->path));

  if (r == 1) {
    fprintf (stderr, "oneway-merge: the SEE view holds %s: there are no files to show\n",
             an.probe.what);
    r = -1;
  }
  if (r == 0 && pathres_lookup (&an.v[v], o->path, &ino) == -1)
    r = -1;
  if (r == 0 && extfs_read_inode (&an.v[v], ino, &inode) == -1) {
    ow_error ("%s: %s: its inode %" PRIu32 " cannot be read", an.v[v].label,
              epath ? epath : "?", ino);
    r = -1;
  }
  if (r == 0 && !LINUX_S_ISREG (inode.i_mode)) {
    ow_error ("%s: %s is a %s, not a file: it has no content to show (see oneway-merge diff)",
              an.v[v].label, epath ? epath : "?", extfs_type_name (inode.i_mode));
    r = -1;
  }
  if (r == 0)
    r = write_file (&an.v[v], ino, &inode);
  if (r == 0)
    merge_print_findings (&an);
  free (epath);
  if (ov) {
    analysis_close (&an);
    ow_close (ov);
  }
  return r == 0 ? EXIT_YES : EXIT_ERROR;
}
