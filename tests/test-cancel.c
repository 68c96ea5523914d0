/* SPDX-License-Identifier: MIT */
/* Provider registration and orchestrated cancellation, end to end: a
 * private dbus-daemon, the real aura-progressd, real provider processes
 * (tests/test-provider.c, built on libaura-provider) and this test as the
 * job's owner, calling through libaura-provider too. */
#include <signal.h>
#include <sys/time.h>
#include <string.h>

#include "aura-bus-variant.h"
#include "aura-provider.h"
#include "aura-test-bus.h"

#define ERR_INVALID SD_BUS_ERROR_INVALID_ARGS
#define ERR_NO_SUCH_JOB AURA_DBUS_ERROR_NO_SUCH_JOB
#define ERR_NOT_RUNNING AURA_DBUS_ERROR_NOT_RUNNING
#define ERR_LIMIT AURA_DBUS_ERROR_LIMIT_EXCEEDED
#define ERR_NO_SUCH_PROVIDER AURA_DBUS_ERROR_NO_SUCH_PROVIDER

#define NOT_SUPPORTED(name, type) \
  "Provider " name " (" type ") does not support cancellation. Operation may continue until completion."
#define ALL_OK "All providers cancelled or reported as not supporting cancellation"

/* A cancel timeout no answering provider comes near, and a short one for
 * the providers that never answer. */
#define LONG_TIMEOUT "60"

static const char *
short_timeout (void)
{
  return aura_test_is_slow () ? "1.5" : "0.3";
}

/* ---- the daemon -------------------------------------------------------- */

/* extra_config continues the [Timing] group or starts groups of its own. */
static AuraTestBus *
start (const char *cancel_timeout, const char *extra_config)
{
  AuraTestBus *tb = aura_test_bus_new ();
  g_autofree char *conf_text = g_strdup_printf ("[Timing]\nCancelTimeoutSeconds=%s\n%s",
                                                cancel_timeout, extra_config ? extra_config : "");

  aura_test_bus_start_daemon_with_config (tb, conf_text);
  return tb;
}

static AuraClient *
client_new (AuraTestBus *tb)
{
  g_autoptr(GError) error = NULL;
  AuraClient *client = aura_client_new (AURA_BUS_ADDRESS, tb->address, &error);

  g_assert_no_error (error);
  return client;
}

static void
start_job (AuraClient *client, const char *job_id, const char *correlation_id)
{
  g_autoptr(GError) error = NULL;

  aura_client_start_job (client, job_id, "A film", correlation_id, &error);
  g_assert_no_error (error);
}

static GVariant *
get_job (AuraClient *client, const char *job_id)
{
  g_autoptr(GError) error = NULL;
  GVariant *state = aura_client_get_job (client, job_id, &error);

  g_assert_no_error (error);
  return state;
}

static const char *
lookup_s (GVariant *dict, const char *key)
{
  const char *v = NULL;
  if (!g_variant_lookup (dict, key, "&s", &v))
    g_error ("no key %s", key);
  return v;
}

static gboolean
strv_contains (GVariant *dict, const char *key, const char *value)
{
  g_autofree const char **v = NULL;

  if (!g_variant_lookup (dict, key, "^a&s", &v))
    g_error ("no key %s", key);
  return g_strv_contains (v, value);
}

/* ---- provider processes ------------------------------------------------- */

typedef struct {
  GSubprocess *proc;
  GDataInputStream *out;
  gboolean killed;
} Provider;

static Provider *
provider_spawnv (AuraTestBus *tb, const char *job, const char *mode, const char *name,
                 const char *type, const char *const *extra)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  Provider *p = g_new0 (Provider, 1);

  g_ptr_array_add (argv, g_strdup (aura_test_program ("AURA_TEST_PROVIDER")));
  g_ptr_array_add (argv, g_strdup_printf ("--address=%s", tb->address));
  g_ptr_array_add (argv, g_strdup_printf ("--job=%s", job));
  g_ptr_array_add (argv, g_strdup_printf ("--mode=%s", mode));
  if (name != NULL)
    g_ptr_array_add (argv, g_strdup_printf ("--name=%s", name));
  if (type != NULL)
    g_ptr_array_add (argv, g_strdup_printf ("--type=%s", type));
  for (guint i = 0; extra != NULL && extra[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (extra[i]));
  g_ptr_array_add (argv, NULL);
  p->proc = aura_test_spawn ((const char *const *) argv->pdata, G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  p->out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (p->proc));
  return p;
}

/* The next line the provider prints; NULL at its end. The provider is
 * another process: a blocking read is the wait for that event. */
static char *
provider_line (Provider *p)
{
  g_autoptr(GError) error = NULL;
  char *line = g_data_input_stream_read_line (p->out, NULL, NULL, &error);

  g_assert_no_error (error);
  return line;
}

/* Reads lines until one starts with @prefix; returns it. */
static char *
provider_expect (Provider *p, const char *prefix)
{
  for (;;) {
    char *line = provider_line (p);
    if (line == NULL)
      g_error ("provider ended before printing %s", prefix);
    if (g_str_has_prefix (line, prefix))
      return line;
    g_free (line);
  }
}

static Provider *
provider_start (AuraTestBus *tb, const char *job, const char *mode, const char *name,
                const char *type)
{
  Provider *p = provider_spawnv (tb, job, mode, name, type, NULL);
  g_free (provider_expect (p, "READY"));
  return p;
}

static void
provider_wait_exit (Provider *p)
{
  g_autoptr(GError) error = NULL;

  g_subprocess_wait (p->proc, NULL, &error);
  g_assert_no_error (error);
  /* 0 also means valgrind and the sanitizers found nothing */
  g_assert_true (g_subprocess_get_if_exited (p->proc));
  g_assert_cmpint (g_subprocess_get_exit_status (p->proc), ==, 0);
}

static void
provider_kill (Provider *p)
{
  g_subprocess_send_signal (p->proc, SIGKILL);
  g_subprocess_wait (p->proc, NULL, NULL);
  p->killed = TRUE;
}

static void
provider_free (Provider *p)
{
  if (p == NULL)
    return;
  if (!p->killed) {
    g_subprocess_send_signal (p->proc, SIGTERM);
    provider_wait_exit (p);
  }
  g_object_unref (p->out);
  g_object_unref (p->proc);
  g_free (p);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Provider, provider_free)

/* ---- CancelJob through the library ------------------------------------- */

typedef struct {
  AuraClient *client;
  AuraCancelResult *result;
  GError *error;
  gboolean done;
  gint64 started;
  gint64 finished;
} Cancel;

static void
on_cancel_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Cancel *c = user_data;

  c->result = aura_client_cancel_job_finish (c->client, res, &c->error);
  c->finished = g_get_monotonic_time ();
  c->done = TRUE;
}

