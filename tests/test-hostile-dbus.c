/* SPDX-License-Identifier: MIT */
/* Hostile input over D-Bus: every method of org.aura.Progress with
 * malformed, out-of-range and oversized arguments. Each gets its specific
 * error, nothing changes, the daemon keeps answering and its memory stays
 * flat. (Unauthorized callers: test-authz.c; HTTP: the bridge's tests.) */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aura-bus-variant.h"
#include "aura-test-bus.h"

#define INVALID SD_BUS_ERROR_INVALID_ARGS
#define NO_SUCH_JOB AURA_DBUS_ERROR_NO_SUCH_JOB
#define NOT_RUNNING AURA_DBUS_ERROR_NOT_RUNNING

static char *huge;                    /* 1 MiB of text */
static char *long_id;                 /* 129 characters */


/* A ReportProgress or StartJob whose dictionary has @n entries. */
static void
assert_huge_dict_refused (sd_bus *bus, const char *member, guint n)
{
  g_autoptr(sd_bus_message) m = NULL, reply = NULL;
  sd_bus_error error = SD_BUS_ERROR_NULL;
  int r;

  g_assert_cmpint (sd_bus_message_new_method_call (bus, &m, AURA_BUS_NAME, AURA_OBJECT_PATH,
                                                   AURA_INTERFACE, member), >=, 0);
  if (strcmp (member, "StartJob") == 0)
    g_assert_cmpint (sd_bus_message_append (m, "s", "fresh"), >=, 0);
  else
    g_assert_cmpint (sd_bus_message_append (m, "ssd", "victim", "tts", 50.0), >=, 0);
  g_assert_cmpint (sd_bus_message_open_container (m, 'a', "{sv}"), >=, 0);
  for (guint i = 0; i < n; i++) {
    char key[32];
    g_snprintf (key, sizeof key, "k%u", i);
    g_assert_cmpint (sd_bus_message_append (m, "{sv}", key, "u", i), >=, 0);
  }
  g_assert_cmpint (sd_bus_message_close_container (m), >=, 0);
  r = sd_bus_call (bus, m, 0, &error, &reply);
  g_assert_cmpint (r, <, 0);
  g_assert_true (sd_bus_error_has_name (&error, INVALID));
  g_assert_nonnull (strstr (error.message, "at most 256 values"));
  sd_bus_error_free (&error);
}

