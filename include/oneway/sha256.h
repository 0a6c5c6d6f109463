/* oneway: SHA-256, for the base fingerprint.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#ifndef ONEWAY_SHA256_H
#define ONEWAY_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct ow_sha256 {
  uint32_t state[8];
  uint64_t length;              /* bytes hashed so far */
  uint8_t buf[64];
  size_t used;
};

void ow_sha256_init (struct ow_sha256 *ctx);
void ow_sha256_update (struct ow_sha256 *ctx, const void *data, size_t len);
void ow_sha256_final (struct ow_sha256 *ctx, uint8_t digest[32]);

/* Use the portable code even where the CPU has SHA instructions (the
 * unit test compares the two). */
void ow_sha256_force_portable (void);

#endif
