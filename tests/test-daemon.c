/* SPDX-License-Identifier: MIT */
/* Integration tests: a private dbus-daemon, the real aura-progressd binary,
 * and sd-bus clients calling it. */
#include <math.h>
#include <string.h>

#include "aura-bus-variant.h"
#include "aura-test-bus.h"

#define ERR_INVALID SD_BUS_ERROR_INVALID_ARGS
#define ERR_NO_SUCH_JOB AURA_DBUS_ERROR_NO_SUCH_JOB
#define ERR_EXISTS AURA_DBUS_ERROR_JOB_EXISTS
#define ERR_NOT_RUNNING AURA_DBUS_ERROR_NOT_RUNNING
#define ERR_LIMIT AURA_DBUS_ERROR_LIMIT_EXCEEDED


static void
start_job (sd_bus *bus, const char *id)
{
  aura_test_call_ok (bus, "StartJob", "sa{sv}", id, 0);
}

static void
report (sd_bus *bus, const char *id, const char *stage, double percent)
{
  aura_test_call_ok (bus, "ReportProgress", "ssda{sv}", id, stage, percent, 0);
}

static GVariant *
get_events (sd_bus *bus, const char *id, guint64 after)
{
  sd_bus_error error = SD_BUS_ERROR_NULL;
  g_autoptr(sd_bus_message) reply = aura_test_call (bus, &error, "GetEvents", "st", id, after);
  GVariant *events = NULL;

  g_assert_nonnull (reply);
  g_assert_cmpint (aura_bus_message_read_variant (reply, &events), ==, 1);
  return events;
}

static guint32
lookup_u (GVariant *dict, const char *key)
{
  guint32 v = G_MAXUINT32;
  if (!g_variant_lookup (dict, key, "u", &v))
    g_error ("no key %s", key);
  return v;
}

static const char *
lookup_s (GVariant *dict, const char *key)
{
  const char *v = NULL;
  if (!g_variant_lookup (dict, key, "&s", &v))
    g_error ("no key %s", key);
  return v;
}

static AuraTestSignal *
nth_signal (AuraTestRecorder *rec, const char *member, guint n)
{
  for (guint i = 0; i < rec->signals->len; i++) {
    AuraTestSignal *s = rec->signals->pdata[i];
    if (strcmp (s->member, member) == 0 && n-- == 0)
      return s;
  }
  g_error ("no signal %s #%u", member, n);
}

/* ---- the contract ------------------------------------------------------ */

static char *
introspect (sd_bus *bus, const char *path)
{
  sd_bus_error error = SD_BUS_ERROR_NULL;
  g_autoptr(sd_bus_message) reply = NULL;
  const char *xml;
  int r;

  r = sd_bus_call_method (bus, AURA_BUS_NAME, path, "org.freedesktop.DBus.Introspectable",
                          "Introspect", &error, &reply, "");
  g_assert_cmpint (r, >=, 0);
  g_assert_cmpint (sd_bus_message_read (reply, "s", &xml), >=, 0);
  return g_strdup (xml);
}

static gint
compare_lines (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static char *
describe_args (GDBusArgInfo **args)
{
  GString *s = g_string_new ("");
  for (guint i = 0; args != NULL && args[i] != NULL; i++)
    g_string_append_printf (s, "%s:%s ", args[i]->name, args[i]->signature);
  return g_string_free (s, FALSE);
}

/* Reduces an interface to a sorted list of lines, one per member, so that
 * two descriptions compare as strings and a difference reads well. */
static char *
describe_interface (GDBusInterfaceInfo *iface)
{
  g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
  GString *out = g_string_new ("");

  for (guint i = 0; iface->methods != NULL && iface->methods[i] != NULL; i++) {
    g_autofree char *in = describe_args (iface->methods[i]->in_args);
    g_autofree char *outa = describe_args (iface->methods[i]->out_args);
    g_ptr_array_add (lines, g_strdup_printf ("method %s(%s) -> (%s)", iface->methods[i]->name, in, outa));
  }
  for (guint i = 0; iface->signals != NULL && iface->signals[i] != NULL; i++) {
    g_autofree char *args = describe_args (iface->signals[i]->args);
    g_ptr_array_add (lines, g_strdup_printf ("signal %s(%s)", iface->signals[i]->name, args));
  }
  for (guint i = 0; iface->properties != NULL && iface->properties[i] != NULL; i++) {
    GDBusPropertyInfo *p = iface->properties[i];
    g_ptr_array_add (lines, g_strdup_printf ("property %s %s %s", p->name, p->signature,
                                             p->flags == G_DBUS_PROPERTY_INFO_FLAGS_READABLE ? "read" : "other"));
  }
  g_ptr_array_sort (lines, compare_lines);
  for (guint i = 0; i < lines->len; i++)
    g_string_append_printf (out, "%s\n", (char *) lines->pdata[i]);
  return g_string_free (out, FALSE);
}

static void
assert_interface_matches (GDBusNodeInfo *contract, const char *xml, const char *name)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusNodeInfo) exported = g_dbus_node_info_new_for_xml (xml, &error);
  GDBusInterfaceInfo *want = g_dbus_node_info_lookup_interface (contract, name);
  GDBusInterfaceInfo *have;
  g_autofree char *a = NULL, *b = NULL;

  g_assert_no_error (error);
  have = g_dbus_node_info_lookup_interface (exported, name);
  g_assert_nonnull (want);
  g_assert_nonnull (have);
  a = describe_interface (want);
  b = describe_interface (have);
  g_assert_cmpstr (b, ==, a);
}

