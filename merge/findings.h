/* oneway-merge: what a crafted or damaged filesystem made us notice.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * The SEE may write any bytes into its filesystem.  Structures that do
 * not make sense (a looping extent tree, a block claimed twice, a name
 * with '/') are not fatal: they are findings, shown with the answer,
 * and the part they spoil is left out or marked.  The list is bounded,
 * so a filesystem made of nothing but damage cannot exhaust memory.
 */
#ifndef ONEWAY_MERGE_FINDINGS_H
#define ONEWAY_MERGE_FINDINGS_H

#include <stddef.h>
#include <stdint.h>

#define FINDINGS_MAX 1000

struct findings {
  char **msg;
  size_t n;
  uint64_t dropped;             /* past FINDINGS_MAX */
};

void findings_add (struct findings *f, const char *fmt, ...)
  __attribute__((format (printf, 2, 3)));
void findings_free (struct findings *f);

#endif
