/* oneway-merge fuzzing: one SEE image through audit, diff and cat.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * Shared by the libFuzzer target (fuzz/fuzz-diff.c) and the regression
 * driver that runs in make check (tests/check_fuzz_regress.c), so that
 * an input found by the fuzzer is replayed exactly as it was found.
 */
#ifndef ONEWAY_FUZZ_ONE_H
#define ONEWAY_FUZZ_ONE_H

#include <stddef.h>
#include <stdint.h>

/* Read a whole file, gzip'ed or not, into *buf (malloc'ed).  -1 with
 * a message on stderr. */
int fuzz_read_file (const char *path, uint8_t **buf, size_t *len);

/* The base view S0 for every later input: a copy of len bytes. */
int fuzz_set_base (const uint8_t *buf, size_t len);
void fuzz_free_base (void);

/* Run one SEE image (S1): padded with the base's bytes or truncated
 * to the base's size, compared with the base block by block for the
 * written set, then analysed as audit, diff and cat would.  Errors
 * and findings are expected results, not failures: only a crash, a
 * leak, a sanitizer report or a slow input is a bug.  Returns the
 * bytes read from both views: the work the input cost. */
uint64_t fuzz_one (const uint8_t *data, size_t size);

#endif