static void
test_introspection (void)
{
  g_autoptr(AuraTestBus) tb = aura_test_bus_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *contract_xml = NULL, *root = NULL, *job = NULL;
  g_autoptr(GDBusNodeInfo) contract = NULL;

  g_assert_true (g_file_get_contents (aura_test_program ("AURA_INTROSPECTION_XML"), &contract_xml,
                                      NULL, &error));
  contract = g_dbus_node_info_new_for_xml (contract_xml, &error);
  g_assert_no_error (error);

  aura_test_bus_start_daemon (tb, NULL);
  start_job (tb->client, "job-1");
  root = introspect (tb->client, AURA_OBJECT_PATH);
  job = introspect (tb->client, "/org/aura/Progress/jobs/job_2d1");
  assert_interface_matches (contract, root, AURA_INTERFACE);
  assert_interface_matches (contract, job, AURA_JOB_INTERFACE);
  g_assert_nonnull (strstr (root, "org.freedesktop.DBus.ObjectManager"));
}

/* ---- a whole job ------------------------------------------------------- */

static void
test_pipeline (void)
{
  static const char *const stages[] = {
    "planning", "script", "tts", "visuals", "compose", "render", "finalize",
  };
  /* each stage at 50 %, then marked completed; then CompleteJob */
  static const guint expected[] = {
    0, 2, 5, 15, 25, 40, 55, 67, 80, 82, 85, 90, 95, 97, 99, 100,
  };
  g_autoptr(AuraTestBus) tb = aura_test_bus_new ();
  g_autoptr(AuraTestRecorder) rec = NULL;
  g_autoptr(GVariant) events = NULL;
  /* Without coalescing every report is an event, so the sequence is exact;
   * /daemon/coalescing covers the default. */
  const char *config = "[Timing]\nCoalesceIntervalMs=0\n";
  AuraTestSignal *fin;
  guint64 prev_id = 0;

  aura_test_bus_start_daemon_with_config (tb, config);
  rec = aura_test_recorder_new (tb->client, NULL);
  aura_test_call_ok (tb->client, "StartJob", "sa{sv}", "movie-1", 2, "title", "s", "A film",
           "correlationId", "s", "corr-9");
  for (guint i = 0; i < G_N_ELEMENTS (stages); i++) {
    report (tb->client, "movie-1", stages[i], 50);
    aura_test_call_ok (tb->client, "MarkStageCompleted", "ss", "movie-1", stages[i]);
  }
  aura_test_call_ok (tb->client, "CompleteJob", "s", "movie-1");
  aura_test_recorder_wait (rec, "JobFinished", 1);

  g_assert_cmpuint (aura_test_recorder_count (rec, "Progress"), ==, G_N_ELEMENTS (expected));
  for (guint i = 0; i < G_N_ELEMENTS (expected); i++) {
    AuraTestSignal *s = nth_signal (rec, "Progress", i);
    g_autoptr(GVariant) ev = g_variant_get_child_value (s->body, 2);
    guint64 id;
    g_variant_get_child (s->body, 1, "t", &id);
    g_assert_cmpuint (lookup_u (ev, "percent"), ==, expected[i]);
    g_assert_cmpstr (lookup_s (ev, "jobId"), ==, "movie-1");
    g_assert_cmpstr (lookup_s (ev, "correlationId"), ==, "corr-9");
    g_assert_cmpuint (id, >, prev_id);
    prev_id = id;
  }
  fin = nth_signal (rec, "JobFinished", 0);
  {
    const char *job_id, *status, *message;
    guint64 id;
    g_variant_get (fin->body, "(&st&s&s)", &job_id, &id, &status, &message);
    g_assert_cmpstr (job_id, ==, "movie-1");
    g_assert_cmpstr (status, ==, "Completed");
    g_assert_cmpuint (id, >, prev_id);
  }
  /* the history holds exactly what was signalled */
  events = get_events (tb->client, "movie-1", 0);
  g_assert_cmpuint (g_variant_n_children (events), ==, G_N_ELEMENTS (expected) + 1);
}

