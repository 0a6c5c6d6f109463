/* oneway: unit tests of the on-disk encodings and checksums.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oneway/crc32c.h"
#include "oneway/escape.h"
#include "oneway/format.h"
#include "oneway/sha256.h"
#include "oneway/util.h"
#include "testlib.h"

START_TEST (test_crc32c_vectors)
{
  uint8_t zeros[32] = { 0 }, ones[32], inc[32];

  memset (ones, 0xff, sizeof ones);
  for (int i = 0; i < 32; i++)
    inc[i] = i;
  /* RFC 3720, B.4. */
  ck_assert_uint_eq (ow_crc32c (0, "123456789", 9), 0xe3069283);
  ck_assert_uint_eq (ow_crc32c (0, zeros, 32), 0x8a9136aa);
  ck_assert_uint_eq (ow_crc32c (0, ones, 32), 0x62a8ab43);
  ck_assert_uint_eq (ow_crc32c (0, inc, 32), 0x46dd794e);
}
END_TEST

START_TEST (test_crc32c_chaining)
{
  /* The three-stream path must agree with the bytewise one at every
   * length and alignment. */
  size_t n = 3 * 8192 * 2 + 123;
  uint8_t *buf = malloc (n + 8);
  for (size_t i = 0; i < n + 8; i++)
    buf[i] = i * 7 + (i >> 8);
  uint32_t whole = ow_crc32c (0, buf + 3, n);
  uint32_t parts = 0;
  for (size_t off = 0; off < n; ) {
    size_t len = 1 + (off * 31) % 700;
    if (len > n - off)
      len = n - off;
    parts = ow_crc32c (parts, buf + 3 + off, len);
    off += len;
  }
  ck_assert_uint_eq (whole, parts);
  uint32_t bytes = 0;
  for (size_t i = 0; i < n; i++)
    bytes = ow_crc32c (bytes, buf + 3 + i, 1);
  ck_assert_uint_eq (whole, bytes);
  free (buf);
}
END_TEST

static void
hex (const uint8_t *d, char *out)
{
  for (int i = 0; i < 32; i++)
    sprintf (out + 2 * i, "%02x", d[i]);
}