/* One round of every bad call we know. */
static void
hostile_round (sd_bus *bus)
{
#define BAD(err, member, ...) aura_test_assert_call_error (bus, err, member, __VA_ARGS__)
  /* StartJob */
  BAD (INVALID, "StartJob", "sa{sv}", "", 0);
  BAD (INVALID, "StartJob", "sa{sv}", long_id, 0);
  BAD (INVALID, "StartJob", "sa{sv}", huge, 0);
  BAD (INVALID, "StartJob", "sa{sv}", "../etc", 0);
  BAD (INVALID, "StartJob", "sa{sv}", "job\x7f", 0);
  BAD (INVALID, "StartJob", "sa{sv}", "fresh", 1, "title", "s", huge);
  BAD (INVALID, "StartJob", "sa{sv}", "fresh", 1, "correlationId", "s", huge);
  BAD (INVALID, "StartJob", "sa{sv}", "fresh", 1, "weights", "a{sd}", 1, "render", NAN);
  BAD (INVALID, "StartJob", "sa{sv}", "fresh", 1, "weights", "a{sd}", 1, "render", -INFINITY);
  BAD (INVALID, "StartJob", "sa{sv}", "fresh", 1, "weights", "a{sd}", 1, "render", 1e300);
  BAD (INVALID, "StartJob", "sa{sv}", "fresh", 1, "weights", "a{sd}", 1, "Render", 1.0);
  BAD (INVALID, "StartJob", "sa{sv}", "fresh", 1, "weights", "a{sv}", 1, "render", "d", 1.0);
  BAD (AURA_DBUS_ERROR_JOB_EXISTS, "StartJob", "sa{sv}", "victim", 0);
  assert_huge_dict_refused (bus, "StartJob", 100000);

  /* ReportProgress */
  BAD (NO_SUCH_JOB, "ReportProgress", "ssda{sv}", "ghost", "tts", 1.0, 0);
  BAD (INVALID, "ReportProgress", "ssda{sv}", huge, "tts", 1.0, 0);
  BAD (INVALID, "ReportProgress", "ssda{sv}", "victim", huge, 1.0, 0);
  BAD (INVALID, "ReportProgress", "ssda{sv}", "victim", "tts", NAN, 0);
  BAD (INVALID, "ReportProgress", "ssda{sv}", "victim", "tts", INFINITY, 0);
  BAD (INVALID, "ReportProgress", "ssda{sv}", "victim", "tts", -0.001, 0);
  BAD (INVALID, "ReportProgress", "ssda{sv}", "victim", "tts", 100.001, 0);
  BAD (INVALID, "ReportProgress", "ssda{sv}", "victim", "tts", 5.0, 1, "message", "s", huge);
  BAD (INVALID, "ReportProgress", "ssda{sv}", "victim", "tts", 5.0, 1, "substageDetail", "s", huge);
  BAD (INVALID, "ReportProgress", "ssda{sv}", "victim", "tts", 5.0, 2,
       "currentItem", "t", (guint64) G_MAXUINT64, "totalItems", "u", 5);
  BAD (INVALID, "ReportProgress", "ssda{sv}", "victim", "tts", 5.0, 2,
       "currentItem", "u", 6, "totalItems", "u", 5);
  BAD (INVALID, "ReportProgress", "ssda{sv}", "victim", "tts", 5.0, 2,
       "currentItem", "s", "1", "totalItems", "u", 5);
  BAD (INVALID, "ReportProgress", "ssda{sv}", "victim", "tts", 5.0, 2,
       "currentItem", "u", 0, "totalItems", "u", 0);
  BAD (NOT_RUNNING, "ReportProgress", "ssda{sv}", "finished", "tts", 1.0, 0);
  assert_huge_dict_refused (bus, "ReportProgress", 100000);

  /* the mappers */
  BAD (INVALID, "ReportFFmpegProgress", "sttdds", "victim", (guint64) 1, (guint64) 0, 25.0, 1.0, "");
  BAD (INVALID, "ReportFFmpegProgress", "sttdds", "victim", G_MAXUINT64, (guint64) 10, 25.0, 1.0, "");
  BAD (INVALID, "ReportFFmpegProgress", "sttdds", "victim", (guint64) 1, G_MAXUINT64, 25.0, 1.0, "");
  BAD (INVALID, "ReportFFmpegProgress", "sttdds", "victim", (guint64) 1, (guint64) 10, NAN, 1.0, "");
  BAD (INVALID, "ReportFFmpegProgress", "sttdds", "victim", (guint64) 1, (guint64) 10, -1.0, 1.0, "");
  BAD (INVALID, "ReportFFmpegProgress", "sttdds", "victim", (guint64) 1, (guint64) 10, 1e12, 1.0, "");
  BAD (INVALID, "ReportFFmpegProgress", "sttdds", "victim", (guint64) 1, (guint64) 10, 25.0, NAN, "");
  BAD (INVALID, "ReportFFmpegProgress", "sttdds", "victim", (guint64) 1, (guint64) 10, 25.0, -5.0, "");
  BAD (INVALID, "ReportFFmpegProgress", "sttdds", "victim", (guint64) 1, (guint64) 10, 25.0, 1.0, huge);
  BAD (INVALID, "ReportTtsProgress", "suuss", "victim", 5, 4, "p", "");
  BAD (INVALID, "ReportTtsProgress", "suuss", "victim", G_MAXUINT32, 4, "p", "");
  BAD (INVALID, "ReportTtsProgress", "suuss", "victim", 0, 0, "p", "");
  BAD (INVALID, "ReportTtsProgress", "suuss", "victim", 0, 4, "", "");
  BAD (INVALID, "ReportTtsProgress", "suuss", "victim", 0, 4, huge, "");
  BAD (INVALID, "ReportVisualProgress", "suuss", "victim", 9, 8, "p", "");
  BAD (INVALID, "ReportVisualProgress", "suuss", "victim", 0, 8, huge, "");
  BAD (INVALID, "ReportLlmProgress", "ssuus", "victim", "", 1, 2, "");
  BAD (INVALID, "ReportLlmProgress", "ssuus", "victim", huge, 1, 2, "");
  BAD (INVALID, "ReportLlmProgress", "ssuus", "victim", "drafting", 3, 2, "");
  BAD (INVALID, "ReportLlmProgress", "ssuus", "victim", "drafting", 0, 0, "");
  BAD (NOT_RUNNING, "ReportTtsProgress", "suuss", "finished", 0, 4, "p", "");

  /* warnings, stages, ends */
  BAD (INVALID, "AddWarning", "ss", "victim", "");
  BAD (INVALID, "AddWarning", "ss", "victim", huge);
  BAD (NO_SUCH_JOB, "AddWarning", "ss", "ghost", "w");
  BAD (INVALID, "MarkStageCompleted", "ss", "victim", "rendering");
  BAD (INVALID, "MarkStageCompleted", "ss", "victim", huge);
  BAD (INVALID, "FailJob", "ss", "victim", "");
  BAD (INVALID, "FailJob", "ss", "victim", huge);
  BAD (NOT_RUNNING, "CompleteJob", "s", "finished");
  BAD (NOT_RUNNING, "FailJob", "ss", "finished", "again");
  BAD (NO_SUCH_JOB, "CompleteJob", "s", "ghost");

  /* reads */
  BAD (INVALID, "GetJob", "s", huge);
  BAD (INVALID, "GetJob", "s", "");
  BAD (NO_SUCH_JOB, "GetJob", "s", "ghost");
  BAD (INVALID, "GetEvents", "st", "no such/job", (guint64) 0);
  BAD (NO_SUCH_JOB, "GetEvents", "st", "ghost", G_MAXUINT64);

  /* providers and cancellation take the same ids */
  BAD (INVALID, "RegisterProvider", "sssbo", huge, "p", "TTS", 1, "/p");
  BAD (INVALID, "RegisterProvider", "sssbo", "victim", huge, "TTS", 1, "/p");
  BAD (INVALID, "RegisterProvider", "sssbo", "victim", "p", huge, 1, "/p");
  BAD (INVALID, "RegisterProvider", "sssbo", "victim", "", "TTS", 1, "/p");
  BAD (NOT_RUNNING, "RegisterProvider", "sssbo", "finished", "p", "TTS", 1, "/p");
  BAD (INVALID, "UnregisterProvider", "ss", huge, "p");
  BAD (INVALID, "CancelJob", "s", huge);
  BAD (NO_SUCH_JOB, "CancelJob", "s", "ghost");
  BAD (NOT_RUNNING, "CancelJob", "s", "finished");

  /* arguments of the wrong type never reach a handler */
  BAD (INVALID, "ReportProgress", "sssa{sv}", "victim", "tts", "50", 0);
  BAD (INVALID, "ReportTtsProgress", "siiss", "victim", -1, 4, "p", "");
  BAD (INVALID, "StartJob", "s", "fresh");
  BAD (INVALID, "GetEvents", "ss", "victim", "0");
#undef BAD
}

