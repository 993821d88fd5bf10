/* test_users.c -- the user table (users.h): parsing, the lookup, ids. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "users.h"

static char err[512];

static void hash(const char *pw, uint8_t out[32]) { SHA256((const unsigned char *)pw, strlen(pw), out); }

static users_t *parse(const char *text, const char *def)
{
    err[0] = 0;
    return users_parse(text, strlen(text), "users.txt", def, err, sizeof err);
}

static int find(const users_t *u, const char *pw)
{
    uint8_t h[32];
    hash(pw, h);
    return users_find(u, h);
}

static void test_lines_comments_and_lookup(void **st)
{
    users_t *u = parse("# the users\n\nalice:secret one\n  bob: two \r\n# carol:x\nd.e-f_g@h:p:with:colons", "dflt");
    assert_non_null(u);
    assert_int_equal(users_count(u), 4);
    int a = find(u, "secret one"), b = find(u, "two"), d = find(u, "p:with:colons"), z = find(u, "dflt");
    assert_string_equal(users_name(u, a), "alice");
    assert_string_equal(users_name(u, b), "bob");
    assert_string_equal(users_name(u, d), "d.e-f_g@h");
    assert_string_equal(users_name(u, z), USERS_DEFAULT);
    assert_int_equal(find(u, "x"), -1);
    assert_int_equal(find(u, " two "), -1);   /* surrounding blanks are not part of it */
    assert_int_equal(find(u, ""), -1);
    /* a hash that differs in its last bit only */
    uint8_t h[32];
    hash("secret one", h);
    h[31] ^= 1;
    assert_int_equal(users_find(u, h), -1);
    assert_null(users_name(u, 999));
    assert_null(users_name(u, -1));
    users_free(u);
}

static void expect_error(const char *text, const char *def, const char *want)
{
    users_t *u = parse(text, def);
    assert_null(u);
    if (!strstr(err, want)) fail_msg("error '%s' lacks '%s'", err, want);
    /* never the password */
    assert_null(strstr(err, "s3cr3t"));
}

static void test_bad_lines_named_by_number(void **st)
{
    expect_error("a:s3cr3t\nno colon here\n", NULL, "users.txt:2: not name:password");
    expect_error("a:s3cr3t\n\n\nb c:x\n", NULL, "users.txt:4: bad user name");
    expect_error("a:s3cr3t\nb:\n", NULL, "users.txt:2: empty password");
    expect_error(":s3cr3t\n", NULL, "users.txt:1: bad user name");
    expect_error("a:s3cr3t\nb:x\na:y\n", NULL, "users.txt:3: user 'a' is listed twice (first: line 1)");
    expect_error("a:s3cr3t\nb:s3cr3t\n", NULL, "users.txt:2: user 'b' has the same password as 'a' (line 1)");
    expect_error("default:x\n", "s3cr3t", "users.txt:1: user 'default' is listed twice (first: -p)");
    expect_error("a:s3cr3t\n", "s3cr3t", "users.txt:1: user 'a' has the same password as 'default' (-p)");
    expect_error("# nothing\n", NULL, "no users");
    expect_error("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:s3cr3t\n", NULL, "users.txt:1: bad user name");
    char *big = malloc(2000);
    memset(big, 'x', 1999);
    big[0] = 'a'; big[1] = ':';
    big[1999] = 0;
    expect_error(big, NULL, "users.txt:1: line longer than");
    free(big);
}

static void test_full_table_every_user_found(void **st)
{
    size_t cap = (size_t)(USERS_MAX + 2) * 40;
    char *t = malloc(cap);
    size_t n = 0;
    for (int i = 0; i < USERS_MAX; i++) n += (size_t)snprintf(t + n, cap - n, "u%d:pw-%d\n", i, i);
    users_t *u = parse(t, NULL);
    assert_non_null(u);
    assert_int_equal(users_count(u), USERS_MAX);
    for (int i = 0; i < USERS_MAX; i++) {
        char pw[32], nm[32];
        snprintf(pw, sizeof pw, "pw-%d", i);
        snprintf(nm, sizeof nm, "u%d", i);
        int id = find(u, pw);
        assert_true(id >= 0);
        assert_string_equal(users_name(u, id), nm);
    }
    users_free(u);
    snprintf(t + n, cap - n, "one:more\n");
    expect_error(t, NULL, "more than 1024 users");
    free(t);
}

static void test_ids_kept_across_reloads(void **st)
{
    users_t *a = parse("alice:1\nbob:2\ncarol:3\n", NULL);
    assert_non_null(a);
    assert_int_equal(users_adopt_ids(a, NULL, NULL, err, sizeof err), 0);
    int bob = find(a, "2"), carol = find(a, "3");
    /* bob removed; dave added; carol's password changed; bob's id is busy (a
     * worker has not let it go yet) so dave gets another */
    users_t *b = parse("dave:4\ncarol:33\nalice:1\n", NULL);
    uint8_t busy[USERS_MAX] = {0};
    busy[bob] = 1;
    assert_int_equal(users_adopt_ids(b, a, busy, err, sizeof err), 0);
    assert_int_equal(find(b, "1"), find(a, "1"));
    assert_int_equal(find(b, "33"), carol);
    int dave = find(b, "4");
    assert_true(dave >= 0 && dave != bob && dave != carol && dave != find(a, "1"));
    assert_string_equal(users_name(b, dave), "dave");
    assert_null(users_name(b, bob));
    assert_int_equal(find(b, "2"), -1);
    /* once it is no longer busy, bob's id is handed out again */
    users_t *c = parse("alice:1\nerin:5\n", NULL);
    assert_int_equal(users_adopt_ids(c, b, NULL, err, sizeof err), 0);
    assert_int_equal(find(c, "5"), bob);
    /* ids run out: every id busy */
    users_t *d = parse("frank:6\n", NULL);
    memset(busy, 1, sizeof busy);
    assert_int_equal(users_adopt_ids(d, NULL, busy, err, sizeof err), -1);
    assert_non_null(strstr(err, "no free user id"));
    users_free(d);
    users_free(a); users_free(b); users_free(c);
}

static void test_load_file(void **st)
{
    char path[] = "/tmp/test_users_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "alice:a\nbob:b\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    users_t *u = users_load(path, NULL, err, sizeof err);
    assert_non_null(u);
    assert_int_equal(users_count(u), 2);
    users_free(u);
    unlink(path);
    assert_null(users_load(path, NULL, err, sizeof err));
    assert_non_null(strstr(err, "No such file"));
    u = users_load(NULL, "only", err, sizeof err);
    assert_non_null(u);
    assert_string_equal(users_name(u, find(u, "only")), USERS_DEFAULT);
    users_free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_comments_and_lookup),
        cmocka_unit_test(test_bad_lines_named_by_number),
        cmocka_unit_test(test_full_table_every_user_found),
        cmocka_unit_test(test_ids_kept_across_reloads),
        cmocka_unit_test(test_load_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
