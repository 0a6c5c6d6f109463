/* oneway-merge: replay of an ext3/ext4 (JBD2) journal.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * The SEE may stop with its filesystem unclean: the journal then holds
 * committed transactions that are not yet in place.  Reading such a
 * filesystem as it is would show it half-updated, so the merge tool
 * first replays the journal, as the kernel would on the next mount.
 *
 * Everything in the journal is treated as hostile: every walk is
 * bounded by the journal's length, every block number is checked, and
 * nothing is written until the whole log has been checked.
 */
#ifndef ONEWAY_MERGE_JBD2_H
#define ONEWAY_MERGE_JBD2_H

#include <stdbool.h>
#include <stdint.h>

#include <ext2fs/ext2fs.h>

struct jbd2_replay_result {
  bool needed;                  /* the filesystem needed recovery at all */
  uint32_t transactions;        /* committed transactions found and replayed */
  uint64_t blocks_replayed;     /* filesystem blocks written (or, dry, to write) */
  uint64_t blocks_revoked;      /* tags skipped because a later revoke covered them */
  uint32_t first_tid;           /* the first transaction in the log */
  uint32_t next_tid;            /* the first one not replayed */
  /* A commit block failed its checksum: that transaction and all later
   * ones were dropped, as the kernel does, and the filesystem is now
   * marked as having errors (as e2fsck does). */
  bool failed_commit;
  uint32_t failed_tid;
  /* Inodes on the orphan list (s_last_orphan) as the disk now holds it:
   * the kernel would finish deleting or truncating them on mount.  In a
   * dry run, the list as it was before the replay. */
  uint32_t orphans;
};

/* Replay the internal journal of fs into fs (through fs->io), then
 * mark the journal empty and clear the filesystem's RECOVER flag, both
 * written directly to disk.
 *
 * fs must be opened with EXT2_FLAG_RW.  When something was replayed
 * (result->needed and not dry_run), fs's in-memory superblock and group
 * descriptors predate the replay, and writing them back would undo
 * part of it: jbd2_replay therefore clears EXT2_FLAG_RW in fs->flags.
 * The caller must not mark fs dirty or flush it; ext2fs_close (fs) then
 * writes nothing, and the filesystem is to be opened again to go on.
 *
 * dry_run: check the log and count, write nothing.
 *
 * A filesystem not marked as needing recovery is left alone, whatever
 * its journal holds, as the kernel would (result->needed false).
 *
 * Returns 0 on success (also when nothing needed recovery), -1 on error with a message through ow_error
 * that names the object and the cause.  On error nothing has been
 * written, unless the error was an I/O error while writing. */
int jbd2_replay (ext2_filsys fs, bool dry_run, struct jbd2_replay_result *result);

#endif
