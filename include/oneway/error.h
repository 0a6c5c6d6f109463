/* oneway: how the shared library reports errors.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * Library functions return -1 with errno set and describe the problem
 * through ow_error; the program decides where the text goes (nbdkit's
 * log for the plugin, stderr for the merge tool, a buffer in tests).
 */
#ifndef ONEWAY_ERROR_H
#define ONEWAY_ERROR_H

#include <stdarg.h>

typedef void (*ow_error_fn) (const char *fmt, va_list ap);

/* Set the error and debug sinks; NULL restores the defaults (errors
 * to stderr with the "oneway: " prefix, debug messages dropped). */
void ow_set_error_handler (ow_error_fn fn);
void ow_set_debug_handler (ow_error_fn fn);

void ow_error (const char *fmt, ...) __attribute__((format (printf, 1, 2)));
void ow_debug (const char *fmt, ...) __attribute__((format (printf, 1, 2)));

#endif
