/* oneway-merge fuzzing: the libFuzzer target for image → change list.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * The input is the SEE view's image; the base view is a fixed real
 * ext4 image, read once: $ONEWAY_FUZZ_BASE, else the one the
 * regression tests use (tests/fuzz-regress/base.img.gz in the source
 * tree this was built from).  See fuzz/README.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-one.h"

#ifndef FUZZ_DEFAULT_BASE
#define FUZZ_DEFAULT_BASE "tests/fuzz-regress/base.img.gz"
#endif

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
size_t LLVMFuzzerMutate (uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator (uint8_t *data, size_t size, size_t max_size,
                                unsigned int seed);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  const char *path = getenv ("ONEWAY_FUZZ_BASE");
  uint8_t *buf;
  size_t len;

  (void) argc; (void) argv;
  if (!path || !*path)
    path = FUZZ_DEFAULT_BASE;
  if (fuzz_read_file (path, &buf, &len) == -1 || fuzz_set_base (buf, len) == -1) {
    fprintf (stderr, "fuzz-diff: cannot load the base image %s (set ONEWAY_FUZZ_BASE)\n",
             path);
    exit (EXIT_FAILURE);
  }
  free (buf);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  fuzz_one (data, size, NULL, NULL);
  return 0;
}

/* libFuzzer's mutations insert and erase bytes, which shift the rest
 * of an image and leave garbage that the superblock check refuses.
 * Most mutations here work in place on one piece of the image, the
 * size of a block of the base, so that the rest keeps its structure;
 * one in eight is libFuzzer's own, which can change the length. */
#define PIECE 1024

size_t
LLVMFuzzerCustomMutator (uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
  uint8_t piece[PIECE];
  size_t at, n;

  if (size < PIECE || seed % 8 == 0)
    return LLVMFuzzerMutate (data, size, max_size);
  at = (size_t) (seed / 8) % (size / PIECE) * PIECE;
  memcpy (piece, data + at, PIECE);
  n = LLVMFuzzerMutate (piece, PIECE, PIECE);
  memcpy (data + at, piece, n);
  return size;
}
