/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <stdarg.h>
#include <glib/gstdio.h>
#include <string.h>

#include "aura-bus-source.h"
#include "aura-bus-variant.h"
#include "aura-test-bus.h"

/* The safety-net timeout of every wait: far above what any step needs even
 * under valgrind, so that it only fires when something is really stuck. */
#define WAIT_TIMEOUT_SECONDS 120

static const char bus_config[] =
  "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
  " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
  "<busconfig>\n"
  "  <type>session</type>\n"
  "  <listen>unix:dir=%s</listen>\n"
  "  <auth>EXTERNAL</auth>\n"
  "  <policy context=\"default\">\n"
  "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
  "    <allow eavesdrop=\"true\"/>\n"
  "    <allow own=\"*\"/>\n"
  "  </policy>\n"
  "  <limit name=\"max_incoming_bytes\">1000000000</limit>\n"
  "  <limit name=\"max_outgoing_bytes\">1000000000</limit>\n"
  "  <limit name=\"max_message_size\">100000000</limit>\n"
  "  <limit name=\"max_connections_per_user\">100000</limit>\n"
  "  <limit name=\"max_pending_service_starts\">10000</limit>\n"
  "  <limit name=\"max_match_rules_per_connection\">50000</limit>\n"
  "  <limit name=\"max_replies_per_connection\">50000</limit>\n"
  "</busconfig>\n";

const char *
aura_test_program (const char *env_name)
{
  const char *path = g_getenv (env_name);

  if (path == NULL)
    g_error ("%s is not set: run the tests with meson test", env_name);
  return path;
}

/* The primary group of a user given by name or uid, as a decimal gid. */
static const char *
user_group (const char *user)
{
  static char buf[16];
  struct passwd *pw = g_ascii_isdigit (user[0]) ? getpwuid ((uid_t) atoi (user)) : getpwnam (user);

  if (pw == NULL) {
    if (!g_ascii_isdigit (user[0]))
      g_error ("no such user: %s", user);
    return user;                      /* a bare uid: its own number as gid */
  }
  g_snprintf (buf, sizeof buf, "%u", (unsigned) pw->pw_gid);
  return buf;
}

/* Whatever happens to the test (an assertion aborts it), the programs it
 * started must not outlive it. */
static void
die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

static GSubprocess *
spawn_with_launcher (GSubprocessLauncher *launcher, const char *const *argv)
{
  g_autoptr(GError) error = NULL;
  GSubprocess *proc;

  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  proc = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  return proc;
}

static GSubprocess *
spawn_argv (const char *const *argv, GSubprocessFlags flags)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (flags);

  return spawn_with_launcher (launcher, argv);
}

GSubprocess *
aura_test_spawn (const char *const *argv, GSubprocessFlags flags)
{
  return aura_test_spawn_as (NULL, argv, flags);
}

/* The wrapper (valgrind) in front of the program, and @prefix (setpriv for
 * another user, a shell that sets LISTEN_PID) in front of both: the wrapper
 * must see the program, not what runs it. */
static GSubprocess *
spawn_wrapped (GSubprocessLauncher *launcher, const char *const *prefix, const char *const *argv)
{
  g_autoptr(GPtrArray) full = g_ptr_array_new_with_free_func (g_free);
  g_auto(GStrv) wrapper = NULL;
  g_autoptr(GError) error = NULL;
  const char *wrap = g_getenv ("AURA_TEST_WRAPPER");

  if (wrap != NULL && wrap[0] != '\0' && !g_shell_parse_argv (wrap, NULL, &wrapper, &error))
    g_error ("AURA_TEST_WRAPPER: %s", error->message);
  for (guint i = 0; prefix != NULL && prefix[i] != NULL; i++)
    g_ptr_array_add (full, g_strdup (prefix[i]));
  for (guint i = 0; wrapper != NULL && wrapper[i] != NULL; i++)
    g_ptr_array_add (full, g_strdup (wrapper[i]));
  for (guint i = 0; argv[i] != NULL; i++)
    g_ptr_array_add (full, g_strdup (argv[i]));
  g_ptr_array_add (full, NULL);
  return spawn_with_launcher (launcher, (const char *const *) full->pdata);
}

