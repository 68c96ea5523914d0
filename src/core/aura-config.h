/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

#include "aura-stage.h"

G_BEGIN_DECLS

/**
 * AuraConfig:
 * Weights, limits and timings of the daemon. Every resource a caller can
 * allocate has a limit here; the defaults are documented in the README and in
 * data/aura-progressd.conf, which lists every key.
 */
typedef struct {
  AuraWeights weights;
  /* [Weights] Learned: jobs without their own weights get weights from what
   * the stages took in completed jobs, once the estimator has learned any */
  gboolean learned_weights;

  /* [Limits] */
  guint max_jobs;                     /* running and retained jobs */
  guint max_running_jobs_per_user;    /* so that no one user can take every slot */
  guint max_warnings_per_job;
  gsize max_warning_bytes_per_job;    /* all of a job's warnings together */
  gsize max_history_bytes;            /* the event history, about */
  gsize max_reply_bytes;              /* a GetEvents page, about (at least one event) */
  guint max_history;                  /* events kept daemon-wide */
  guint max_job_history;              /* events kept per job */
  guint max_events_per_call;          /* GetEvents page size */
  gsize max_name_length;              /* bytes: provider names/types, titles, phases, correlation ids */
  gsize max_message_length;           /* bytes: messages, warnings, substage details */
  guint max_providers_per_job;
  guint max_providers_per_connection;

  /* [Timing], microseconds */
  gint64 coalesce_interval_us;
  gint64 retention_us;
  gint64 heartbeat_interval_us;
  gint64 cancel_timeout_us;

  /* [Access] */
  GArray *operator_uids;              /* guint32 */
  GArray *operator_gids;              /* guint32 */
} AuraConfig;

void     aura_config_init (AuraConfig *config);
void     aura_config_clear (AuraConfig *config);
gboolean aura_config_load_keyfile (AuraConfig *config, GKeyFile *keyfile, GError **error);
gboolean aura_config_load_file (AuraConfig *config, const char *path, GError **error);

G_END_DECLS
