/* SPDX-License-Identifier: MIT */
#pragma once

/* Which bus to connect to. Its own header because the public client
 * library (aura-provider.h) installs it too. */
typedef enum {
  AURA_BUS_DEFAULT,                   /* what the program defaults to */
  AURA_BUS_SYSTEM,
  AURA_BUS_SESSION,
  AURA_BUS_ADDRESS,                   /* the address given alongside */
} AuraBusKind;
