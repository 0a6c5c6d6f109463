/* oneway-merge: an object's extended attributes, as a sorted list.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <et/com_err.h>

#include "oneway/util.h"
#include "xattrs.h"

int
xattrs_add (struct xattrs *xs, const char *name, const void *value, size_t len)
{
  struct xattr *x;

  if (ow_grow_array (&xs->x, &xs->cap, xs->n + 1, sizeof *xs->x) == -1)
    return -1;
  x = &xs->x[xs->n];
  x->name = strdup (name);
  x->value = malloc (len ? len : 1);
  if (!x->name || !x->value) {
    free (x->name);
    free (x->value);
    return -1;
  }
  memcpy (x->value, value, len);
  x->len = len;
  xs->n++;
  return 0;
}

static int
compare_xattr (const void *a, const void *b)
{
  return strcmp (((const struct xattr *) a)->name, ((const struct xattr *) b)->name);
}

void
xattrs_sort (struct xattrs *xs)
{
  if (xs->n > 1)
    qsort (xs->x, xs->n, sizeof *xs->x, compare_xattr);
}

void
xattrs_free (struct xattrs *xs)
{
  for (size_t i = 0; i < xs->n; i++) {
    free (xs->x[i].name);
    free (xs->x[i].value);
  }
  free (xs->x);
  memset (xs, 0, sizeof *xs);
}

bool
xattrs_equal (const struct xattrs *a, const struct xattrs *b)
{
  if (a->n != b->n)
    return false;
  for (size_t i = 0; i < a->n; i++)
    if (strcmp (a->x[i].name, b->x[i].name) != 0 || a->x[i].len != b->x[i].len
        || memcmp (a->x[i].value, b->x[i].value, a->x[i].len) != 0)
      return false;
  return true;
}

const struct xattr *
xattrs_find (const struct xattrs *xs, const char *name)
{
  struct xattr key = { .name = (char *) name };
  return xs->n ? bsearch (&key, xs->x, xs->n, sizeof *xs->x, compare_xattr) : NULL;
}

struct collect {
  struct xattrs *xs;
  int err;
};

/* ext4 keeps POSIX ACLs in a short form of its own (version 1; the
 * entries of the owner, the owning group, the mask and others without
 * an id), and libext2fs's iterator gives them as stored.  The kernel's
 * getxattr and setxattr speak the long form: version 2, every entry
 * with an id, ACL_UNDEFINED_ID where it names nobody.  Turned into
 * that, so that an ACL compares equal to the host's copy and can be
 * set on the host.  NULL (and the value kept as it is) if it is not
 * a well-formed short ACL. */
static char *
acl_as_kernel (const char *name, const char *value, size_t len, size_t *outlen)
{
  char *out;
  size_t o = 4;

  if ((strcmp (name, "system.posix_acl_access") != 0
       && strcmp (name, "system.posix_acl_default") != 0)
      || len < 4 || memcmp (value, "\1\0\0\0", 4) != 0
      || !(out = malloc (4 + (len - 4) * 2)))
    return NULL;
  memcpy (out, "\2\0\0\0", 4);
  for (size_t i = 4; i < len; ) {
    uint16_t tag = (uint8_t) value[i] | (uint8_t) value[i + 1] << 8;
    bool named = tag == 0x02 || tag == 0x08;          /* ACL_USER, ACL_GROUP */
    if (i + (named ? 8 : 4) > len) {
      free (out);
      return NULL;
    }
    memcpy (out + o, value + i, 4);
    if (named)
      memcpy (out + o + 4, value + i + 4, 4);
    else
      memset (out + o + 4, 0xff, 4);
    o += 8;
    i += named ? 8 : 4;
  }
  *outlen = o;
  return out;
}

static int
collect (char *name, char *value, size_t value_len, void *data)
{
  struct collect *c = data;

  /* Inline data is kept as an xattr; it is content, not an xattr. */
  if (strcmp (name, "system.data") == 0)
    return 0;
  size_t len;
  char *acl = acl_as_kernel (name, value, value_len, &len);
  int r = acl ? xattrs_add (c->xs, name, acl, len) : xattrs_add (c->xs, name, value, value_len);

  free (acl);
  if (r == -1) {
    c->err = -1;
    return XATTR_ABORT;
  }
  return 0;
}

int
extfs_read_xattrs (struct extfs *x, uint32_t ino, struct xattrs *xs)
{
  struct ext2_xattr_handle *h;
  struct collect c = { xs, 0 };
  errcode_t err;

  /* By inode number: the in-inode xattrs lie past the part of the
   * inode that struct ext2_inode_large holds. */
  err = ext2fs_xattrs_open (x->fs, ino, &h);
  if (!err) {
    err = ext2fs_xattrs_read (h);
    if (!err)
      err = ext2fs_xattrs_iterate (h, collect, &c);
    ext2fs_xattrs_close (&h);
  }
  if (err && err != EXT2_ET_EA_INODE_CORRUPTED)
    findings_add (x->findings, "%s: the xattrs of inode %" PRIu32 " cannot be read: %s",
                  x->label, ino, error_message (err));
  xattrs_sort (xs);
  return c.err;
}
