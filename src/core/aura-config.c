/* SPDX-License-Identifier: MIT */
#include <grp.h>
#include <math.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "aura-config.h"
#include "aura-error.h"

void
aura_config_init (AuraConfig *config)
{
  *config = (AuraConfig) {
    .max_jobs = 1024,
    .max_running_jobs_per_user = 256,
    .max_warnings_per_job = 64,
    .max_warning_bytes_per_job = 16384,
    .max_history_bytes = 64 * 1024 * 1024,
    .max_reply_bytes = 8 * 1024 * 1024,
    .max_history = 65536,
    .max_job_history = 8192,
    .max_events_per_call = 4096,
    .max_name_length = 256,
    .max_message_length = 4096,
    .max_providers_per_job = 128,
    .max_providers_per_connection = 1024,
    .coalesce_interval_us = 100 * G_TIME_SPAN_MILLISECOND,
    .retention_us = 15 * G_TIME_SPAN_MINUTE,
    .heartbeat_interval_us = 5 * G_TIME_SPAN_SECOND,
    .cancel_timeout_us = 5 * G_TIME_SPAN_SECOND,
  };
  aura_weights_init_default (&config->weights);
  config->operator_uids = g_array_new (FALSE, FALSE, sizeof (guint32));
  config->operator_gids = g_array_new (FALSE, FALSE, sizeof (guint32));
}

void
aura_config_clear (AuraConfig *config)
{
  g_clear_pointer (&config->operator_uids, g_array_unref);
  g_clear_pointer (&config->operator_gids, g_array_unref);
}

typedef struct {
  const char *key;
  gsize offset;
  gboolean is_size;
  guint64 min;
  guint64 max;
} UintKey;

static const UintKey limit_keys[] = {
  { "MaxJobs", G_STRUCT_OFFSET (AuraConfig, max_jobs), FALSE, 1, 1000000 },
  { "MaxRunningJobsPerUser", G_STRUCT_OFFSET (AuraConfig, max_running_jobs_per_user), FALSE, 1, 1000000 },
  { "MaxWarningsPerJob", G_STRUCT_OFFSET (AuraConfig, max_warnings_per_job), FALSE, 1, 100000 },
  { "MaxWarningBytesPerJob", G_STRUCT_OFFSET (AuraConfig, max_warning_bytes_per_job), TRUE, 64, 16777216 },
  { "MaxHistoryBytes", G_STRUCT_OFFSET (AuraConfig, max_history_bytes), TRUE, 1048576, G_GUINT64_CONSTANT (68719476736) },
  { "MaxReplyBytes", G_STRUCT_OFFSET (AuraConfig, max_reply_bytes), TRUE, 65536, 104857600 },
  { "MaxHistory", G_STRUCT_OFFSET (AuraConfig, max_history), FALSE, 16, 100000000 },
  { "MaxJobHistory", G_STRUCT_OFFSET (AuraConfig, max_job_history), FALSE, 16, 100000000 },
  { "MaxEventsPerCall", G_STRUCT_OFFSET (AuraConfig, max_events_per_call), FALSE, 16, 1000000 },
  { "MaxNameLength", G_STRUCT_OFFSET (AuraConfig, max_name_length), TRUE, 16, 65536 },
  { "MaxMessageLength", G_STRUCT_OFFSET (AuraConfig, max_message_length), TRUE, 64, 1048576 },
  { "MaxProvidersPerJob", G_STRUCT_OFFSET (AuraConfig, max_providers_per_job), FALSE, 1, 100000 },
  { "MaxProvidersPerConnection", G_STRUCT_OFFSET (AuraConfig, max_providers_per_connection), FALSE, 1, 1000000 },
};

typedef struct {
  const char *key;
  gsize offset;
  double scale_us;                    /* microseconds per unit of the key */
  double min;
  double max;
} TimeKey;

/* [Access]: users, then groups */
static const char *const access_keys[] = { "Operators", "OperatorGroups" };

