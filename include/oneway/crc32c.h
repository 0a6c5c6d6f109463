/* oneway: CRC-32C (Castagnoli), the checksum of every overlay record.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#ifndef ONEWAY_CRC32C_H
#define ONEWAY_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Standard CRC-32C (as in iSCSI, ext4, btrfs) continued from crc:
 * ow_crc32c (0, "123456789", 9) == 0xe3069283.  Passing a previous
 * result continues the checksum over more bytes. */
uint32_t ow_crc32c (uint32_t crc, const void *buf, size_t len);

#endif
