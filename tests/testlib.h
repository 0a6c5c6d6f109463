/* oneway: helpers for the Check unit tests.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#ifndef ONEWAY_TESTLIB_H
#define ONEWAY_TESTLIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <check.h>

#include "oneway/overlay.h"

/* A private directory, removed (recursively) by tl_cleanup, and in
 * any case by the end of tl_run, whatever became of the test. */
const char *tl_dir (void);
void tl_cleanup (void);
/* tl_dir()/name, in a static rotating buffer. */
const char *tl_path (const char *name);

/* Errors from the library are kept, not printed. */
void tl_capture_errors (void);
const char *tl_last_error (void);
void tl_clear_error (void);

/* Deterministic content: byte i of a disk made with seed. */
void tl_fill (uint8_t *buf, size_t len, uint64_t offset, uint32_t seed);
/* A base file of size bytes of tl_fill content. */
void tl_make_base (const char *path, uint64_t size, uint32_t seed);

/* Open with the common parameters; aborts the test on failure. */
struct ow_overlay *tl_open (const char *overlay, const char *base, bool writable,
                            uint32_t block_size, int compress);
/* Open, returning -1 instead of aborting. */
int tl_try_open (const char *overlay, const char *base, bool writable,
                 uint32_t block_size, int compress, struct ow_overlay **ov);

/* Run fn in a child that exits without closing anything: a kill -9. */
void tl_in_child (void (*fn) (void *), void *opaque);

uint64_t tl_file_size (const char *path);

/* Run the suite made of one test case; the exit status for main. */
int tl_run (const char *name, void (*add_tests) (TCase *tc));
void tl_corrupt_byte (const char *path, uint64_t offset);

#endif
