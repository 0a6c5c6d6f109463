/* oneway: making bytes from the SEE safe to show.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#ifndef ONEWAY_ESCAPE_H
#define ONEWAY_ESCAPE_H

#include <stddef.h>

/* Printable UTF-8 is kept; a backslash becomes two; every other byte
 * (control characters, DEL, bytes that are not valid UTF-8, C1
 * controls) becomes \xNN.  The result is printable, valid UTF-8 and
 * maps back to the original bytes without ambiguity.  Caller frees. */
char *ow_escape (const char *s, size_t len);

#endif