static void
test_arg0_match (void)
{
  g_autoptr(AuraTestBus) tb = aura_test_bus_new ();
  g_autoptr(AuraTestRecorder) rec_a = NULL, rec_b = NULL, rec_all = NULL;
  sd_bus *other;

  aura_test_bus_start_daemon (tb, NULL);
  other = aura_test_bus_connect (tb);
  rec_a = aura_test_recorder_new (tb->client,
                                  "type='signal',sender='org.aura.Progress',arg0='job-a'");
  rec_b = aura_test_recorder_new (other, "type='signal',sender='org.aura.Progress',arg0='job-b'");
  start_job (tb->client, "job-a");
  start_job (tb->client, "job-b");
  report (tb->client, "job-a", "script", 10);
  report (tb->client, "job-b", "tts", 10);
  aura_test_call_ok (tb->client, "AddWarning", "ss", "job-b", "slow");
  aura_test_call_ok (tb->client, "CompleteJob", "s", "job-a");
  aura_test_call_ok (tb->client, "FailJob", "ss", "job-b", "broken");
  /* a third subscriber sees both ends: when it has, every signal was sent */
  rec_all = aura_test_recorder_new (tb->client, NULL);
  aura_test_recorder_wait (rec_a, "JobFinished", 1);
  aura_test_recorder_wait (rec_b, "JobFinished", 1);

  for (guint i = 0; i < rec_a->signals->len; i++) {
    AuraTestSignal *s = rec_a->signals->pdata[i];
    const char *job;
    g_variant_get_child (s->body, 0, "&s", &job);
    g_assert_cmpstr (job, ==, "job-a");
  }
  for (guint i = 0; i < rec_b->signals->len; i++) {
    AuraTestSignal *s = rec_b->signals->pdata[i];
    const char *job;
    g_variant_get_child (s->body, 0, "&s", &job);
    g_assert_cmpstr (job, ==, "job-b");
  }
  g_assert_cmpuint (aura_test_recorder_count (rec_a, "Progress"), ==, 3);
  g_assert_cmpuint (aura_test_recorder_count (rec_b, "Warning"), ==, 1);
  g_assert_cmpuint (aura_test_recorder_count (rec_b, "Progress"), ==, 3);
  sd_bus_flush_close_unref (other);
}

static void
test_get_list_events (void)
{
  g_autoptr(AuraTestBus) tb = aura_test_bus_new ();
  g_autoptr(sd_bus_message) reply = NULL;
  g_autoptr(GVariant) state = NULL, jobs = NULL, all = NULL, some = NULL;
  sd_bus_error error = SD_BUS_ERROR_NULL;
  const char *type;
  guint64 id1, id2;

  aura_test_bus_start_daemon (tb, NULL);
  aura_test_call_ok (tb->client, "StartJob", "sa{sv}", "j1", 1, "title", "s", "First");
  start_job (tb->client, "j2");
  aura_test_call_ok (tb->client, "ReportTtsProgress", "suuss", "j1", 2, 8, "ElevenLabs", "c-1");
  aura_test_call_ok (tb->client, "AddWarning", "ss", "j1", "voice fallback");

  state = aura_test_get_job (tb->client, "j1");
  g_assert_cmpstr (lookup_s (state, "jobId"), ==, "j1");
  g_assert_cmpstr (lookup_s (state, "stage"), ==, "tts");
  g_assert_cmpuint (lookup_u (state, "percent"), ==, 32);
  g_assert_cmpuint (lookup_u (state, "currentItem"), ==, 3);
  g_assert_cmpuint (lookup_u (state, "totalItems"), ==, 8);
  g_assert_cmpstr (lookup_s (state, "status"), ==, "Running");
  g_assert_cmpstr (lookup_s (state, "title"), ==, "First");
  g_assert_cmpstr (lookup_s (state, "correlationId"), ==, "c-1");
  g_assert_cmpuint (lookup_u (state, "startedByUid"), ==, getuid ());
  g_assert_true (g_variant_lookup (state, "lastEventId", "t", &id1));
  {
    g_autofree const char **w = NULL;
    g_assert_true (g_variant_lookup (state, "warnings", "^a&s", &w));
    g_assert_cmpstr (w[0], ==, "voice fallback");
  }
  /* an unknown optional value is an absent key */
  {
    g_autoptr(GVariant) j2 = aura_test_get_job (tb->client, "j2");
    g_assert_false (g_variant_lookup (j2, "correlationId", "&s", &type));
  }

  reply = aura_test_call (tb->client, &error, "ListJobs", "");
  g_assert_nonnull (reply);
  g_assert_cmpint (aura_bus_message_read_variant (reply, &jobs), ==, 1);
  g_assert_cmpuint (g_variant_n_children (jobs), ==, 2);

  all = get_events (tb->client, "", 0);
  g_assert_cmpuint (g_variant_n_children (all), ==, 4);
  g_variant_get_child (all, 3, "(&st@a{sv})", &type, &id2, NULL);
  g_assert_cmpstr (type, ==, "warning");
  g_assert_cmpuint (id2, ==, id1);
  some = get_events (tb->client, "j1", id2 - 1);
  g_assert_cmpuint (g_variant_n_children (some), ==, 1);
  g_variant_unref (get_events (tb->client, "j1", id2));
  {
    g_autoptr(GVariant) none = get_events (tb->client, "j1", id2);
    g_assert_cmpuint (g_variant_n_children (none), ==, 0);
  }
}

