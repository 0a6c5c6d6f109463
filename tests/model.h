/* oneway: what a workload did to an overlay, and what a crash may leave.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * The operations of a workload go through here: each is recorded with
 * where the simulated file's history stood when it was issued and when
 * it returned (memfile.h: mf_mark).  For a crash after any prefix of
 * that history, model_check recovers the overlay and holds it to the
 * promises of DESIGN.md:
 *  - 4, durability: every write acknowledged before a flush that
 *    completed in the prefix is there (or a later value of its block).
 *    Not more, even when only the process died: with writers in
 *    parallel, a record still being written when it died leaves a hole
 *    that ends recovery, and the acknowledged records after it go too;
 *  - 5, no torn or invented data: each block reads as the base or as
 *    one whole value written to it, never older than the above;
 *  - 10, the read set: every base read that returned before such a
 *    flush started is in it.
 * Values are whole blocks; writes to one block must not run in
 * parallel (give each thread its own blocks), so that a block's values
 * have one order.
 */
#ifndef ONEWAY_MODEL_H
#define ONEWAY_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "memfile.h"
#include "oneway/overlay.h"

#define MODEL_BASE_SEED 42      /* the base is tl_fill content of this seed */
#define MODEL_NOT_DONE SIZE_MAX /* an operation that failed */

struct model_op {
  char kind;                    /* 'w'rite, 'z'ero, 'r'ead, 'f'lush */
  uint64_t first;
  uint32_t count;
  uint32_t value;               /* of a write: the tl_fill seed */
  size_t issued, done;          /* history marks */
};

struct model {
  struct memfile *file;
  const char *base;
  uint32_t bs;
  uint64_t nblocks;
  pthread_mutex_t lock;
  struct model_op *ops;
  size_t nops, cap;
};

void model_init (struct model *m, struct memfile *file, const char *base,
                 uint32_t bs, uint64_t nblocks);
void model_free (struct model *m);

/* The operations, as the SEE would issue them.  Each returns what the
 * engine returned. */
int model_write (struct model *m, struct ow_overlay *ov, uint64_t first,
                 uint32_t count, uint32_t value);
int model_zero (struct model *m, struct ow_overlay *ov, uint64_t first, uint32_t count);
int model_read (struct model *m, struct ow_overlay *ov, uint64_t first, uint32_t count);
int model_flush (struct model *m, struct ow_overlay *ov);

/* Recover a copy of the file as a crash after its first upto
 * operations leaves it (power cut or process death) and check it;
 * aborts the test with what (seed, crash point) and the failure. */
void model_check (struct model *m, size_t upto, bool power, unsigned *rng,
                  const char *what);

/* Open an overlay on file, creating it (compress: enum ow_compress). */
struct ow_overlay *model_open (struct model *m, int compress);

#endif
