/* oneway: error and debug message sinks.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

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

static void
call_sink (ow_error_fn fn, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  fn (fmt, ap);
  va_end (ap);
}

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

/* The sinks get finished text, with %m expanded here to the untranslated
 * description of errno.  strerror's translation lookup takes glibc's
 * locale lock, and in nbdkit run with the sanitizer runtimes preloaded
 * that lock is then never released: nbdkit hangs at exit.  Messages
 * are English anyway. */
static void
pass_on (ow_error_fn fn, const char *fmt, va_list ap, int err)
{
  char buf[2048], f[1024];
  const char *desc = strerrordesc_np (err);
  size_t n = 0;

  for (const char *p = fmt; *p && n + 1 < sizeof f; p++) {
    if (p[0] == '%' && p[1] == '%') {
      f[n++] = *p++;
      if (n + 1 < sizeof f)
        f[n++] = *p;
    }
    else if (p[0] == '%' && p[1] == 'm') {
      for (const char *d = desc ? desc : "unknown error"; *d && n + 2 < sizeof f; d++) {
        if (*d == '%')
          f[n++] = '%';
        f[n++] = *d;
      }
      p++;
    }
    else
      f[n++] = *p;
  }
  f[n] = '\0';
  vsnprintf (buf, sizeof buf, f, ap);
  call_sink (fn, "%s", buf);
}

/* Reporting must not disturb the errno the caller is about to return. */
void
ow_error (const char *fmt, ...)
{
  int saved = errno;
  va_list ap;

  va_start (ap, fmt);
  pass_on (error_fn, fmt, ap, saved);
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
  pass_on (debug_fn, fmt, ap, saved);
  va_end (ap);
  errno = saved;
}
