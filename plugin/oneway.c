/* nbdkit-oneway-plugin: a copy-on-write view of a base disk whose
 * writes land only in a persistent overlay file.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 *
 * The callbacks only translate between nbdkit and the overlay engine
 * (lib/), which does the work and is shared with oneway-merge.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NBDKIT_API_VERSION 2
#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL
#include <nbdkit-plugin.h>

#include "oneway/base.h"
#include "oneway/error.h"
#include "oneway/overlay.h"

static char *base_name, *overlay_path;
static int compress = -1, track_reads = -1;
static uint32_t block_size;
static uint64_t max_overlay_size;

/* One overlay per server: every connection sees the same view. */
static struct ow_overlay *ov;

static void
error_to_nbdkit (const char *fmt, va_list ap)
{
  nbdkit_verror (fmt, ap);
}

static void
debug_to_nbdkit (const char *fmt, va_list ap)
{
  nbdkit_vdebug (fmt, ap);
}

static void
oneway_load (void)
{
  ow_set_error_handler (error_to_nbdkit);
  ow_set_debug_handler (debug_to_nbdkit);
}

static void
oneway_unload (void)
{
  free (base_name);
  free (overlay_path);
}

static int
oneway_config (const char *key, const char *value)
{
  if (strcmp (key, "base") == 0) {
    free (base_name);
    base_name = ow_base_is_uri (value) ? strdup (value) : nbdkit_absolute_path (value);
    return base_name ? 0 : -1;
  }
  if (strcmp (key, "overlay") == 0) {
    free (overlay_path);
    overlay_path = nbdkit_absolute_path (value);
    return overlay_path ? 0 : -1;
  }
  if (strcmp (key, "compress") == 0) {
    if (strcmp (value, "lz4") == 0)
      compress = OW_COMPRESS_LZ4;
    else if (strcmp (value, "none") == 0)
      compress = OW_COMPRESS_NONE;
    else {
      nbdkit_error ("compress=%s: use compress=lz4 or compress=none", value);
      return -1;
    }
    return 0;
  }
  if (strcmp (key, "block-size") == 0) {
    int64_t r = nbdkit_parse_size (value);
    if (r == -1)
      return -1;
    if (r < 512 || r > 65536 || (r & (r - 1))) {
      nbdkit_error ("block-size=%s: must be a power of two from 512 to 65536", value);
      return -1;
    }
    block_size = r;
    return 0;
  }
  if (strcmp (key, "track-reads") == 0) {
    int r = nbdkit_parse_bool (value);
    if (r == -1)
      return -1;
    track_reads = r;
    return 0;
  }
  if (strcmp (key, "max-overlay-size") == 0) {
    int64_t r = nbdkit_parse_size (value);
    if (r == -1)
      return -1;
    if (r == 0) {
      nbdkit_error ("max-overlay-size=0: leave the parameter out for no limit");
      return -1;
    }
    max_overlay_size = r;
    return 0;
  }
  nbdkit_error ("unknown parameter '%s' (see nbdkit-oneway-plugin(1))", key);
  return -1;
}

static int
oneway_config_complete (void)
{
  if (!base_name || !overlay_path) {
    nbdkit_error ("base= and overlay= are both required "
                  "(nbdkit oneway base=DISK overlay=FILE)");
    return -1;
  }
  return 0;
}

#define oneway_config_help \
  "base=DISK           (required) file, block device or NBD URI to read\n" \
  "overlay=FILE        (required) where writes go; created if missing\n" \
  "compress=lz4|none   how new writes are stored (default lz4)\n" \
  "block-size=N        overlay granularity, 512..65536 (default 4096)\n" \
  "track-reads=BOOL    record the read set (default true)\n" \
  "max-overlay-size=SIZE  fail writes with ENOSPC past this size"

static void
oneway_dump_plugin (void)
{
  printf ("oneway_version=%s\n", PACKAGE_VERSION);
  printf ("oneway_overlay_format=%d\n", OW_VERSION);
  printf ("oneway_lz4_version=%s\n", LZ4_versionString ());
}

/* Opened here, before nbdkit serves anything, so that a refused base,
 * a locked overlay or a damaged one stops the server with its reason. */
