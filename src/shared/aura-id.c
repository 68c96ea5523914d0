/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "aura-error.h"
#include "aura-id.h"

static gboolean
id_char_ok (char c)
{
  return g_ascii_isalnum (c) || c == '.' || c == '_' || c == ':' || c == '-';
}

gboolean
aura_job_id_is_valid (const char *id)
{
  size_t n;

  if (id == NULL || !g_ascii_isalnum (id[0]))
    return FALSE;
  for (n = 0; id[n] != '\0'; n++) {
    if (n >= AURA_JOB_ID_MAX || !id_char_ok (id[n]))
      return FALSE;
  }
  return TRUE;
}

const char *
aura_job_id_rule (void)
{
  return "job ids are 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-', "
         "starting with a letter or digit";
}

gboolean
aura_job_id_validate (const char *id, GError **error)
{
  if (aura_job_id_is_valid (id))
    return TRUE;
  g_set_error (error, AURA_ERROR, AURA_ERROR_INVALID_ARGS,
               "invalid job id: %s", aura_job_id_rule ());
  return FALSE;
}

gboolean
aura_event_id_parse (const char *text, guint64 *out)
{
  guint64 v = 0;

  if (text == NULL || text[0] == '\0' || strlen (text) > 20)
    return FALSE;
  for (const char *p = text; *p; p++) {
    guint d;
    if (!g_ascii_isdigit (*p))
      return FALSE;
    d = (guint) (*p - '0');
    if (v > (G_MAXUINT64 - d) / 10)
      return FALSE;
    v = v * 10 + d;
  }
  *out = v;
  return TRUE;
}
