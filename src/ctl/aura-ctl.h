/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <systemd/sd-bus.h>

#include "aura-bus.h"

G_BEGIN_DECLS

/* Exit statuses, documented in --help and aura-progressctl(1): scripts
 * branch on them, so they are part of the interface. */
typedef enum {
  AURA_CTL_EXIT_OK = 0,               /* done; for watch: the job completed */
  AURA_CTL_EXIT_ERROR = 1,            /* the daemon refused or something failed */
  AURA_CTL_EXIT_USAGE = 2,            /* bad command line */
  AURA_CTL_EXIT_JOB_FAILED = 3,       /* watch: the job failed */
  AURA_CTL_EXIT_JOB_CANCELLED = 4,    /* watch: the job was cancelled */
  AURA_CTL_EXIT_UNAVAILABLE = 5,      /* aura-progressd not running, or it went away */
  AURA_CTL_EXIT_INTERRUPTED = 130,    /* watch: stopped by SIGINT or SIGTERM */
} AuraCtlExit;

/**
 * AuraCtl:
 * What every command shares: the options before and after the command, the
 * connection, and the main loop of the commands that follow live signals.
 */
typedef struct {
  AuraBusOptions bus_options;
  gboolean json;
  const char *command;                /* the command's name, for usage lines */

  sd_bus *bus;
  char *bus_description;              /* "the system bus", for messages */
  gboolean tty;                       /* stdout is a terminal */
  gboolean utf8;                      /* the locale's charset is UTF-8 */
  gboolean daemon_seen;               /* a call was answered: it was there */

  GMainLoop *loop;
  guint bus_source_id;
  guint sigint_id;
  guint sigterm_id;
  int exit_code;
  gboolean quitting;                  /* the first aura_ctl_quit() decides */
  int interrupt_code;
  void (*on_interrupt) (gpointer data);
  gpointer interrupt_data;
} AuraCtl;

typedef struct {
  const char *name;
  const char *parameters;             /* e.g. "JOB" (translatable) */
  const char *summary;                /* one line (translatable) */
  int (*run) (AuraCtl *ctl, int argc, char **argv);
} AuraCtlCommand;

/* aura-progressctl.c */
const AuraCtlCommand *aura_ctl_find_command (const char *name);

/* Parses a command's own options (with --json, the bus options and --help
 * added) from argv, where argv[0] is the command's name. Checks that the
 * number of positional arguments is from min_args to max_args, and connects
 * to the bus. Returns -1 to go on, or the exit status to return (after
 * --help, or with the error printed). */
int  aura_ctl_parse_command (AuraCtl *ctl, const GOptionEntry *entries, int min_args,
                             int max_args, int *argc, char ***argv);

/* The same for a command whose one argument is a job id, which it checks:
 * afterwards argv[1] is a valid job id. */
int  aura_ctl_parse_job_command (AuraCtl *ctl, const GOptionEntry *entries, int *argc,
                                 char ***argv);

/* Prints "aura-progressctl: MESSAGE" to stderr and returns @code. */
int  aura_ctl_fail (int code, const char *format, ...) G_GNUC_PRINTF (2, 3);
/* Explains a failed call in one line (no such job, daemon not running, not
 * allowed, ...) and returns the matching exit status. */
int  aura_ctl_fail_call (AuraCtl *ctl, const sd_bus_error *error, int r, const char *job_id);
/* Checks a job id given on the command line. */
int  aura_ctl_check_job_id (const char *job_id);

/* Calls a method of org.aura.Progress. Returns 0 with *reply set, or the
 * exit status with the error printed. timeout_us 0 is sd-bus' default. */
int  aura_ctl_call (AuraCtl *ctl, sd_bus_message **reply, const char *job_id, uint64_t timeout_us,
                    const char *member, const char *types, ...);
/* Calls GetJob and returns the state a{sv}; NULL with the error printed and
 * *code set. */
GVariant *aura_ctl_get_job (AuraCtl *ctl, const char *job_id, int *code);

/* Prints an event: a text line (aura_ctl_format_event()), or with --json a
 * JSON line {"event": TYPE, "id": ID, "data": PAYLOAD} named like the web
 * API's server-sent events. @type "state" prints a job state; @id 0: none. */
void aura_ctl_print_event (AuraCtl *ctl, const char *type, guint64 id, GVariant *payload);
/* Writes a JSON document (pretty) or a JSON line (compact) to stdout. */
void aura_ctl_print_json (JsonNode *node, gboolean pretty);

/* The following commands: aura_ctl_catch_signals() first, before anything
 * is printed (so that a Ctrl-C at any time ends them well), then
 * aura_ctl_run_loop() runs until aura_ctl_quit(). SIGINT/SIGTERM quit with
 * @signal_code; a lost bus connection with AURA_CTL_EXIT_UNAVAILABLE; in both
 * cases @on_stop (optional) runs first, e.g. to end a line being redrawn. */
void aura_ctl_catch_signals (AuraCtl *ctl, int signal_code, void (*on_stop) (gpointer data),
                             gpointer data);
int  aura_ctl_run_loop (AuraCtl *ctl);
void aura_ctl_quit (AuraCtl *ctl, int code);

/* the commands */
int  aura_ctl_cmd_list (AuraCtl *ctl, int argc, char **argv);
int  aura_ctl_cmd_status (AuraCtl *ctl, int argc, char **argv);
int  aura_ctl_cmd_watch (AuraCtl *ctl, int argc, char **argv);
int  aura_ctl_cmd_cancel (AuraCtl *ctl, int argc, char **argv);
int  aura_ctl_cmd_events (AuraCtl *ctl, int argc, char **argv);
int  aura_ctl_cmd_monitor (AuraCtl *ctl, int argc, char **argv);

G_END_DECLS
