/* test_config.c -- `--config FILE`: INI -> argv expansion (config.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

/* The server's flags as its main builds them: valued and switches. */
static const char *const known[] = {"listen", "password", "pool-type", "max-outbound-connections",
                                    "min-idle-connections", "log-level", "workers", "config", NULL};
static const char *const switches[] = {"reuse-port", NULL};

static char path[64];
static char err[512];
static int oargc;
static char **oargv;

static void write_ini(const char *text)
{
    if (path[0]) unlink(path);
    strcpy(path, "/tmp/test_config_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
}

static int teardown(void **state)
{
    (void)state;
    if (path[0]) unlink(path);
    path[0] = '\0';
    return 0;
}

/* Runs the expansion for `self` over a NULL-terminated argument list; "@" stands for path. */
static int expand_as(const char *self, const char *a0, ...)
{
    static char *args[32];
    static char cfgeq[128];
    int argc = 0;
    va_list ap;
    va_start(ap, a0);
    for (const char *a = a0; a; a = va_arg(ap, const char *)) {
        if (strcmp(a, "@") == 0) a = path;
        else if (strcmp(a, "--config=@") == 0) {
            snprintf(cfgeq, sizeof cfgeq, "--config=%s", path);
            a = cfgeq;
        }
        args[argc++] = (char *)a;
    }
    va_end(ap);
    args[argc] = NULL;
    err[0] = '\0';
    return config_expand_argv(argc, args, self, known, switches, &oargc, &oargv, err, sizeof err);
}
#define expand(...) expand_as("server", __VA_ARGS__, NULL)

/* oargv equals the expected list exactly. */
static void assert_argv(const char *const *want)
{
    int n = 0;
    while (want[n]) n++;
    for (int i = 0; i < oargc && i < n; i++) {
        if (strcmp(oargv[i], want[i]) != 0) {
            print_error("argv[%d] = '%s', want '%s'\n", i, oargv[i], want[i]);
            fail();
        }
    }
    assert_int_equal(oargc, n);
    assert_null(oargv[oargc]);
}

static void test_no_config(void **state)
{
    (void)state;
    assert_int_equal(expand("anytls-server", "-l", "0.0.0.0:1", "-p", "x"), 0);
    assert_int_equal(oargc, 5);
    assert_string_equal(oargv[1], "-l");
    /* after "--" nothing is a flag; the value of a valued flag is not one either */
    assert_int_equal(expand("anytls-server", "--", "--config", "f.ini"), 0);
    assert_int_equal(expand("anytls-server", "--password", "--config"), 0);
    assert_int_equal(expand("anytls-server", "--log-level", "--config=x"), 0);
}

static void test_expansion(void **state)
{
    (void)state;
    write_ini("; anytls-server configuration\n"
              "# both comment styles\n"
              "\n"
              "listen = 0.0.0.0:8443\n"
              "[server]\n"
              "  password = \"two words\"   ; inline comment\n"
              "pool-type=lockfree\n"
              "\tmin-idle-connections = 5\n"
              "max-outbound-connections =200\n");
    assert_int_equal(expand("anytls-server", "--config", "@", "--workers", "2"), 1);
    static const char *const want[] = {
        "anytls-server", "--listen", "0.0.0.0:8443", "--password", "two words", "--pool-type", "lockfree",
        "--min-idle-connections", "5", "--max-outbound-connections", "200", "--workers", "2", NULL};
    assert_argv(want);
    config_free_argv(oargc, oargv, NULL);

    /* --config=FILE, in the middle */
    assert_int_equal(expand("anytls-server", "-p", "cli", "--config=@", "-l", "1.2.3.4:5"), 1);
    static const char *const want2[] = {
        "anytls-server", "--listen", "0.0.0.0:8443", "--password", "two words", "--pool-type", "lockfree",
        "--min-idle-connections", "5", "--max-outbound-connections", "200", "-p", "cli", "-l", "1.2.3.4:5", NULL};
    assert_argv(want2);
    config_free_argv(oargc, oargv, NULL);
}

/* The command line wins: getopt sees the file's values first. */
static void test_cli_overrides(void **state)
{
    (void)state;
    write_ini("[server]\nlisten = 0.0.0.0:8443\npassword = fromfile\nworkers = 4\n");
    assert_int_equal(expand("anytls-server", "--config", "@", "-p", "fromcli", "--listen=127.0.0.1:9"), 1);
    static const struct option opts[] = {{"listen", 1, 0, 'l'}, {"password", 1, 0, 'p'},
                                         {"workers", 1, 0, 'w'}, {0, 0, 0, 0}};
    const char *listen = NULL, *password = NULL, *workers = NULL;
    int o;
    optind = 0; /* glibc: start over */
    opterr = 0;
    while ((o = getopt_long(oargc, oargv, "l:p:", opts, NULL)) != -1) {
        if (o == 'l') listen = optarg;
        else if (o == 'p') password = optarg;
        else if (o == 'w') workers = optarg;
        else fail();
    }
    assert_string_equal(listen, "127.0.0.1:9");
    assert_string_equal(password, "fromcli");
    assert_string_equal(workers, "4");
    config_free_argv(oargc, oargv, NULL);
}

static void test_unknown_key(void **state)
{
    (void)state;
    write_ini("[server]\nlisten = 0.0.0.0:8443\n\nmax-idle-connections = 3\nbogus = 1\n");
    assert_int_equal(expand("anytls-server", "--config", "@"), -1);
    char want[128];
    snprintf(want, sizeof want, "%s:4: unknown key 'max-idle-connections'", path);
    if (strncmp(err, want, strlen(want)) != 0) {
        print_error("err = %s\n", err);
        fail();
    }
    /* single-letter flags and help/version are not keys either */
    write_ini("p = x\n");
    assert_int_equal(expand("anytls-server", "--config", "@"), -1);
    assert_non_null(strstr(err, ":1: unknown key 'p'"));
    write_ini("\n\nhelp = true\n");
    assert_int_equal(expand("anytls-server", "--config", "@"), -1);
    assert_non_null(strstr(err, ":3: unknown key 'help'"));
}

static void test_sections(void **state)
{
    (void)state;
    write_ini("workers = 1\n"
              "[client]\n"
              "server = example.com:443\n"     /* a client flag: skipped, not an error */
              "min-idle = 3\n"
              "[server]\n"
              "listen = 0.0.0.0:1\n"
              "[pool]\n"                        /* any other section applies */
              "pool-type = highperf\n"
              "[client]\n"
              "password = client-only\n");
    assert_int_equal(expand("anytls-server", "--config", "@"), 1);
    static const char *const want[] = {"anytls-server", "--workers", "1", "--listen", "0.0.0.0:1",
                                       "--pool-type", "highperf", NULL};
    assert_argv(want);
    config_free_argv(oargc, oargv, NULL);

    /* the client skips [server] instead; its own unknown keys still fail */
    write_ini("[server]\npool-type = lock\n[client]\npassword = c\n");
    assert_int_equal(expand_as("client", "anytls-client", "--config", "@", NULL), 1);
    static const char *const want2[] = {"anytls-client", "--password", "c", NULL};
    assert_argv(want2);
    config_free_argv(oargc, oargv, NULL);
    write_ini("[client]\nmin-idle = 3\n");
    assert_int_equal(expand_as("client", "anytls-client", "--config", "@", NULL), -1);
    assert_non_null(strstr(err, ":2: unknown key 'min-idle'"));  /* not in this test's list */
}

static void test_switches(void **state)
{
    (void)state;
    write_ini("reuse-port = yes\n");
    assert_int_equal(expand("anytls-server", "--config", "@"), 1);
    static const char *const on[] = {"anytls-server", "--reuse-port", NULL};
    assert_argv(on);
    config_free_argv(oargc, oargv, NULL);
    static const char *const yes[] = {"true", "YES", "on", "1"}, *const no[] = {"false", "no", "Off", "0"};
    char text[64];
    for (int i = 0; i < 4; i++) {
        snprintf(text, sizeof text, "reuse-port = %s\n", yes[i]);
        write_ini(text);
        assert_int_equal(expand("anytls-server", "--config", "@"), 1);
        assert_argv(on);
        config_free_argv(oargc, oargv, NULL);
        snprintf(text, sizeof text, "reuse-port = %s\n", no[i]);
        write_ini(text);
        assert_int_equal(expand("anytls-server", "--config", "@"), 1);
        assert_int_equal(oargc, 1);
        config_free_argv(oargc, oargv, NULL);
    }
    write_ini("listen = x:1\nreuse-port = maybe\n");
    assert_int_equal(expand("anytls-server", "--config", "@"), -1);
    assert_non_null(strstr(err, ":2: 'reuse-port' is a switch"));
}

static void test_errors(void **state)
{
    (void)state;
    assert_int_equal(expand("anytls-server", "--config"), -1);
    assert_non_null(strstr(err, "--config needs a FILE"));
    assert_int_equal(expand("anytls-server", "--config="), -1);
    assert_non_null(strstr(err, "--config needs a FILE"));
    assert_int_equal(expand("anytls-server", "--config", "/nonexistent/x.ini"), -1);
    assert_non_null(strstr(err, "/nonexistent/x.ini: cannot open"));
    assert_int_equal(expand("anytls-server", "--config", "/tmp"), -1);
    assert_non_null(strstr(err, "is a directory"));

    write_ini("listen = a:1\n");
    assert_int_equal(expand("anytls-server", "--config", "@", "--config", "@"), -1);
    assert_non_null(strstr(err, "more than once"));

    write_ini("[server]\nconfig = other.ini\n");
    assert_int_equal(expand("anytls-server", "--config", "@"), -1);
    assert_non_null(strstr(err, ":2: 'config' cannot be set inside a config file"));

    write_ini("listen = a:1\n[server\n");
    assert_int_equal(expand("anytls-server", "--config", "@"), -1);
    assert_non_null(strstr(err, ":2: syntax error"));
    write_ini("listen = a:1\njust words\nbogus = 1\n");   /* the first error is reported */
    assert_int_equal(expand("anytls-server", "--config", "@"), -1);
    assert_non_null(strstr(err, ":2: syntax error"));
    write_ini("bogus = 1\njust words\n");
    assert_int_equal(expand("anytls-server", "--config", "@"), -1);
    assert_non_null(strstr(err, ":1: unknown key 'bogus'"));

    char longl[400];
    snprintf(longl, sizeof longl, "listen = a:1\npassword = %0300d\n", 7);
    write_ini(longl);
    assert_int_equal(expand("anytls-server", "--config", "@"), -1);
    assert_non_null(strstr(err, ":2: line longer than"));
}

static void test_empty_and_values(void **state)
{
    (void)state;
    write_ini("");
    assert_int_equal(expand("anytls-server", "--config", "@", "-p", "x"), 1);
    static const char *const want[] = {"anytls-server", "-p", "x", NULL};
    assert_argv(want);
    config_free_argv(oargc, oargv, NULL);

    /* an empty value stays an (empty) argument; '#' and ';' without a space before are kept;
     * a value that looks like a flag is still the value */
    write_ini("password =\nlisten = a#b;c\nlog-level = --debug\npool-type = \"\"\n");
    assert_int_equal(expand("anytls-server", "--config", "@"), 1);
    static const char *const want2[] = {"anytls-server", "--password", "", "--listen", "a#b;c",
                                        "--log-level", "--debug", "--pool-type", "", NULL};
    assert_argv(want2);
    config_free_argv(oargc, oargv, NULL);

    /* CRLF line ends and a UTF-8 BOM */
    write_ini("\xEF\xBB\xBFlisten = a:1\r\n[server]\r\nworkers = 2\r\n");
    assert_int_equal(expand("anytls-server", "--config", "@"), 1);
    static const char *const want3[] = {"anytls-server", "--listen", "a:1", "--workers", "2", NULL};
    assert_argv(want3);
    config_free_argv(oargc, oargv, NULL);

    /* freeing the unexpanded argv is a no-op */
    char *args[] = {"x", NULL};
    config_free_argv(1, args, args);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_config),
        cmocka_unit_test_teardown(test_expansion, teardown),
        cmocka_unit_test_teardown(test_cli_overrides, teardown),
        cmocka_unit_test_teardown(test_unknown_key, teardown),
        cmocka_unit_test_teardown(test_sections, teardown),
        cmocka_unit_test_teardown(test_switches, teardown),
        cmocka_unit_test_teardown(test_errors, teardown),
        cmocka_unit_test_teardown(test_empty_and_values, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
