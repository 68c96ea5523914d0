/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * AuraEventSeq:
 * The daemon-wide event id sequence. Ids are strictly increasing for the
 * daemon's whole life and across its restarts, so that a stale
 * Last-Event-ID never aliases a new event: blocks of ids are reserved in a
 * file under the state directory before they are handed out.
 * Without a state directory the sequence starts at the current Unix time
 * in microseconds, which a restarted daemon has always passed.
 */
typedef struct _AuraEventSeq AuraEventSeq;

AuraEventSeq *aura_event_seq_new (const char *state_dir, GError **error);
/* A sequence that is not persisted and hands out @last + 1 first: the same
 * ids on every run, for tests and fuzzers (a manual clock's counterpart). */
AuraEventSeq *aura_event_seq_new_at (guint64 last);
void          aura_event_seq_free (AuraEventSeq *seq);
guint64       aura_event_seq_next (AuraEventSeq *seq);
/* The last id handed out, 0 if none yet. */
guint64       aura_event_seq_last (AuraEventSeq *seq);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AuraEventSeq, aura_event_seq_free)

G_END_DECLS
