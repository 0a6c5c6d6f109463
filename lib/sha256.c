/* oneway: SHA-256 (FIPS 180-4).
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * The base fingerprint hashes a few MiB at every open.  The portable
 * form does 180 MB/s here; x86 CPUs with the SHA extensions do ten
 * times that, so they get their own block function.
 */
#include <config.h>

#include <pthread.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "oneway/sha256.h"

static const uint32_t K[64] = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
  0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
  0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
  0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
  0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t
ror (uint32_t x, int n)
{
  return (x >> n) | (x << (32 - n));
}

static void
compress_portable (uint32_t *s, const uint8_t *p)
{
  uint32_t w[64], a, b, c, d, e, f, g, h;

  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t) p[4 * i] << 24 | (uint32_t) p[4 * i + 1] << 16
      | (uint32_t) p[4 * i + 2] << 8 | p[4 * i + 3];
  for (int i = 16; i < 64; i++) {
    uint32_t s0 = ror (w[i - 15], 7) ^ ror (w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = ror (w[i - 2], 17) ^ ror (w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  a = s[0]; b = s[1]; c = s[2]; d = s[3];
  e = s[4]; f = s[5]; g = s[6]; h = s[7];
  for (int i = 0; i < 64; i++) {
    uint32_t t1 = h + (ror (e, 6) ^ ror (e, 11) ^ ror (e, 25))
      + ((e & f) ^ (~e & g)) + K[i] + w[i];
    uint32_t t2 = (ror (a, 2) ^ ror (a, 13) ^ ror (a, 22))
      + ((a & b) ^ (a & c) ^ (b & c));
    h = g; g = f; f = e; e = d + t1;
    d = c; c = b; b = a; a = t1 + t2;
  }
  s[0] += a; s[1] += b; s[2] += c; s[3] += d;
  s[4] += e; s[5] += f; s[6] += g; s[7] += h;
}

#if defined(__x86_64__)
/* The SHA-NI instructions work on the state as two vectors, ABEF and
 * CDGH, four rounds per pair of sha256rnds2. */
__attribute__((target ("sha,sse4.1")))
static void
compress_ni (uint32_t *state, const uint8_t *p)
{
  const __m128i bswap = _mm_set_epi64x (0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  __m128i tmp = _mm_shuffle_epi32 (_mm_loadu_si128 ((const __m128i *) &state[0]), 0xb1);
  __m128i st1 = _mm_shuffle_epi32 (_mm_loadu_si128 ((const __m128i *) &state[4]), 0x1b);
  __m128i st0 = _mm_alignr_epi8 (tmp, st1, 8);          /* ABEF */
  __m128i save0, save1, w[4];

  st1 = _mm_blend_epi16 (st1, tmp, 0xf0);               /* CDGH */
  save0 = st0;
  save1 = st1;
  for (int i = 0; i < 4; i++)
    w[i] = _mm_shuffle_epi8 (_mm_loadu_si128 ((const __m128i *) (p + 16 * i)), bswap);
  for (int g = 0; g < 16; g++) {
    __m128i msg = _mm_add_epi32 (w[g % 4], _mm_loadu_si128 ((const __m128i *) &K[4 * g]));
    st1 = _mm_sha256rnds2_epu32 (st1, st0, msg);
    st0 = _mm_sha256rnds2_epu32 (st0, st1, _mm_shuffle_epi32 (msg, 0x0e));
    if (g < 12) {
      /* W[g+4] from W[g..g+3]. */
      __m128i next = _mm_sha256msg1_epu32 (w[g % 4], w[(g + 1) % 4]);
      next = _mm_add_epi32 (next, _mm_alignr_epi8 (w[(g + 3) % 4], w[(g + 2) % 4], 4));
      w[g % 4] = _mm_sha256msg2_epu32 (next, w[(g + 3) % 4]);
    }
  }
  st0 = _mm_add_epi32 (st0, save0);
  st1 = _mm_add_epi32 (st1, save1);
  tmp = _mm_shuffle_epi32 (st0, 0x1b);                  /* FEBA */
  st1 = _mm_shuffle_epi32 (st1, 0xb1);                  /* DCHG */
  _mm_storeu_si128 ((__m128i *) &state[0], _mm_blend_epi16 (tmp, st1, 0xf0));
  _mm_storeu_si128 ((__m128i *) &state[4], _mm_alignr_epi8 (st1, tmp, 8));
}
#endif

static void (*compress) (uint32_t *, const uint8_t *) = compress_portable;
static pthread_once_t choose_once = PTHREAD_ONCE_INIT;

static void
choose (void)
{
#if defined(__x86_64__)
  __builtin_cpu_init ();
  if (__builtin_cpu_supports ("sha") && __builtin_cpu_supports ("sse4.1"))
    compress = compress_ni;
#endif
}

/* For the unit test: the portable form, whatever the CPU. */
void
ow_sha256_force_portable (void)
{
  pthread_once (&choose_once, choose);
  compress = compress_portable;
}

void
ow_sha256_init (struct ow_sha256 *ctx)
{
  static const uint32_t iv[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  };
  pthread_once (&choose_once, choose);
  memcpy (ctx->state, iv, sizeof iv);
  ctx->length = 0;
  ctx->used = 0;
}

void
ow_sha256_update (struct ow_sha256 *ctx, const void *data, size_t len)
{
  const uint8_t *p = data;

  ctx->length += len;
  while (len) {
    size_t n = 64 - ctx->used < len ? 64 - ctx->used : len;
    memcpy (ctx->buf + ctx->used, p, n);
    ctx->used += n;
    p += n;
    len -= n;
    if (ctx->used == 64) {
      compress (ctx->state, ctx->buf);
      ctx->used = 0;
    }
  }
}

void
ow_sha256_final (struct ow_sha256 *ctx, uint8_t digest[32])
{
  uint64_t bits = ctx->length * 8;
  uint8_t pad[72] = { 0x80 };
  size_t padlen = ctx->used < 56 ? 56 - ctx->used : 120 - ctx->used;

  for (int i = 0; i < 8; i++)
    pad[padlen + i] = bits >> (56 - 8 * i);
  ow_sha256_update (ctx, pad, padlen + 8);
  for (int i = 0; i < 8; i++) {
    digest[4 * i] = ctx->state[i] >> 24;
    digest[4 * i + 1] = ctx->state[i] >> 16;
    digest[4 * i + 2] = ctx->state[i] >> 8;
    digest[4 * i + 3] = ctx->state[i];
  }
}
