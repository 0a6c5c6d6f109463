/* oneway: making bytes from the SEE safe to show.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "oneway/escape.h"

/* Length of the valid, printable UTF-8 sequence at p (at most n bytes
 * available), or 0. */
static size_t
utf8_printable (const unsigned char *p, size_t n)
{
  uint32_t c;
  size_t len;

  if (p[0] < 0x80)
    return p[0] >= 0x20 && p[0] != 0x7f;
  if (p[0] >= 0xc2 && p[0] <= 0xdf)
    len = 2, c = p[0] & 0x1f;
  else if (p[0] >= 0xe0 && p[0] <= 0xef)
    len = 3, c = p[0] & 0x0f;
  else if (p[0] >= 0xf0 && p[0] <= 0xf4)
    len = 4, c = p[0] & 0x07;
  else
    return 0;
  if (len > n)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((p[i] & 0xc0) != 0x80)
      return 0;
    c = c << 6 | (p[i] & 0x3f);
  }
  /* Overlong forms, surrogates, past U+10FFFF, C1 controls, and the
   * bidirectional overrides that could make a terminal lie. */
  if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) || c > 0x10ffff
      || (c >= 0xd800 && c <= 0xdfff) || (c >= 0x80 && c < 0xa0)
      || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069))
    return 0;
  return len;
}

char *
ow_escape (const char *s, size_t len)
{
  const unsigned char *p = (const unsigned char *) s;
  char *out = malloc (4 * len + 1), *o = out;

  if (!out)
    return NULL;
  for (size_t i = 0; i < len; ) {
    size_t n = utf8_printable (p + i, len - i);
    if (n && p[i] != '\\') {
      for (size_t k = 0; k < n; k++)
        *o++ = p[i + k];
      i += n;
    }
    else if (p[i] == '\\') {
      *o++ = '\\';
      *o++ = '\\';
      i++;
    }
    else {
      o += sprintf (o, "\\x%02x", p[i]);
      i++;
    }
  }
  *o = '\0';
  return out;
}
