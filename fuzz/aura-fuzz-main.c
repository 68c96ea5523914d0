/* SPDX-License-Identifier: MIT */
/* Runs a fuzz target over files or directories of inputs, for builds without
 * libFuzzer: `meson test` replays the committed corpus with it, so every
 * input that ever mattered stays a regression test (under valgrind and ASan
 * too). */
#include <glib.h>
#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static int
run_file (const char *path)
{
  g_autofree char *data = NULL;
  gsize size;
  g_autoptr(GError) error = NULL;

  if (!g_file_get_contents (path, &data, &size, &error)) {
    fprintf (stderr, "%s\n", error->message);
    return 1;
  }
  LLVMFuzzerTestOneInput ((const uint8_t *) data, size);
  return 0;
}

int
main (int argc, char **argv)
{
  guint n = 0;

  for (int i = 1; i < argc; i++) {
    if (g_file_test (argv[i], G_FILE_TEST_IS_DIR)) {
      g_autoptr(GDir) dir = g_dir_open (argv[i], 0, NULL);
      const char *name;
      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
        g_autofree char *path = g_build_filename (argv[i], name, NULL);
        if (run_file (path) != 0)
          return 1;
        n++;
      }
    } else {
      if (run_file (argv[i]) != 0)
        return 1;
      n++;
    }
  }
  if (n == 0) {
    fprintf (stderr, "no inputs\n");
    return 1;
  }
  printf ("%u inputs ran\n", n);
  return 0;
}
