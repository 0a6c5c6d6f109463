/* oneway: the base's content fingerprint.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <stdlib.h>

#include "oneway/fingerprint.h"
#include "oneway/sha256.h"
#include "oneway/util.h"

#define EDGE (1024 * 1024)
#define SLICE (64 * 1024)
#define SLICES 62

static int
hash_range (struct ow_base *b, struct ow_sha256 *ctx, uint8_t *buf,
            uint64_t offset, uint64_t len)
{
  uint8_t tag[16];
  uint64_t size = ow_base_size (b);

  if (offset >= size)
    return 0;
  len = ow_min64 (len, size - offset);
  ow_put_le64 (tag, offset);
  ow_put_le64 (tag + 8, len);
  ow_sha256_update (ctx, tag, sizeof tag);
  if (ow_base_pread (b, buf, len, offset) == -1)
    return -1;
  ow_sha256_update (ctx, buf, len);
  return 0;
}

int
ow_base_fingerprint (struct ow_base *b, uint8_t fp[OW_FINGERPRINT_SIZE])
{
  struct ow_sha256 ctx;
  uint64_t size = ow_base_size (b);
  uint8_t sz[8], *buf = malloc (EDGE);
  int r = -1;

  if (!buf)
    return -1;
  ow_sha256_init (&ctx);
  ow_put_le64 (sz, size);
  ow_sha256_update (&ctx, sz, sizeof sz);
  if (size <= 2 * EDGE + SLICES * SLICE) {
    /* Small enough to hash whole. */
    for (uint64_t off = 0; off < size; off += EDGE)
      if (hash_range (b, &ctx, buf, off, EDGE) == -1)
        goto out;
  }
  else {
    if (hash_range (b, &ctx, buf, 0, EDGE) == -1)
      goto out;
    for (int i = 1; i <= SLICES; i++) {
      uint64_t off = (size / (SLICES + 1) * i) & ~(uint64_t) 4095;
      if (hash_range (b, &ctx, buf, off, SLICE) == -1)
        goto out;
    }
    if (hash_range (b, &ctx, buf, size - EDGE, EDGE) == -1)
      goto out;
  }
  ow_sha256_final (&ctx, fp);
  r = 0;
 out:
  free (buf);
  return r;
}