static void
cancel_begin (Cancel *c, AuraClient *client, const char *job_id)
{
  memset (c, 0, sizeof *c);
  c->client = client;
  c->started = g_get_monotonic_time ();
  aura_client_cancel_job_async (client, job_id, NULL, on_cancel_done, c);
}

static gboolean
cancel_done (gpointer data)
{
  return ((Cancel *) data)->done;
}

static void
cancel_wait (Cancel *c)
{
  aura_test_wait_until (cancel_done, c, "the answer to CancelJob");
}

static void
cancel_clear (Cancel *c)
{
  g_clear_pointer (&c->result, aura_cancel_result_free);
  g_clear_error (&c->error);
}

static double
cancel_ms (const Cancel *c)
{
  return (c->finished - c->started) / 1000.0;
}

/* Cancels and waits; the result must be a success. */
static AuraCancelResult *
cancel_job (AuraClient *client, const char *job_id)
{
  Cancel c;

  cancel_begin (&c, client, job_id);
  cancel_wait (&c);
  g_assert_no_error (c.error);
  g_assert_nonnull (c.result);
  return c.result;
}

static AuraProviderStatus *
find_status (AuraCancelResult *r, const char *name)
{
  for (guint i = 0; i < r->provider_statuses->len; i++) {
    AuraProviderStatus *s = r->provider_statuses->pdata[i];
    if (strcmp (s->provider_name, name) == 0)
      return s;
  }
  g_error ("no status for provider %s", name);
}

static void
assert_status (AuraCancelResult *r, const char *name, const char *type, gboolean supports,
               const char *status, const char *warning)
{
  AuraProviderStatus *s = find_status (r, name);

  g_assert_cmpstr (s->provider_type, ==, type);
  g_assert_cmpint (s->supports_cancellation, ==, supports);
  g_assert_cmpstr (s->status, ==, status);
  g_assert_cmpstr (s->warning, ==, warning);
}

/* The job ended Canceled: the JobFinished signal and the terminal event,
 * which carries the rollback markers. */
static void
assert_canceled (AuraClient *client, AuraTestRecorder *rec, const char *job_id,
                 const char *const *rollback)
{
  g_autoptr(GVariant) state = get_job (client, job_id);
  g_autoptr(GVariant) events = NULL;
  g_autoptr(GVariant) payload = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree const char **stages = NULL;
  const char *type, *status;
  gsize n;

  g_assert_cmpstr (lookup_s (state, "status"), ==, "Canceled");
  aura_test_recorder_wait (rec, "JobFinished", 1);
  for (guint i = 0; i < rec->signals->len; i++) {
    AuraTestSignal *s = rec->signals->pdata[i];
    const char *id;
    if (strcmp (s->member, "JobFinished") != 0)
      continue;
    g_variant_get (s->body, "(&st&s&s)", &id, NULL, &status, NULL);
    g_assert_cmpstr (id, ==, job_id);
    g_assert_cmpstr (status, ==, "Canceled");
  }
  events = aura_client_get_events (client, job_id, 0, &error);
  g_assert_no_error (error);
  n = g_variant_n_children (events);
  g_variant_get_child (events, n - 1, "(&st@a{sv})", &type, NULL, &payload);
  g_assert_cmpstr (type, ==, "job-cancelled");
  g_assert_cmpstr (lookup_s (payload, "status"), ==, "Canceled");
  g_assert_true (g_variant_lookup (payload, "rollbackStages", "^a&s", &stages));
  g_assert_cmpuint (g_strv_length ((char **) stages), ==, g_strv_length ((char **) rollback));
  for (guint i = 0; rollback[i] != NULL; i++)
    g_assert_cmpstr (stages[i], ==, rollback[i]);
}

static void
assert_error_code (AuraClient *client, const char *job_id, gint code)
{
  Cancel c;

  cancel_begin (&c, client, job_id);
  cancel_wait (&c);
  g_assert_error (c.error, AURA_ERROR, code);
  g_assert_null (c.result);
  cancel_clear (&c);
}

/* ---- the statuses -------------------------------------------------------- */

static void
test_statuses (void)
{
  g_autoptr(AuraTestBus) tb = start (LONG_TIMEOUT, NULL);
  g_autoptr(AuraClient) client = client_new (tb);
  g_autoptr(AuraTestRecorder) rec = aura_test_recorder_new (tb->client, NULL);
  g_autoptr(Provider) tts = NULL, upload = NULL, legacy = NULL;
  g_autoptr(AuraCancelResult) r = NULL;
  g_autoptr(GVariant) state = NULL;
  g_autoptr(GError) error = NULL;
  const char *const rollback[] = { "planning", NULL };
  const char *failed = "Provider Uploader (Upload) failed to cancel: cannot stop: uploading the "
                       "final chunk";

  start_job (client, "job-1", "corr-1");
  aura_client_mark_stage_completed (client, "job-1", "planning", &error);
  g_assert_no_error (error);
  /* three processes register; this test, another connection, owns the job */
  tts = provider_start (tb, "job-1", "cancellable", "ElevenLabs", "TTS");
  upload = provider_start (tb, "job-1", "fail", "Uploader", "Upload");
  legacy = provider_start (tb, "job-1", "not-cancellable", "LegacyProvider", "LLM");

  r = cancel_job (client, "job-1");
  g_assert_cmpstr (r->current_status, ==, "Canceled");
  g_assert_cmpstr (r->job_id, ==, "job-1");
  g_assert_cmpstr (r->correlation_id, ==, "corr-1");
  g_assert_true (r->cleanup_scheduled);
  g_assert_cmpuint (r->provider_statuses->len, ==, 3);
  /* registration order */
  g_assert_cmpstr (((AuraProviderStatus *) r->provider_statuses->pdata[0])->provider_name, ==, "ElevenLabs");
  assert_status (r, "ElevenLabs", "TTS", TRUE, "Cancelled", NULL);
  assert_status (r, "Uploader", "Upload", TRUE, "Failed", failed);
  assert_status (r, "LegacyProvider", "LLM", FALSE, "NotSupported", NOT_SUPPORTED ("LegacyProvider", "LLM"));
  g_assert_cmpstr (r->message, ==, "Not every provider could be cancelled: Uploader (Upload) failed");
  g_assert_cmpuint (g_strv_length (r->warnings), ==, 2);
  g_assert_cmpstr (r->warnings[0], ==, failed);
  g_assert_cmpstr (r->warnings[1], ==, NOT_SUPPORTED ("LegacyProvider", "LLM"));

  /* the cancellable provider saw its GCancellable cancelled and stopped */
  g_free (provider_expect (tts, "CANCEL ElevenLabs"));
  provider_wait_exit (tts);
  /* the job: Canceled, with the provider warnings, the markers kept */
  assert_canceled (client, rec, "job-1", rollback);
  state = get_job (client, "job-1");
  g_assert_true (strv_contains (state, "warnings", failed));
  g_assert_true (strv_contains (state, "warnings", NOT_SUPPORTED ("LegacyProvider", "LLM")));
  g_assert_true (strv_contains (state, "completedStages", "planning"));
  g_assert_cmpstr (lookup_s (state, "message"), ==, r->message);

  /* once more: the job is no longer running */
  assert_error_code (client, "job-1", AURA_ERROR_NOT_RUNNING);
}

