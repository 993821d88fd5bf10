/* config.h -- `--config FILE`: an INI file (parsed with libinih) whose keys are
 * the binary's long flags without the dashes, e.g.
 *     [server]
 *     listen = 0.0.0.0:8443
 *     pool-type = highperf
 *     min-idle-connections = 20
 * Sections are ignored except that keys in a section named after another binary
 * ([client] in the server's file) are skipped. Values from the file come first
 * and flags on the command line override them. */
#ifndef CONFIG_H
#define CONFIG_H

#include <stddef.h>

/* If argv holds "--config FILE" (or "--config=FILE"), loads FILE and returns a
 * new argv (caller frees with config_free_argv) in which the file's settings
 * come right after argv[0], as "--key" "value" pairs, followed by the original
 * arguments minus the --config pair. `self` is "server" or "client";
 * `known` lists the long flags that take a value (NULL-terminated) and
 * `switches` those that take none (value "true"/"yes"/"1" -> flag present).
 * Returns 0 (no --config: *out_argv = argv, unchanged), 1 (loaded), or -1 with a
 * message naming the file and line in err (unknown key, bad line, unreadable). */
int config_expand_argv(int argc, char **argv, const char *self, const char *const *known,
                       const char *const *switches, int *out_argc, char ***out_argv,
                       char *err, size_t errcap);
void config_free_argv(int argc, char **argv, char **orig);

/* config_expand_argv with the flag lists taken from a getopt_long table (flags
 * with an argument take values; the others, but help and version, are switches).
 * On failure prints "prog: message" to stderr and returns -1. */
struct option;
int config_expand_options(int argc, char **argv, const char *prog, const char *self,
                          const struct option *opts, int *out_argc, char ***out_argv);

#endif
