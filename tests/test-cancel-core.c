/* SPDX-License-Identifier: MIT */
/* Unit tests of the cancellation bookkeeping (src/core/aura-cancel.c) and
 * of the rollback markers in the model's terminal events: no bus. */
#include <string.h>

#include "aura-cancel.h"
#include "aura-error.h"
#include "aura-model.h"

#define P "/org/example/Provider"

typedef struct {
  AuraConfig config;
  AuraCancelRegistry *registry;
  GPtrArray *released;                /* char *, owners released */
} Fixture;

static void
on_released (const char *owner, gpointer user_data)
{
  Fixture *f = user_data;
  g_ptr_array_add (f->released, g_strdup (owner));
}

static void
setup (Fixture *f, gconstpointer data)
{
  aura_config_init (&f->config);
  f->config.max_providers_per_job = 3;
  f->config.max_providers_per_connection = 4;
  f->config.max_name_length = 16;
  f->released = g_ptr_array_new_with_free_func (g_free);
  f->registry = aura_cancel_registry_new (&f->config, on_released, f);
}

static void
teardown (Fixture *f, gconstpointer data)
{
  aura_cancel_registry_free (f->registry);
  g_ptr_array_unref (f->released);
  aura_config_clear (&f->config);
}

static AuraCancelProvider *
reg (Fixture *f, const char *job, const char *name, const char *type, gboolean supports,
     const char *owner)
{
  g_autoptr(GError) error = NULL;
  AuraCancelProvider *p = aura_cancel_registry_register (f->registry, job, name, type, supports,
                                                         owner, P, &error);
  g_assert_no_error (error);
  g_assert_nonnull (p);
  return p;
}

static void
reg_fails (Fixture *f, const char *job, const char *name, const char *type, const char *owner,
           const char *path, gint code)
{
  g_autoptr(GError) error = NULL;

  g_assert_null (aura_cancel_registry_register (f->registry, job, name, type, TRUE, owner, path,
                                                &error));
  g_assert_error (error, AURA_ERROR, code);
  /* every error says what is allowed */
  g_assert_cmpuint (strlen (error->message), >, 20);
}

static void
test_status_strings (void)
{
  g_assert_cmpstr (aura_cancel_status_to_string (AURA_CANCEL_CANCELLED), ==, "Cancelled");
  g_assert_cmpstr (aura_cancel_status_to_string (AURA_CANCEL_FAILED), ==, "Failed");
  g_assert_cmpstr (aura_cancel_status_to_string (AURA_CANCEL_NOT_SUPPORTED), ==, "NotSupported");
  g_assert_cmpstr (aura_cancel_status_to_string (AURA_CANCEL_ERROR), ==, "Error");
}

static void
test_register_validation (Fixture *f, gconstpointer data)
{
  reg_fails (f, "j", "", "TTS", ":1.1", P, AURA_ERROR_INVALID_ARGS);
  reg_fails (f, "j", "seventeen-chars-x", "TTS", ":1.1", P, AURA_ERROR_INVALID_ARGS);
  reg_fails (f, "j", "A", "", ":1.1", P, AURA_ERROR_INVALID_ARGS);
  reg_fails (f, "j", "A", "seventeen-chars-x", ":1.1", P, AURA_ERROR_INVALID_ARGS);
  reg_fails (f, "j", "\xff", "TTS", ":1.1", P, AURA_ERROR_INVALID_ARGS);
  reg_fails (f, "j", "A", "TTS", ":1.1", "not/a/path", AURA_ERROR_INVALID_ARGS);
  reg_fails (f, "j", "A", "TTS", ":1.1", "/trailing/", AURA_ERROR_INVALID_ARGS);
  reg_fails (f, "j", "A", "TTS", ":1.1", "", AURA_ERROR_INVALID_ARGS);
  /* nothing was added */
  g_assert_cmpuint (aura_cancel_registry_n_providers (f->registry, "j"), ==, 0);
  g_assert_cmpuint (aura_cancel_registry_n_owned (f->registry, ":1.1"), ==, 0);
  reg (f, "j", "sixteen-chars-xx", "sixteen-chars-xx", TRUE, ":1.1");
}

