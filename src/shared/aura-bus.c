/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <gio/gio.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "aura-bus.h"
#include "aura-error.h"

void
aura_bus_options_add (GOptionContext *context, AuraBusOptions *options)
{
  const GOptionEntry entries[] = {
    { "system", 0, 0, G_OPTION_ARG_NONE, &options->system, "Use the system bus", NULL },
    { "session", 0, 0, G_OPTION_ARG_NONE, &options->session, "Use the session bus", NULL },
    { "address", 0, 0, G_OPTION_ARG_STRING, &options->address,
      "Use the bus at ADDRESS (e.g. unix:path=/run/aura/bus)", "ADDRESS" },
    { NULL }
  };
  g_option_context_add_main_entries (context, entries, NULL);
}

void
aura_bus_options_clear (AuraBusOptions *options)
{
  g_clear_pointer (&options->address, g_free);
}

static AuraBusKind
selected_kind (const AuraBusOptions *options, AuraBusKind fallback, GError **error)
{
  int n = !!options->system + !!options->session + (options->address != NULL);

  if (n > 1) {
    g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                         "use only one of --system, --session and --address");
    return AURA_BUS_DEFAULT;
  }
  if (options->system)
    return AURA_BUS_SYSTEM;
  if (options->session)
    return AURA_BUS_SESSION;
  if (options->address != NULL)
    return AURA_BUS_ADDRESS;
  return fallback;
}

char *
aura_bus_describe (const AuraBusOptions *options, AuraBusKind fallback)
{
  switch (selected_kind (options, fallback, NULL)) {
  case AURA_BUS_SYSTEM: return g_strdup ("the system bus");
  case AURA_BUS_SESSION: return g_strdup ("the session bus");
  case AURA_BUS_ADDRESS: return g_strdup_printf ("the bus at %s", options->address);
  case AURA_BUS_DEFAULT:
  default: return g_strdup ("the bus");
  }
}

sd_bus *
aura_bus_open (const AuraBusOptions *options, AuraBusKind fallback, const char *description,
               GError **error)
{
  sd_bus *bus = NULL;
  g_autofree char *what = NULL;
  int r;

  switch (selected_kind (options, fallback, error)) {
  case AURA_BUS_SYSTEM:
    r = sd_bus_open_system_with_description (&bus, description);
    break;
  case AURA_BUS_SESSION:
    r = sd_bus_open_user_with_description (&bus, description);
    break;
  case AURA_BUS_ADDRESS:
    r = sd_bus_new (&bus);
    if (r >= 0)
      r = sd_bus_set_address (bus, options->address);
    if (r >= 0)
      r = sd_bus_set_bus_client (bus, 1);
    if (r >= 0)
      r = sd_bus_set_description (bus, description);
    if (r >= 0)
      r = sd_bus_start (bus);
    break;
  case AURA_BUS_DEFAULT:
  default:
    return NULL;                      /* error set by selected_kind() */
  }
  if (r < 0) {
    what = aura_bus_describe (options, fallback);
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (-r), "cannot connect to %s: %s",
                 what, g_strerror (-r));
    sd_bus_unref (bus);
    return NULL;
  }
  return bus;
}

static const struct {
  int code;
  const char *name;
  int errnum;
} error_map[] = {
  { AURA_ERROR_INVALID_ARGS, SD_BUS_ERROR_INVALID_ARGS, EINVAL },
  { AURA_ERROR_NO_SUCH_JOB, AURA_DBUS_ERROR_NO_SUCH_JOB, ENOENT },
  { AURA_ERROR_JOB_EXISTS, AURA_DBUS_ERROR_JOB_EXISTS, EEXIST },
  { AURA_ERROR_NOT_RUNNING, AURA_DBUS_ERROR_NOT_RUNNING, ESRCH },
  { AURA_ERROR_LIMIT_EXCEEDED, AURA_DBUS_ERROR_LIMIT_EXCEEDED, ENOBUFS },
  { AURA_ERROR_ACCESS_DENIED, SD_BUS_ERROR_ACCESS_DENIED, EACCES },
  { AURA_ERROR_FAILED, SD_BUS_ERROR_FAILED, EIO },
  { AURA_ERROR_NO_SUCH_PROVIDER, AURA_DBUS_ERROR_NO_SUCH_PROVIDER, ENOENT },
};

int
aura_bus_error_from_gerror (sd_bus_error *ret_error, const GError *error)
{
  if (error->domain == AURA_ERROR) {
    for (guint i = 0; i < G_N_ELEMENTS (error_map); i++) {
      if (error_map[i].code == error->code)
        return sd_bus_error_set (ret_error, error_map[i].name, error->message);
    }
  }
  return sd_bus_error_set (ret_error, SD_BUS_ERROR_FAILED, error->message);
}

int
aura_bus_error_to_code (const sd_bus_error *error)
{
  for (guint i = 0; i < G_N_ELEMENTS (error_map); i++) {
    if (sd_bus_error_has_name (error, error_map[i].name))
      return error_map[i].code;
  }
  return AURA_ERROR_FAILED;
}

void
aura_bus_set_gerror (GError **error, const sd_bus_error *bus_error, int r)
{
  if (bus_error != NULL && sd_bus_error_is_set (bus_error))
    g_set_error_literal (error, AURA_ERROR, aura_bus_error_to_code (bus_error),
                         bus_error->message != NULL ? bus_error->message : bus_error->name);
  else
    g_set_error_literal (error, AURA_ERROR, AURA_ERROR_FAILED, g_strerror (r < 0 ? -r : r));
}

int
aura_bus_call (sd_bus *bus, sd_bus_message *m, uint64_t usec, sd_bus_error *ret_error,
               sd_bus_message **reply)
{
  /* a fault must never wait; blocking it makes the kernel kill the process */
  static const int faults[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS };
  static const int interactive[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
  sigset_t held, saved;
  int r;

  sigfillset (&held);
  for (guint i = 0; i < G_N_ELEMENTS (faults); i++)
    sigdelset (&held, faults[i]);
  for (guint i = 0; i < G_N_ELEMENTS (interactive); i++) {
    struct sigaction sa;
    if (sigaction (interactive[i], NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
      sigdelset (&held, interactive[i]);
  }
  pthread_sigmask (SIG_BLOCK, &held, &saved);
  r = sd_bus_call (bus, m, usec, ret_error, reply);
  pthread_sigmask (SIG_SETMASK, &saved, NULL);
  return r;
}
