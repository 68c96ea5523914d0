/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>
#include <systemd/sd-bus.h>

#include "aura-clock.h"
#include "aura-config.h"
#include "aura-model.h"

G_BEGIN_DECLS

typedef struct _AuraDaemonCancel AuraDaemonCancel;

/**
 * AuraDaemon:
 * The daemon's context: one bus connection, one model, the exported objects
 * and the timers that drive them. The bus layer translates between D-Bus
 * and the model; it does not decide.
 */
typedef struct {
  AuraConfig config;
  AuraClock *clock;
  AuraModel *model;
  sd_bus *bus;
  char *state_dir;

  sd_bus_slot *manager_slot;
  sd_bus_slot *object_manager_slot;
  sd_bus_slot *job_slot;
  sd_bus_slot *enumerator_slot;

  GHashTable *peers;                  /* unique bus name -> AuraPeer */
  GHashTable *job_objects;            /* job id -> JobObject (aura-daemon-job.c) */

  AuraDaemonCancel *cancel;           /* providers and cancellation */

  guint bus_source_id;
  guint model_source_id;
  guint heartbeat_id;
  guint watchdog_id;
  GMainLoop *loop;
  int exit_code;
} AuraDaemon;

/* Who called: the uid and, when operator groups are configured, its groups. */
typedef struct {
  guint32 uid;
  GArray *gids;                       /* guint32 */
} AuraPeer;

AuraDaemon *aura_daemon_new (AuraConfig *config, sd_bus *bus, const char *state_dir,
                             GError **error);
void        aura_daemon_free (AuraDaemon *daemon);
/* Exports the objects, requests the bus name, arms the timers. */
gboolean    aura_daemon_start (AuraDaemon *daemon, GError **error);
int         aura_daemon_run (AuraDaemon *daemon);

/* The caller of @m; NULL with ret_error set when its credentials cannot be
 * read. */
const AuraPeer *aura_daemon_get_peer (AuraDaemon *daemon, sd_bus_message *m,
                                      sd_bus_error *ret_error);
/* Looks up the job and checks that the caller of @m may change it. Returns
 * the job, or NULL with ret_error set (InvalidArgs, NoSuchJob, AccessDenied)
 * and *r the errno to return. */
AuraJob    *aura_daemon_authorize (AuraDaemon *daemon, sd_bus_message *m, const char *job_id,
                                   sd_bus_error *ret_error, int *r);
char       *aura_daemon_job_path (const char *job_id);

/* aura-daemon-job.c: the job objects under the ObjectManager */
GHashTable *aura_daemon_jobs_table_new (void);
int         aura_daemon_jobs_export (AuraDaemon *daemon);
void        aura_daemon_jobs_added (AuraDaemon *daemon, AuraJob *job);
void        aura_daemon_jobs_removed (AuraDaemon *daemon, AuraJob *job);
void        aura_daemon_jobs_changed (AuraDaemon *daemon, AuraJob *job, AuraEvent *event);

/* aura-daemon-cancel.c: provider registration and orchestrated cancellation */
AuraDaemonCancel *aura_daemon_cancel_new (AuraDaemon *daemon);
void        aura_daemon_cancel_free (AuraDaemonCancel *cancel);
/* Called for a job's terminal event: its providers are released. */
void        aura_daemon_cancel_job_finished (AuraDaemonCancel *cancel, AuraJob *job);
void        aura_daemon_cancel_job_removed (AuraDaemonCancel *cancel, AuraJob *job);
int         aura_daemon_method_register_provider (sd_bus_message *m, void *userdata,
                                                  sd_bus_error *ret_error);
int         aura_daemon_method_unregister_provider (sd_bus_message *m, void *userdata,
                                                    sd_bus_error *ret_error);
int         aura_daemon_method_cancel_job (sd_bus_message *m, void *userdata,
                                           sd_bus_error *ret_error);

G_END_DECLS
