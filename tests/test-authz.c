/* SPDX-License-Identifier: MIT */
/* Authorization on a system-like bus: the bus policy (data/dbus/
 * org.aura.Progress.conf) decides who may own the name and reach the
 * daemon; the daemon decides who may change which job. Runs as root, acts as
 * other users through setpriv, and talks through gdbus like a script would. */
#include <glib/gstdio.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "aura-test-bus.h"

typedef struct {
  int status;
  char *out;
  char *err;
} Result;

static void
result_clear (Result *r)
{
  g_free (r->out);
  g_free (r->err);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Result, result_clear)

/* gdbus call as @user on the test bus; method is "Interface.Member". */
static Result
gdbus_as (AuraTestBus *tb, const char *user, const char *path, const char *method, ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;
  Result r = { 0 };
  va_list ap;

  g_ptr_array_add (argv, "gdbus");
  g_ptr_array_add (argv, "call");
  g_ptr_array_add (argv, "--address");
  g_ptr_array_add (argv, tb->address);
  g_ptr_array_add (argv, "--dest");
  g_ptr_array_add (argv, AURA_BUS_NAME);
  g_ptr_array_add (argv, "--object-path");
  g_ptr_array_add (argv, (gpointer) path);
  g_ptr_array_add (argv, "--method");
  g_ptr_array_add (argv, (gpointer) method);
  va_start (ap, method);
  for (const char *a = va_arg (ap, const char *); a != NULL; a = va_arg (ap, const char *))
    g_ptr_array_add (argv, (gpointer) a);
  va_end (ap);
  g_ptr_array_add (argv, NULL);

  /* gdbus is not ours: no valgrind wrapper for it */
  {
    const char *wrap = g_getenv ("AURA_TEST_WRAPPER");
    g_autofree char *saved = g_strdup (wrap);
    g_unsetenv ("AURA_TEST_WRAPPER");
    proc = aura_test_spawn_as (user, (const char *const *) argv->pdata,
                               G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
    if (saved != NULL)
      g_setenv ("AURA_TEST_WRAPPER", saved, TRUE);
  }
  g_subprocess_communicate_utf8 (proc, NULL, NULL, &r.out, &r.err, &error);
  g_assert_no_error (error);
  r.status = g_subprocess_get_exit_status (proc);
  return r;
}

#define MANAGER AURA_OBJECT_PATH
#define M(name) "org.aura.Progress." name

static void
assert_ok (const Result *r, const char *what)
{
  if (r->status != 0)
    g_error ("%s failed: %s", what, r->err);
}

static void
assert_denied (const Result *r, const char *what)
{
  if (r->status == 0)
    g_error ("%s succeeded; expected AccessDenied", what);
  if (strstr (r->err, "org.freedesktop.DBus.Error.AccessDenied") == NULL)
    g_error ("%s failed with something else than AccessDenied: %s", what, r->err);
}

static AuraTestBus *
start_system_like (void)
{
  AuraTestBus *tb = aura_test_bus_new_system_like ();

  tb->daemon_user = g_strdup ("aura-progress");
  aura_test_bus_start_daemon_with_config (tb, "[Access]\nOperators=aura-bridge\n");
  return tb;
}

static void
test_own_name (void)
{
  g_autoptr(AuraTestBus) tb = aura_test_bus_new_system_like ();
  g_autofree char *addr = g_strdup_printf ("--address=%s", tb->address);
  g_autofree char *state = g_strdup_printf ("--state-dir=%s/nobody-state", tb->tmpdir);
  const char *argv[] = { aura_test_program ("AURA_PROGRESSD"), addr, state, NULL };
  g_autoptr(GSubprocess) proc = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *state_dir = g_strdup_printf ("%s/nobody-state", tb->tmpdir);

  /* nobody may create its state, so that only the bus policy can stop it */
  g_mkdir (state_dir, 0777);
  g_chmod (state_dir, 0777);
  proc = aura_test_spawn_as ("65534", argv, G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_communicate_utf8 (proc, NULL, NULL, NULL, &err, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_subprocess_get_exit_status (proc), ==, 1);
  g_assert_nonnull (strstr (err, "does not allow this user to own it"));

  /* the service's own user may */
  tb->daemon_user = g_strdup ("aura-progress");
  aura_test_bus_start_daemon (tb, NULL);
}

static void
test_jobs (void)
{
  g_autoptr(AuraTestBus) tb = start_system_like ();
  const char *job_path = "/org/aura/Progress/jobs/job_2du1";

  /* anyone the policy admits may start a job; it is theirs */
  {
    g_auto(Result) r = gdbus_as (tb, "aura-test-a", MANAGER, M ("StartJob"), "job-u1", "{}", NULL);
    assert_ok (&r, "StartJob as aura-test-a");
    g_auto(Result) s = gdbus_as (tb, "aura-test-a", MANAGER, M ("ReportTtsProgress"), "job-u1", "1", "4", "ElevenLabs", "", NULL);
    assert_ok (&s, "report as the owner");
    g_auto(Result) u = gdbus_as (tb, "aura-test-b", job_path, "org.freedesktop.DBus.Properties.Get",
                                 "org.aura.Progress.Job", "StartedByUID", NULL);
    assert_ok (&u, "Get StartedByUID");
    {
      g_autofree char *want = g_strdup_printf ("uint32 %u", (unsigned) getpwnam ("aura-test-a")->pw_uid);
      g_assert_nonnull (strstr (u.out, want));
    }
  }

  /* another user can read ... */
  {
    g_auto(Result) a = gdbus_as (tb, "aura-test-b", MANAGER, M ("GetJob"), "job-u1", NULL);
    g_auto(Result) b = gdbus_as (tb, "aura-test-b", MANAGER, M ("ListJobs"), NULL);
    g_auto(Result) c = gdbus_as (tb, "aura-test-b", MANAGER, M ("GetEvents"), "job-u1", "0", NULL);
    g_auto(Result) d = gdbus_as (tb, "aura-test-b", job_path, "org.freedesktop.DBus.Properties.GetAll",
                                 "org.aura.Progress.Job", NULL);
    g_auto(Result) e = gdbus_as (tb, "aura-test-b", MANAGER, "org.freedesktop.DBus.ObjectManager.GetManagedObjects", NULL);
    assert_ok (&a, "GetJob as another user");
    assert_ok (&b, "ListJobs as another user");
    assert_ok (&c, "GetEvents as another user");
    assert_ok (&d, "GetAll as another user");
    assert_ok (&e, "GetManagedObjects as another user");
    g_assert_nonnull (strstr (a.out, "'percent': <uint32 32>"));
  }

  /* ... but not change someone else's job */
  {
    g_auto(Result) a = gdbus_as (tb, "aura-test-b", MANAGER, M ("ReportProgress"), "job-u1", "tts", "90", "{}", NULL);
    g_auto(Result) b = gdbus_as (tb, "aura-test-b", MANAGER, M ("AddWarning"), "job-u1", "hijack", NULL);
    g_auto(Result) c = gdbus_as (tb, "aura-test-b", MANAGER, M ("MarkStageCompleted"), "job-u1", "tts", NULL);
    g_auto(Result) d = gdbus_as (tb, "aura-test-b", MANAGER, M ("CompleteJob"), "job-u1", NULL);
    g_auto(Result) e = gdbus_as (tb, "aura-test-b", MANAGER, M ("FailJob"), "job-u1", "no", NULL);
    g_auto(Result) f = gdbus_as (tb, "aura-test-b", MANAGER, M ("ReportFFmpegProgress"), "job-u1", "1", "2", "1.0", "1.0", "", NULL);
    assert_denied (&a, "ReportProgress by another user");
    assert_denied (&b, "AddWarning by another user");
    assert_denied (&c, "MarkStageCompleted by another user");
    assert_denied (&d, "CompleteJob by another user");
    assert_denied (&e, "FailJob by another user");
    assert_denied (&f, "ReportFFmpegProgress by another user");
    {
      g_autofree char *want = g_strdup_printf ("belongs to uid %u", (unsigned) getpwnam ("aura-test-a")->pw_uid);
      g_assert_nonnull (strstr (a.err, want));
    }
  }

  /* the bus policy keeps other interfaces of the name closed */
  {
    g_auto(Result) r = gdbus_as (tb, "aura-test-b", job_path, "org.freedesktop.DBus.Properties.Set",
                                 "org.aura.Progress.Job", "Stage", "<'render'>", NULL);
    assert_denied (&r, "Properties.Set");
  }

  /* nothing changed */
  {
    g_auto(Result) r = gdbus_as (tb, "aura-test-a", MANAGER, M ("GetJob"), "job-u1", NULL);
    assert_ok (&r, "GetJob");
    g_assert_nonnull (strstr (r.out, "'percent': <uint32 32>"));
    g_assert_nonnull (strstr (r.out, "'status': <'Running'>"));
    g_assert_null (strstr (r.out, "hijack"));
  }

  /* an operator (the bridge's user) and root may */
  {
    g_auto(Result) a = gdbus_as (tb, "aura-bridge", MANAGER, M ("AddWarning"), "job-u1", "from the operator", NULL);
    g_auto(Result) b = gdbus_as (tb, NULL, MANAGER, M ("ReportProgress"), "job-u1", "visuals", "10", "{}", NULL);
    g_auto(Result) c = gdbus_as (tb, NULL, MANAGER, M ("GetJob"), "job-u1", NULL);
    assert_ok (&a, "AddWarning by an operator");
    assert_ok (&b, "ReportProgress by root");
    assert_ok (&c, "GetJob");
    g_assert_nonnull (strstr (c.out, "from the operator"));
    g_assert_nonnull (strstr (c.out, "'stage': <'visuals'>"));
  }
}

/* Starts tests/test-provider as @user and waits for its READY line. */
static GSubprocess *
provider_as (AuraTestBus *tb, const char *user, const char *job, const char *mode,
             GDataInputStream **out)
{
  g_autofree char *addr = g_strdup_printf ("--address=%s", tb->address);
  g_autofree char *job_arg = g_strdup_printf ("--job=%s", job);
  g_autofree char *mode_arg = g_strdup_printf ("--mode=%s", mode);
  const char *argv[] = { aura_test_program ("AURA_TEST_PROVIDER"), addr, job_arg, mode_arg, NULL };
  GSubprocess *proc = aura_test_spawn_as (user, argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_autofree char *line = NULL;

  *out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (proc));
  line = g_data_input_stream_read_line (*out, NULL, NULL, NULL);
  g_assert_cmpstr (line, ==, "READY");
  return proc;
}

static void
test_cancel (void)
{
  g_autoptr(AuraTestBus) tb = start_system_like ();
  g_autoptr(GSubprocess) provider = NULL;
  g_autoptr(GDataInputStream) out = NULL;

  {
    g_auto(Result) r = gdbus_as (tb, "aura-test-a", MANAGER, M ("StartJob"), "mine", "{}", NULL);
    g_auto(Result) s = gdbus_as (tb, "aura-test-a", MANAGER, M ("StartJob"), "other", "{}", NULL);
    assert_ok (&r, "StartJob");
    assert_ok (&s, "StartJob");
  }
  /* a provider registered by its owner; the daemon, as its own user, may
   * call its Cancel through the system bus policy */
  provider = provider_as (tb, "aura-test-a", "mine", "cancellable", &out);

  {
    g_auto(Result) a = gdbus_as (tb, "aura-test-b", MANAGER, M ("CancelJob"), "mine", NULL);
    g_auto(Result) b = gdbus_as (tb, "aura-test-b", MANAGER, M ("RegisterProvider"), "mine",
                                 "Intruder", "TTS", "true", "/intruder", NULL);
    g_auto(Result) c = gdbus_as (tb, "aura-test-b", MANAGER, M ("UnregisterProvider"), "mine",
                                 "ElevenLabs", NULL);
    assert_denied (&a, "CancelJob by another user");
    assert_denied (&b, "RegisterProvider by another user");
    assert_denied (&c, "UnregisterProvider by another user");
  }
  {
    g_auto(Result) r = gdbus_as (tb, "aura-test-a", MANAGER, M ("CancelJob"), "mine", NULL);
    assert_ok (&r, "CancelJob by the owner");
    g_assert_nonnull (strstr (r.out, "'Canceled'"));
    /* Cancelled, not Error: the policy let the daemon's Cancel call through */
    g_assert_nonnull (strstr (r.out, "'Cancelled'"));
  }
  {
    /* the bridge's user cancels on behalf of web users */
    g_auto(Result) r = gdbus_as (tb, "aura-bridge", MANAGER, M ("CancelJob"), "other", NULL);
    assert_ok (&r, "CancelJob by an operator");
    g_assert_nonnull (strstr (r.out, "'Canceled'"));
  }
  g_assert_true (g_subprocess_wait_check (provider, NULL, NULL));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  if (getuid () != 0) {
    g_test_skip ("needs root: it acts as other users with setpriv and creates the service users");
    g_print ("1..0 # SKIP needs root\n");
    return 77;
  }
  /* The service's users, from the project's own sysusers.d file, and two
   * ordinary users (dbus-daemon refuses uids without a passwd entry). */
  {
    const char *argv_sysusers[] = { "systemd-sysusers", aura_test_program ("AURA_SYSUSERS"), NULL };
    const char *argv_users[] = { "systemd-sysusers", "--inline",
                                 "u aura-test-a - \"aura-progress test user\" - -",
                                 "u aura-test-b - \"aura-progress test user\" - -", NULL };
    g_autoptr(GError) error = NULL;
    g_autoptr(GSubprocess) p = g_subprocess_newv (argv_sysusers, G_SUBPROCESS_FLAGS_NONE, &error);
    g_autoptr(GSubprocess) q = NULL;
    g_assert_no_error (error);
    g_assert_true (g_subprocess_wait_check (p, NULL, &error));
    q = g_subprocess_newv (argv_users, G_SUBPROCESS_FLAGS_NONE, &error);
    g_assert_no_error (error);
    g_assert_true (g_subprocess_wait_check (q, NULL, &error));
    g_assert_nonnull (getpwnam ("aura-progress"));
    g_assert_nonnull (getpwnam ("aura-bridge"));
    g_assert_nonnull (getpwnam ("aura-test-a"));
  }
  g_test_add_func ("/authz/own-name", test_own_name);
  g_test_add_func ("/authz/jobs", test_jobs);
  g_test_add_func ("/authz/cancel", test_cancel);
  return g_test_run ();
}
