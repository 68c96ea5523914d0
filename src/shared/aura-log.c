/* SPDX-License-Identifier: MIT */
#include <stdarg.h>

#include "aura-log.h"

void
aura_log_job (GLogLevelFlags level, const char *job_id, const char *correlation_id,
              const char *format, ...)
{
  g_autofree char *message = NULL;
  g_autofree char *line = NULL;
  GLogField fields[6];
  const char *priority;
  gsize n = 0;
  va_list ap;

  va_start (ap, format);
  message = g_strdup_vprintf (format, ap);
  va_end (ap);
  /* On a terminal only MESSAGE shows: name the job there too. */
  line = g_strdup_printf ("job %s: %s", job_id, message);

  /* syslog priorities, as g_log_structured() would add them */
  switch (level & G_LOG_LEVEL_MASK) {
  case G_LOG_LEVEL_ERROR: priority = "3"; break;
  case G_LOG_LEVEL_CRITICAL:
  case G_LOG_LEVEL_WARNING: priority = "4"; break;
  case G_LOG_LEVEL_MESSAGE: priority = "5"; break;
  case G_LOG_LEVEL_INFO: priority = "6"; break;
  default: priority = "7"; break;
  }
  fields[n++] = (GLogField) { "MESSAGE", line, -1 };
  fields[n++] = (GLogField) { "PRIORITY", priority, -1 };
  fields[n++] = (GLogField) { "GLIB_DOMAIN", G_LOG_DOMAIN, -1 };
  fields[n++] = (GLogField) { "AURA_JOB_ID", job_id, -1 };
  if (correlation_id != NULL && correlation_id[0] != '\0')
    fields[n++] = (GLogField) { "AURA_CORRELATION_ID", correlation_id, -1 };
  g_log_structured_array (level, fields, n);
}
