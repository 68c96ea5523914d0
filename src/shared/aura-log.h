/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * aura_log_job:
 * Logs a message about a job with the job id and correlation id as
 * structured fields (AURA_JOB_ID, AURA_CORRELATION_ID). GLib's default
 * writer sends the fields to the journal when stderr is connected to it
 * (run by systemd) and prints a plain line on stderr otherwise.
 */
void aura_log_job (GLogLevelFlags level, const char *job_id, const char *correlation_id,
                   const char *format, ...) G_GNUC_PRINTF (4, 5);

G_END_DECLS