static void
test_register_replace (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) list = NULL;
  AuraCancelProvider *p;

  reg (f, "j", "A", "TTS", TRUE, ":1.1");
  reg (f, "j", "B", "LLM", TRUE, ":1.1");
  reg (f, "j", "C", "Visual", TRUE, ":1.1");
  reg_fails (f, "j", "D", "TTS", ":1.1", P, AURA_ERROR_LIMIT_EXCEEDED);
  /* at the job's limit, the same name replaces, in place */
  p = reg (f, "j", "B", "Render", FALSE, ":1.1");
  g_assert_cmpstr (p->type, ==, "Render");
  list = aura_cancel_registry_list (f->registry, "j");
  g_assert_cmpuint (list->len, ==, 3);
  g_assert_cmpstr (((AuraCancelProvider *) list->pdata[1])->name, ==, "B");
  g_assert_false (((AuraCancelProvider *) list->pdata[1])->supports_cancellation);
  g_assert_cmpuint (aura_cancel_registry_n_owned (f->registry, ":1.1"), ==, 3);
  g_assert_cmpuint (f->released->len, ==, 0);

  /* replaced by another connection: the count moves */
  reg (f, "j", "C", "Visual", TRUE, ":1.2");
  g_assert_cmpuint (aura_cancel_registry_n_owned (f->registry, ":1.1"), ==, 2);
  g_assert_cmpuint (aura_cancel_registry_n_owned (f->registry, ":1.2"), ==, 1);
  reg (f, "j", "A", "TTS", TRUE, ":1.2");
  reg (f, "j", "B", "TTS", TRUE, ":1.2");
  /* :1.1 has nothing left */
  g_assert_cmpuint (f->released->len, ==, 1);
  g_assert_cmpstr (f->released->pdata[0], ==, ":1.1");
  /* the list taken before still holds the old registrations */
  g_assert_cmpstr (((AuraCancelProvider *) list->pdata[1])->owner, ==, ":1.1");
}

static void
test_connection_limit (Fixture *f, gconstpointer data)
{
  reg (f, "a", "A", "TTS", TRUE, ":1.1");
  reg (f, "a", "B", "TTS", TRUE, ":1.1");
  reg (f, "b", "A", "TTS", TRUE, ":1.1");
  reg (f, "b", "B", "TTS", TRUE, ":1.1");
  reg_fails (f, "c", "A", "TTS", ":1.1", P, AURA_ERROR_LIMIT_EXCEEDED);
  /* a replacement by the same connection costs nothing */
  reg (f, "b", "B", "LLM", TRUE, ":1.1");
  reg (f, "c", "A", "TTS", TRUE, ":1.2");
  aura_cancel_registry_remove_job (f->registry, "a");
  g_assert_cmpuint (aura_cancel_registry_n_owned (f->registry, ":1.1"), ==, 2);
  g_assert_cmpuint (aura_cancel_registry_n_providers (f->registry, "a"), ==, 0);
  reg (f, "c", "B", "TTS", TRUE, ":1.1");
  g_assert_cmpuint (f->released->len, ==, 0);
  aura_cancel_registry_remove_job (f->registry, "b");
  aura_cancel_registry_remove_job (f->registry, "c");
  g_assert_cmpuint (f->released->len, ==, 2);
}

static void
test_unregister (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  reg (f, "j", "A", "TTS", TRUE, ":1.1");
  g_assert_false (aura_cancel_registry_unregister (f->registry, "j", "B", &error));
  g_assert_error (error, AURA_ERROR, AURA_ERROR_NO_SUCH_PROVIDER);
  g_clear_error (&error);
  g_assert_false (aura_cancel_registry_unregister (f->registry, "other", "A", &error));
  g_assert_error (error, AURA_ERROR, AURA_ERROR_NO_SUCH_PROVIDER);
  g_clear_error (&error);
  g_assert_false (aura_cancel_registry_unregister (f->registry, "j", "", &error));
  g_assert_error (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS);
  g_clear_error (&error);
  g_assert_cmpuint (aura_cancel_registry_n_providers (f->registry, "j"), ==, 1);
  g_assert_true (aura_cancel_registry_unregister (f->registry, "j", "A", &error));
  g_assert_no_error (error);
  g_assert_cmpuint (aura_cancel_registry_n_providers (f->registry, "j"), ==, 0);
  g_assert_cmpuint (f->released->len, ==, 1);
}