static GVariant *
state_of (sd_bus *bus, const char *id)
{
  sd_bus_error error = SD_BUS_ERROR_NULL;
  g_autoptr(sd_bus_message) reply = aura_test_call (bus, &error, "GetJob", "s", id);
  GVariant *state = NULL;

  g_assert_nonnull (reply);
  g_assert_cmpint (aura_bus_message_read_variant (reply, &state), ==, 1);
  /* what changes with the clock alone */
  {
    GVariantDict d;
    g_variant_dict_init (&d, state);
    g_variant_dict_remove (&d, "timestamp");
    g_variant_dict_remove (&d, "etaSeconds");
    g_variant_dict_remove (&d, "expectedEndTime");
    g_variant_unref (state);
    state = g_variant_ref_sink (g_variant_dict_end (&d));
  }
  return state;
}

static guint64
events_count (sd_bus *bus)
{
  sd_bus_error error = SD_BUS_ERROR_NULL;
  g_autoptr(sd_bus_message) reply = aura_test_call (bus, &error, "GetEvents", "st", "", (guint64) 0);
  g_autoptr(GVariant) events = NULL;

  g_assert_nonnull (reply);
  g_assert_cmpint (aura_bus_message_read_variant (reply, &events), ==, 1);
  return g_variant_n_children (events);
}

