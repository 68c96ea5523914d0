/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define AURA_ERROR (aura_error_quark ())

/**
 * AuraError:
 * Errors of the job model. Each maps to one D-Bus error name of the contract
 * (see aura_error_to_dbus_name() in the daemon) and to one HTTP status in the
 * bridge, so the codes are part of the contract too.
 */
typedef enum {
  AURA_ERROR_INVALID_ARGS,
  AURA_ERROR_NO_SUCH_JOB,
  AURA_ERROR_JOB_EXISTS,
  AURA_ERROR_NOT_RUNNING,
  AURA_ERROR_LIMIT_EXCEEDED,
  AURA_ERROR_ACCESS_DENIED,
  AURA_ERROR_FAILED,
  AURA_ERROR_NO_SUCH_PROVIDER,        /* appended: the codes above keep their values */
} AuraErrorCode;

/* Exported by libaura-provider, which hides every other internal symbol:
 * its users need the quark for AURA_ERROR. */
__attribute__ ((visibility ("default"))) GQuark aura_error_quark (void);

G_END_DECLS