/* ---- job objects ------------------------------------------------------- */

static void
test_job_objects (void)
{
  g_autoptr(AuraTestBus) tb = aura_test_bus_new ();
  g_autoptr(AuraTestRecorder) rec = NULL;
  g_autoptr(sd_bus_message) reply = NULL;
  sd_bus_error error = SD_BUS_ERROR_NULL;
  const char *path = "/org/aura/Progress/jobs/job_2e1";
  char *stage = NULL;
  uint32_t percent;
  int r;

  aura_test_bus_start_daemon (tb, NULL);
  rec = aura_test_recorder_new (tb->client, "type='signal',sender='org.aura.Progress'");
  start_job (tb->client, "job.1");
  aura_test_recorder_wait (rec, "InterfacesAdded", 1);
  g_assert_cmpstr (nth_signal (rec, "InterfacesAdded", 0)->path, ==, AURA_OBJECT_PATH);

  report (tb->client, "job.1", "visuals", 40);
  r = sd_bus_get_property_string (tb->client, AURA_BUS_NAME, path, AURA_JOB_INTERFACE, "Stage",
                                  &error, &stage);
  g_assert_cmpint (r, >=, 0);
  g_assert_cmpstr (stage, ==, "visuals");
  free (stage);
  r = sd_bus_get_property_trivial (tb->client, AURA_BUS_NAME, path, AURA_JOB_INTERFACE, "Percent",
                                   &error, 'u', &percent);
  g_assert_cmpint (r, >=, 0);
  g_assert_cmpuint (percent, ==, 65);
  aura_test_recorder_wait (rec, "PropertiesChanged", 2);
  {
    AuraTestSignal *s = nth_signal (rec, "PropertiesChanged", 1);
    g_autoptr(GVariant) changed = g_variant_get_child_value (s->body, 1);
    g_assert_cmpstr (s->path, ==, path);
    g_assert_cmpuint (lookup_u (changed, "Percent"), ==, 65);
    g_assert_cmpstr (lookup_s (changed, "Stage"), ==, "visuals");
  }

  r = sd_bus_call_method (tb->client, AURA_BUS_NAME, AURA_OBJECT_PATH,
                          "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", &error,
                          &reply, "");
  g_assert_cmpint (r, >=, 0);
  {
    g_autoptr(GVariant) objects = NULL;
    g_autoptr(GVariant) ifaces = NULL, props = NULL;
    g_assert_cmpint (aura_bus_message_read_variant (reply, &objects), ==, 1);
    g_assert_cmpuint (g_variant_n_children (objects), ==, 1);
    ifaces = g_variant_lookup_value (objects, path, NULL);
    g_assert_nonnull (ifaces);
    props = g_variant_lookup_value (ifaces, AURA_JOB_INTERFACE, NULL);
    g_assert_nonnull (props);
    g_assert_cmpstr (lookup_s (props, "JobId"), ==, "job.1");
  }
}

/* ---- heartbeats and retention ------------------------------------------ */

