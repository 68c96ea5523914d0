/* SPDX-License-Identifier: MIT */
#include "aura-clock.h"

struct _AuraClock {
  gint ref_count;
  gboolean manual;
  gint64 monotonic_us;
  gint64 real_us;
};

AuraClock *
aura_clock_new_system (void)
{
  AuraClock *clock = g_new0 (AuraClock, 1);
  clock->ref_count = 1;
  return clock;
}

AuraClock *
aura_clock_new_manual (gint64 monotonic_us, gint64 real_us)
{
  AuraClock *clock = g_new0 (AuraClock, 1);
  clock->ref_count = 1;
  clock->manual = TRUE;
  clock->monotonic_us = monotonic_us;
  clock->real_us = real_us;
  return clock;
}

AuraClock *
aura_clock_ref (AuraClock *clock)
{
  g_atomic_int_inc (&clock->ref_count);
  return clock;
}

void
aura_clock_unref (AuraClock *clock)
{
  if (clock != NULL && g_atomic_int_dec_and_test (&clock->ref_count))
    g_free (clock);
}

gint64
aura_clock_monotonic (AuraClock *clock)
{
  return clock->manual ? clock->monotonic_us : g_get_monotonic_time ();
}

gint64
aura_clock_real (AuraClock *clock)
{
  return clock->manual ? clock->real_us : g_get_real_time ();
}

void
aura_clock_advance (AuraClock *clock, gint64 delta_us)
{
  g_return_if_fail (clock->manual);
  g_return_if_fail (delta_us >= 0);
  clock->monotonic_us += delta_us;
  clock->real_us += delta_us;
}

gboolean
aura_clock_is_manual (AuraClock *clock)
{
  return clock->manual;
}

char *
aura_format_timestamp (gint64 real_us)
{
  gint64 secs = real_us / G_USEC_PER_SEC;
  gint64 ms = (real_us % G_USEC_PER_SEC) / 1000;
  g_autoptr(GDateTime) dt = NULL;
  g_autofree char *base = NULL;

  if (ms < 0) {
    secs -= 1;
    ms += 1000;
  }
  dt = g_date_time_new_from_unix_utc (secs);
  if (dt == NULL)
    return g_strdup ("1970-01-01T00:00:00.000Z");
  base = g_date_time_format (dt, "%Y-%m-%dT%H:%M:%S");
  return g_strdup_printf ("%s.%03" G_GINT64_FORMAT "Z", base, ms);
}