START_TEST (test_sha256)
{
  struct ow_sha256 c;
  uint8_t d[32];
  char h[65];
  static const char *abc_2 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

  ow_sha256_init (&c);
  ow_sha256_final (&c, d);
  hex (d, h);
  ck_assert_str_eq (h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  ow_sha256_init (&c);
  ow_sha256_update (&c, abc_2, strlen (abc_2));
  ow_sha256_final (&c, d);
  hex (d, h);
  ck_assert_str_eq (h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}
END_TEST

START_TEST (test_sha256_paths_agree)
{
  /* Whatever path this CPU takes, the portable code must agree. */
  uint8_t *buf = malloc (100000), fast[40][32], slow[32];
  struct ow_sha256 c;

  for (size_t i = 0; i < 100000; i++)
    buf[i] = i * 131 + (i >> 7);
  for (int n = 0; n < 40; n++) {
    ow_sha256_init (&c);
    ow_sha256_update (&c, buf, n * 2477);
    ow_sha256_final (&c, fast[n]);
  }
  ow_sha256_force_portable ();
  for (int n = 0; n < 40; n++) {
    ow_sha256_init (&c);
    ow_sha256_update (&c, buf, n * 2477);
    ow_sha256_final (&c, slow);
    ck_assert_int_eq (memcmp (fast[n], slow, 32), 0);
  }
  free (buf);
}
END_TEST

START_TEST (test_header_roundtrip)
{
  struct ow_header h = { 0 }, g;
  uint8_t slot[OW_HEADER_SLOT_SIZE];

  h.version = OW_VERSION;
  h.generation = 77;
  for (int i = 0; i < 16; i++)
    h.uuid[i] = i * 3;
  h.block_size = 4096;
  h.compress = OW_COMPRESS_LZ4;
  h.base_size = 123456789;
  h.fingerprint_method = 1;
  memset (h.fingerprint, 0xab, sizeof h.fingerprint);
  h.flags = OW_HDR_CLEAN;
  h.created = 1700000000;
  h.durable_end = 99999;
  h.log_end = 88888;
  h.checkpoint_offset = 88888;
  h.checkpoint_length = 4321;
  h.last_commit = 77777;
  h.incompat = OW_INCOMPAT_COMMIT_RECORDS;
  strcpy (h.base_name, "/dev/vg/snap");
  ow_header_encode (&h, slot);
  ck_assert_int_eq (ow_header_decode (slot, &g), 0);
  ck_assert_int_eq (memcmp (&h, &g, sizeof h), 0);
  /* Every byte is covered by the checksum. */
  for (size_t i = 0; i < sizeof slot; i += 97) {
    slot[i] ^= 1;
    ck_assert_int_eq (ow_header_decode (slot, &g), -1);
    slot[i] ^= 1;
  }
}
END_TEST

/* Where the fields of commit records are, and that an overlay without
 * any has the header of the previous version byte for byte: its
 * feature bits zero, and zero where last_commit is. */
START_TEST (test_header_commit_fields)
{
  struct ow_header h = { .version = OW_VERSION, .block_size = 4096, .durable_end = 8192 }, g;
  uint8_t slot[OW_HEADER_SLOT_SIZE];

  strcpy (h.base_name, "base.img");
  ow_header_encode (&h, slot);
  for (int i = 16; i < 24; i++)
    ck_assert_uint_eq (slot[i], 0);
  for (int i = 160; i < 256; i++)
    ck_assert_uint_eq (slot[i], 0);
  ck_assert_int_eq (ow_header_decode (slot, &g), 0);
  ck_assert_uint_eq (g.last_commit, 0);
  ck_assert_uint_eq (g.incompat, 0);

  h.incompat = OW_INCOMPAT_COMMIT_RECORDS;
  h.last_commit = 0x0102030405060708ULL;
  ow_header_encode (&h, slot);
  ck_assert_uint_eq (ow_get_le64 (slot + 16), 1);
  ck_assert_uint_eq (ow_get_le64 (slot + 160), 0x0102030405060708ULL);
  ck_assert_uint_eq (slot[160], 0x08);
  for (int i = 168; i < 256; i++)
    ck_assert_uint_eq (slot[i], 0);
  ck_assert_int_eq (ow_header_decode (slot, &g), 0);
  ck_assert_uint_eq (g.last_commit, h.last_commit);
  ck_assert_uint_eq (g.incompat, OW_INCOMPAT_COMMIT_RECORDS);
  ck_assert_uint_eq (OW_INCOMPAT_KNOWN, OW_INCOMPAT_COMMIT_RECORDS);
}
END_TEST

/* A COMMIT record: type 7; its number in the chain in count, the
 * previous record's offset in block, both under the header's CRC. */
START_TEST (test_commit_record)
{
  struct ow_record r = { .type = OW_REC_COMMIT, .count = 3, .payload_length = 100,
                         .block = 123456, .payload_crc = 0x12345678 }, s;
  uint8_t hdr[OW_REC_HDR_SIZE];

  ck_assert_uint_eq (OW_REC_COMMIT, 7);
  ck_assert_uint_eq (OW_COMMIT_RECORD_MAX, 64u << 20);
  ow_record_encode (&r, 99, hdr);
  ck_assert_uint_eq (hdr[4], 7);
  ck_assert_uint_eq (ow_get_le32 (hdr + 8), 3);
  ck_assert_uint_eq (ow_get_le64 (hdr + 16), 123456);
  ck_assert_int_eq (ow_record_decode (hdr, 99, &s), 0);
  ck_assert_uint_eq (s.type, OW_REC_COMMIT);
  ck_assert_uint_eq (s.count, 3);
  ck_assert_uint_eq (s.block, 123456);
  ck_assert_uint_eq (s.payload_length, 100);
  ck_assert_uint_eq (s.payload_crc, 0x12345678);
  for (int i = 8; i < 24; i++) {
    hdr[i] ^= 0x10;
    ck_assert_int_eq (ow_record_decode (hdr, 99, &s), -1);
    hdr[i] ^= 0x10;
  }
  /* The largest payload still fits the length field, and its record
   * the offsets. */
  ck_assert_uint_eq (ow_record_length (OW_COMMIT_RECORD_MAX), 32 + (64u << 20));
}
END_TEST

START_TEST (test_record_roundtrip)
{
  struct ow_record r = { .type = OW_REC_DATA, .flags = 0, .count = 7,
                         .payload_length = 1234, .block = 1ULL << 40,
                         .payload_crc = 0xdeadbeef }, s;
  uint8_t hdr[OW_REC_HDR_SIZE];

  ow_record_encode (&r, 42, hdr);
  ck_assert_int_eq (ow_record_decode (hdr, 42, &s), 0);
  ck_assert_uint_eq (s.type, r.type);
  ck_assert_uint_eq (s.count, r.count);
  ck_assert_uint_eq (s.payload_length, r.payload_length);
  ck_assert_uint_eq (s.block, r.block);
  ck_assert_uint_eq (s.payload_crc, r.payload_crc);
  /* Another overlay's salt does not validate it. */
  ck_assert_int_eq (ow_record_decode (hdr, 43, &s), -1);
  hdr[17] ^= 4;
  ck_assert_int_eq (ow_record_decode (hdr, 42, &s), -1);
  /* Bytes 6-7 are zero; a header with them set, even with a checksum
   * that matches, comes from nowhere this format knows. */
  for (int i = 6; i < 8; i++) {
    ow_record_encode (&r, 42, hdr);
    hdr[i] = 1;
    ow_put_le32 (hdr + 28, ow_crc32c (42, hdr, 28));
    ck_assert_int_eq (ow_record_decode (hdr, 42, &s), -1);
  }
  ck_assert_uint_eq (ow_record_length (0), 32);
  ck_assert_uint_eq (ow_record_length (1), 40);
  ck_assert_uint_eq (ow_record_length (8), 40);
}
END_TEST

START_TEST (test_escape)
{
  struct { const char *in; size_t len; const char *out; } cases[] = {
    { "plain/path.txt", 14, "plain/path.txt" },
    { "caf\xc3\xa9", 5, "caf\xc3\xa9" },                  /* valid UTF-8 kept */
    { "a\\b", 3, "a\\\\b" },                                /* backslash doubled */
    { "new\nline\x1b[31m", 13, "new\\x0aline\\x1b[31m" },   /* controls */
    { "bad\xff\xc3", 5, "bad\\xff\\xc3" },                  /* invalid, truncated */
    { "nul\0x", 5, "nul\\x00x" },
    { "\xc0\xaf", 2, "\\xc0\\xaf" },                        /* overlong '/' */
    { "\xe2\x80\xae" "evil", 7, "\\xe2\\x80\\xae" "evil" }, /* RTL override */
    { "\xc2\x9b", 2, "\\xc2\\x9b" },                        /* C1 CSI */
  };

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *e = ow_escape (cases[i].in, cases[i].len);
    ck_assert_str_eq (e, cases[i].out);
    free (e);
  }
}
END_TEST

START_TEST (test_parse_size)
{
  ck_assert_int_eq (ow_parse_size ("4096"), 4096);
  ck_assert_int_eq (ow_parse_size ("64K"), 65536);
  ck_assert_int_eq (ow_parse_size ("2M"), 2 << 20);
  ck_assert_int_eq (ow_parse_size ("1GiB"), 1 << 30);
  ck_assert_int_eq (ow_parse_size ("x"), -1);
  ck_assert_int_eq (ow_parse_size ("12Q"), -1);
  ck_assert_int_eq (ow_parse_size ("99999999999999999999"), -1);
}
END_TEST

static void
add_tests (TCase *tc)
{
  tcase_add_test (tc, test_crc32c_vectors);
  tcase_add_test (tc, test_crc32c_chaining);
  tcase_add_test (tc, test_sha256);
  tcase_add_test (tc, test_sha256_paths_agree);
  tcase_add_test (tc, test_header_roundtrip);
  tcase_add_test (tc, test_header_commit_fields);
  tcase_add_test (tc, test_commit_record);
  tcase_add_test (tc, test_record_roundtrip);
  tcase_add_test (tc, test_escape);
  tcase_add_test (tc, test_parse_size);
}

int
main (void)
{
  return tl_run ("format", add_tests);
}
