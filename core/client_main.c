/* anytls-client: flags, then client_run(). Exit codes: 0 clean stop, 1 runtime
 * failure, 2 bad usage. */
#include "client.h"
#include "config.h"
#include "log.h"
#include "uri.h"
#include "malloc_conf.h"
#include "pool.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
"Usage: anytls-client -s SERVER -p PASSWORD [options]\n"
"  -l, --listen ADDR:PORT   local SOCKS5/SOCKS4a/HTTP proxy port (default 127.0.0.1:1080)\n"
"  -s, --server SERVER      HOST:PORT or anytls://PASSWORD@HOST:PORT?sni=NAME\n"
"  -p, --password PASSWORD  password (may come from the anytls:// URI instead)\n"
"      --sni NAME           TLS server name to send (never sent for an IP)\n"
"  -m, --min-idle N         idle sessions kept past the 30 s idle timeout (default 5)\n"
"      --ca FILE            verify the server certificate against FILE (default: no\n"
"                           verification, as the reference client; see SECURITY.md)\n"
"      --workers N          worker threads (default: number of cores)\n"
"      --log-level LEVEL    debug, info, warn or error (default info)\n"
"      --config FILE        read flags from an INI file (keys: long flags without the\n"
"                           dashes; the command line wins; see anytls-client(1))\n"
"      --list-pool-types    print the server's pool types (anytls-server --pool-type),\n"
"                           one per line, and exit; the client itself has no pool\n"
"  -h, --help / -V, --version\n");
}

enum { O_SNI = 256, O_CA, O_WORKERS, O_LOG, O_LISTTYPES };
enum { O_CONFIG = 1000 }; /* consumed by config_expand_argv before getopt */

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", 1, 0, 'l'}, {"server", 1, 0, 's'}, {"password", 1, 0, 'p'},
        {"sni", 1, 0, O_SNI}, {"min-idle", 1, 0, 'm'}, {"ca", 1, 0, O_CA},
        {"workers", 1, 0, O_WORKERS}, {"log-level", 1, 0, O_LOG},
        {"config", 1, 0, O_CONFIG}, {"list-pool-types", 0, 0, O_LISTTYPES},
        {"help", 0, 0, 'h'}, {"version", 0, 0, 'V'}, {0, 0, 0, 0}};
    {   /* --config FILE: the file's settings go in front of the command line's */
        static char **xargv; /* kept for the process lifetime: the config points into it */
        if (config_expand_options(argc, argv, "anytls-client", "client", opts, &argc, &xargv) < 0) return 2;
        argv = xargv;
    }
    client_config_t c;
    client_config_defaults(&c);
    const char *server = NULL, *password = NULL, *sni = NULL;
    long v;
    int o;
    opterr = 0;
    while ((o = getopt_long(argc, argv, ":l:s:p:m:hV", opts, NULL)) != -1) {
        switch (o) {
        case 'l': c.listen = optarg; break;
        case 's': server = optarg; break;
        case 'p': password = optarg; break;
        case O_SNI: sni = optarg; break;
        case 'm':
            if (parse_int(optarg, 0, 100000, &v)) { fprintf(stderr, "anytls-client: -m wants a count, got '%s'\n", optarg); return 2; }
            c.min_idle = (int)v;
            break;
        case O_CA: c.ca = optarg; break;
        case O_WORKERS:
            if (parse_int(optarg, 1, 256, &v)) { fprintf(stderr, "anytls-client: --workers wants 1..256, got '%s'\n", optarg); return 2; }
            c.workers = (int)v;
            break;
        case O_LOG:
            if ((log_level = log_parse_level(optarg)) < 0) { fprintf(stderr, "anytls-client: unknown log level '%s'\n", optarg); return 2; }
            break;
        case O_CONFIG: fprintf(stderr, "anytls-client: write --config FILE in full, once\n"); return 2;
        case 'h': usage(stdout); return 0;
        case 'V': printf("anytls-client %s\n", ANYTLS_VERSION); return 0;
        case O_LISTTYPES: /* the same registry the server is built with */
            for (int i = 0; i < pool_count(); i++) printf("%s\n", pool_at(i)->name);
            return 0;
        case ':': fprintf(stderr, "anytls-client: %s needs a value\n", argv[optind - 1]); usage(stderr); return 2;
        default: fprintf(stderr, "anytls-client: unknown option '%s'\n", argv[optind - 1]); usage(stderr); return 2;
        }
    }
    if (optind < argc) { fprintf(stderr, "anytls-client: unexpected argument '%s'\n", argv[optind]); return 2; }
    if (!server) { fprintf(stderr, "anytls-client: -s SERVER is required\n"); usage(stderr); return 2; }
    static server_uri_t u;
    char err[256];
    if (uri_parse(server, &u, err, sizeof err) < 0) { fprintf(stderr, "anytls-client: bad -s '%s': %s\n", server, err); return 2; }
    if (!password && u.has_password) password = u.password;
    if (!password || !*password) { fprintf(stderr, "anytls-client: a password is required (-p or anytls://PASSWORD@...)\n"); return 2; }
    if (!sni && u.sni[0]) sni = u.sni;
    c.server_host = u.host;
    c.server_port = u.port;
    c.password = password;
    c.sni = sni;
    return client_run(&c);
}
