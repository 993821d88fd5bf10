/* config.c -- `--config FILE`: an INI file turned into long flags placed in
 * front of the command line's own (see config.h).
 *
 * The file is read with libinih through our own line reader, which
 *  - counts lines, so every error names file:line,
 *  - strips leading whitespace, so indentation is cosmetic (inih would
 *    otherwise take an indented line after a key as a continuation of that
 *    key's value),
 *  - refuses a line longer than inih's line buffer instead of letting inih
 *    read its tail as a line of its own.
 * Values: inih trims surrounding whitespace and drops an inline comment that
 * starts with ';' after whitespace; one pair of surrounding double quotes is
 * removed here ("a b" -> a b). */
#include "config.h"
#include <getopt.h>

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The expanded file settings: strings packed one after another. */
typedef struct strbuf {
    char *p;
    size_t len, cap;
    int n; /* strings held */
} strbuf_t;

typedef struct ctx {
    const char *path, *self;
    const char *const *known, *const *switches;
    FILE *f;
    int lineno;
    int toolong;          /* the reader saw a line longer than inih's buffer */
    int err_line;         /* first error found by us (0: none) */
    char err[256];
    int oom;
    strbuf_t sb;
} ctx_t;

static int in_list(const char *const *list, const char *s)
{
    for (; list && *list; list++)
        if (strcmp(*list, s) == 0) return 1;
    return 0;
}

static int sb_add(strbuf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->p[b->len + n] = '\0';
    b->len += n + 1;
    b->n++;
    return 0;
}