/* No provider failed: the exact message, and no cleanup without markers. */
static void
test_all_cancelled (void)
{
  g_autoptr(AuraTestBus) tb = start (LONG_TIMEOUT, NULL);
  g_autoptr(AuraClient) client = client_new (tb);
  g_autoptr(Provider) a = NULL, b = NULL;
  g_autoptr(AuraCancelResult) r = NULL;

  start_job (client, "job-2", NULL);
  a = provider_start (tb, "job-2", "cancellable", "A", "TTS");
  b = provider_start (tb, "job-2", "cancellable", "B", "Visual");
  r = cancel_job (client, "job-2");
  g_assert_cmpstr (r->message, ==, ALL_OK);
  g_assert_false (r->cleanup_scheduled);
  g_assert_null (r->correlation_id);
  g_assert_cmpuint (g_strv_length (r->warnings), ==, 0);
  assert_status (r, "A", "TTS", TRUE, "Cancelled", NULL);
  assert_status (r, "B", "Visual", TRUE, "Cancelled", NULL);
  provider_wait_exit (a);
  provider_wait_exit (b);
}

static void
test_no_providers (void)
{
  g_autoptr(AuraTestBus) tb = start (LONG_TIMEOUT, NULL);
  g_autoptr(AuraClient) client = client_new (tb);
  g_autoptr(AuraTestRecorder) rec = aura_test_recorder_new (tb->client, NULL);
  g_autoptr(AuraCancelResult) r = NULL;
  const char *const none[] = { NULL };

  start_job (client, "lonely", NULL);
  r = cancel_job (client, "lonely");
  g_assert_cmpstr (r->current_status, ==, "Canceled");
  g_assert_cmpstr (r->message, ==, ALL_OK);
  g_assert_cmpuint (r->provider_statuses->len, ==, 0);
  assert_canceled (client, rec, "lonely", none);
}

/* ---- timeouts and vanishing providers ---------------------------------- */

static void
test_timeout (void)
{
  g_autoptr(AuraTestBus) tb = start (short_timeout (), NULL);
  g_autoptr(AuraClient) client = client_new (tb);
  g_autoptr(AuraTestRecorder) rec = aura_test_recorder_new (tb->client, NULL);
  g_autoptr(Provider) stuck = NULL, ok = NULL;
  g_autoptr(AuraCancelResult) r = NULL;
  g_autoptr(GVariant) state = NULL;
  g_autofree char *warning = g_strdup_printf ("Provider Stuck (TTS) did not answer the "
                                              "cancellation request within %s seconds.",
                                              short_timeout ());
  const char *const none[] = { NULL };
  double timeout_ms = g_ascii_strtod (short_timeout (), NULL) * 1000;
  Cancel c;

  start_job (client, "slow", NULL);
  stuck = provider_start (tb, "slow", "never", "Stuck", "TTS");
  ok = provider_start (tb, "slow", "cancellable", "Quick", "LLM");
  cancel_begin (&c, client, "slow");
  cancel_wait (&c);
  g_assert_no_error (c.error);
  r = g_steal_pointer (&c.result);
  /* the reply waited for the timeout, and not much longer */
  g_assert_cmpfloat (cancel_ms (&c), >=, timeout_ms - 1);
  g_test_message ("CancelJob with a provider that never answers: %.0f ms (timeout %.0f ms)",
                  cancel_ms (&c), timeout_ms);
  assert_status (r, "Stuck", "TTS", TRUE, "Error", warning);
  assert_status (r, "Quick", "LLM", TRUE, "Cancelled", NULL);
  g_assert_cmpstr (r->message, ==, "Not every provider could be cancelled: Stuck (TTS) did not answer");
  /* reported on the job, and the job still ended */
  assert_canceled (client, rec, "slow", none);
  state = get_job (client, "slow");
  g_assert_true (strv_contains (state, "warnings", warning));
  g_free (provider_expect (stuck, "CANCEL Stuck"));
  provider_wait_exit (ok);
}

typedef struct {
  AuraTestRecorder *rec;
  const char *text;
} WarningWait;

static gboolean
warning_arrived (gpointer data)
{
  WarningWait *w = data;

  for (guint i = 0; i < w->rec->signals->len; i++) {
    AuraTestSignal *s = w->rec->signals->pdata[i];
    const char *message;
    if (strcmp (s->member, "Warning") != 0)
      continue;
    g_variant_get (s->body, "(&st&s)", NULL, NULL, &message);
    if (strcmp (message, w->text) == 0)
      return TRUE;
  }
  return FALSE;
}

static void
test_vanished_before (void)
{
  g_autoptr(AuraTestBus) tb = start (LONG_TIMEOUT, NULL);
  g_autoptr(AuraClient) client = client_new (tb);
  g_autoptr(AuraTestRecorder) rec = aura_test_recorder_new (tb->client, NULL);
  g_autoptr(Provider) gone = NULL, ok = NULL;
  g_autoptr(AuraCancelResult) r = NULL;
  g_autoptr(GVariant) state = NULL;
  WarningWait w = { rec, "Provider Flaky (Visual) disconnected while the job was running." };

  start_job (client, "job-v", NULL);
  gone = provider_start (tb, "job-v", "cancellable", "Flaky", "Visual");
  ok = provider_start (tb, "job-v", "cancellable", "Steady", "TTS");
  provider_kill (gone);
  /* noticed at once, as a job warning */
  aura_test_wait_until (warning_arrived, &w, "the vanished-provider warning");
  state = get_job (client, "job-v");
  g_assert_true (strv_contains (state, "warnings", w.text));

  r = cancel_job (client, "job-v");
  assert_status (r, "Flaky", "Visual", TRUE, "Error",
                 "Provider Flaky (Visual) disconnected before it could be cancelled.");
  assert_status (r, "Steady", "TTS", TRUE, "Cancelled", NULL);
  g_assert_cmpstr (r->message, ==, "Not every provider could be cancelled: Flaky (Visual) did not answer");
  provider_wait_exit (ok);
}

/* The connection goes while its Cancel is in flight: Error at once, not
 * after the timeout. */
