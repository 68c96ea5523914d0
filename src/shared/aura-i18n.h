/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Sets the locale from the environment and binds the message catalogue:
 * from AURA_LOCALEDIR when set (running from the build tree, tests), else
 * from the installed locale directory. Every program calls it first. */
void aura_i18n_init (void);

G_END_DECLS