static void
test_heartbeat (void)
{
  g_autoptr(AuraTestBus) tb = aura_test_bus_new ();
  g_autoptr(AuraTestRecorder) rec = NULL;
  g_autoptr(GDateTime) prev = NULL;
  gint64 started;
  double elapsed;

  rec = aura_test_recorder_new (tb->client, "type='signal',interface='org.aura.Progress',member='Heartbeat'");
  started = g_get_monotonic_time ();
  aura_test_bus_start_daemon (tb, "--heartbeat-interval=0.2", NULL);
  aura_test_recorder_wait (rec, "Heartbeat", 4);
  elapsed = (g_get_monotonic_time () - started) / 1e6;
  /* four beats at 0.2 s cannot come sooner than 0.8 s after the start */
  g_assert_cmpfloat (elapsed, >=, 0.8);
  for (guint i = 0; i < 4; i++) {
    const char *ts, *status;
    g_variant_get (nth_signal (rec, "Heartbeat", i)->body, "(&s&s)", &ts, &status);
    g_assert_cmpstr (status, ==, "alive");
    g_assert_true (g_regex_match_simple ("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z$", ts, 0, 0));
    /* and they come at the interval asked for, not the default 5 s: the
     * daemon's own timestamps, so a slow start does not count */
    {
      g_autoptr(GDateTime) t = g_date_time_new_from_iso8601 (ts, NULL);
      g_assert_nonnull (t);
      if (prev != NULL)
        g_assert_cmpint (g_date_time_difference (t, prev), <, 2 * G_USEC_PER_SEC);
      g_clear_pointer (&prev, g_date_time_unref);
      prev = g_steal_pointer (&t);
    }
  }
}

static void
test_retention (void)
{
  g_autoptr(AuraTestBus) tb = aura_test_bus_new ();
  g_autoptr(AuraTestRecorder) rec = NULL;
  const char *config = "[Timing]\nRetentionSeconds=0.3\n";

  aura_test_bus_start_daemon_with_config (tb, config);
  rec = aura_test_recorder_new (tb->client, NULL);
  start_job (tb->client, "short");
  start_job (tb->client, "long");
  aura_test_call_ok (tb->client, "CompleteJob", "s", "short");
  /* still there right after it finished */
  g_variant_unref (aura_test_get_job (tb->client, "short"));
  aura_test_recorder_wait (rec, "InterfacesRemoved", 1);
  g_assert_cmpstr (nth_signal (rec, "InterfacesRemoved", 0)->path, ==, AURA_OBJECT_PATH);
  aura_test_assert_call_error (tb->client, ERR_NO_SUCH_JOB, "GetJob", "s", "short");
  aura_test_assert_call_error (tb->client, ERR_NO_SUCH_JOB, "GetEvents", "st", "short", (guint64) 0);
  g_variant_unref (aura_test_get_job (tb->client, "long"));
}

/* ---- coalescing over the bus -------------------------------------------- */

static void
test_coalescing (void)
{
  g_autoptr(AuraTestBus) tb = aura_test_bus_new ();
  g_autoptr(AuraTestRecorder) rec = NULL;
  const guint n = 400;
  gint64 started;
  double elapsed_ms;
  guint signals;
  AuraTestSignal *last;

  aura_test_bus_start_daemon (tb, NULL);
  rec = aura_test_recorder_new (tb->client, "type='signal',member='Progress'");
  start_job (tb->client, "flood");
  started = g_get_monotonic_time ();
  for (guint i = 1; i <= n; i++)
    aura_test_call_ok (tb->client, "ReportFFmpegProgress", "sttdds", "flood", (guint64) i, (guint64) n,
             30.0, i / 30.0, "");
  elapsed_ms = (g_get_monotonic_time () - started) / 1000.0;
  /* The final state arrives even though it was held back. */
  for (;;) {
    g_autoptr(GVariant) ev = NULL;
    aura_test_recorder_wait (rec, "Progress", aura_test_recorder_count (rec, "Progress") + 1);
    last = nth_signal (rec, "Progress", aura_test_recorder_count (rec, "Progress") - 1);
    ev = g_variant_get_child_value (last->body, 2);
    if (lookup_u (ev, "currentItem") == n)
      break;
  }
  signals = aura_test_recorder_count (rec, "Progress");
  /* the start, one per 100 ms (the first report changes the stage), and
   * the held-back last one */
  g_assert_cmpuint (signals, <=, 3 + (guint) ceil (elapsed_ms / 100.0));
  g_assert_cmpuint (signals, <, n / 4);
}

/* The details dictionary of ReportProgress, read straight from the message:
 * every key the daemon knows lands in the state, integers of any D-Bus
 * integer type count, the first of a repeated key counts, unknown keys
 * (whatever they hold) are ignored. */