static void
test_vanished (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) gone = NULL;
  g_autoptr(GPtrArray) list = NULL;
  g_autofree char *warning = NULL;

  reg (f, "a", "A", "TTS", TRUE, ":1.1");
  reg (f, "b", "B", "LLM", FALSE, ":1.1");
  reg (f, "b", "C", "Visual", TRUE, ":1.2");
  gone = aura_cancel_registry_owner_vanished (f->registry, ":1.1");
  g_assert_cmpuint (gone->len, ==, 2);
  g_assert_true (((AuraCancelProvider *) gone->pdata[0])->vanished);
  /* they stay registered, but no longer count for the connection, and
   * the owner is not "released": it is gone */
  g_assert_cmpuint (aura_cancel_registry_n_providers (f->registry, "b"), ==, 2);
  g_assert_cmpuint (aura_cancel_registry_n_owned (f->registry, ":1.1"), ==, 0);
  g_assert_cmpuint (f->released->len, ==, 0);
  warning = aura_cancel_warning_vanished (gone->pdata[0]);
  g_assert_true (g_str_has_prefix (warning, "Provider "));
  g_assert_nonnull (strstr (warning, "disconnected while the job was running."));

  /* re-registered by a live connection; removing the job releases only it */
  reg (f, "b", "B", "LLM", FALSE, ":1.3");
  list = aura_cancel_registry_list (f->registry, "b");
  g_assert_false (((AuraCancelProvider *) list->pdata[0])->vanished);
  aura_cancel_registry_remove_job (f->registry, "a");
  aura_cancel_registry_remove_job (f->registry, "b");
  g_assert_cmpuint (f->released->len, ==, 2);
}

/* ---- one cancellation -------------------------------------------------- */

static AuraCancelOp *
op_for (Fixture *f, const char *job, gint64 timeout_us)
{
  g_autoptr(GPtrArray) list = aura_cancel_registry_list (f->registry, job);
  return aura_cancel_op_new (job, list, timeout_us);
}

static void
test_op_statuses (Fixture *f, gconstpointer data)
{
  g_autoptr(AuraCancelOp) op = NULL;
  g_autoptr(GVariant) statuses = NULL, warnings = NULL;
  g_autoptr(GPtrArray) gone = NULL;
  g_autofree char *message = NULL;
  const char *name, *type, *status, *warning;
  gboolean supports;

  reg (f, "j", "ElevenLabs", "TTS", TRUE, ":1.1");
  reg (f, "j", "Legacy", "LLM", FALSE, ":1.1");
  reg (f, "j", "Dead", "Visual", TRUE, ":1.2");
  gone = aura_cancel_registry_owner_vanished (f->registry, ":1.2");
  op = op_for (f, "j", 5 * G_USEC_PER_SEC);

  g_assert_cmpstr (aura_cancel_op_get_job_id (op), ==, "j");
  g_assert_cmpuint (aura_cancel_op_n_providers (op), ==, 3);
  g_assert_cmpuint (aura_cancel_op_n_pending (op), ==, 1);
  g_assert_false (aura_cancel_op_is_done (op));
  g_assert_cmpint (aura_cancel_op_get_status (op, 0), ==, AURA_CANCEL_PENDING);
  g_assert_cmpint (aura_cancel_op_get_status (op, 1), ==, AURA_CANCEL_NOT_SUPPORTED);
  g_assert_cmpstr (aura_cancel_op_get_warning (op, 1), ==,
                   "Provider Legacy (LLM) does not support cancellation. Operation may continue "
                   "until completion.");
  g_assert_cmpint (aura_cancel_op_get_status (op, 2), ==, AURA_CANCEL_ERROR);
  g_assert_cmpstr (aura_cancel_op_get_warning (op, 2), ==,
                   "Provider Dead (Visual) disconnected before it could be cancelled.");

  g_assert_true (aura_cancel_op_cancelled (op, 0));
  g_assert_true (aura_cancel_op_is_done (op));
  /* a late or second answer changes nothing */
  g_assert_false (aura_cancel_op_failed (op, 0, "too late"));
  g_assert_false (aura_cancel_op_gone (op, 0));
  g_assert_cmpuint (aura_cancel_op_expire (op), ==, 0);
  g_assert_cmpint (aura_cancel_op_get_status (op, 0), ==, AURA_CANCEL_CANCELLED);
  g_assert_null (aura_cancel_op_get_warning (op, 0));

  statuses = g_variant_ref_sink (aura_cancel_op_statuses (op));
  g_assert_cmpstr (g_variant_get_type_string (statuses), ==, "a(ssbss)");
  g_variant_get_child (statuses, 0, "(&s&sb&s&s)", &name, &type, &supports, &status, &warning);
  g_assert_cmpstr (name, ==, "ElevenLabs");
  g_assert_cmpstr (status, ==, "Cancelled");
  g_assert_cmpstr (warning, ==, "");
  g_variant_get_child (statuses, 1, "(&s&sb&s&s)", &name, &type, &supports, &status, &warning);
  g_assert_false (supports);
  g_assert_cmpstr (status, ==, "NotSupported");
  warnings = g_variant_ref_sink (aura_cancel_op_warnings (op));
  g_assert_cmpuint (g_variant_n_children (warnings), ==, 2);

  message = aura_cancel_op_message (op, 4096);
  g_assert_cmpstr (message, ==, "Not every provider could be cancelled: Dead (Visual) did not answer");
}

