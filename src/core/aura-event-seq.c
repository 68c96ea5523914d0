/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "aura-error.h"
#include "aura-event-seq.h"
#include "aura-id.h"

#define RESERVE_BLOCK 65536

struct _AuraEventSeq {
  char *path;                         /* NULL: not persisted */
  guint64 last;
  guint64 reserved;                   /* ids up to this one may be handed out */
};

static gboolean
reserve (AuraEventSeq *seq, guint64 upto, GError **error)
{
  g_autofree char *text = g_strdup_printf ("%" G_GUINT64_FORMAT "\n", upto);

  if (!g_file_set_contents_full (seq->path, text, -1,
                                 G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                 0644, error))
    return FALSE;
  seq->reserved = upto;
  return TRUE;
}

AuraEventSeq *
aura_event_seq_new (const char *state_dir, GError **error)
{
  g_autoptr(AuraEventSeq) seq = g_new0 (AuraEventSeq, 1);
  g_autofree char *text = NULL;
  g_autoptr(GError) local = NULL;

  if (state_dir == NULL) {
    seq->last = (guint64) g_get_real_time ();
    seq->reserved = G_MAXUINT64;
    return g_steal_pointer (&seq);
  }

  if (g_mkdir_with_parents (state_dir, 0755) < 0) {
    int saved = errno;
    g_set_error (error, AURA_ERROR, AURA_ERROR_FAILED,
                 "cannot create state directory %s: %s", state_dir, g_strerror (saved));
    return NULL;
  }
  seq->path = g_build_filename (state_dir, "event-id", NULL);
  if (g_file_get_contents (seq->path, &text, NULL, &local)) {
    g_strstrip (text);
    if (!aura_event_id_parse (text, &seq->last) || seq->last > G_MAXUINT64 - 2 * RESERVE_BLOCK) {
      g_set_error (error, AURA_ERROR, AURA_ERROR_FAILED,
                   "%s is corrupt: expected one decimal event id", seq->path);
      return NULL;
    }
  } else if (!g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
    g_propagate_error (error, g_steal_pointer (&local));
    return NULL;
  }
  /* Everything up to the reserved mark may have been handed out by the
   * previous run, so continue after it. */
  if (!reserve (seq, seq->last + RESERVE_BLOCK, error))
    return NULL;
  return g_steal_pointer (&seq);
}

AuraEventSeq *
aura_event_seq_new_at (guint64 last)
{
  AuraEventSeq *seq = g_new0 (AuraEventSeq, 1);

  seq->last = last;
  seq->reserved = G_MAXUINT64;
  return seq;
}

void
aura_event_seq_free (AuraEventSeq *seq)
{
  if (seq == NULL)
    return;
  g_free (seq->path);
  g_free (seq);
}

guint64
aura_event_seq_next (AuraEventSeq *seq)
{
  if (seq->last + 1 > seq->reserved) {
    g_autoptr(GError) error = NULL;
    if (!reserve (seq, seq->last + RESERVE_BLOCK, &error)) {
      /* Still strictly increasing within this run; only a crash before the
       * next successful reservation could repeat ids. */
      g_warning ("cannot reserve event ids: %s", error->message);
      seq->reserved = seq->last + RESERVE_BLOCK;
    }
  }
  return ++seq->last;
}

guint64
aura_event_seq_last (AuraEventSeq *seq)
{
  return seq->last;
}