static void
test_report_details (void)
{
  g_autoptr(AuraTestBus) tb = aura_test_bus_new ();
  g_autoptr(GVariant) state = NULL;
  sd_bus *bus;

  aura_test_bus_start_daemon (tb, NULL);
  bus = tb->client;
  start_job (bus, "d");
  aura_test_call_ok (bus, "ReportProgress", "ssda{sv}", "d", "compose", 40.0, 8,
           "future", "a{sv}", 1, "nested", "as", 2, "x", "y",
           "message", "s", "Composing scene 3",
           "substageDetail", "s", "Scene 3 of 8",
           "currentItem", "i", 3,
           "totalItems", "y", 8,
           "correlationId", "s", "corr-1",
           "message", "s", "not this one",
           "other", "u", 7);
  state = aura_test_get_job (bus, "d");
  g_assert_cmpstr (lookup_s (state, "stage"), ==, "compose");
  g_assert_cmpstr (lookup_s (state, "message"), ==, "Composing scene 3");
  g_assert_cmpstr (lookup_s (state, "substageDetail"), ==, "Scene 3 of 8");
  g_assert_cmpstr (lookup_s (state, "correlationId"), ==, "corr-1");
  g_assert_cmpuint (lookup_u (state, "currentItem"), ==, 3);
  g_assert_cmpuint (lookup_u (state, "totalItems"), ==, 8);
  g_clear_pointer (&state, g_variant_unref);

  /* without details the stage's own description, and no items */
  report (bus, "d", "render", 10);
  state = aura_test_get_job (bus, "d");
  g_assert_cmpstr (lookup_s (state, "message"), ==, "Rendering video");
  g_assert_false (g_variant_lookup (state, "currentItem", "u", NULL));
  g_assert_false (g_variant_lookup (state, "substageDetail", "&s", NULL));
}

/* ---- errors ------------------------------------------------------------ */