static void
test_op_all_ok (Fixture *f, gconstpointer data)
{
  g_autoptr(AuraCancelOp) op = NULL;
  g_autoptr(AuraCancelOp) empty = NULL;
  g_autoptr(GPtrArray) none = g_ptr_array_new ();
  g_autofree char *message = NULL, *empty_message = NULL;

  reg (f, "j", "A", "TTS", TRUE, ":1.1");
  reg (f, "j", "B", "LLM", FALSE, ":1.1");
  op = op_for (f, "j", G_USEC_PER_SEC);
  g_assert_true (aura_cancel_op_cancelled (op, 0));
  message = aura_cancel_op_message (op, 4096);
  g_assert_cmpstr (message, ==, "All providers cancelled or reported as not supporting cancellation");

  empty = aura_cancel_op_new ("k", none, G_USEC_PER_SEC);
  g_assert_true (aura_cancel_op_is_done (empty));
  empty_message = aura_cancel_op_message (empty, 4096);
  g_assert_cmpstr (empty_message, ==, AURA_CANCEL_MESSAGE_ALL_OK);
}

static void
test_op_failures (Fixture *f, gconstpointer data)
{
  g_autoptr(AuraCancelOp) op = NULL;
  g_autofree char *long_reason = g_strnfill (5000, 'r');
  g_autofree char *message = NULL;
  const char *w;

  f->config.max_providers_per_job = 10;
  f->config.max_providers_per_connection = 10;
  reg (f, "j", "Up", "Upload", TRUE, ":1.1");
  reg (f, "j", "Chatty", "LLM", TRUE, ":1.1");
  reg (f, "j", "Gone", "TTS", TRUE, ":1.1");
  reg (f, "j", "Slow", "Visual", TRUE, ":1.1");
  reg (f, "j", "Late", "Render", TRUE, ":1.1");
  op = op_for (f, "j", 1500 * G_TIME_SPAN_MILLISECOND);

  g_assert_true (aura_cancel_op_failed (op, 0, "disk busy"));
  g_assert_cmpstr (aura_cancel_op_get_warning (op, 0), ==, "Provider Up (Upload) failed to cancel: disk busy");
  g_assert_true (aura_cancel_op_failed (op, 1, long_reason));
  w = aura_cancel_op_get_warning (op, 1);
  /* a provider's long reason is cut */
  g_assert_cmpuint (strlen (w), <, 1200);
  g_assert_true (g_str_has_suffix (w, "…"));
  g_assert_true (g_utf8_validate (w, -1, NULL));
  g_assert_true (aura_cancel_op_gone (op, 2));
  g_assert_cmpstr (aura_cancel_op_get_warning (op, 2), ==,
                   "Provider Gone (TTS) disconnected before answering the cancellation request.");
  g_assert_cmpuint (aura_cancel_op_n_pending (op), ==, 2);
  g_assert_cmpuint (aura_cancel_op_expire (op), ==, 2);
  g_assert_cmpstr (aura_cancel_op_get_warning (op, 3), ==,
                   "Provider Slow (Visual) did not answer the cancellation request within 1.5 seconds.");
  g_assert_true (aura_cancel_op_is_done (op));
  g_assert_cmpuint (aura_cancel_op_abandon (op), ==, 0);

  message = aura_cancel_op_message (op, 4096);
  g_assert_cmpstr (message, ==, "Not every provider could be cancelled: Up (Upload) failed; "
                   "Chatty (LLM) failed; Gone (TTS) did not answer; Slow (Visual) did not answer; "
                   "Late (Render) did not answer");
  g_clear_pointer (&message, g_free);
  /* bounded: the message ends the job, whose message has a length limit */
  message = aura_cancel_op_message (op, 100);
  g_assert_cmpuint (strlen (message), <=, 100);
  g_assert_true (g_str_has_suffix (message, " more"));
}

static void
test_op_abandon (Fixture *f, gconstpointer data)
{
  g_autoptr(AuraCancelOp) op = NULL;

  reg (f, "j", "A", "TTS", TRUE, ":1.1");
  op = op_for (f, "j", G_USEC_PER_SEC);
  g_assert_cmpuint (aura_cancel_op_abandon (op), ==, 1);
  g_assert_cmpint (aura_cancel_op_get_status (op, 0), ==, AURA_CANCEL_ERROR);
  g_assert_cmpstr (aura_cancel_op_get_warning (op, 0), ==,
                   "Provider A (TTS) had not answered the cancellation request when the job ended.");
}

