/* SPDX-License-Identifier: MIT */
/* Job ids and event ids: validation never crashes, a valid job id survives
 * the trip through an object path, and an event id survives printing. */
#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "aura-id.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = g_strndup ((const char *) data, size);
  guint64 id;

  if (aura_job_id_is_valid (text)) {
    char *path = NULL, *back = NULL;
    g_assert_cmpuint (strlen (text), <=, AURA_JOB_ID_MAX);
    g_assert_cmpint (sd_bus_path_encode ("/org/aura/Progress/jobs", text, &path), >=, 0);
    g_assert_true (sd_bus_object_path_is_valid (path));
    g_assert_cmpint (sd_bus_path_decode (path, "/org/aura/Progress/jobs", &back), >, 0);
    g_assert_cmpstr (back, ==, text);
    free (path);
    free (back);
  }
  if (aura_event_id_parse (text, &id)) {
    g_autofree char *printed = g_strdup_printf ("%" G_GUINT64_FORMAT, id);
    guint64 again;
    g_assert_true (aura_event_id_parse (printed, &again));
    g_assert_cmpuint (again, ==, id);
    for (const char *p = text; *p; p++)
      g_assert_true (g_ascii_isdigit (*p));
  }
  return 0;
}