static long
rss_kib (GSubprocess *proc)
{
  g_autofree char *path = g_strdup_printf ("/proc/%s/status", g_subprocess_get_identifier (proc));
  g_autofree char *status = NULL;
  const char *line;

  g_assert_true (g_file_get_contents (path, &status, NULL, NULL));
  line = strstr (status, "VmRSS:");
  g_assert_nonnull (line);
  return strtol (line + 6, NULL, 10);
}

static void
test_hostile_dbus (void)
{
  g_autoptr(AuraTestBus) tb = aura_test_bus_new ();
  g_autoptr(GVariant) before = NULL, after = NULL;
  gboolean slow = g_getenv ("AURA_TEST_SLOW") != NULL;
  guint rounds = slow ? 2 : 20;
  guint64 events_before;
  long rss_warm, rss_end;

  aura_test_bus_start_daemon (tb, NULL);
  aura_test_call_ok (tb->client, "StartJob", "sa{sv}", "victim", 1, "title", "s", "A job under attack");
  aura_test_call_ok (tb->client, "ReportTtsProgress", "suuss", "victim", 2, 8, "ElevenLabs", "c-1");
  aura_test_call_ok (tb->client, "AddWarning", "ss", "victim", "a real warning");
  aura_test_call_ok (tb->client, "StartJob", "sa{sv}", "finished", 0);
  aura_test_call_ok (tb->client, "CompleteJob", "s", "finished");
  before = state_of (tb->client, "victim");
  events_before = events_count (tb->client);

  hostile_round (tb->client);          /* warms the allocator up */
  rss_warm = rss_kib (tb->daemon);
  for (guint i = 1; i < rounds; i++)
    hostile_round (tb->client);
  rss_end = rss_kib (tb->daemon);

  /* the daemon answers, and nothing changed */
  after = state_of (tb->client, "victim");
  if (!g_variant_equal (before, after)) {
    g_autofree char *a = g_variant_print (before, FALSE), *b = g_variant_print (after, FALSE);
    g_error ("state changed:\n%s\n%s", a, b);
  }
  g_assert_cmpuint (events_count (tb->client), ==, events_before);
  g_test_message ("daemon RSS after the first round %ld KiB, after %u rounds %ld KiB",
                  rss_warm, rounds, rss_end);
  /* Each round sends ~30 MiB of oversized input. Under valgrind and ASan
   * RSS says little; their leak checks cover those runs. */
  if (!slow)
    g_assert_cmpint (rss_end - rss_warm, <, 4096);
  aura_test_call_ok (tb->client, "ReportTtsProgress", "suuss", "victim", 3, 8, "ElevenLabs", "c-1");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  huge = g_strnfill (1024 * 1024, 'x');
  long_id = g_strnfill (129, 'a');
  g_test_add_func ("/hostile/dbus", test_hostile_dbus);
  {
    int r = g_test_run ();
    g_free (huge);
    g_free (long_id);
    return r;
  }
}
