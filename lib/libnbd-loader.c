/* oneway: libnbd, loaded only when a base is an NBD URI.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include "libnbd-loader.h"
#include "oneway/error.h"

/* libnbd's soname has been libnbd.so.0 since its first release. */
#define LIBNBD_SONAME "libnbd.so.0"

struct ow_libnbd ow_libnbd;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char load_error[512];

static void
load (void)
{
  void *h = dlopen (LIBNBD_SONAME, RTLD_NOW | RTLD_LOCAL);
  const char *missing = NULL;

  if (!h) {
    snprintf (load_error, sizeof load_error, "%s", dlerror ());
    return;
  }
#define OW_LIBNBD_LOAD(name) \
  if (!missing && !(ow_libnbd.name = (__typeof__ (nbd_##name) *) dlsym (h, "nbd_" #name))) \
    missing = "nbd_" #name;
  OW_LIBNBD_FUNCTIONS (OW_LIBNBD_LOAD)
#undef OW_LIBNBD_LOAD
  if (missing) {
    snprintf (load_error, sizeof load_error, "%s has no %s: it is older than oneway needs",
              LIBNBD_SONAME, missing);
    ow_libnbd.create = NULL;
    dlclose (h);
  }
}

int
ow_libnbd_load (void)
{
  pthread_once (&once, load);
  if (ow_libnbd.create)
    return 0;
  errno = ENOSYS;
  ow_error ("an NBD base needs libnbd, which cannot be loaded (%s): install the "
            "Debian package libnbd0", load_error);
  return -1;
}
