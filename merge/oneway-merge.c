/* oneway-merge: review an overlay offline.
 * Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ext2fs/ext2fs.h>

#include "commands.h"
#include "oneway/error.h"
#include "oneway/escape.h"
#include "oneway/util.h"

static const struct {
  const char *name;
  int (*run) (const struct merge_opts *);
  const char *summary;
} commands[] = {
  { "info", cmd_info, "header, base identity, sizes and counts" },
  { "blocks", cmd_blocks, "the written and read sets as ranges of blocks" },
  { "audit", cmd_audit, "every written block and what owns it" },
  { "diff", cmd_diff, "the files the SEE added, changed, renamed or deleted" },
  { "cat", cmd_cat, "a file as the SEE view holds it (cat OVERLAY PATH)" },
  { "recover", cmd_recover, "replay the SEE filesystem's journal into the overlay" },
  { "check", cmd_check, "conflicts with the host tree and policy findings (--host DIR)" },
  { "commit", cmd_commit, "apply the SEE's changes to the host tree (--host DIR)" },
  { "discard", cmd_discard, "throw the SEE's changes away: the overlay starts afresh" },
};

static void
usage (FILE *f)
{
  fprintf (f,
           "usage: oneway-merge COMMAND OVERLAY [PATH] [options]\n"
           "\n"
           "Commands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf (f, "  %-8s %s\n", commands[i].name, commands[i].summary);
  fprintf (f,
           "\n"
           "Options:\n"
           "  --json       machine-readable output\n"
           "  --base BASE  use BASE instead of the base named in the overlay\n"
           "  --partition N     the partition to read (when the disk has several ext ones)\n"
           "  --ignore-journal  read an SEE filesystem that needs recovery as it is\n"
           "  --base-view  cat: the base's version of the file\n"
           "  --dry-run    recover, commit: check and count, write nothing\n"
           "  --host DIR   check, commit: the live tree a commit goes into\n"
           "  --policy FILE     check, commit: protected paths and allowed findings (default: built in)\n"
           "  --protect PATH    check, commit: protect PATH too\n"
           "  --allow KIND[=PATH]  check, commit: allow setuid, capability, device or protected findings\n"
           "  --only PATH, --exclude PATH  check, commit: take only, or leave out, the changes at PATH\n"
           "  --from FILE  check, commit: take the changes at the paths in FILE (-z: NUL-separated)\n"
           "  --accept PATH     check, commit: accept the conflicts at PATH\n"
           "  --resume, --abort  commit: finish, or undo, a commit that was interrupted\n"
           "  --yes        discard: do not ask\n"
           "  --help       this text;  --version  the version\n"
           "\n"
           "Exit status: 0 success, 1 the answer is no, 2 error.\n"
           "See oneway-merge(1).\n");
}

void
merge_print_error (const char *fmt, va_list ap)
{
  fputs ("oneway-merge: ", stderr);
  vfprintf (stderr, fmt, ap);
  fputc ('\n', stderr);
}

static char *capture_buf;
static size_t capture_len;

static void
capture_error (const char *fmt, va_list ap)
{
  vsnprintf (capture_buf, capture_len, fmt, ap);
}

void
merge_capture_errors (char *buf, size_t len)
{
  capture_buf = buf;
  capture_len = len;
  if (buf)
    buf[0] = '\0';
  ow_set_error_handler (buf ? capture_error : merge_print_error);
}

int
merge_open (const struct merge_opts *o, bool need_base, struct ow_overlay **ov)
{
  /* for_tool: reads of the SEE view that the engine serves from the
   * base would otherwise join the read set in memory, and check, which
   * reads the set after diff has read the view, would take the tool's
   * reads for the SEE's. */
  struct ow_open_params p = {
    .overlay = o->overlay, .base = o->base, .no_base = !need_base, .for_tool = true,
    .compress = -1, .track_reads = -1,
  };

  return ow_open (&p, ov);
}

int
merge_open_for_tool (const struct merge_opts *o, struct ow_overlay **ov)
{
  struct ow_open_params p = {
    .overlay = o->overlay, .base = o->base, .writable = !o->dry_run, .for_tool = true,
    .compress = -1, .track_reads = -1,
  };
  struct stat st;

  /* Opened for writing, a missing overlay would be made afresh. */
  if (stat (o->overlay, &st) == -1) {
    char *e = ow_escape (o->overlay, strlen (o->overlay));
    fprintf (stderr, "oneway-merge: overlay %s: %s\n", e ? e : "?", strerror (errno));
    free (e);
    return -1;
  }
  return ow_open (&p, ov);
}

/* An option of another command would be silently ignored: say so. */
static int
refuse_foreign_options (const struct merge_opts *o)
{
  bool commit = strcmp (o->command, "commit") == 0;
  bool check = strcmp (o->command, "check") == 0 || commit;
  const char *opt = NULL;

  if (!check)
    opt = o->host ? "--host" : o->policy ? "--policy" : o->protect.n ? "--protect"
      : o->allow.n ? "--allow" : o->only.n ? "--only" : o->exclude.n ? "--exclude"
      : o->from.n ? "--from" : o->accept.n ? "--accept" : o->nul ? "-z" : NULL;
  if (!opt && o->yes && strcmp (o->command, "discard") != 0)
    opt = "--yes";
  if (!opt && !commit && (o->resume || o->abort))
    opt = o->resume ? "--resume" : "--abort";
  if (!opt && o->dry_run && strcmp (o->command, "recover") != 0 && !commit)
    opt = "--dry-run";
  if (!opt && o->nul && !o->from.n)
    opt = "-z without --from";
  if (!opt)
    return 0;
  fprintf (stderr, "oneway-merge: %s is not an option of %s (see oneway-merge --help)\n",
           opt, o->command);
  return -1;
}

