/* SPDX-License-Identifier: MIT */
#include "aura-error.h"

G_DEFINE_QUARK (aura-error-quark, aura_error)