static void ctx_fail(ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ctx_fail(ctx_t *c, const char *fmt, ...)
{
    if (c->err_line) return; /* keep the first */
    c->err_line = c->lineno;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
}

static char *reader(char *str, int num, void *stream)
{
    ctx_t *c = stream;
    if (c->toolong || !fgets(str, num, c->f)) return NULL;
    c->lineno++;
    size_t n = strlen(str);
    int ch;
    if (n == (size_t)num - 1 && str[n - 1] != '\n' && (ch = getc(c->f)) != EOF && ungetc(ch, c->f) != EOF) {
        c->toolong = 1;
        ctx_fail(c, "line longer than %d bytes", num - 2);
        return NULL; /* stops the parse */
    }
    size_t skip = strspn(str, " \t");
    if (skip) memmove(str, str + skip, n - skip + 1);
    return str;
}

static int parse_bool(const char *v)
{
    static const char *const yes[] = {"true", "yes", "on", "1", NULL};
    static const char *const no[] = {"false", "no", "off", "0", NULL};
    for (int i = 0; yes[i]; i++) if (strcasecmp(v, yes[i]) == 0) return 1;
    for (int i = 0; no[i]; i++) if (strcasecmp(v, no[i]) == 0) return 0;
    return -1;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    ctx_t *c = user;
    if (c->err_line) return 1; /* one error is enough; inih keeps going */
    /* A section named after the other binary belongs to it. */
    if (*section && strcmp(section, c->self) != 0 &&
        (strcmp(section, "server") == 0 || strcmp(section, "client") == 0))
        return 1;
    if (strcmp(name, "config") == 0) {
        ctx_fail(c, "'config' cannot be set inside a config file");
        return 1;
    }
    char flag[128];
    int fl = snprintf(flag, sizeof flag, "--%s", name);
    if (fl < 0 || (size_t)fl >= sizeof flag) {
        ctx_fail(c, "key too long");
        return 1;
    }
    if (in_list(c->switches, name)) {
        int b = parse_bool(value);
        if (b < 0) {
            ctx_fail(c, "'%s' is a switch: want true/false, yes/no, on/off or 1/0, got '%s'", name, value);
            return 1;
        }
        if (b && sb_add(&c->sb, flag, (size_t)fl) < 0) c->oom = 1;
        return 1;
    }
    if (!in_list(c->known, name)) {
        ctx_fail(c, "unknown key '%s' (keys are anytls-%s's long flags without the dashes)", name, c->self);
        return 1;
    }
    size_t vl = strlen(value);
    if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') { value++; vl -= 2; }
    if (sb_add(&c->sb, flag, (size_t)fl) < 0 || sb_add(&c->sb, value, vl) < 0) c->oom = 1;
    return 1;
}

/* Loads path into c->sb; 0, or -1 with err filled. */
static int load(ctx_t *c, char *err, size_t errcap)
{
    c->f = fopen(c->path, "r");
    if (!c->f) {
        snprintf(err, errcap, "%s: cannot open: %s", c->path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(c->f), &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(err, errcap, "%s: is a directory", c->path);
        fclose(c->f);
        return -1;
    }
    int r = ini_parse_stream(reader, c, handler, c);
    int rerr = ferror(c->f);
    fclose(c->f);
    c->f = NULL;
    if (r == -2 || c->oom) {
        snprintf(err, errcap, "%s: out of memory", c->path);
        return -1;
    }
    if (rerr) {
        snprintf(err, errcap, "%s: read error", c->path);
        return -1;
    }
    /* inih reports the first line it could not parse; we the first key we refused. */
    if (r > 0 && (!c->err_line || r < c->err_line)) {
        snprintf(err, errcap, "%s:%d: syntax error (want 'key = value', '[section]' or a comment)",
                 c->path, r);
        return -1;
    }
    if (c->err_line) {
        snprintf(err, errcap, "%s:%d: %s", c->path, c->err_line, c->err);
        return -1;
    }
    return 0;
}

int config_expand_argv(int argc, char **argv, const char *self, const char *const *known,
                       const char *const *switches, int *out_argc, char ***out_argv,
                       char *err, size_t errcap)
{
    *out_argc = argc;
    *out_argv = argv;
    const char *path = NULL;
    int at = -1, span = 0; /* where --config is in argv and how many slots it takes */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) break; /* getopt stops there too */
        const char *p = NULL;
        int s = 0;
        if (strcmp(a, "--config") == 0) {
            if (i + 1 >= argc) {
                snprintf(err, errcap, "--config needs a FILE");
                return -1;
            }
            p = argv[i + 1];
            s = 2;
        } else if (strncmp(a, "--config=", 9) == 0) {
            p = a + 9;
            s = 1;
        } else if (a[0] == '-' && a[1] == '-' && !strchr(a, '=') && in_list(known, a + 2)) {
            i++; /* its value is not a flag, even if it looks like one */
            continue;
        } else {
            continue;
        }
        if (path) {
            snprintf(err, errcap, "--config given more than once");
            return -1;
        }
        if (!*p) {
            snprintf(err, errcap, "--config needs a FILE");
            return -1;
        }
        path = p;
        at = i;
        span = s;
        i += s - 1;
    }
    if (!path) return 0;

    ctx_t c = {.path = path, .self = self, .known = known, .switches = switches};
    if (load(&c, err, errcap) < 0) {
        free(c.sb.p);
        return -1;
    }
    /* One block: the pointer array, then the file's strings. */
    int n = argc - span + c.sb.n;
    size_t ptrs = ((size_t)n + 1) * sizeof(char *);
    char **v = malloc(ptrs + c.sb.len);
    if (!v) {
        free(c.sb.p);
        snprintf(err, errcap, "%s: out of memory", path);
        return -1;
    }
    char *s = (char *)v + ptrs;
    if (c.sb.len) memcpy(s, c.sb.p, c.sb.len);
    free(c.sb.p);
    int k = 0;
    v[k++] = argv[0];
    for (int i = 0; i < c.sb.n; i++) {
        v[k++] = s;
        s += strlen(s) + 1;
    }
    for (int i = 1; i < argc; i++) {
        if (i >= at && i < at + span) continue;
        v[k++] = argv[i];
    }
    v[k] = NULL;
    *out_argc = k;
    *out_argv = v;
    return 1;
}

void config_free_argv(int argc, char **argv, char **orig)
{
    (void)argc;
    if (argv && argv != orig) free(argv);
}

int config_expand_options(int argc, char **argv, const char *prog, const char *self,
                          const struct option *opts, int *out_argc, char ***out_argv)
{
    size_t n = 0;
    while (opts[n].name) n++;
    const char **valued = calloc(n + 1, sizeof *valued), **switches = calloc(n + 1, sizeof *switches);
    if (!valued || !switches) {
        free(valued); free(switches);
        fprintf(stderr, "%s: out of memory\n", prog);
        return -1;
    }
    int nv = 0, ns = 0;
    for (const struct option *op = opts; op->name; op++) {
        if (op->has_arg) valued[nv++] = op->name;
        /* Flags that print and exit are not settings: a file cannot hold them. */
        else if (strcmp(op->name, "help") && strcmp(op->name, "version") && strcmp(op->name, "list-pool-types"))
            switches[ns++] = op->name;
    }
    char err[512];
    int r = config_expand_argv(argc, argv, self, valued, switches, out_argc, out_argv, err, sizeof err);
    free(valued);
    free(switches);
    if (r < 0) { fprintf(stderr, "%s: %s\n", prog, err); return -1; }
    return 0;
}