/* An unregistered provider stays in the cancellation that holds it. */
static void
test_op_outlives_registry (Fixture *f, gconstpointer data)
{
  g_autoptr(AuraCancelOp) op = NULL;

  reg (f, "j", "A", "TTS", TRUE, ":1.1");
  op = op_for (f, "j", G_USEC_PER_SEC);
  aura_cancel_registry_remove_job (f->registry, "j");
  g_assert_cmpstr (aura_cancel_op_get_provider (op, 0)->name, ==, "A");
  g_assert_true (aura_cancel_op_cancelled (op, 0));
}

/* ---- rollback markers in the model ------------------------------------ */

static GPtrArray *events_seen;

static void
on_event (AuraModel *model, AuraJob *job, AuraEvent *event, gpointer user_data)
{
  g_ptr_array_add (events_seen, aura_event_ref (event));
}

static void
assert_rollback (AuraEvent *ev, AuraEventType type, const char *const *want)
{
  g_autofree const char **stages = NULL;

  g_assert_cmpint (ev->type, ==, type);
  g_assert_true (g_variant_lookup (ev->payload, "rollbackStages", "^a&s", &stages));
  g_assert_true (g_strv_equal (stages, want));
}

static void
test_rollback_markers (void)
{
  const AuraModelListener listener = { .job_event = on_event };
  const char *const two[] = { "planning", "tts", NULL };
  const char *const none[] = { NULL };
  g_autoptr(GError) error = NULL;
  AuraConfig config;
  AuraClock *clock;
  AuraModel *model;
  AuraJob *job;

  aura_config_init (&config);
  clock = aura_clock_new_manual (1000 * G_USEC_PER_SEC, G_GINT64_CONSTANT (1795000000) * G_USEC_PER_SEC);
  model = aura_model_new (&config, clock, aura_event_store_new_memory (100, 100),
                          aura_event_seq_new (NULL, NULL), aura_estimator_new_seed ());
  events_seen = g_ptr_array_new_with_free_func ((GDestroyNotify) aura_event_unref);
  aura_model_set_listener (model, &listener, NULL);

  job = aura_model_start_job (model, "c", NULL, 1000, &error);
  g_assert_no_error (error);
  g_assert_false (aura_cancel_cleanup_needed (job));
  aura_model_mark_stage_completed (model, "c", "tts", &error);
  aura_model_mark_stage_completed (model, "c", "planning", &error);
  g_assert_no_error (error);
  g_assert_true (aura_cancel_cleanup_needed (job));
  aura_model_cancel_job (model, "c", "stopped", &error);
  g_assert_no_error (error);
  assert_rollback (events_seen->pdata[events_seen->len - 1], AURA_EVENT_JOB_CANCELLED, two);

  aura_model_start_job (model, "f", NULL, 1000, &error);
  aura_model_fail_job (model, "f", "broken", &error);
  g_assert_no_error (error);
  assert_rollback (events_seen->pdata[events_seen->len - 1], AURA_EVENT_JOB_FAILED, none);

  /* a completed job has nothing to roll back: no key */
  aura_model_start_job (model, "ok", NULL, 1000, &error);
  aura_model_mark_stage_completed (model, "ok", "planning", &error);
  aura_model_complete_job (model, "ok", &error);
  g_assert_no_error (error);
  g_assert_false (g_variant_lookup (((AuraEvent *) events_seen->pdata[events_seen->len - 1])->payload,
                                    "rollbackStages", "^a&s", NULL));

  g_ptr_array_unref (events_seen);
  aura_model_free (model);
  aura_clock_unref (clock);
  aura_config_clear (&config);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, setup, fn, teardown)
  g_test_add_func ("/cancel-core/status-strings", test_status_strings);
  ADD ("/cancel-core/register/validation", test_register_validation);
  ADD ("/cancel-core/register/replace", test_register_replace);
  ADD ("/cancel-core/register/connection-limit", test_connection_limit);
  ADD ("/cancel-core/unregister", test_unregister);
  ADD ("/cancel-core/vanished", test_vanished);
  ADD ("/cancel-core/op/statuses", test_op_statuses);
  ADD ("/cancel-core/op/all-ok", test_op_all_ok);
  ADD ("/cancel-core/op/failures", test_op_failures);
  ADD ("/cancel-core/op/abandon", test_op_abandon);
  ADD ("/cancel-core/op/outlives-registry", test_op_outlives_registry);
  g_test_add_func ("/cancel-core/rollback-markers", test_rollback_markers);
  return g_test_run ();
}