GSubprocess *
aura_test_spawn_as (const char *user, const char *const *argv, GSubprocessFlags flags)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (flags);
  g_autofree char *reuid = NULL, *regid = NULL;
  const char *prefix[] = { "setpriv", NULL, NULL, "--clear-groups", "--", NULL };

  if (user == NULL)
    return spawn_wrapped (launcher, NULL, argv);
  reuid = g_strdup_printf ("--reuid=%s", user);
  regid = g_strdup_printf ("--regid=%s", user_group (user));
  prefix[1] = reuid;
  prefix[2] = regid;
  return spawn_wrapped (launcher, prefix, argv);
}

GSubprocess *
aura_test_spawn_prefixed (GSubprocessLauncher *launcher, const char *const *prefix,
                          const char *const *argv)
{
  return spawn_wrapped (launcher, prefix, argv);
}

GSubprocess *
aura_test_spawn_with_launcher (GSubprocessLauncher *launcher, const char *const *argv)
{
  return spawn_wrapped (launcher, NULL, argv);
}

GSubprocess *
aura_test_spawn_tool (const char *const *argv, GSubprocessFlags flags)
{
  return spawn_argv (argv, flags);
}

GSubprocess *
aura_test_spawn_tool_with_launcher (GSubprocessLauncher *launcher, const char *const *argv)
{
  return spawn_with_launcher (launcher, argv);
}

gboolean
aura_test_is_slow (void)
{
  const char *slow = g_getenv ("AURA_TEST_SLOW");
  return slow != NULL && slow[0] != '\0' && slow[0] != '0';
}

char *
aura_test_bus_write_file (AuraTestBus *tb, const char *name, const char *contents)
{
  g_autoptr(GError) error = NULL;
  char *path = g_build_filename (tb->tmpdir, name, NULL);

  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
  return path;
}

typedef struct {
  gboolean done;
} TimeoutFlag;

static gboolean
on_wait_timeout (gpointer data)
{
  ((TimeoutFlag *) data)->done = TRUE;
  return G_SOURCE_REMOVE;
}

void
aura_test_wait_until (gboolean (*cond) (gpointer data), gpointer data, const char *what)
{
  TimeoutFlag flag = { FALSE };
  guint id = g_timeout_add_seconds (WAIT_TIMEOUT_SECONDS, on_wait_timeout, &flag);

  while (!cond (data) && !flag.done)
    g_main_context_iteration (NULL, TRUE);
  if (flag.done)
    g_error ("timed out waiting for %s", what);
  g_source_remove (id);
}

/* Modelled on Debian's /usr/share/dbus-1/system.conf: nobody may own names
 * or call methods unless a policy file allows it. */
static const char system_bus_config[] =
  "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
  " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
  "<busconfig>\n"
  "  <type>system</type>\n"
  "  <listen>unix:path=%s/system_bus_socket</listen>\n"
  "  <auth>EXTERNAL</auth>\n"
  "  <policy context=\"default\">\n"
  "    <allow user=\"*\"/>\n"
  "    <deny own=\"*\"/>\n"
  "    <deny send_type=\"method_call\"/>\n"
  "    <allow send_type=\"signal\"/>\n"
  "    <allow send_requested_reply=\"true\" send_type=\"method_return\"/>\n"
  "    <allow send_requested_reply=\"true\" send_type=\"error\"/>\n"
  "    <allow receive_type=\"method_call\"/>\n"
  "    <allow receive_type=\"method_return\"/>\n"
  "    <allow receive_type=\"error\"/>\n"
  "    <allow receive_type=\"signal\"/>\n"
  "    <allow send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus\"/>\n"
  "    <allow send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus.Introspectable\"/>\n"
  "    <allow send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus.Properties\"/>\n"
  "  </policy>\n"
  "  <include>%s</include>\n"
  "</busconfig>\n";