static int
oneway_get_ready (void)
{
  struct ow_open_params p = {
    .overlay = overlay_path, .base = base_name, .writable = true,
    .block_size = block_size, .compress = compress, .track_reads = track_reads,
    .max_size = max_overlay_size,
  };
  struct stat st;
  char *journal;

  /* A commit into a host tree that was interrupted works from the SEE
   * view as it was: serving (and writing) it now would change what
   * commit --resume puts in place. */
  if (asprintf (&journal, "%s.commit", overlay_path) < 0) {
    nbdkit_error ("%m");
    return -1;
  }
  if (lstat (journal, &st) == 0) {
    nbdkit_error ("overlay %s: a commit of it into a host tree was interrupted (its journal "
                  "%s is there): finish it with oneway-merge commit %s --resume, or undo it "
                  "with --abort, before serving the overlay again", overlay_path, journal,
                  overlay_path);
    free (journal);
    return -1;
  }
  free (journal);
  return ow_open (&p, &ov);
}

static void
oneway_cleanup (void)
{
  ow_close (ov);
  ov = NULL;
}

static void *
oneway_open (int readonly)
{
  return ov;
}

static int64_t
oneway_get_size (void *handle)
{
  return ow_size (ov);
}

static int
oneway_block_size (void *handle, uint32_t *minimum, uint32_t *preferred,
                   uint32_t *maximum)
{
  *minimum = 1;
  *preferred = ow_block_size (ov);
  *maximum = 0xffffffff;
  return 0;
}

static int
oneway_true (void *handle)
{
  return 1;
}

static int
oneway_false (void *handle)
{
  return 0;
}

static int
oneway_can_fua (void *handle)
{
  return NBDKIT_FUA_NATIVE;
}

static int
oneway_can_cache (void *handle)
{
  /* A cache hint is not a read by the SEE: it must not enter the read
   * set, so it is ignored rather than emulated by reading. */
  return NBDKIT_CACHE_NATIVE;
}

static int
oneway_cache (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  return 0;
}

/* The engine sets errno; nbdkit sends it to the client. */
static int
result (int r)
{
  if (r == -1)
    nbdkit_set_error (errno);
  return r;
}

static int
oneway_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
              uint32_t flags)
{
  return result (ow_pread (ov, buf, count, offset));
}

static int
oneway_pwrite (void *handle, const void *buf, uint32_t count, uint64_t offset,
               uint32_t flags)
{
  return result (ow_pwrite (ov, buf, count, offset, flags & NBDKIT_FLAG_FUA));
}

static int
oneway_flush (void *handle, uint32_t flags)
{
  return result (ow_flush (ov));
}

/* Trim and zero are one operation: the range reads back as zeroes, and
 * costs one small record however large it is, so it is always fast. */
static int
oneway_zero (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  return result (ow_zero (ov, count, offset, flags & NBDKIT_FLAG_FUA));
}

static int
add_extent (void *opaque, uint64_t offset, uint64_t length, bool hole)
{
  return nbdkit_add_extent (opaque, offset, length,
                            hole ? NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO : 0);
}

static int
oneway_extents (void *handle, uint32_t count, uint64_t offset, uint32_t flags,
                struct nbdkit_extents *extents)
{
  return result (ow_extents (ov, count, offset, add_extent, extents));
}

static struct nbdkit_plugin plugin = {
  .name = "oneway",
  .longname = "oneway copy-on-write overlay",
  .version = PACKAGE_VERSION,
  .description = "Writes go to a persistent overlay file; the base is never written.",
  .load = oneway_load,
  .unload = oneway_unload,
  .config = oneway_config,
  .config_complete = oneway_config_complete,
  .config_help = oneway_config_help,
  .magic_config_key = "base",
  .dump_plugin = oneway_dump_plugin,
  .get_ready = oneway_get_ready,
  .cleanup = oneway_cleanup,
  .open = oneway_open,
  .get_size = oneway_get_size,
  .block_size = oneway_block_size,
  .can_write = oneway_true,
  .can_flush = oneway_true,
  .is_rotational = oneway_false,
  .can_trim = oneway_true,
  .can_zero = oneway_true,
  .can_fast_zero = oneway_true,
  .can_fua = oneway_can_fua,
  .can_multi_conn = oneway_true,
  .can_extents = oneway_true,
  .can_cache = oneway_can_cache,
  .pread = oneway_pread,
  .pwrite = oneway_pwrite,
  .flush = oneway_flush,
  .trim = oneway_zero,
  .zero = oneway_zero,
  .extents = oneway_extents,
  .cache = oneway_cache,
  .errno_is_preserved = 0,
};

NBDKIT_REGISTER_PLUGIN (plugin)