static const TimeKey timing_keys[] = {
  { "CoalesceIntervalMs", G_STRUCT_OFFSET (AuraConfig, coalesce_interval_us), 1000, 0, 60000 },
  { "RetentionSeconds", G_STRUCT_OFFSET (AuraConfig, retention_us), 1e6, 0, 30 * 86400 },
  { "HeartbeatIntervalSeconds", G_STRUCT_OFFSET (AuraConfig, heartbeat_interval_us), 1e6, 0.01, 3600 },
  { "CancelTimeoutSeconds", G_STRUCT_OFFSET (AuraConfig, cancel_timeout_us), 1e6, 0.001, 600 },
};

static gboolean
load_limits (AuraConfig *config, GKeyFile *kf, GError **error)
{
  for (guint i = 0; i < G_N_ELEMENTS (limit_keys); i++) {
    const UintKey *k = &limit_keys[i];
    g_autoptr(GError) local = NULL;
    guint64 v;

    if (!g_key_file_has_key (kf, "Limits", k->key, NULL))
      continue;
    v = g_key_file_get_uint64 (kf, "Limits", k->key, &local);
    if (local != NULL || v < k->min || v > k->max) {
      g_set_error (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS,
                   "[Limits] %s must be a whole number from %" G_GUINT64_FORMAT
                   " to %" G_GUINT64_FORMAT, k->key, k->min, k->max);
      return FALSE;
    }
    if (k->is_size)
      G_STRUCT_MEMBER (gsize, config, k->offset) = v;
    else
      G_STRUCT_MEMBER (guint, config, k->offset) = (guint) v;
  }
  return TRUE;
}

static gboolean
load_timing (AuraConfig *config, GKeyFile *kf, GError **error)
{
  for (guint i = 0; i < G_N_ELEMENTS (timing_keys); i++) {
    const TimeKey *k = &timing_keys[i];
    g_autoptr(GError) local = NULL;
    double v;

    if (!g_key_file_has_key (kf, "Timing", k->key, NULL))
      continue;
    v = g_key_file_get_double (kf, "Timing", k->key, &local);
    if (local != NULL || !isfinite (v) || v < k->min || v > k->max) {
      g_set_error (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS,
                   "[Timing] %s must be a number from %g to %g", k->key, k->min, k->max);
      return FALSE;
    }
    G_STRUCT_MEMBER (gint64, config, k->offset) = (gint64) llround (v * k->scale_us);
  }
  return TRUE;
}

static gboolean
load_weights (AuraConfig *config, GKeyFile *kf, GError **error)
{
  AuraWeights w = config->weights;

  if (!g_key_file_has_group (kf, "Weights"))
    return TRUE;
  if (g_key_file_has_key (kf, "Weights", "Learned", NULL)) {
    g_autoptr(GError) local = NULL;
    gboolean learned = g_key_file_get_boolean (kf, "Weights", "Learned", &local);
    if (local != NULL) {
      g_set_error_literal (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS,
                           "[Weights] Learned must be true or false");
      return FALSE;
    }
    config->learned_weights = learned;
  }
  for (guint i = 0; i < AURA_STAGE_COUNT; i++) {
    const char *stage = aura_stage_to_string (i);
    g_autoptr(GError) local = NULL;

    if (!g_key_file_has_key (kf, "Weights", stage, NULL))
      continue;
    w.w[i] = g_key_file_get_double (kf, "Weights", stage, &local);
    if (local != NULL) {
      g_set_error (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS,
                   "[Weights] %s must be a number", stage);
      return FALSE;
    }
  }
  {
    g_auto(GStrv) keys = g_key_file_get_keys (kf, "Weights", NULL, NULL);
    for (guint i = 0; keys != NULL && keys[i] != NULL; i++) {
      if (!aura_stage_from_string (keys[i], NULL) && g_strcmp0 (keys[i], "Learned") != 0) {
        g_set_error (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS,
                     "[Weights] unknown key '%s'; keys are Learned and the stages %s", keys[i],
                     aura_stage_list ());
        return FALSE;
      }
    }
  }
  if (!aura_weights_normalize (&w, error)) {
    g_prefix_error (error, "[Weights]: ");
    return FALSE;
  }
  config->weights = w;
  return TRUE;
}