static void
test_vanished_during (void)
{
  g_autoptr(AuraTestBus) tb = start (LONG_TIMEOUT, NULL);
  g_autoptr(AuraClient) client = client_new (tb);
  g_autoptr(Provider) stuck = NULL;
  Cancel c;

  start_job (client, "job-d", NULL);
  stuck = provider_start (tb, "job-d", "never", "Stuck", "FFmpeg");
  cancel_begin (&c, client, "job-d");
  g_free (provider_expect (stuck, "CANCEL Stuck"));
  provider_kill (stuck);
  cancel_wait (&c);
  g_assert_no_error (c.error);
  g_test_message ("CancelJob after the provider died mid-cancel: %.0f ms", cancel_ms (&c));
  /* far below the 60 s timeout */
  g_assert_cmpfloat (cancel_ms (&c), <, 30000);
  assert_status (c.result, "Stuck", "FFmpeg", TRUE, "Error",
                 "Provider Stuck (FFmpeg) disconnected before answering the cancellation request.");
  g_assert_cmpstr (c.result->current_status, ==, "Canceled");
  cancel_clear (&c);
}

/* ---- concurrency ------------------------------------------------------- */

#define N_PROCESSES 4
#define PER_PROCESS 16

static void
test_many (void)
{
  g_autoptr(AuraTestBus) tb = start (LONG_TIMEOUT, NULL);
  g_autoptr(AuraClient) client = client_new (tb);
  /* Under valgrind processes are slow to be scheduled: a longer answer
   * delay keeps "every call before any answer" a property of the daemon,
   * not of the scheduler. */
  guint delay_ms = aura_test_is_slow () ? 1000 : 50;
  g_autofree char *delay_arg = g_strdup_printf ("--delay-ms=%u", delay_ms);
  g_autofree char *count_arg = g_strdup_printf ("--count=%d", PER_PROCESS);
  const char *const extra[] = { delay_arg, count_arg, NULL };
  Provider *procs[N_PROCESSES];
  gint64 first_call = G_MAXINT64, last_call = 0, first_answer = G_MAXINT64;
  guint n_calls = 0, n_answers = 0;
  Cancel c;

  start_job (client, "big", NULL);
  for (guint i = 0; i < N_PROCESSES; i++) {
    g_autofree char *name = g_strdup_printf ("P%u", i);
    procs[i] = provider_spawnv (tb, "big", "delayed", name, "TTS", extra);
  }
  for (guint i = 0; i < N_PROCESSES; i++)
    g_free (provider_expect (procs[i], "READY"));

  cancel_begin (&c, client, "big");
  cancel_wait (&c);
  g_assert_no_error (c.error);
  g_assert_cmpuint (c.result->provider_statuses->len, ==, N_PROCESSES * PER_PROCESS);
  for (guint i = 0; i < c.result->provider_statuses->len; i++)
    g_assert_cmpstr (((AuraProviderStatus *) c.result->provider_statuses->pdata[i])->status, ==,
                     "Cancelled");
  g_assert_cmpstr (c.result->message, ==, ALL_OK);

  /* When each provider got its Cancel and when it answered. */
  for (guint i = 0; i < N_PROCESSES; i++) {
    char *line;
    while ((line = provider_line (procs[i])) != NULL) {
      g_auto(GStrv) f = g_strsplit (line, " ", 3);
      gint64 t = g_ascii_strtoll (f[2], NULL, 10);
      if (strcmp (f[0], "CANCEL") == 0) {
        first_call = MIN (first_call, t);
        last_call = MAX (last_call, t);
        n_calls++;
      } else if (strcmp (f[0], "ANSWER") == 0) {
        first_answer = MIN (first_answer, t);
        n_answers++;
      }
      g_free (line);
    }
    provider_wait_exit (procs[i]);
    procs[i]->killed = TRUE;          /* already gone */
    provider_free (procs[i]);
  }
  g_assert_cmpuint (n_calls, ==, N_PROCESSES * PER_PROCESS);
  g_assert_cmpuint (n_answers, ==, N_PROCESSES * PER_PROCESS);

  g_test_message ("64 providers answering after %u ms each: CancelJob took %.0f ms; the Cancel "
                  "calls arrived within %.1f ms, the last %.1f ms before the first answer",
                  delay_ms, cancel_ms (&c), (last_call - first_call) / 1000.0,
                  (first_answer - last_call) / 1000.0);
  /* The calls went out at once, not one after the other: one after the
   * other, the last would arrive 63 delays after the first. (Not "all
   * before the first answer": on a loaded machine a provider process may
   * be scheduled late.) */
  g_assert_cmpfloat ((last_call - first_call) / 1000.0, <, N_PROCESSES * PER_PROCESS * delay_ms / 4.0);
  /* The reply came after the slowest provider, not after the sum. */
  g_assert_cmpfloat (cancel_ms (&c), >=, delay_ms);
  g_assert_cmpfloat (cancel_ms (&c), <, N_PROCESSES * PER_PROCESS * delay_ms / 4.0);
  cancel_clear (&c);
}

static void
on_alarm (int sig)
{
}

/* A signal that arrives while a synchronous call waits (a GLib program has
 * handlers for SIGINT, SIGTERM and SIGCHLD) does not fail the call: the
 * call waits 300 ms for the provider while a timer signals every 2 ms. */
static void
test_signals_during_call (void)
{
  g_autoptr(AuraTestBus) tb = start (LONG_TIMEOUT, NULL);
  g_autoptr(AuraClient) client = client_new (tb);
  g_autoptr(Provider) slow = NULL;
  g_autoptr(AuraCancelResult) result = NULL;
  g_autoptr(GError) error = NULL;
  const char *const extra[] = { "--delay-ms=300", NULL };
  struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
  const struct sigaction ignore = { .sa_handler = SIG_IGN };
  const struct itimerval every_2ms = { { 0, 2000 }, { 0, 2000 } }, off = { { 0, 0 }, { 0, 0 } };

  start_job (client, "signalled", NULL);
  slow = provider_spawnv (tb, "signalled", "delayed", "Slow", "TTS", extra);
  g_free (provider_expect (slow, "READY"));
  g_assert_cmpint (sigaction (SIGALRM, &sa, NULL), ==, 0);
  g_assert_cmpint (setitimer (ITIMER_REAL, &every_2ms, NULL), ==, 0);
  result = aura_client_cancel_job (client, "signalled", &error);
  g_assert_cmpint (setitimer (ITIMER_REAL, &off, NULL), ==, 0);
  /* a tick still on its way (valgrind delivers late) is dropped, not fatal */
  g_assert_cmpint (sigaction (SIGALRM, &ignore, NULL), ==, 0);
  g_assert_no_error (error);
  assert_status (result, "Slow", "TTS", TRUE, "Cancelled", NULL);
}

