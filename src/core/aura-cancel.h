/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

#include "aura-config.h"
#include "aura-job.h"

G_BEGIN_DECLS

/* The bookkeeping of provider registration and orchestrated cancellation,
 * without the bus: which providers a job has, what each answered, and the
 * texts the contract fixes. The daemon's bus layer (aura-daemon-cancel.c)
 * does the calling and the timing and reports answers here. */

/* A provider's cancellation status; the strings are the contract's (the
 * seed's spelling). PENDING never leaves the daemon. */
typedef enum {
  AURA_CANCEL_PENDING,
  AURA_CANCEL_CANCELLED,
  AURA_CANCEL_FAILED,
  AURA_CANCEL_NOT_SUPPORTED,
  AURA_CANCEL_ERROR,
} AuraCancelStatus;

const char *aura_cancel_status_to_string (AuraCancelStatus status);

/* The exact message of a cancellation in which no provider failed or
 * errored. */
#define AURA_CANCEL_MESSAGE_ALL_OK "All providers cancelled or reported as not supporting cancellation"

/**
 * AuraCancelProvider:
 * One registration: immutable but for @vanished, shared by reference
 * between the registry and cancellations in flight (so that unregistering
 * during a cancellation does not pull it from under the cancellation).
 */
typedef struct {
  gint ref_count;
  char *job_id;
  char *name;
  char *type;
  gboolean supports_cancellation;
  char *owner;                        /* unique bus name of the registering connection */
  char *path;                         /* where it serves org.aura.Progress.Provider */
  gboolean vanished;                  /* its connection is gone */
} AuraCancelProvider;

AuraCancelProvider *aura_cancel_provider_ref (AuraCancelProvider *provider);
void        aura_cancel_provider_unref (AuraCancelProvider *provider);

/* The warnings the daemon adds to a job; exact texts, not translated:
 * clients may match them. */
char       *aura_cancel_warning_not_supported (const AuraCancelProvider *provider);
char       *aura_cancel_warning_vanished (const AuraCancelProvider *provider);

/**
 * AuraCancelRegistry:
 * The providers of every job, by job and name, and how many each
 * connection registered. Re-registering a name replaces the registration.
 * Limits: MaxProvidersPerJob, MaxProvidersPerConnection, MaxNameLength.
 */
typedef struct _AuraCancelRegistry AuraCancelRegistry;

/* Called when a connection no longer has a live registration, so that its
 * owner can stop watching it. Not called for owner_vanished(). */
typedef void (*AuraCancelOwnerReleased) (const char *owner, gpointer user_data);

AuraCancelRegistry *aura_cancel_registry_new (const AuraConfig *config,
                                              AuraCancelOwnerReleased released,
                                              gpointer user_data);
void        aura_cancel_registry_free (AuraCancelRegistry *registry);

/* Whether register() would succeed, without changing anything. */
gboolean    aura_cancel_registry_check (AuraCancelRegistry *registry, const char *job_id,
                                        const char *name, const char *type, const char *owner,
                                        const char *path, GError **error);
/* Validates and adds (or replaces) a registration. The caller has checked
 * that the job runs. Returns the registration (borrowed) or NULL with
 * InvalidArgs or LimitExceeded; on failure nothing changed. */
AuraCancelProvider *aura_cancel_registry_register (AuraCancelRegistry *registry,
                                                   const char *job_id, const char *name,
                                                   const char *type,
                                                   gboolean supports_cancellation,
                                                   const char *owner, const char *path,
                                                   GError **error);
/* NoSuchProvider when the job has no provider of that name. */
gboolean    aura_cancel_registry_unregister (AuraCancelRegistry *registry, const char *job_id,
                                             const char *name, GError **error);
/* The job's providers in registration order, as a new array of references
 * (empty when none). */
GPtrArray  *aura_cancel_registry_list (AuraCancelRegistry *registry, const char *job_id);
guint       aura_cancel_registry_n_providers (AuraCancelRegistry *registry, const char *job_id);
/* Live registrations of a connection, over all jobs. */
guint       aura_cancel_registry_n_owned (AuraCancelRegistry *registry, const char *owner);
/* Drops every registration of a job (it ended). */
void        aura_cancel_registry_remove_job (AuraCancelRegistry *registry, const char *job_id);
/* A connection is gone: marks its registrations vanished (they stay, so
 * that a cancellation reports them) and returns them as a new array of
 * references. */
GPtrArray  *aura_cancel_registry_owner_vanished (AuraCancelRegistry *registry, const char *owner);

/**
 * AuraCancelOp:
 * One cancellation of a job: a snapshot of its providers and what each
 * answered. Providers that cannot cancel are NotSupported and vanished ones
 * Error from the start; the others are pending until they answer, their
 * connection goes or the cancellation expires.
 */
typedef struct _AuraCancelOp AuraCancelOp;

/* providers: AuraCancelProvider, e.g. from aura_cancel_registry_list(). */
AuraCancelOp *aura_cancel_op_new (const char *job_id, GPtrArray *providers, gint64 timeout_us);
void        aura_cancel_op_free (AuraCancelOp *op);

const char *aura_cancel_op_get_job_id (AuraCancelOp *op);
guint       aura_cancel_op_n_providers (AuraCancelOp *op);
AuraCancelProvider *aura_cancel_op_get_provider (AuraCancelOp *op, guint index);
AuraCancelStatus aura_cancel_op_get_status (AuraCancelOp *op, guint index);
/* The provider's warning, NULL when none. */
const char *aura_cancel_op_get_warning (AuraCancelOp *op, guint index);
guint       aura_cancel_op_n_pending (AuraCancelOp *op);
gboolean    aura_cancel_op_is_done (AuraCancelOp *op);

/* Answers. Each returns TRUE when the provider was pending and is now
 * decided (its warning, if any, is then new); FALSE when it was decided
 * already (a late answer changes nothing). */
gboolean    aura_cancel_op_cancelled (AuraCancelOp *op, guint index);
/* The provider refused: reason is its error message. */
gboolean    aura_cancel_op_failed (AuraCancelOp *op, guint index, const char *reason);
/* Its connection went before it answered. */
gboolean    aura_cancel_op_gone (AuraCancelOp *op, guint index);
/* The timeout passed: every pending provider becomes Error. Returns how
 * many did. */
guint       aura_cancel_op_expire (AuraCancelOp *op);
/* The job ended some other way first: every pending provider becomes
 * Error. Returns how many did. */
guint       aura_cancel_op_abandon (AuraCancelOp *op);

/* The reply's message: AURA_CANCEL_MESSAGE_ALL_OK when no provider failed
 * or errored, otherwise which did, in at most max_len bytes. */
char       *aura_cancel_op_message (AuraCancelOp *op, gsize max_len);
/* a(ssbss): (name, type, supports_cancellation, status, warning or "") */
GVariant   *aura_cancel_op_statuses (AuraCancelOp *op);
/* as: the providers' warnings in provider order */
GVariant   *aura_cancel_op_warnings (AuraCancelOp *op);

/* Completed stages are the rollback markers: a cleanup is scheduled for a
 * cancelled job when it has at least one (they are published as
 * rollbackStages in its job-cancelled event). */
gboolean    aura_cancel_cleanup_needed (const AuraJob *job);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AuraCancelProvider, aura_cancel_provider_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AuraCancelRegistry, aura_cancel_registry_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AuraCancelOp, aura_cancel_op_free)

G_END_DECLS