static gboolean
parse_id (const char *text, gboolean group, guint32 *out, GError **error)
{
  char *end = NULL;
  guint64 v;

  if (g_ascii_isdigit (text[0])) {
    v = g_ascii_strtoull (text, &end, 10);
    if (*end == '\0' && v < G_MAXUINT32) {
      *out = (guint32) v;
      return TRUE;
    }
  } else if (group) {
    struct group *gr = getgrnam (text);
    if (gr != NULL) {
      *out = gr->gr_gid;
      return TRUE;
    }
  } else {
    struct passwd *pw = getpwnam (text);
    if (pw != NULL) {
      *out = pw->pw_uid;
      return TRUE;
    }
  }
  g_set_error (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS,
               "[Access] %s: no such %s '%s'", group ? "OperatorGroups" : "Operators",
               group ? "group" : "user", text);
  return FALSE;
}

static gboolean
load_access (AuraConfig *config, GKeyFile *kf, GError **error)
{
  for (guint k = 0; k < G_N_ELEMENTS (access_keys); k++) {
    g_auto(GStrv) list = g_key_file_get_string_list (kf, "Access", access_keys[k], NULL, NULL);
    GArray *target = k == 0 ? config->operator_uids : config->operator_gids;

    for (guint i = 0; list != NULL && list[i] != NULL; i++) {
      guint32 id;
      g_strstrip (list[i]);
      if (list[i][0] == '\0')
        continue;
      if (!parse_id (list[i], k == 1, &id, error))
        return FALSE;
      g_array_append_val (target, id);
    }
  }
  return TRUE;
}

/* The keys a group may hold, NULL-terminated; NULL for [Weights], which
 * checks its own (its keys are the stages). */
static GPtrArray *
group_keys (const char *group)
{
  GPtrArray *keys = g_ptr_array_new ();

  if (strcmp (group, "Limits") == 0)
    for (guint i = 0; i < G_N_ELEMENTS (limit_keys); i++)
      g_ptr_array_add (keys, (gpointer) limit_keys[i].key);
  else if (strcmp (group, "Timing") == 0)
    for (guint i = 0; i < G_N_ELEMENTS (timing_keys); i++)
      g_ptr_array_add (keys, (gpointer) timing_keys[i].key);
  else
    for (guint i = 0; i < G_N_ELEMENTS (access_keys); i++)
      g_ptr_array_add (keys, (gpointer) access_keys[i]);
  g_ptr_array_add (keys, NULL);
  return keys;
}

/* A misspelt key or group would silently leave its default in force: every
 * one must be known. ([Weights] checks its own keys.) */
static gboolean
check_known (GKeyFile *kf, GError **error)
{
  static const char *const groups[] = { "Weights", "Limits", "Timing", "Access", NULL };
  g_auto(GStrv) names = g_key_file_get_groups (kf, NULL);

  for (guint g = 0; names[g] != NULL; g++) {
    g_auto(GStrv) keys = NULL;
    g_autoptr(GPtrArray) known = NULL;

    if (!g_strv_contains (groups, names[g])) {
      g_set_error (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS,
                   "unknown group [%s]; groups are [Weights], [Limits], [Timing] and [Access]",
                   names[g]);
      return FALSE;
    }
    if (strcmp (names[g], "Weights") == 0)
      continue;
    known = group_keys (names[g]);
    keys = g_key_file_get_keys (kf, names[g], NULL, NULL);
    for (guint k = 0; keys != NULL && keys[k] != NULL; k++) {
      if (!g_strv_contains ((const char *const *) known->pdata, keys[k])) {
        g_autofree char *list = g_strjoinv (", ", (char **) known->pdata);
        g_set_error (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS,
                     "[%s] unknown key '%s'; keys are %s", names[g], keys[k], list);
        return FALSE;
      }
    }
  }
  return TRUE;
}

gboolean
aura_config_load_keyfile (AuraConfig *config, GKeyFile *keyfile, GError **error)
{
  return check_known (keyfile, error) &&
         load_weights (config, keyfile, error) &&
         load_limits (config, keyfile, error) &&
         load_timing (config, keyfile, error) &&
         load_access (config, keyfile, error);
}

gboolean
aura_config_load_file (AuraConfig *config, const char *path, GError **error)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();

  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, error) ||
      !aura_config_load_keyfile (config, kf, error)) {
    g_prefix_error (error, "%s: ", path);
    return FALSE;
  }
  return TRUE;
}