/* A second CancelJob while the first is in flight gets the same answer. */
static void
test_twice_in_flight (void)
{
  g_autoptr(AuraTestBus) tb = start (LONG_TIMEOUT, NULL);
  g_autoptr(AuraClient) client = client_new (tb);
  g_autoptr(AuraClient) other = client_new (tb);
  g_autoptr(Provider) slow = NULL, legacy = NULL;
  const char *const extra[] = { "--delay-ms=300", NULL };
  Cancel c1, c2;

  start_job (client, "twice", "corr-2");
  slow = provider_spawnv (tb, "twice", "delayed", "Slow", "TTS", extra);
  g_free (provider_expect (slow, "READY"));
  legacy = provider_start (tb, "twice", "not-cancellable", "Legacy", "LLM");

  cancel_begin (&c1, client, "twice");
  /* the second comes once the first is surely in flight */
  g_free (provider_expect (slow, "CANCEL Slow"));
  cancel_begin (&c2, other, "twice");
  /* no new providers while it is being cancelled */
  aura_test_assert_call_error (tb->client, ERR_NOT_RUNNING, "RegisterProvider", "sssbo", "twice",
                               "Late", "TTS", 1, "/org/example/Provider");
  cancel_wait (&c1);
  cancel_wait (&c2);
  g_assert_no_error (c1.error);
  g_assert_no_error (c2.error);
  g_assert_cmpstr (c1.result->current_status, ==, c2.result->current_status);
  g_assert_cmpstr (c1.result->message, ==, c2.result->message);
  g_assert_cmpstr (c1.result->correlation_id, ==, c2.result->correlation_id);
  g_assert_cmpint (c1.result->cleanup_scheduled, ==, c2.result->cleanup_scheduled);
  g_assert_cmpuint (c1.result->provider_statuses->len, ==, 2);
  g_assert_cmpuint (c2.result->provider_statuses->len, ==, 2);
  for (guint i = 0; i < 2; i++) {
    AuraProviderStatus *a = c1.result->provider_statuses->pdata[i];
    AuraProviderStatus *b = c2.result->provider_statuses->pdata[i];
    g_assert_cmpstr (a->provider_name, ==, b->provider_name);
    g_assert_cmpstr (a->status, ==, b->status);
    g_assert_cmpstr (a->warning, ==, b->warning);
  }
  g_assert_true (g_strv_equal ((const char *const *) c1.result->warnings,
                               (const char *const *) c2.result->warnings));
  assert_status (c1.result, "Slow", "TTS", TRUE, "Cancelled", NULL);
  assert_status (c1.result, "Legacy", "LLM", FALSE, "NotSupported", NOT_SUPPORTED ("Legacy", "LLM"));
  cancel_clear (&c1);
  cancel_clear (&c2);
  provider_wait_exit (slow);
  slow->killed = TRUE;
  assert_error_code (client, "twice", AURA_ERROR_NOT_RUNNING);
}

/* The job's owner ends it while a cancellation is in flight: the callers
 * learn the truth at once. */
static void
test_ended_during (void)
{
  g_autoptr(AuraTestBus) tb = start (LONG_TIMEOUT, "RetentionSeconds=0\n");
  g_autoptr(AuraClient) client = client_new (tb);
  g_autoptr(AuraClient) owner = client_new (tb);
  g_autoptr(Provider) stuck = NULL;
  g_autoptr(GError) error = NULL;
  Cancel c;

  start_job (owner, "race", NULL);
  stuck = provider_start (tb, "race", "never", "Stuck", "TTS");
  cancel_begin (&c, client, "race");
  g_free (provider_expect (stuck, "CANCEL Stuck"));
  /* with no retention the job is retired right after it ends, too */
  aura_client_complete_job (owner, "race", &error);
  g_assert_no_error (error);
  cancel_wait (&c);
  g_assert_no_error (c.error);
  g_assert_cmpfloat (cancel_ms (&c), <, 30000);
  g_assert_cmpstr (c.result->current_status, ==, "Completed");
  g_assert_false (c.result->cleanup_scheduled);
  assert_status (c.result, "Stuck", "TTS", TRUE, "Error",
                 "Provider Stuck (TTS) had not answered the cancellation request when the job ended.");
  cancel_clear (&c);
  /* the daemon is fine */
  start_job (owner, "race-2", NULL);
}

/* Stopping the daemon with a cancellation in flight: its caller gets an
 * error, the daemon exits cleanly (valgrind: no leak). */
static void
test_shutdown_in_flight (void)
{
  g_autoptr(AuraTestBus) tb = start (LONG_TIMEOUT, NULL);
  g_autoptr(AuraClient) client = client_new (tb);
  g_autoptr(Provider) stuck = NULL;
  Cancel c;

  start_job (client, "halt", NULL);
  stuck = provider_start (tb, "halt", "never", "Stuck", "TTS");
  cancel_begin (&c, client, "halt");
  g_free (provider_expect (stuck, "CANCEL Stuck"));
  aura_test_bus_stop_daemon (tb);
  cancel_wait (&c);
  g_assert_error (c.error, AURA_ERROR, AURA_ERROR_FAILED);
  g_assert_nonnull (strstr (c.error->message, "stopping"));
  cancel_clear (&c);
}

/* ---- the seed's integration scenarios ---------------------------------- */

/* Mid-stage cancellation during a simulated FFmpeg render stops the render
 * loop; what the provider reports while it stops lands before the end. */
static void
test_ffmpeg_render (void)
{
  g_autoptr(AuraTestBus) tb = start (LONG_TIMEOUT, NULL);
  g_autoptr(AuraClient) client = client_new (tb);
  g_autoptr(AuraTestRecorder) rec = aura_test_recorder_new (tb->client, NULL);
  g_autoptr(Provider) ffmpeg = NULL;
  g_autoptr(AuraCancelResult) r = NULL;
  g_autoptr(GVariant) state = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *stopped = NULL, *warning = NULL;
  const char *const rollback[] = { "planning", "script", "tts", "visuals", "compose", NULL };
  guint64 frame;
  guint32 item = 0;

  start_job (client, "render", NULL);
  for (guint i = 0; rollback[i] != NULL; i++) {
    aura_client_mark_stage_completed (client, "render", rollback[i], &error);
    g_assert_no_error (error);
  }
  ffmpeg = provider_start (tb, "render", "ffmpeg", NULL, NULL);
  g_free (provider_expect (ffmpeg, "RENDERING"));

  r = cancel_job (client, "render");
  assert_status (r, "FFmpeg", "Render", TRUE, "Cancelled", NULL);
  g_assert_true (r->cleanup_scheduled);
  stopped = provider_expect (ffmpeg, "STOPPED ");
  frame = g_ascii_strtoull (stopped + strlen ("STOPPED "), NULL, 10);
  g_test_message ("the render loop stopped at frame %" G_GUINT64_FORMAT, frame);
  g_assert_cmpuint (frame, >=, 10);
  g_assert_cmpuint (frame, <, 100000);
  provider_wait_exit (ffmpeg);        /* it stopped: the loop ended, the process exited */

  assert_canceled (client, rec, "render", rollback);
  state = get_job (client, "render");
  warning = g_strdup_printf ("Render stopped at frame %" G_GUINT64_FORMAT " of 100000", frame);
  g_assert_true (strv_contains (state, "warnings", warning));
  /* the last frame reported is where it stopped: nothing after */
  g_assert_cmpstr (lookup_s (state, "stage"), ==, "render");
  g_assert_true (g_variant_lookup (state, "currentItem", "u", &item));
  g_assert_cmpuint (item, ==, frame);
}