static AuraTestBus *
bus_new (gboolean system_like)
{
  AuraTestBus *tb = g_new0 (AuraTestBus, 1);
  g_autoptr(GError) error = NULL;
  g_autofree char *config = NULL, *config_path = NULL, *arg = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  const char *argv[] = { "dbus-daemon", NULL, "--nofork", "--print-address=1", NULL };

  tb->tmpdir = g_dir_make_tmp ("aura-test-XXXXXX", &error);
  g_assert_no_error (error);
  if (system_like) {
    /* other users must reach the socket */
    g_assert_cmpint (g_chmod (tb->tmpdir, 0755), ==, 0);
    config = g_strdup_printf (system_bus_config, tb->tmpdir, aura_test_program ("AURA_BUS_POLICY"));
  } else {
    config = g_strdup_printf (bus_config, tb->tmpdir);
  }
  config_path = aura_test_bus_write_file (tb, "bus.conf", config);
  arg = g_strdup_printf ("--config-file=%s", config_path);
  argv[1] = arg;
  tb->bus_process = spawn_argv (argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (tb->bus_process));
  tb->address = g_data_input_stream_read_line (out, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (tb->address);
  tb->client = aura_test_bus_connect (tb);
  return tb;
}

AuraTestBus *
aura_test_bus_new (void)
{
  return bus_new (FALSE);
}

AuraTestBus *
aura_test_bus_new_system_like (void)
{
  return bus_new (TRUE);
}

sd_bus *
aura_test_bus_connect (AuraTestBus *tb)
{
  AuraBusOptions options = { .address = tb->address };
  g_autoptr(GError) error = NULL;
  sd_bus *bus = aura_bus_open (&options, AURA_BUS_ADDRESS, "test-client", &error);

  g_assert_no_error (error);
  aura_bus_attach (bus, NULL, NULL);
  return bus;
}

typedef struct {
  AuraTestBus *tb;
  const char *name;
  gboolean want_owned;
  gboolean owned;
} NameWait;

static int
on_name_owner_changed (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  NameWait *w = userdata;
  const char *name, *old_owner, *new_owner;

  if (sd_bus_message_read (m, "sss", &name, &old_owner, &new_owner) >= 0 &&
      strcmp (name, w->name) == 0)
    w->owned = new_owner[0] != '\0';
  return 0;
}

static gboolean
name_reached (gpointer data)
{
  NameWait *w = data;
  return w->owned == w->want_owned;
}

void
aura_test_bus_wait_name (AuraTestBus *tb, const char *name, gboolean owned)
{
  g_autoptr(sd_bus_slot) slot = NULL;
  g_autoptr(sd_bus_message) reply = NULL;
  g_autofree char *what = g_strdup_printf ("%s to be %s", name, owned ? "owned" : "released");
  NameWait w = { tb, name, owned, FALSE };
  int has = 0;
  int r;

  /* Subscribe first, then ask: no change can slip between the two. */
  r = sd_bus_match_signal (tb->client, &slot, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                           "org.freedesktop.DBus", "NameOwnerChanged", on_name_owner_changed, &w);
  g_assert_cmpint (r, >=, 0);
  r = sd_bus_call_method (tb->client, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "NameHasOwner", NULL, &reply, "s", name);
  g_assert_cmpint (r, >=, 0);
  g_assert_cmpint (sd_bus_message_read (reply, "b", &has), >=, 0);
  w.owned = has;
  aura_test_wait_until (name_reached, &w, what);
}

void
aura_test_bus_start_daemon_argv (AuraTestBus *tb, const char *const *extra)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);

  g_assert_null (tb->daemon);
  g_ptr_array_add (argv, g_strdup (aura_test_program ("AURA_PROGRESSD")));
  g_ptr_array_add (argv, g_strdup_printf ("--address=%s", tb->address));
  g_ptr_array_add (argv, g_strdup_printf ("--state-dir=%s/state", tb->tmpdir));
  for (guint i = 0; extra != NULL && extra[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (extra[i]));
  g_ptr_array_add (argv, NULL);
  if (tb->daemon_user != NULL) {
    g_autofree char *state = g_build_filename (tb->tmpdir, "state", NULL);
    struct passwd *pw = getpwnam (tb->daemon_user);
    g_assert_nonnull (pw);
    g_mkdir_with_parents (state, 0700);
    g_assert_cmpint (chown (state, pw->pw_uid, pw->pw_gid), ==, 0);
  }
  tb->daemon = aura_test_spawn_as (tb->daemon_user, (const char *const *) argv->pdata,
                                   G_SUBPROCESS_FLAGS_NONE);
  aura_test_bus_wait_name (tb, AURA_BUS_NAME, TRUE);
}

