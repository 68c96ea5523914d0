/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <poll.h>

#include "aura-bus-source.h"

/* At most this many messages per dispatch, so that a flood on the bus does
 * not starve the heartbeat and flush timers of the same loop. */
#define MAX_PROCESS_PER_DISPATCH 256

typedef struct {
  GSource source;
  sd_bus *bus;
  GPollFD pollfd;
  AuraBusLostFunc lost;
  gpointer user_data;
} BusSource;

/* sd-bus asks afresh before every poll: its events (POLLOUT only while the
 * write queue is not empty) and its timeout, an absolute CLOCK_MONOTONIC
 * time in µs (0: messages are already queued; UINT64_MAX: none). */
static gboolean
bus_prepare (GSource *source, gint *timeout)
{
  BusSource *s = (BusSource *) source;
  int events = sd_bus_get_events (s->bus);
  uint64_t until = UINT64_MAX;
  gint64 now;

  *timeout = -1;
  if (events < 0)
    return TRUE;                      /* let dispatch see the error */
  s->pollfd.events = (gushort) events;
  if (sd_bus_get_timeout (s->bus, &until) < 0)
    return TRUE;
  if (until == UINT64_MAX)
    return FALSE;
  now = g_get_monotonic_time ();
  if (until <= (uint64_t) now)
    return TRUE;
  *timeout = (gint) MIN ((until - (uint64_t) now + 999) / 1000, (uint64_t) G_MAXINT);
  return FALSE;
}

static gboolean
bus_check (GSource *source)
{
  BusSource *s = (BusSource *) source;
  uint64_t until = UINT64_MAX;

  if (s->pollfd.revents != 0)
    return TRUE;
  if (sd_bus_get_timeout (s->bus, &until) < 0)
    return TRUE;
  return until != UINT64_MAX && until <= (uint64_t) g_get_monotonic_time ();
}

static gboolean
bus_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  BusSource *s = (BusSource *) source;

  for (int i = 0; i < MAX_PROCESS_PER_DISPATCH; i++) {
    int r = sd_bus_process (s->bus, NULL);
    if (r < 0) {
      if (r != -ECONNRESET && r != -ENOTCONN)
        g_warning ("bus connection failed: %s", g_strerror (-r));
      if (s->lost != NULL)
        s->lost (s->bus, -r, s->user_data);
      return G_SOURCE_REMOVE;
    }
    if (r == 0)
      break;
  }
  return G_SOURCE_CONTINUE;
}

static void
bus_finalize (GSource *source)
{
  BusSource *s = (BusSource *) source;
  sd_bus_unref (s->bus);
}

static GSourceFuncs bus_source_funcs = {
  .prepare = bus_prepare,
  .check = bus_check,
  .dispatch = bus_dispatch,
  .finalize = bus_finalize,
};

guint
aura_bus_attach (sd_bus *bus, AuraBusLostFunc lost, gpointer user_data)
{
  GSource *source = g_source_new (&bus_source_funcs, sizeof (BusSource));
  BusSource *s = (BusSource *) source;
  guint id;

  s->bus = sd_bus_ref (bus);
  s->lost = lost;
  s->user_data = user_data;
  s->pollfd.fd = sd_bus_get_fd (bus);
  s->pollfd.events = POLLIN;
  g_source_add_poll (source, &s->pollfd);
  g_source_set_name (source, "sd-bus");
  id = g_source_attach (source, g_main_context_get_thread_default ());
  g_source_unref (source);
  return id;
}