static void
test_errors (void)
{
  g_autoptr(AuraTestBus) tb = aura_test_bus_new ();
  g_autoptr(GVariant) before = NULL, after = NULL, events_before = NULL, events_after = NULL;
  g_autofree char *huge = g_strnfill (5000, 'w');
  g_autofree char *long_name = g_strnfill (300, 'n');
  g_autofree char *long_id = g_strnfill (129, 'i');
  sd_bus *bus;

  aura_test_bus_start_daemon (tb, NULL);
  bus = tb->client;
  start_job (bus, "ok");
  report (bus, "ok", "tts", 20);
  start_job (bus, "done");
  aura_test_call_ok (bus, "CompleteJob", "s", "done");
  before = aura_test_get_job (bus, "ok");
  events_before = get_events (bus, "", 0);

  aura_test_assert_call_error (bus, ERR_INVALID, "StartJob", "sa{sv}", "", 0);
  aura_test_assert_call_error (bus, ERR_INVALID, "StartJob", "sa{sv}", "-dash", 0);
  aura_test_assert_call_error (bus, ERR_INVALID, "StartJob", "sa{sv}", "a/b", 0);
  aura_test_assert_call_error (bus, ERR_INVALID, "StartJob", "sa{sv}", long_id, 0);
  aura_test_assert_call_error (bus, ERR_INVALID, "StartJob", "sa{sv}", "new", 1, "title", "u", 5);
  aura_test_assert_call_error (bus, ERR_INVALID, "StartJob", "sa{sv}", "new", 1, "title", "s", long_name);
  aura_test_assert_call_error (bus, ERR_EXISTS, "StartJob", "sa{sv}", "ok", 0);
  aura_test_assert_call_error (bus, ERR_NO_SUCH_JOB, "ReportProgress", "ssda{sv}", "nope", "tts", 1.0, 0);
  aura_test_assert_call_error (bus, ERR_INVALID, "ReportProgress", "ssda{sv}", "ok", "speech", 1.0, 0);
  aura_test_assert_call_error (bus, ERR_INVALID, "ReportProgress", "ssda{sv}", "ok", "tts", NAN, 0);
  aura_test_assert_call_error (bus, ERR_INVALID, "ReportProgress", "ssda{sv}", "ok", "tts", 101.0, 0);
  aura_test_assert_call_error (bus, ERR_INVALID, "ReportProgress", "ssda{sv}", "ok", "tts", -1.0, 0);
  aura_test_assert_call_error (bus, ERR_INVALID, "ReportProgress", "ssda{sv}", "ok", "tts", 5.0, 1,
                               "message", "s", huge);
  aura_test_assert_call_error (bus, ERR_NOT_RUNNING, "ReportProgress", "ssda{sv}", "done", "tts", 1.0, 0);
  /* details of the wrong type, out of range, or half of a pair */
  aura_test_assert_call_error (bus, ERR_INVALID, "ReportProgress", "ssda{sv}", "ok", "tts", 5.0, 1,
                               "message", "u", 3);
  aura_test_assert_call_error (bus, ERR_INVALID, "ReportProgress", "ssda{sv}", "ok", "tts", 5.0, 2,
                               "currentItem", "s", "1", "totalItems", "u", 4);
  aura_test_assert_call_error (bus, ERR_INVALID, "ReportProgress", "ssda{sv}", "ok", "tts", 5.0, 2,
                               "currentItem", "i", -1, "totalItems", "u", 4);
  aura_test_assert_call_error (bus, ERR_INVALID, "ReportProgress", "ssda{sv}", "ok", "tts", 5.0, 1,
                               "totalItems", "u", 4);
  aura_test_assert_call_error (bus, ERR_INVALID, "ReportProgress", "ssda{sv}", "ok", "tts", 5.0, 2,
                               "currentItem", "u", 5, "totalItems", "u", 4);
  aura_test_assert_call_error (bus, ERR_INVALID, "ReportFFmpegProgress", "sttdds", "ok", (guint64) 5, (guint64) 0, 1.0, 1.0, "");
  aura_test_assert_call_error (bus, ERR_INVALID, "ReportFFmpegProgress", "sttdds", "ok", (guint64) 5, (guint64) 4, 1.0, 1.0, "");
  aura_test_assert_call_error (bus, ERR_INVALID, "ReportFFmpegProgress", "sttdds", "ok", (guint64) 1, (guint64) 4, NAN, 1.0, "");
  aura_test_assert_call_error (bus, ERR_INVALID, "ReportFFmpegProgress", "sttdds", "ok", (guint64) 1, (guint64) 4, 1.0, -2.0, "");
  aura_test_assert_call_error (bus, ERR_INVALID, "ReportTtsProgress", "suuss", "ok", 9, 8, "p", "");
  aura_test_assert_call_error (bus, ERR_INVALID, "ReportTtsProgress", "suuss", "ok", 0, 0, "p", "");
  aura_test_assert_call_error (bus, ERR_INVALID, "ReportTtsProgress", "suuss", "ok", 0, 8, "", "");
  aura_test_assert_call_error (bus, ERR_INVALID, "ReportVisualProgress", "suuss", "ok", 1, 8, long_name, "");
  aura_test_assert_call_error (bus, ERR_INVALID, "ReportLlmProgress", "ssuus", "ok", "drafting", 3, 2, "");
  aura_test_assert_call_error (bus, ERR_INVALID, "AddWarning", "ss", "ok", "");
  aura_test_assert_call_error (bus, ERR_INVALID, "AddWarning", "ss", "ok", huge);
  aura_test_assert_call_error (bus, ERR_NOT_RUNNING, "AddWarning", "ss", "done", "late");
  aura_test_assert_call_error (bus, ERR_INVALID, "MarkStageCompleted", "ss", "ok", "TTS");
  aura_test_assert_call_error (bus, ERR_NOT_RUNNING, "CompleteJob", "s", "done");
  aura_test_assert_call_error (bus, ERR_NOT_RUNNING, "FailJob", "ss", "done", "x");
  aura_test_assert_call_error (bus, ERR_INVALID, "FailJob", "ss", "ok", "");
  aura_test_assert_call_error (bus, ERR_NO_SUCH_JOB, "GetJob", "s", "nope");
  aura_test_assert_call_error (bus, ERR_INVALID, "GetJob", "s", "bad id");
  aura_test_assert_call_error (bus, ERR_INVALID, "GetEvents", "st", "bad id", (guint64) 0);
  /* a wrong signature is refused by sd-bus before any handler runs */
  aura_test_assert_call_error (bus, ERR_INVALID, "ReportProgress", "ss", "ok", "tts");

  /* nothing changed, and the daemon still answers */
  after = aura_test_get_job (bus, "ok");
  events_after = get_events (bus, "", 0);
  g_assert_cmpuint (g_variant_n_children (events_after), ==, g_variant_n_children (events_before));
  g_assert_cmpuint (lookup_u (after, "percent"), ==, lookup_u (before, "percent"));
  g_assert_cmpstr (lookup_s (after, "stage"), ==, lookup_s (before, "stage"));
  g_assert_cmpstr (lookup_s (after, "message"), ==, lookup_s (before, "message"));
  report (bus, "ok", "tts", 30);
}

