/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define AURA_JOB_ID_MAX 128

/* Job ids: 1-128 characters of [A-Za-z0-9._:-], starting with a letter or
 * digit. The rule keeps ids safe in object paths (after encoding), URLs,
 * file names and log fields. */
gboolean aura_job_id_is_valid (const char *id);
gboolean aura_job_id_validate (const char *id, GError **error);
const char *aura_job_id_rule (void);

/* Parses a decimal event id as sent in Last-Event-ID or --after: digits
 * only, no sign, no spaces, fits in 64 bits. */
gboolean aura_event_id_parse (const char *text, guint64 *out);

G_END_DECLS