/* Parse the arguments into *o and run the command. */
static int
parse_and_run (int argc, char *argv[], struct merge_opts *o)
{
  static const struct option long_options[] = {
    { "json", no_argument, NULL, 'j' },
    { "base", required_argument, NULL, 'b' },
    { "base-view", no_argument, NULL, 'B' },
    { "partition", required_argument, NULL, 'p' },
    { "ignore-journal", no_argument, NULL, 'I' },
    { "dry-run", no_argument, NULL, 'n' },
    { "host", required_argument, NULL, 'H' },
    { "policy", required_argument, NULL, 'P' },
    { "protect", required_argument, NULL, 'R' },
    { "allow", required_argument, NULL, 'A' },
    { "only", required_argument, NULL, 'O' },
    { "exclude", required_argument, NULL, 'X' },
    { "from", required_argument, NULL, 'F' },
    { "accept", required_argument, NULL, 'C' },
    { "yes", no_argument, NULL, 'y' },
    { "resume", no_argument, NULL, 'r' },
    { "abort", no_argument, NULL, 'a' },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { NULL, 0, NULL, 0 },
  };
  struct arg_list *list = NULL;
  int c, r;

  ow_set_error_handler (merge_print_error);
  /* libext2fs's messages, for error_message (): without the table a
   * crafted extent tree is reported as "Unknown code ext2 181". */
  initialize_ext2_error_table ();
  while ((c = getopt_long (argc, argv, "jb:hVzy", long_options, NULL)) != -1) {
    switch (c) {
    case 'j': o->json = true; break;
    case 'b': o->base = optarg; break;
    case 'B': o->base_view = true; break;
    case 'I': o->ignore_journal = true; break;
    case 'n': o->dry_run = true; break;
    case 'H': o->host = optarg; break;
    case 'P': o->policy = optarg; break;
    case 'R': list = &o->protect; break;
    case 'A': list = &o->allow; break;
    case 'O': list = &o->only; break;
    case 'X': list = &o->exclude; break;
    case 'F': list = &o->from; break;
    case 'C': list = &o->accept; break;
    case 'z': o->nul = true; break;
    case 'y': o->yes = true; break;
    case 'r': o->resume = true; break;
    case 'a': o->abort = true; break;
    case 'p': {
      char *end;
      long n = strtol (optarg, &end, 10);
      if (*end || end == optarg || n < 1 || n > 1024) {
        fprintf (stderr, "oneway-merge: --partition wants a partition number (1, 2, …), not '%s'\n",
                 optarg);
        return EXIT_ERROR;
      }
      o->partition = n;
      break;
    }
    case 'h': usage (stdout); return EXIT_YES;
    case 'V': printf ("oneway-merge %s\n", PACKAGE_VERSION); return EXIT_YES;
    default: usage (stderr); return EXIT_ERROR;
    }
    if (list) {
      /* argv outlives the options: keep pointers into it. */
      if (ow_grow_array (&list->v, &list->cap, list->n + 1, sizeof *list->v) == -1) {
        perror ("oneway-merge");
        return EXIT_ERROR;
      }
      list->v[list->n++] = optarg;
      list = NULL;
    }
  }
  /* cat takes a path after the overlay; the others nothing. */
  int want = optind < argc && strcmp (argv[optind], "cat") == 0 ? 3 : 2;
  if (optind + want != argc) {
    fprintf (stderr, optind == argc ? "oneway-merge: no command given\n"
             : optind + 1 == argc ? "oneway-merge: no overlay given\n"
             : optind + want > argc ? "oneway-merge: cat needs the PATH of a file\n"
             : "oneway-merge: too many arguments\n");
    usage (stderr);
    return EXIT_ERROR;
  }
  o->command = argv[optind];
  o->overlay = argv[optind + 1];
  if (refuse_foreign_options (o) == -1)
    return EXIT_ERROR;
  if (want == 3)
    o->path = argv[optind + 2];
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp (o->command, commands[i].name) == 0) {
      r = commands[i].run (o);
      if (fflush (stdout) == EOF || ferror (stdout)) {
        perror ("oneway-merge: writing output");
        return EXIT_ERROR;
      }
      return r;
    }
  fprintf (stderr, "oneway-merge: unknown command '%s'\n", o->command);
  usage (stderr);
  return EXIT_ERROR;
}

static void
opts_free (struct merge_opts *o)
{
  free (o->protect.v);
  free (o->allow.v);
  free (o->only.v);
  free (o->exclude.v);
  free (o->from.v);
  free (o->accept.v);
}

int
main (int argc, char *argv[])
{
  struct merge_opts o = { 0 };
  int r = parse_and_run (argc, argv, &o);

  opts_free (&o);
  return r;
}
