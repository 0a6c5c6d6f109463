/* oneway: encoding of the overlay header and record headers.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * The layout is specified in docs/overlay-format.md; the offsets below
 * must stay in step with it.
 */
#include <config.h>

#include <string.h>

#include "oneway/crc32c.h"
#include "oneway/format.h"

/* Header slot offsets. */
enum {
  H_MAGIC = 0, H_VERSION = 8, H_SLOT_SIZE = 12, H_INCOMPAT = 16,
  H_RO_COMPAT = 24, H_COMPAT = 32, H_GENERATION = 40, H_UUID = 48,
  H_BLOCK_SIZE = 64, H_COMPRESS = 68, H_BASE_SIZE = 72,
  H_FP_METHOD = 80, H_FLAGS = 84, H_FINGERPRINT = 88, H_CREATED = 120,
  H_DURABLE_END = 128, H_LOG_END = 136, H_CKPT_OFFSET = 144,
  H_CKPT_LENGTH = 152, H_LAST_COMMIT = 160, H_BASE_NAME = 256,
  H_CRC = OW_HEADER_SLOT_SIZE - 4,
};

void
ow_header_encode (const struct ow_header *h, uint8_t *s)
{
  memset (s, 0, OW_HEADER_SLOT_SIZE);
  memcpy (s + H_MAGIC, OW_MAGIC, 8);
  ow_put_le32 (s + H_VERSION, h->version);
  ow_put_le32 (s + H_SLOT_SIZE, OW_HEADER_SLOT_SIZE);
  ow_put_le64 (s + H_INCOMPAT, h->incompat);
  ow_put_le64 (s + H_RO_COMPAT, h->ro_compat);
  ow_put_le64 (s + H_COMPAT, h->compat);
  ow_put_le64 (s + H_GENERATION, h->generation);
  memcpy (s + H_UUID, h->uuid, 16);
  ow_put_le32 (s + H_BLOCK_SIZE, h->block_size);
  ow_put_le32 (s + H_COMPRESS, h->compress);
  ow_put_le64 (s + H_BASE_SIZE, h->base_size);
  ow_put_le32 (s + H_FP_METHOD, h->fingerprint_method);
  ow_put_le32 (s + H_FLAGS, h->flags);
  memcpy (s + H_FINGERPRINT, h->fingerprint, OW_FINGERPRINT_SIZE);
  ow_put_le64 (s + H_CREATED, h->created);
  ow_put_le64 (s + H_DURABLE_END, h->durable_end);
  ow_put_le64 (s + H_LOG_END, h->log_end);
  ow_put_le64 (s + H_CKPT_OFFSET, h->checkpoint_offset);
  ow_put_le64 (s + H_CKPT_LENGTH, h->checkpoint_length);
  ow_put_le64 (s + H_LAST_COMMIT, h->last_commit);
  memcpy (s + H_BASE_NAME, h->base_name, strnlen (h->base_name, OW_BASE_NAME_MAX));
  ow_put_le32 (s + H_CRC, ow_crc32c (0, s, H_CRC));
}

int
ow_header_decode (const uint8_t *s, struct ow_header *h)
{
  if (memcmp (s + H_MAGIC, OW_MAGIC, 8) != 0)
    return -1;
  if (ow_get_le32 (s + H_CRC) != ow_crc32c (0, s, H_CRC))
    return -1;
  memset (h, 0, sizeof *h);
  h->version = ow_get_le32 (s + H_VERSION);
  h->incompat = ow_get_le64 (s + H_INCOMPAT);
  h->ro_compat = ow_get_le64 (s + H_RO_COMPAT);
  h->compat = ow_get_le64 (s + H_COMPAT);
  h->generation = ow_get_le64 (s + H_GENERATION);
  memcpy (h->uuid, s + H_UUID, 16);
  h->block_size = ow_get_le32 (s + H_BLOCK_SIZE);
  h->compress = ow_get_le32 (s + H_COMPRESS);
  h->base_size = ow_get_le64 (s + H_BASE_SIZE);
  h->fingerprint_method = ow_get_le32 (s + H_FP_METHOD);
  h->flags = ow_get_le32 (s + H_FLAGS);
  memcpy (h->fingerprint, s + H_FINGERPRINT, OW_FINGERPRINT_SIZE);
  h->created = ow_get_le64 (s + H_CREATED);
  h->durable_end = ow_get_le64 (s + H_DURABLE_END);
  h->log_end = ow_get_le64 (s + H_LOG_END);
  h->checkpoint_offset = ow_get_le64 (s + H_CKPT_OFFSET);
  h->checkpoint_length = ow_get_le64 (s + H_CKPT_LENGTH);
  h->last_commit = ow_get_le64 (s + H_LAST_COMMIT);
  memcpy (h->base_name, s + H_BASE_NAME, OW_BASE_NAME_MAX);
  h->base_name[OW_BASE_NAME_MAX] = '\0';
  return 0;
}

/* Record header offsets. */
enum {
  R_MAGIC = 0, R_TYPE = 4, R_FLAGS = 5, R_RESERVED = 6, R_COUNT = 8,
  R_PAYLOAD_LENGTH = 12, R_BLOCK = 16, R_PAYLOAD_CRC = 24, R_HDR_CRC = 28,
};

void
ow_record_encode (const struct ow_record *r, uint32_t salt, uint8_t *p)
{
  ow_put_le32 (p + R_MAGIC, OW_REC_MAGIC);
  p[R_TYPE] = r->type;
  p[R_FLAGS] = r->flags;
  p[R_RESERVED] = p[R_RESERVED + 1] = 0;
  ow_put_le32 (p + R_COUNT, r->count);
  ow_put_le32 (p + R_PAYLOAD_LENGTH, r->payload_length);
  ow_put_le64 (p + R_BLOCK, r->block);
  ow_put_le32 (p + R_PAYLOAD_CRC, r->payload_crc);
  ow_put_le32 (p + R_HDR_CRC, ow_crc32c (salt, p, R_HDR_CRC));
}

int
ow_record_decode (const uint8_t *p, uint32_t salt, struct ow_record *r)
{
  if (ow_get_le32 (p + R_MAGIC) != OW_REC_MAGIC)
    return -1;
  if (ow_get_le32 (p + R_HDR_CRC) != ow_crc32c (salt, p, R_HDR_CRC))
    return -1;
  if (p[R_RESERVED] || p[R_RESERVED + 1])
    return -1;
  r->type = p[R_TYPE];
  r->flags = p[R_FLAGS];
  r->count = ow_get_le32 (p + R_COUNT);
  r->payload_length = ow_get_le32 (p + R_PAYLOAD_LENGTH);
  r->block = ow_get_le64 (p + R_BLOCK);
  r->payload_crc = ow_get_le32 (p + R_PAYLOAD_CRC);
  return 0;
}
