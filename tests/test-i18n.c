/* SPDX-License-Identifier: MIT */
/* The German translation at work: aura-progressctl's help and errors, and
 * the daemon's own messages and cancellation warnings, under a German
 * locale. The locale is compiled into a temporary LOCPATH with localedef,
 * so nothing on the machine changes; the catalogue comes from the build
 * tree through AURA_LOCALEDIR. */
#include <string.h>

#include "aura-bus-variant.h"
#include "aura-test-bus.h"

static char *
run_ctl (AuraTestBus *tb, int *status, const char *first, ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;
  char *out = NULL, *err = NULL;
  va_list ap;

  g_ptr_array_add (argv, g_strdup (aura_test_program ("AURA_PROGRESSCTL")));
  if (tb != NULL)
    g_ptr_array_add (argv, g_strdup_printf ("--address=%s", tb->address));
  va_start (ap, first);
  for (const char *a = first; a != NULL; a = va_arg (ap, const char *))
    g_ptr_array_add (argv, g_strdup (a));
  va_end (ap);
  g_ptr_array_add (argv, NULL);
  proc = aura_test_spawn ((const char *const *) argv->pdata,
                          G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, &err, &error);
  g_assert_no_error (error);
  *status = g_subprocess_get_exit_status (proc);
  {
    char *both = g_strconcat (out, err, NULL);
    g_free (out);
    g_free (err);
    return both;
  }
}

static void
test_ctl_help (void)
{
  int status;
  g_autofree char *out = run_ctl (NULL, &status, "--help", NULL);

  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (out, "Befehle:"));
  g_assert_nonnull (strstr (out, "Exit-Status:"));
  g_assert_null (strstr (out, "Commands:"));
}

static void
test_ctl_errors (void)
{
  g_autoptr(AuraTestBus) tb = aura_test_bus_new ();
  int status;
  g_autofree char *no_daemon = run_ctl (tb, &status, "list", NULL);

  g_assert_cmpint (status, ==, 5);
  g_assert_nonnull (strstr (no_daemon, "aura-progressd läuft nicht auf"));
  aura_test_bus_start_daemon (tb, NULL);
  {
    g_autofree char *out = run_ctl (tb, &status, "status", "nope", NULL);
    g_assert_cmpint (status, ==, 1);
    g_assert_nonnull (strstr (out, "kein Auftrag mit der ID „nope“"));
  }
  {
    g_autofree char *out = run_ctl (tb, &status, "list", NULL);
    g_assert_cmpint (status, ==, 0);
    g_assert_nonnull (strstr (out, "Keine Aufträge."));
  }
}

static void
test_daemon_messages (void)
{
  g_autoptr(AuraTestBus) tb = aura_test_bus_new ();
  g_autoptr(sd_bus_message) reply = NULL;
  g_autoptr(GSubprocess) provider = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GVariant) state = NULL;
  g_autofree char *addr = NULL, *line = NULL;
  sd_bus_error error = SD_BUS_ERROR_NULL;
  const char *message, *status, *warning;
  int r;

  aura_test_bus_start_daemon (tb, NULL);
  aura_test_call_ok (tb->client, "StartJob", "sa{sv}", "film", 0);
  aura_test_call_ok (tb->client, "ReportTtsProgress", "suuss", "film", 2, 8, "ElevenLabs", "");
  state = aura_test_get_job (tb->client, "film");
  g_assert_true (g_variant_lookup (state, "message", "&s", &message));
  g_assert_cmpstr (message, ==, "Sprachsynthese mit ElevenLabs");

  /* a provider that cannot stop: the cancellation warning is German too */
  addr = g_strdup_printf ("--address=%s", tb->address);
  {
    const char *argv[] = { aura_test_program ("AURA_TEST_PROVIDER"), addr, "--job=film",
                           "--mode=not-cancellable", "--name=LegacyProvider", "--type=LLM", NULL };
    provider = aura_test_spawn (argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  }
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (provider));
  line = g_data_input_stream_read_line (out, NULL, NULL, NULL);
  g_assert_cmpstr (line, ==, "READY");
  reply = aura_test_call (tb->client, &error, "CancelJob", "s", "film");
  g_assert_nonnull (reply);
  r = sd_bus_message_read (reply, "ssb", &status, &message, NULL);
  g_assert_cmpint (r, >, 0);
  g_assert_cmpstr (status, ==, "Canceled");          /* statuses are the contract, untranslated */
  g_assert_cmpstr (message, ==, "Alle Anbieter wurden abgebrochen oder haben gemeldet, dass sie "
                                "keinen Abbruch unterstützen");
  g_assert_cmpint (sd_bus_message_enter_container (reply, 'a', "(ssbss)"), >, 0);
  g_assert_cmpint (sd_bus_message_read (reply, "(ssbss)", NULL, NULL, NULL, &status, &warning), >, 0);
  g_assert_cmpstr (status, ==, "NotSupported");
  g_assert_cmpstr (warning, ==, "Anbieter LegacyProvider (LLM) unterstützt keinen Abbruch. "
                                "Der Vorgang läuft womöglich bis zum Ende weiter.");
  g_subprocess_send_signal (provider, SIGTERM);
  g_subprocess_wait (provider, NULL, NULL);
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *locpath = g_dir_make_tmp ("aura-locale-XXXXXX", &error);
  g_autofree char *target = NULL;
  int status;

  g_assert_no_error (error);
  g_test_init (&argc, &argv, NULL);

  /* a German locale of our own: localedef writes it into LOCPATH */
  target = g_build_filename (locpath, "de_DE.UTF-8", NULL);
  {
    const char *argv_def[] = { "localedef", "-i", "de_DE", "-f", "UTF-8", target, NULL };
    g_autoptr(GSubprocess) p = g_subprocess_newv (argv_def, G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                                  G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error);
    g_assert_no_error (error);
    g_assert_true (g_subprocess_wait (p, NULL, &error));
    status = g_subprocess_get_exit_status (p);
    /* localedef exits 1 for warnings, yet writes the locale */
    g_assert_true (status == 0 || status == 1);
    g_assert_true (g_file_test (target, G_FILE_TEST_IS_DIR));
  }
  g_setenv ("LOCPATH", locpath, TRUE);
  g_setenv ("LC_ALL", "de_DE.UTF-8", TRUE);
  g_setenv ("LANGUAGE", "de", TRUE);

  g_test_add_func ("/i18n/ctl-help", test_ctl_help);
  g_test_add_func ("/i18n/ctl-errors", test_ctl_errors);
  g_test_add_func ("/i18n/daemon-messages", test_daemon_messages);
  status = g_test_run ();
  aura_test_remove_tree (locpath);
  return status;
}