void
aura_test_bus_start_daemon (AuraTestBus *tb, ...)
{
  g_autoptr(GPtrArray) extra = g_ptr_array_new ();
  va_list ap;

  va_start (ap, tb);
  for (const char *a = va_arg (ap, const char *); a != NULL; a = va_arg (ap, const char *))
    g_ptr_array_add (extra, (gpointer) a);
  va_end (ap);
  g_ptr_array_add (extra, NULL);
  aura_test_bus_start_daemon_argv (tb, (const char *const *) extra->pdata);
}

void
aura_test_bus_start_daemon_with_config (AuraTestBus *tb, const char *config)
{
  g_autofree char *path = aura_test_bus_write_file (tb, "aura-progressd.conf", config);
  g_autofree char *arg = g_strdup_printf ("--config=%s", path);

  g_assert_cmpint (g_chmod (path, 0644), ==, 0);
  aura_test_bus_start_daemon (tb, arg, NULL);
}

static void
wait_process (GSubprocess *proc)
{
  g_autoptr(GError) error = NULL;

  g_subprocess_wait (proc, NULL, &error);
  g_assert_no_error (error);
}

void
aura_test_bus_stop_daemon (AuraTestBus *tb)
{
  if (tb->daemon == NULL)
    return;
  g_subprocess_send_signal (tb->daemon, SIGTERM);
  wait_process (tb->daemon);
  g_assert_true (g_subprocess_get_if_exited (tb->daemon));
  g_assert_cmpint (g_subprocess_get_exit_status (tb->daemon), ==, 0);
  g_clear_object (&tb->daemon);
}

void
aura_test_remove_tree (const char *path)
{
  GDir *dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
    g_autofree char *child = g_build_filename (path, name, NULL);
    if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
      aura_test_remove_tree (child);
    else
      g_unlink (child);
  }
  if (dir != NULL)
    g_dir_close (dir);
  g_rmdir (path);
}

