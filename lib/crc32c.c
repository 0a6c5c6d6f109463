/* oneway: CRC-32C with the SSE4.2 instruction where the CPU has it.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * Every byte the SEE writes is checksummed on the write path, so this
 * must be fast: the crc32 instruction has a latency of three cycles
 * but a throughput of one, so the hardware path runs three independent
 * streams over adjacent thirds of a stretch and joins them by
 * "appending zeroes" to the first two, done with a table that
 * multiplies by x^(8n) modulo the polynomial.
 */
#include <config.h>

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "oneway/crc32c.h"

#define POLY 0x82f63b78U        /* CRC-32C, reflected */

static uint32_t byte_table[256];

/* Streams of SHORT and LONG bytes; shift tables for each. */
#define SHORT 256
#define LONG 8192
static uint32_t shift_short[4][256], shift_long[4][256];
static bool have_sse42;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* GF(2) 32x32 matrices as 32 column vectors. */
static uint32_t
gf2_times (const uint32_t *mat, uint32_t vec)
{
  uint32_t sum = 0;
  for (; vec; vec >>= 1, mat++)
    if (vec & 1)
      sum ^= *mat;
  return sum;
}

static void
gf2_square (uint32_t *square, const uint32_t *mat)
{
  for (int n = 0; n < 32; n++)
    square[n] = gf2_times (mat, mat[n]);
}

/* The operator that feeds len zero bytes through the CRC register. */
static void
zeros_operator (uint32_t *op, size_t len)
{
  uint32_t odd[32];

  /* One zero bit. */
  odd[0] = POLY;
  for (int n = 1; n < 32; n++)
    odd[n] = 1U << (n - 1);
  gf2_square (op, odd);          /* two zero bits */
  gf2_square (odd, op);          /* four zero bits */
  /* Each square doubles: first square gives one byte. */
  do {
    gf2_square (op, odd);
    len >>= 1;
    if (len == 0)
      return;
    gf2_square (odd, op);
    len >>= 1;
  } while (len);
  memcpy (op, odd, sizeof odd);
}

static void
make_shift_table (uint32_t table[4][256], size_t len)
{
  uint32_t op[32];

  zeros_operator (op, len);
  for (int n = 0; n < 256; n++)
    for (int k = 0; k < 4; k++)
      table[k][n] = gf2_times (op, (uint32_t) n << (8 * k));
}

static uint32_t
shift (uint32_t table[4][256], uint32_t crc)
{
  return table[0][crc & 0xff] ^ table[1][(crc >> 8) & 0xff]
    ^ table[2][(crc >> 16) & 0xff] ^ table[3][crc >> 24];
}

static void
init (void)
{
  for (uint32_t n = 0; n < 256; n++) {
    uint32_t c = n;
    for (int k = 0; k < 8; k++)
      c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
    byte_table[n] = c;
  }
#if defined(__x86_64__)
  __builtin_cpu_init ();
  have_sse42 = __builtin_cpu_supports ("sse4.2");
  if (have_sse42) {
    make_shift_table (shift_short, SHORT);
    make_shift_table (shift_long, LONG);
  }
#endif
}

static uint32_t
crc_bytes (uint32_t crc, const unsigned char *p, size_t len)
{
  while (len--)
    crc = byte_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
__attribute__((target ("sse4.2")))
static uint64_t
crc_stretch3 (uint64_t crc0, const unsigned char **pp, size_t *lenp,
              size_t stretch, uint32_t table[4][256])
{
  const unsigned char *p = *pp;
  size_t len = *lenp;

  while (len >= 3 * stretch) {
    uint64_t crc1 = 0, crc2 = 0;
    const unsigned char *end = p + stretch;
    do {
      uint64_t a, b, c;
      memcpy (&a, p, 8);
      memcpy (&b, p + stretch, 8);
      memcpy (&c, p + 2 * stretch, 8);
      crc0 = __builtin_ia32_crc32di (crc0, a);
      crc1 = __builtin_ia32_crc32di (crc1, b);
      crc2 = __builtin_ia32_crc32di (crc2, c);
      p += 8;
    } while (p < end);
    crc0 = shift (table, (uint32_t) crc0) ^ crc1;
    crc0 = shift (table, (uint32_t) crc0) ^ crc2;
    p += 2 * stretch;
    len -= 3 * stretch;
  }
  *pp = p;
  *lenp = len;
  return crc0;
}

__attribute__((target ("sse4.2")))
static uint32_t
crc_hw (uint32_t crc, const unsigned char *p, size_t len)
{
  uint64_t crc0 = crc;

  while (len && ((uintptr_t) p & 7)) {
    crc0 = __builtin_ia32_crc32qi ((uint32_t) crc0, *p++);
    len--;
  }
  crc0 = crc_stretch3 (crc0, &p, &len, LONG, shift_long);
  crc0 = crc_stretch3 (crc0, &p, &len, SHORT, shift_short);
  while (len >= 8) {
    uint64_t w;
    memcpy (&w, p, 8);
    crc0 = __builtin_ia32_crc32di (crc0, w);
    p += 8;
    len -= 8;
  }
  while (len--)
    crc0 = __builtin_ia32_crc32qi ((uint32_t) crc0, *p++);
  return (uint32_t) crc0;
}
#endif

uint32_t
ow_crc32c (uint32_t crc, const void *buf, size_t len)
{
  pthread_once (&init_once, init);
  crc = ~crc;
#if defined(__x86_64__)
  if (have_sse42)
    return ~crc_hw (crc, buf, len);
#endif
  return ~crc_bytes (crc, buf, len);
}