static void
test_limits (void)
{
  g_autoptr(AuraTestBus) tb = aura_test_bus_new ();
  const char *config = "[Limits]\nMaxJobs=2\nMaxWarningsPerJob=2\nMaxMessageLength=100\n";
  g_autofree char *msg = g_strnfill (101, 'm');

  aura_test_bus_start_daemon_with_config (tb, config);
  start_job (tb->client, "a");
  start_job (tb->client, "b");
  aura_test_assert_call_error (tb->client, ERR_LIMIT, "StartJob", "sa{sv}", "c", 0);
  aura_test_call_ok (tb->client, "AddWarning", "ss", "a", "one");
  aura_test_call_ok (tb->client, "AddWarning", "ss", "a", "two");
  aura_test_assert_call_error (tb->client, ERR_LIMIT, "AddWarning", "ss", "a", "three");
  aura_test_assert_call_error (tb->client, ERR_INVALID, "AddWarning", "ss", "b", msg);
}

/* Runs the daemon with @arg; it must stop at once with status 2 and say
 * @expected. */
static void
assert_daemon_refuses (AuraTestBus *tb, const char *arg, const char *expected)
{
  g_autofree char *addr = g_strdup_printf ("--address=%s", tb->address);
  const char *argv[] = { aura_test_program ("AURA_PROGRESSD"), addr, arg, NULL };
  g_autoptr(GSubprocess) proc = aura_test_spawn (argv, G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;

  g_subprocess_communicate_utf8 (proc, NULL, NULL, NULL, &err, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_subprocess_get_exit_status (proc), ==, 2);
  if (strstr (err, expected) == NULL)
    g_error ("expected '%s' in: %s", expected, err);
}

static void
test_bad_config (void)
{
  g_autoptr(AuraTestBus) tb = aura_test_bus_new ();
  g_autofree char *bad = aura_test_bus_write_file (tb, "bad.conf", "[Limits]\nMaxJobs=lots\n");
  g_autofree char *typo = aura_test_bus_write_file (tb, "typo.conf", "[Limits]\nMaxJob=5\n");
  g_autofree char *bad_arg = g_strdup_printf ("--config=%s", bad);
  g_autofree char *typo_arg = g_strdup_printf ("--config=%s", typo);

  assert_daemon_refuses (tb, bad_arg, "MaxJobs must be a whole number");
  /* a misspelt key would silently leave its default */
  assert_daemon_refuses (tb, typo_arg, "[Limits] unknown key 'MaxJob'; keys are MaxJobs,");
  /* 0 is not "unset" */
  assert_daemon_refuses (tb, "--heartbeat-interval=0", "--heartbeat-interval must be from 0.01");
}

static void
test_event_ids_across_restart (void)
{
  g_autoptr(AuraTestBus) tb = aura_test_bus_new ();
  g_autoptr(GVariant) s1 = NULL, s2 = NULL;
  guint64 last1, last2;

  aura_test_bus_start_daemon (tb, NULL);
  start_job (tb->client, "a");
  report (tb->client, "a", "script", 20);
  s1 = aura_test_get_job (tb->client, "a");
  g_assert_true (g_variant_lookup (s1, "lastEventId", "t", &last1));
  aura_test_bus_stop_daemon (tb);
  aura_test_bus_wait_name (tb, AURA_BUS_NAME, FALSE);

  aura_test_bus_start_daemon (tb, NULL);
  start_job (tb->client, "a");
  s2 = aura_test_get_job (tb->client, "a");
  g_assert_true (g_variant_lookup (s2, "lastEventId", "t", &last2));
  g_assert_cmpuint (last2, >, last1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/daemon/introspection", test_introspection);
  g_test_add_func ("/daemon/pipeline", test_pipeline);
  g_test_add_func ("/daemon/arg0-match", test_arg0_match);
  g_test_add_func ("/daemon/get-list-events", test_get_list_events);
  g_test_add_func ("/daemon/job-objects", test_job_objects);
  g_test_add_func ("/daemon/heartbeat", test_heartbeat);
  g_test_add_func ("/daemon/retention", test_retention);
  g_test_add_func ("/daemon/coalescing", test_coalescing);
  g_test_add_func ("/daemon/report-details", test_report_details);
  g_test_add_func ("/daemon/errors", test_errors);
  g_test_add_func ("/daemon/limits", test_limits);
  g_test_add_func ("/daemon/bad-config", test_bad_config);
  g_test_add_func ("/daemon/event-ids-across-restart", test_event_ids_across_restart);
  return g_test_run ();
}
