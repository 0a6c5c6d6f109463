/* oneway-merge: what a crafted or damaged filesystem made us notice.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "findings.h"

void
findings_add (struct findings *f, const char *fmt, ...)
{
  va_list ap;
  char *m, **p;

  if (f->n == FINDINGS_MAX) {
    f->dropped++;
    return;
  }
  va_start (ap, fmt);
  if (vasprintf (&m, fmt, ap) == -1)
    m = NULL;
  va_end (ap);
  /* The same structure is often met twice (mapped for the audit, then
   * for the comparison): say it once. */
  for (size_t i = 0; m && i < f->n; i++)
    if (strcmp (f->msg[i], m) == 0) {
      free (m);
      return;
    }
  p = m ? realloc (f->msg, (f->n + 1) * sizeof *p) : NULL;
  if (!p) {
    free (m);
    f->dropped++;               /* out of memory: count it at least */
    return;
  }
  f->msg = p;
  f->msg[f->n++] = m;
}

void
findings_free (struct findings *f)
{
  for (size_t i = 0; i < f->n; i++)
    free (f->msg[i]);
  free (f->msg);
  *f = (struct findings) { 0 };
}
