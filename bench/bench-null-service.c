/* SPDX-License-Identifier: MIT */
/*
 * The baseline of the ingest and coalescing benchmarks: a minimal sd-bus
 * service with the same object path, interface and method signatures as
 * aura-progressd, which answers every call at once and does nothing else.
 * It owns org.aura.Progress.BenchNull, so that it can run next to the daemon
 * on the same bus and a client can send the same calls to either.
 *
 * Its loop is the least a service can do: sd_bus_process() until idle, then
 * sd_bus_wait(). Nothing is read from the calls beyond what sd-bus checks
 * (the signature), nothing is kept, no signal is sent.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "aura-bus.h"
#include "bench-common.h"

static volatile sig_atomic_t stop;

static void
on_signal (int sig)
{
  stop = 1;
}

static int
reply_empty (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  return sd_bus_reply_method_return (m, NULL);
}

static int
reply_start_job (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  return sd_bus_reply_method_return (m, "o", AURA_JOBS_PATH "/null");
}

static int
reply_cancel_job (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  return sd_bus_reply_method_return (m, "ssba(ssbss)ass", "Canceled", "", 0, 0, 0, "");
}

static int
reply_get_job (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  return sd_bus_reply_method_return (m, "a{sv}", 0);
}

static int
reply_list_jobs (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  return sd_bus_reply_method_return (m, "aa{sv}", 0);
}

static int
reply_get_events (sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  return sd_bus_reply_method_return (m, "a(sta{sv})", 0);
}

#define U SD_BUS_VTABLE_UNPRIVILEGED

static const sd_bus_vtable null_vtable[] = {
  SD_BUS_VTABLE_START (0),
  SD_BUS_METHOD ("StartJob", "sa{sv}", "o", reply_start_job, U),
  SD_BUS_METHOD ("ReportProgress", "ssda{sv}", "", reply_empty, U),
  SD_BUS_METHOD ("ReportFFmpegProgress", "sttdds", "", reply_empty, U),
  SD_BUS_METHOD ("ReportTtsProgress", "suuss", "", reply_empty, U),
  SD_BUS_METHOD ("ReportLlmProgress", "ssuus", "", reply_empty, U),
  SD_BUS_METHOD ("ReportVisualProgress", "suuss", "", reply_empty, U),
  SD_BUS_METHOD ("AddWarning", "ss", "", reply_empty, U),
  SD_BUS_METHOD ("MarkStageCompleted", "ss", "", reply_empty, U),
  SD_BUS_METHOD ("CompleteJob", "s", "", reply_empty, U),
  SD_BUS_METHOD ("FailJob", "ss", "", reply_empty, U),
  SD_BUS_METHOD ("RegisterProvider", "sssbo", "", reply_empty, U),
  SD_BUS_METHOD ("UnregisterProvider", "ss", "", reply_empty, U),
  SD_BUS_METHOD ("CancelJob", "s", "ssba(ssbss)ass", reply_cancel_job, U),
  SD_BUS_METHOD ("GetJob", "s", "a{sv}", reply_get_job, U),
  SD_BUS_METHOD ("ListJobs", "", "aa{sv}", reply_list_jobs, U),
  SD_BUS_METHOD ("GetEvents", "st", "a(sta{sv})", reply_get_events, U),
  SD_BUS_VTABLE_END
};

int
main (int argc, char **argv)
{
  g_autoptr(sd_bus) bus = NULL;
  g_autoptr(sd_bus_slot) slot = NULL;
  struct sigaction sa = { .sa_handler = on_signal };
  int r;

  if (argc != 2 || !g_str_has_prefix (argv[1], "--address=")) {
    fprintf (stderr, "usage: %s --address=ADDRESS\n", argv[0]);
    return 2;
  }
  sigaction (SIGTERM, &sa, NULL);
  sigaction (SIGINT, &sa, NULL);

  r = sd_bus_new (&bus);
  if (r >= 0)
    r = sd_bus_set_address (bus, argv[1] + strlen ("--address="));
  if (r >= 0)
    r = sd_bus_set_bus_client (bus, 1);
  if (r >= 0)
    r = sd_bus_start (bus);
  if (r >= 0)
    r = sd_bus_add_object_vtable (bus, &slot, AURA_OBJECT_PATH, AURA_INTERFACE, null_vtable,
                                  NULL);
  if (r >= 0)
    r = sd_bus_request_name (bus, BENCH_NULL_NAME, 0);
  if (r < 0) {
    fprintf (stderr, "bench-null-service: %s\n", g_strerror (-r));
    return 1;
  }

  while (!stop) {
    r = sd_bus_process (bus, NULL);
    if (r > 0)
      continue;
    if (r == 0)
      r = sd_bus_wait (bus, UINT64_MAX);
    if (r < 0 && r != -EINTR) {
      if (r == -ECONNRESET || r == -ENOTCONN)
        break;
      fprintf (stderr, "bench-null-service: %s\n", g_strerror (-r));
      return 1;
    }
  }
  return 0;
}