void
aura_test_bus_free (AuraTestBus *tb)
{
  if (tb == NULL)
    return;
  aura_test_bus_stop_daemon (tb);
  if (tb->client != NULL)
    sd_bus_flush_close_unref (tb->client);
  /* Let the sources of the closed connection go before the bus vanishes. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  if (tb->bus_process != NULL) {
    g_subprocess_send_signal (tb->bus_process, SIGTERM);
    wait_process (tb->bus_process);
    g_object_unref (tb->bus_process);
  }
  aura_test_remove_tree (tb->tmpdir);
  g_free (tb->tmpdir);
  g_free (tb->address);
  g_free (tb->daemon_user);
  g_free (tb);
}

static sd_bus_message *
call_va (sd_bus *bus, sd_bus_error *error, const char *member, const char *types, va_list ap)
{
  g_autoptr(sd_bus_message) m = NULL;
  sd_bus_message *reply = NULL;
  int r;

  r = sd_bus_message_new_method_call (bus, &m, AURA_BUS_NAME, AURA_OBJECT_PATH, AURA_INTERFACE,
                                      member);
  g_assert_cmpint (r, >=, 0);
  if (types != NULL && types[0] != '\0') {
    r = sd_bus_message_appendv (m, types, ap);
    g_assert_cmpint (r, >=, 0);
  }
  r = sd_bus_call (bus, m, 0, error, &reply);
  if (r < 0)
    return NULL;
  return reply;
}

sd_bus_message *
aura_test_call (sd_bus *bus, sd_bus_error *error, const char *member, const char *types, ...)
{
  sd_bus_message *reply;
  va_list ap;

  va_start (ap, types);
  reply = call_va (bus, error, member, types, ap);
  va_end (ap);
  return reply;
}

void
aura_test_call_ok (sd_bus *bus, const char *member, const char *types, ...)
{
  g_autoptr(sd_bus_message) reply = NULL;
  sd_bus_error error = SD_BUS_ERROR_NULL;
  va_list ap;

  va_start (ap, types);
  reply = call_va (bus, &error, member, types, ap);
  va_end (ap);
  if (reply == NULL)
    g_error ("%s failed: %s: %s", member, error.name, error.message);
}

GVariant *
aura_test_get_job (sd_bus *bus, const char *job_id)
{
  sd_bus_error error = SD_BUS_ERROR_NULL;
  g_autoptr(sd_bus_message) reply = aura_test_call (bus, &error, "GetJob", "s", job_id);
  GVariant *state = NULL;

  if (reply == NULL)
    g_error ("GetJob failed: %s", error.message);
  g_assert_cmpint (aura_bus_message_read_variant (reply, &state), ==, 1);
  return state;
}

void
aura_test_assert_call_error (sd_bus *bus, const char *error_name, const char *member,
                             const char *types, ...)
{
  sd_bus_error error = SD_BUS_ERROR_NULL;
  sd_bus_message *reply;
  va_list ap;

  va_start (ap, types);
  reply = call_va (bus, &error, member, types, ap);
  va_end (ap);
  if (reply != NULL)
    g_error ("%s succeeded; expected %s", member, error_name);
  if (!sd_bus_error_has_name (&error, error_name))
    g_error ("%s failed with %s (%s); expected %s", member, error.name, error.message, error_name);
  /* Every error a user can cause says what was wrong. */
  g_assert_nonnull (error.message);
  g_assert_cmpuint (strlen (error.message), >, 10);
  sd_bus_error_free (&error);
}

static void
signal_free (gpointer data)
{
  AuraTestSignal *s = data;
  g_free (s->member);
  g_free (s->path);
  g_variant_unref (s->body);
  g_free (s);
}

static int
on_signal (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  AuraTestRecorder *rec = userdata;
  AuraTestSignal *s = g_new0 (AuraTestSignal, 1);

  g_assert_cmpint (aura_bus_message_read_body (m, &s->body), ==, 0);
  s->member = g_strdup (sd_bus_message_get_member (m));
  s->path = g_strdup (sd_bus_message_get_path (m));
  g_ptr_array_add (rec->signals, s);
  return 0;
}

AuraTestRecorder *
aura_test_recorder_new (sd_bus *bus, const char *match)
{
  AuraTestRecorder *rec = g_new0 (AuraTestRecorder, 1);
  int r;

  rec->signals = g_ptr_array_new_with_free_func (signal_free);
  r = sd_bus_add_match (bus, &rec->slot,
                        match != NULL ? match : "type='signal',sender='" AURA_BUS_NAME "'",
                        on_signal, rec);
  g_assert_cmpint (r, >=, 0);
  return rec;
}

void
aura_test_recorder_free (AuraTestRecorder *rec)
{
  if (rec == NULL)
    return;
  sd_bus_slot_unref (rec->slot);
  g_ptr_array_unref (rec->signals);
  g_free (rec);
}

guint
aura_test_recorder_count (AuraTestRecorder *rec, const char *member)
{
  guint n = 0;

  for (guint i = 0; i < rec->signals->len; i++) {
    AuraTestSignal *s = rec->signals->pdata[i];
    if (member == NULL || strcmp (s->member, member) == 0)
      n++;
  }
  return n;
}

typedef struct {
  AuraTestRecorder *rec;
  const char *member;
  guint n;
} RecorderWait;

static gboolean
recorder_reached (gpointer data)
{
  RecorderWait *w = data;
  return aura_test_recorder_count (w->rec, w->member) >= w->n;
}

void
aura_test_recorder_wait (AuraTestRecorder *rec, const char *member, guint n)
{
  RecorderWait w = { rec, member, n };
  g_autofree char *what = g_strdup_printf ("%u %s signals", n, member ? member : "any");

  aura_test_wait_until (recorder_reached, &w, what);
}