/* A stage failure leaves the rollback markers. */
static void
test_stage_failure (void)
{
  g_autoptr(AuraTestBus) tb = start (LONG_TIMEOUT, NULL);
  g_autoptr(AuraClient) client = client_new (tb);
  g_autoptr(Provider) pipeline = NULL;
  g_autoptr(GVariant) state = NULL, events = NULL, payload = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) stages = NULL;
  g_autofree const char **in_event = NULL;
  const char *type;

  pipeline = provider_spawnv (tb, "fails", "pipeline-fail", NULL, NULL, NULL);
  g_free (provider_expect (pipeline, "FAILED"));
  provider_wait_exit (pipeline);
  pipeline->killed = TRUE;

  state = get_job (client, "fails");
  g_assert_cmpstr (lookup_s (state, "status"), ==, "Failed");
  g_assert_cmpstr (lookup_s (state, "message"), ==, "TTS provider answered HTTP 503");
  stages = aura_client_get_rollback_stages (client, "fails", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (stages), ==, 2);
  g_assert_cmpstr (stages[0], ==, "planning");
  g_assert_cmpstr (stages[1], ==, "script");
  events = aura_client_get_events (client, "fails", 0, &error);
  g_assert_no_error (error);
  g_variant_get_child (events, g_variant_n_children (events) - 1, "(&st@a{sv})", &type, NULL,
                       &payload);
  g_assert_cmpstr (type, ==, "job-failed");
  g_assert_true (g_variant_lookup (payload, "rollbackStages", "^a&s", &in_event));
  g_assert_true (g_strv_equal (in_event, (const char *const *) stages));
  assert_error_code (client, "fails", AURA_ERROR_NOT_RUNNING);
}

/* ---- busctl: the seed's example response -------------------------------- */

