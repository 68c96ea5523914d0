/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * AuraClock:
 * Where the core reads time. The daemon uses the system clock; tests and
 * benchmarks use a manual clock that only moves when told to, so coalescing,
 * retention and ETA can be tested on simulated time.
 * Both readings are in microseconds: monotonic for intervals, real (Unix
 * epoch) for the timestamps clients see.
 */
typedef struct _AuraClock AuraClock;

AuraClock *aura_clock_new_system (void);
AuraClock *aura_clock_new_manual (gint64 monotonic_us, gint64 real_us);
AuraClock *aura_clock_ref (AuraClock *clock);
void       aura_clock_unref (AuraClock *clock);

gint64     aura_clock_monotonic (AuraClock *clock);
gint64     aura_clock_real (AuraClock *clock);

/* Manual clocks only: move both readings forward by delta_us. */
void       aura_clock_advance (AuraClock *clock, gint64 delta_us);
gboolean   aura_clock_is_manual (AuraClock *clock);

/* ISO 8601 UTC with milliseconds, e.g. 2026-11-26T13:40:03.123Z */
char      *aura_format_timestamp (gint64 real_us);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AuraClock, aura_clock_unref)

G_END_DECLS
