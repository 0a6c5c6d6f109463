/* oneway: error and debug message sinks.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>

#include "oneway/error.h"

static void
default_error (const char *fmt, va_list ap)
{
  fputs ("oneway: ", stderr);
  vfprintf (stderr, fmt, ap);
  fputc ('\n', stderr);
}

static ow_error_fn error_fn = default_error;
static ow_error_fn debug_fn;

void
ow_set_error_handler (ow_error_fn fn)
{
  error_fn = fn ? fn : default_error;
}

void
ow_set_debug_handler (ow_error_fn fn)
{
  debug_fn = fn;
}

/* Reporting must not disturb the errno the caller is about to return. */
void
ow_error (const char *fmt, ...)
{
  int saved = errno;
  va_list ap;

  va_start (ap, fmt);
  error_fn (fmt, ap);
  va_end (ap);
  errno = saved;
}

void
ow_debug (const char *fmt, ...)
{
  int saved = errno;
  va_list ap;

  if (!debug_fn)
    return;
  va_start (ap, fmt);
  debug_fn (fmt, ap);
  va_end (ap);
  errno = saved;
}