static void
test_busctl (void)
{
  g_autoptr(AuraTestBus) tb = start (LONG_TIMEOUT, NULL);
  g_autoptr(AuraClient) client = client_new (tb);
  g_autoptr(Provider) tts = NULL, legacy = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *addr = g_strdup_printf ("--address=%s", tb->address);
  g_autofree char *out = NULL, *err = NULL;
  g_autoptr(GSubprocess) busctl = NULL;
  const char *argv[] = { "busctl", addr, "call", "org.aura.Progress", "/org/aura/Progress",
                         "org.aura.Progress", "CancelJob", "s", "job-123", NULL };
  const char *expected =
    "ssba(ssbss)ass \"Canceled\" \"" ALL_OK "\" true 2 "
    "\"ElevenLabs\" \"TTS\" true \"Cancelled\" \"\" "
    "\"LegacyProvider\" \"LLM\" false \"NotSupported\" \"" NOT_SUPPORTED ("LegacyProvider", "LLM") "\" "
    "1 \"" NOT_SUPPORTED ("LegacyProvider", "LLM") "\" \"abc-xyz\"\n";

  if (!g_file_test ("/usr/bin/busctl", G_FILE_TEST_IS_EXECUTABLE)) {
    /* busctl comes with systemd, which tools/deps.sh installs for the tests */
    g_test_fail_printf ("busctl is not installed");
    return;
  }
  start_job (client, "job-123", "abc-xyz");
  aura_client_mark_stage_completed (client, "job-123", "planning", &error);
  g_assert_no_error (error);
  tts = provider_start (tb, "job-123", "cancellable", "ElevenLabs", "TTS");
  legacy = provider_start (tb, "job-123", "not-cancellable", "LegacyProvider", "LLM");

  busctl = aura_test_spawn_tool (argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_communicate_utf8 (busctl, NULL, NULL, &out, &err, &error);
  g_assert_no_error (error);
  g_test_message ("busctl: %s%s", out, err);
  g_assert_cmpint (g_subprocess_get_exit_status (busctl), ==, 0);
  g_assert_cmpstr (out, ==, expected);
  provider_wait_exit (tts);
}

/* ---- bad input ---------------------------------------------------------- */

static void
register_ok (sd_bus *bus, const char *job, const char *name, const char *type, int supports,
             const char *path)
{
  sd_bus_error error = SD_BUS_ERROR_NULL;
  g_autoptr(sd_bus_message) reply = aura_test_call (bus, &error, "RegisterProvider", "sssbo", job,
                                                    name, type, supports, path);
  if (reply == NULL)
    g_error ("RegisterProvider failed: %s: %s", error.name, error.message);
}

static void
test_bad_input (void)
{
  g_autoptr(AuraTestBus) tb = start (LONG_TIMEOUT, NULL);
  g_autoptr(AuraClient) client = client_new (tb);
  g_autoptr(GVariant) before = NULL, after = NULL, events_before = NULL, events_after = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(AuraCancelResult) r = NULL;
  g_autofree char *long_name = g_strnfill (257, 'n');
  g_autofree char *max_name = g_strnfill (256, 'n');
  g_autofree char *long_id = g_strnfill (129, 'i');
  sd_bus *bus = tb->client;
  const char *p = "/org/example/Provider";

  start_job (client, "ok", NULL);
  start_job (client, "done", NULL);
  aura_client_complete_job (client, "done", &error);
  g_assert_no_error (error);
  register_ok (bus, "ok", "Keep", "TTS", FALSE, p);
  before = get_job (client, "ok");
  events_before = aura_client_get_events (client, "", 0, &error);
  g_assert_no_error (error);

  aura_test_assert_call_error (bus, ERR_NO_SUCH_JOB, "RegisterProvider", "sssbo", "nope", "A", "T", 1, p);
  aura_test_assert_call_error (bus, ERR_INVALID, "RegisterProvider", "sssbo", "bad id", "A", "T", 1, p);
  aura_test_assert_call_error (bus, ERR_INVALID, "RegisterProvider", "sssbo", long_id, "A", "T", 1, p);
  aura_test_assert_call_error (bus, ERR_INVALID, "RegisterProvider", "sssbo", "ok", "", "T", 1, p);
  aura_test_assert_call_error (bus, ERR_INVALID, "RegisterProvider", "sssbo", "ok", long_name, "T", 1, p);
  aura_test_assert_call_error (bus, ERR_INVALID, "RegisterProvider", "sssbo", "ok", "A", "", 1, p);
  aura_test_assert_call_error (bus, ERR_INVALID, "RegisterProvider", "sssbo", "ok", "A", long_name, 1, p);
  /* not an object path: refused before any handler runs */
  aura_test_assert_call_error (bus, ERR_INVALID, "RegisterProvider", "sssbs", "ok", "A", "T", 1, "not/a/path");
  aura_test_assert_call_error (bus, ERR_NOT_RUNNING, "RegisterProvider", "sssbo", "done", "A", "T", 1, p);
  aura_test_assert_call_error (bus, ERR_NO_SUCH_JOB, "UnregisterProvider", "ss", "nope", "Keep");
  aura_test_assert_call_error (bus, ERR_INVALID, "UnregisterProvider", "ss", "bad id", "Keep");
  aura_test_assert_call_error (bus, ERR_NO_SUCH_PROVIDER, "UnregisterProvider", "ss", "ok", "Other");
  aura_test_assert_call_error (bus, ERR_INVALID, "UnregisterProvider", "ss", "ok", "");
  aura_test_assert_call_error (bus, ERR_NOT_RUNNING, "UnregisterProvider", "ss", "done", "Keep");
  aura_test_assert_call_error (bus, ERR_NO_SUCH_JOB, "CancelJob", "s", "nope");
  aura_test_assert_call_error (bus, ERR_INVALID, "CancelJob", "s", "bad id");
  aura_test_assert_call_error (bus, ERR_INVALID, "CancelJob", "s", "");
  aura_test_assert_call_error (bus, ERR_NOT_RUNNING, "CancelJob", "s", "done");
  /* the library maps them */
  assert_error_code (client, "nope", AURA_ERROR_NO_SUCH_JOB);
  assert_error_code (client, "done", AURA_ERROR_NOT_RUNNING);

  /* nothing changed */
  after = get_job (client, "ok");
  events_after = aura_client_get_events (client, "", 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_variant_n_children (events_after), ==, g_variant_n_children (events_before));
  g_assert_cmpstr (lookup_s (after, "status"), ==, "Running");
  g_assert_cmpstr (lookup_s (after, "message"), ==, lookup_s (before, "message"));

  /* a name of the maximum length is fine; the registry holds exactly two */
  register_ok (bus, "ok", max_name, max_name, FALSE, p);
  r = cancel_job (client, "ok");
  g_assert_cmpuint (r->provider_statuses->len, ==, 2);
  assert_status (r, "Keep", "TTS", FALSE, "NotSupported", NOT_SUPPORTED ("Keep", "TTS"));
  /* cancelling twice */
  aura_test_assert_call_error (bus, ERR_NOT_RUNNING, "CancelJob", "s", "ok");
  aura_test_assert_call_error (bus, ERR_NOT_RUNNING, "RegisterProvider", "sssbo", "ok", "A", "T", 1, p);
}

static void
test_limits (void)
{
  g_autoptr(AuraTestBus) tb = start (LONG_TIMEOUT, "[Limits]\nMaxProvidersPerJob=2\nMaxProvidersPerConnection=3\n");
  g_autoptr(AuraClient) client = client_new (tb);
  g_autoptr(AuraCancelResult) r = NULL;
  sd_bus *bus = tb->client;
  sd_bus *other = aura_test_bus_connect (tb);
  const char *p = "/org/example/Provider";

  start_job (client, "a", NULL);
  start_job (client, "b", NULL);
  start_job (client, "c", NULL);
  register_ok (bus, "a", "One", "TTS", FALSE, p);
  register_ok (bus, "a", "Two", "TTS", FALSE, p);
  aura_test_assert_call_error (bus, ERR_LIMIT, "RegisterProvider", "sssbo", "a", "Three", "TTS", 0, p);
  /* replacing is not adding */
  register_ok (bus, "a", "Two", "LLM", FALSE, p);
  register_ok (bus, "b", "One", "TTS", FALSE, p);
  /* this connection has three now; another one has none */
  aura_test_assert_call_error (bus, ERR_LIMIT, "RegisterProvider", "sssbo", "c", "One", "TTS", 0, p);
  register_ok (other, "c", "One", "TTS", FALSE, p);
  /* unregistering makes room again */
  aura_test_assert_call_error (bus, ERR_NO_SUCH_PROVIDER, "UnregisterProvider", "ss", "a", "Three");
  {
    sd_bus_error error = SD_BUS_ERROR_NULL;
    g_autoptr(sd_bus_message) reply = aura_test_call (bus, &error, "UnregisterProvider", "ss", "a", "One");
    g_assert_nonnull (reply);
  }
  register_ok (bus, "a", "Three", "Visual", FALSE, p);
  aura_test_assert_call_error (bus, ERR_LIMIT, "RegisterProvider", "sssbo", "c", "Two", "TTS", 0, p);

  r = cancel_job (client, "a");
  g_assert_cmpuint (r->provider_statuses->len, ==, 2);
  /* re-registered in place, with the new type */
  assert_status (r, "Two", "LLM", FALSE, "NotSupported", NOT_SUPPORTED ("Two", "LLM"));
  assert_status (r, "Three", "Visual", FALSE, "NotSupported", NOT_SUPPORTED ("Three", "Visual"));
  /* job a ended: its providers no longer count for the connection */
  register_ok (bus, "c", "Two", "TTS", FALSE, p);
  sd_bus_flush_close_unref (other);
}

/* A provider that unregisters is not asked; its process is still there. */
static void
test_unregister (void)
{
  g_autoptr(AuraTestBus) tb = start (LONG_TIMEOUT, NULL);
  g_autoptr(AuraClient) client = client_new (tb);
  g_autoptr(AuraClient) worker = client_new (tb);
  g_autoptr(AuraProvider) gone = NULL, stays = NULL;
  g_autoptr(AuraCancelResult) r = NULL;
  g_autoptr(GError) error = NULL;

  start_job (client, "u", NULL);
  gone = aura_client_register_provider (worker, "u", "Done", "TTS", TRUE, &error);
  g_assert_no_error (error);
  stays = aura_client_register_provider (worker, "u", "Busy", "LLM", TRUE, &error);
  g_assert_no_error (error);
  g_assert_true (aura_provider_unregister (gone, &error));
  g_assert_no_error (error);
  g_assert_true (aura_provider_unregister (gone, &error));   /* twice is fine */

  /* in-process: the async call lets this context answer the daemon's Cancel */
  r = cancel_job (client, "u");
  g_assert_cmpuint (r->provider_statuses->len, ==, 1);
  assert_status (r, "Busy", "LLM", TRUE, "Cancelled", NULL);
  g_assert_true (g_cancellable_is_cancelled (aura_provider_get_cancellable (stays)));
  g_assert_false (g_cancellable_is_cancelled (aura_provider_get_cancellable (gone)));
  /* after the job ended, unregistering still succeeds */
  g_assert_true (aura_provider_unregister (stays, &error));
  g_assert_no_error (error);
}

/* ---- the client library itself ----------------------------------------- */

typedef struct {
  guint n_errors;
  AuraErrorCode code;
  char *method;
  guint n_progress;
  guint n_warnings;
  char *finished_status;
} Seen;

static void
on_report_error (AuraClient *client, const char *method, const char *job_id,
                 const GError *error, gpointer user_data)
{
  Seen *seen = user_data;

  seen->n_errors++;
  seen->code = error->code;
  g_free (seen->method);
  seen->method = g_strdup (method);
}

static void
on_progress (AuraClient *client, const char *job_id, guint64 event_id, GVariant *event,
             gpointer user_data)
{
  ((Seen *) user_data)->n_progress++;
}

static void
on_warning (AuraClient *client, const char *job_id, guint64 event_id, const char *message,
            gpointer user_data)
{
  ((Seen *) user_data)->n_warnings++;
}

static void
on_finished (AuraClient *client, const char *job_id, guint64 event_id, const char *status,
             const char *message, gpointer user_data)
{
  Seen *seen = user_data;
  g_free (seen->finished_status);
  seen->finished_status = g_strdup (status);
}

static gboolean
seen_finished (gpointer data)
{
  return ((Seen *) data)->finished_status != NULL;
}

static void
test_client_library (void)
{
  g_autoptr(AuraTestBus) tb = start (LONG_TIMEOUT, NULL);
  g_autoptr(AuraClient) client = client_new (tb);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) state = NULL;
  const AuraWatchFuncs funcs = { on_progress, on_warning, on_finished };
  g_autoptr(GCancellable) stop_waiting = g_cancellable_new ();
  g_autoptr(AuraProvider) self_provider = NULL;
  Seen seen = { 0 };
  guint watch;
  Cancel c;

  g_assert_true (aura_client_is_connected (client));
  g_assert_nonnull (aura_client_get_unique_name (client));
  g_assert_null (aura_client_new (AURA_BUS_ADDRESS, NULL, &error));
  g_assert_error (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS);
  g_clear_error (&error);

  aura_client_set_report_error_func (client, on_report_error, &seen, NULL);
  watch = aura_client_watch (client, "lib", &funcs, &seen, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (watch, >, 0);

  start_job (client, "lib", NULL);
  /* pipelined: many reports in flight at once, never more than 1024 (past
   * that a report lets answers in), all answered by flush */
  for (guint i = 1; i <= 3000; i++) {
    g_assert_true (aura_client_report_ffmpeg (client, "lib", i, 3000, 25.0, i / 25.0, NULL, &error));
    g_assert_cmpuint (aura_client_get_n_pending_reports (client), <=, 1024);
  }
  g_assert_cmpuint (aura_client_get_n_pending_reports (client), >, 0);
  g_assert_true (aura_client_flush (client, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (aura_client_get_n_pending_reports (client), ==, 0);
  g_assert_cmpuint (seen.n_errors, ==, 0);
  state = get_job (client, "lib");
  g_assert_cmpstr (lookup_s (state, "stage"), ==, "render");
  {
    guint32 item = 0;
    g_assert_true (g_variant_lookup (state, "currentItem", "u", &item));
    g_assert_cmpuint (item, ==, 3000);
  }

  /* the daemon's errors for reports go to the function and to flush */
  g_assert_true (aura_client_report_tts (client, "lib", 5, 2, "X", NULL, &error));
  g_assert_true (aura_client_report_progress (client, "nope", "tts", 10, NULL, &error));
  g_assert_false (aura_client_flush (client, &error));
  g_assert_error (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS);
  g_clear_error (&error);
  g_assert_cmpuint (seen.n_errors, ==, 2);
  g_assert_cmpint (seen.code, ==, AURA_ERROR_NO_SUCH_JOB);
  g_assert_cmpstr (seen.method, ==, "ReportProgress");
  g_assert_true (aura_client_flush (client, &error));   /* reported once */

  g_assert_true (aura_client_add_warning (client, "lib", "careful", &error));
  g_assert_false (aura_client_mark_stage_completed (client, "lib", "Render", &error));
  g_assert_error (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS);
  g_clear_error (&error);

  /* a provider in this very process, cancelled through the async call */
  self_provider = aura_client_register_provider (client, "lib", "Self", "Render", TRUE, &error);
  g_assert_no_error (error);
  /* giving up waiting does not stop the daemon's cancellation */
  memset (&c, 0, sizeof c);
  c.client = client;
  aura_client_cancel_job_async (client, "lib", stop_waiting, on_cancel_done, &c);
  g_cancellable_cancel (stop_waiting);
  cancel_wait (&c);
  g_assert_error (c.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  cancel_clear (&c);
  aura_test_wait_until (seen_finished, &seen, "JobFinished through the watch");
  g_assert_cmpstr (seen.finished_status, ==, "Canceled");
  g_assert_true (g_cancellable_is_cancelled (aura_provider_get_cancellable (self_provider)));
  g_assert_cmpuint (seen.n_progress, >, 0);
  g_assert_cmpuint (seen.n_warnings, ==, 1);
  aura_client_unwatch (client, watch);

  /* reports to an ended job: NotRunning, through flush */
  g_assert_true (aura_client_report_progress (client, "lib", "render", 10, NULL, &error));
  g_assert_false (aura_client_flush (client, &error));
  g_assert_error (error, AURA_ERROR, AURA_ERROR_NOT_RUNNING);
  g_assert_cmpuint (seen.n_errors, ==, 3);
  g_free (seen.method);
  g_free (seen.finished_status);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cancel/statuses", test_statuses);
  g_test_add_func ("/cancel/all-cancelled", test_all_cancelled);
  g_test_add_func ("/cancel/no-providers", test_no_providers);
  g_test_add_func ("/cancel/timeout", test_timeout);
  g_test_add_func ("/cancel/vanished-before", test_vanished_before);
  g_test_add_func ("/cancel/vanished-during", test_vanished_during);
  g_test_add_func ("/cancel/many", test_many);
  g_test_add_func ("/cancel/twice-in-flight", test_twice_in_flight);
  g_test_add_func ("/cancel/signals-during-call", test_signals_during_call);
  g_test_add_func ("/cancel/ended-during", test_ended_during);
  g_test_add_func ("/cancel/shutdown-in-flight", test_shutdown_in_flight);
  g_test_add_func ("/cancel/ffmpeg-render", test_ffmpeg_render);
  g_test_add_func ("/cancel/stage-failure", test_stage_failure);
  g_test_add_func ("/cancel/busctl", test_busctl);
  g_test_add_func ("/cancel/bad-input", test_bad_input);
  g_test_add_func ("/cancel/limits", test_limits);
  g_test_add_func ("/cancel/unregister", test_unregister);
  g_test_add_func ("/cancel/client-library", test_client_library);
  return g_test_run ();
}
