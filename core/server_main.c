/* anytls-server: flags, then server_run(). Exit codes: 0 clean stop, 1 runtime
 * failure, 2 bad usage. */
#include "server.h"
#include "target_policy.h"
#include "config.h"
#include "dns.h"
#include "log.h"
#include "malloc_conf.h"
#include "pool.h"
#include "proxy_proto.h"
#include "users.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --list-pool-types: the registry, one name per line (scripts read it). */
static void list_pool_types(void)
{
    for (int i = 0; i < pool_count(); i++) printf("%s\n", pool_at(i)->name);
}

static void usage(FILE *f)
{
    /* The pool types and the default come from the registry and from
     * server_config_defaults: this text keeps no copy of either. */
    server_config_t d;
    server_config_defaults(&d);
    fprintf(f,
"Usage: anytls-server [options]\n"
"  -l, --listen ADDR:PORT            listen address (default 0.0.0.0:8443)\n"
"  -p, --password PASSWORD           password clients authenticate with (user 'default';\n"
"                                    required unless --users-file is given)\n"
"      --users-file FILE             more users, one 'name:password' a line (# comments);\n"
"                                    SIGHUP reads it again\n"
"      --max-sessions-per-user N     authenticated sessions one user may hold (default 0: no cap)\n"
"      --fallback HOST:PORT          relay connections that do not authenticate to this server\n"
"                                    (e.g. a web server), every byte they sent first\n"
"      --fallback-proxy-protocol V   v1 or v2: send a PROXY protocol header to the fallback first\n"
"      --max-fallback-connections N  fallback connections at once (default 256)\n"
"      --padding-scheme FILE         padding scheme sent to clients (default: built-in)\n"
"      --cert FILE --key FILE        TLS certificate chain and key (default: self-signed)\n"
"      --log-level LEVEL             debug, info, warn or error (default info)\n"
"      --workers N                   worker threads (default: number of cores)\n"
"      --max-streams-per-session N   streams one session may hold open (default 256)\n"
"      --auth-timeout-secs N         time a client has to authenticate (default 10)\n"
"      --connect-timeout-secs N      outbound dial timeout (default 10)\n"
"      --drain-timeout-secs N        on SIGINT/SIGTERM, time open streams get (default 5)\n"
"      --max-sessions N              authenticated sessions open at once (default 10000)\n"
"      --max-preauth N               connections not yet authenticated (default 2048)\n"
"      --max-preauth-per-addr N      ... from one IPv4 address or IPv6 /64 (default 32)\n"
"      --stall-timeout-secs N        a stream whose target does not read, or a client that\n"
"                                    does not read its session, is cut after N s (default 15)\n"
"      --user NAME                   drop privileges to NAME after binding the port\n"
"      --dns-servers IP[:PORT],...   resolve stream targets with these DNS servers\n"
"                                    (default: /etc/resolv.conf; IPv6 as [ADDR]:PORT)\n"
"      --tls-tickets N               TLS 1.3 session tickets per handshake (default 0: AnyTLS\n"
"                                    clients reuse sessions; each ticket costs a client ~13 KB)\n"
"Outbound connection pool:\n"
"      --pool-type TYPE              %s (default %s)\n"
"      --list-pool-types             print the pool types, one per line, and exit\n"
"      --max-outbound-connections N  per target: active + idle + dialing (default 100)\n"
"      --max-idle-time-secs N        idle spares and targets expire after (default 300)\n"
"      --min-idle-connections N      warm spares kept per recently used target (default 5)\n"
"      --max-pool-targets N          targets tracked at once, LRU beyond (default 1024)\n"
"      --stats-interval-secs N       [Pool Stats] period (default 60)\n"
"      --max-spare-dials N           refill connects per second per worker (default 200)\n"
"      --metrics-listen ADDR:PORT    Prometheus metrics on GET /metrics (loopback only)\n"
"      --max-session-buffer-kb N     bytes one session may hold for targets that do not read\n"
"                                    yet, all its streams (default 4096; 256 KiB per stream)\n"
"      --max-buffer-mb N             the same for all sessions of the process (default 256)\n"
"      --deny-private-targets        refuse to connect clients to private, loopback, link-local,\n"
"                                    multicast addresses or this host's own (SSRF guard; off)\n"
"      --allow-target CIDR[,CIDR]    exceptions to --deny-private-targets\n"
"      --max-spares N                warm spares held or dialing, whole pool (default 4096)\n"
"      --tcp-fast-open               dial targets with TCP Fast Open: the client's first bytes\n"
"                                    ride in the SYN once a target gave a cookie (needs\n"
"                                    net.ipv4.tcp_fastopen & 1; spares never use it; off)\n"
"      --log-targets on|off          name targets in log lines and [Pool Status] (default on)\n"
"      --config FILE                 read flags from an INI file (keys: long flags without\n"
"                                    the dashes; the command line wins; see anytls-server(1))\n"
"  -h, --help                        this text\n"
"  -V, --version                     version\n",
            pool_names(), d.pool_type);
}

enum { O_METRICS = 300, O_PAD = 256, O_CERT, O_KEY, O_LOG, O_WORKERS, O_MAXSTREAMS, O_AUTHTO, O_CONNTO,
       O_DRAIN, O_TICKETS, O_MAXSESS, O_USER, O_SPAREDIALS, O_PTYPE, O_MAXCONN, O_IDLE, O_MINIDLE, O_TARGETS, O_STATS,
       O_LISTTYPES, O_STALL, O_PREAUTH, O_PREAUTH_ADDR, O_LOGTARGETS, O_SESSBUF, O_PROCBUF, O_DENYPRIV, O_ALLOWTGT, O_MAXSPARES, O_TFO };
enum { O_DNS = 400, O_USERS, O_USERCAP, O_FALLBACK, O_FBPP, O_FBMAX };
enum { O_CONFIG = 1000 }; /* consumed by config_expand_argv before getopt */

static int num(const char *flag, const char *v, long lo, long hi, long *out)
{
    if (parse_int(v, lo, hi, out) == 0) return 0;
    fprintf(stderr, "anytls-server: %s wants an integer in [%ld, %ld], got '%s'\n", flag, lo, hi, v);
    return -1;
}

static const struct option opts[] = {
        {"listen", 1, 0, 'l'}, {"password", 1, 0, 'p'}, {"padding-scheme", 1, 0, O_PAD},
        {"cert", 1, 0, O_CERT}, {"key", 1, 0, O_KEY}, {"log-level", 1, 0, O_LOG},
        {"workers", 1, 0, O_WORKERS}, {"max-streams-per-session", 1, 0, O_MAXSTREAMS},
        {"auth-timeout-secs", 1, 0, O_AUTHTO}, {"connect-timeout-secs", 1, 0, O_CONNTO}, {"drain-timeout-secs", 1, 0, O_DRAIN}, {"tls-tickets", 1, 0, O_TICKETS},
        {"max-sessions", 1, 0, O_MAXSESS}, {"user", 1, 0, O_USER}, {"max-spare-dials", 1, 0, O_SPAREDIALS},
        {"pool-type", 1, 0, O_PTYPE}, {"max-outbound-connections", 1, 0, O_MAXCONN},
        {"max-idle-time-secs", 1, 0, O_IDLE}, {"min-idle-connections", 1, 0, O_MINIDLE},
        {"max-pool-targets", 1, 0, O_TARGETS}, {"stats-interval-secs", 1, 0, O_STATS},
        {"config", 1, 0, O_CONFIG}, {"metrics-listen", 1, 0, O_METRICS},
        {"stall-timeout-secs", 1, 0, O_STALL}, {"max-preauth", 1, 0, O_PREAUTH},
        {"max-preauth-per-addr", 1, 0, O_PREAUTH_ADDR}, {"log-targets", 1, 0, O_LOGTARGETS},
        {"max-session-buffer-kb", 1, 0, O_SESSBUF}, {"max-buffer-mb", 1, 0, O_PROCBUF},
        {"dns-servers", 1, 0, O_DNS}, {"deny-private-targets", 0, 0, O_DENYPRIV},
        {"allow-target", 1, 0, O_ALLOWTGT}, {"max-spares", 1, 0, O_MAXSPARES},
        {"tcp-fast-open", 0, 0, O_TFO},
        {"users-file", 1, 0, O_USERS}, {"max-sessions-per-user", 1, 0, O_USERCAP},
        {"fallback", 1, 0, O_FALLBACK}, {"fallback-proxy-protocol", 1, 0, O_FBPP},
        {"max-fallback-connections", 1, 0, O_FBMAX},
        {"list-pool-types", 0, 0, O_LISTTYPES}, {"help", 0, 0, 'h'}, {"version", 0, 0, 'V'}, {0, 0, 0, 0}};

/* --config FILE: the file's settings go in front of the command line's. The
 * expanded argv is kept for the process lifetime (the config points into it). */
static int expand(int argc, char **argv, int *out_argc, char ***out_argv)
{
    return config_expand_options(argc, argv, "anytls-server", "server", opts, out_argc, out_argv);
}

/* Flags into *c. 0 ok, 1 done (-h, -V or --list-pool-types printed), 2 bad
 * usage (message printed). */
static int parse(int argc, char **argv, server_config_t *c)
{
    long v;
    int o;
    optind = 0;   /* full re-initialisation: a reload parses again */
    opterr = 0;
    while ((o = getopt_long(argc, argv, ":l:p:hV", opts, NULL)) != -1) {
        switch (o) {
        case 'l': c->listen = optarg; break;
        case 'p': c->password = optarg; break;
        case O_PAD: c->padding_file = optarg; break;
        case O_CERT: c->cert = optarg; break;
        case O_KEY: c->key = optarg; break;
        case O_LOG:
            if ((c->log_level = log_level = log_parse_level(optarg)) < 0) {
                fprintf(stderr, "anytls-server: unknown log level '%s'\n", optarg);
                return 2;
            }
            break;
        case O_WORKERS: if (num("--workers", optarg, 1, 256, &v)) return 2; c->workers = (int)v; break;
        case O_MAXSTREAMS: if (num("--max-streams-per-session", optarg, 1, 65536, &v)) return 2; c->max_streams = (int)v; break;
        case O_AUTHTO: if (num("--auth-timeout-secs", optarg, 1, 3600, &v)) return 2; c->auth_timeout_ms = (int)v * 1000; break;
        case O_CONNTO: if (num("--connect-timeout-secs", optarg, 1, 600, &v)) return 2; c->connect_timeout_ms = (int)v * 1000; break;
        case O_DRAIN: if (num("--drain-timeout-secs", optarg, 0, 3600, &v)) return 2; c->drain_timeout_ms = (int)v * 1000; break;
        case O_TICKETS: if (num("--tls-tickets", optarg, 0, 16, &v)) return 2; c->tls_tickets = (int)v; break;
        case O_PTYPE:
            if (!pool_find(optarg)) {
                fprintf(stderr, "anytls-server: unknown --pool-type '%s' (choose from %s)\n", optarg, pool_names());
                return 2;
            }
            c->pool_type = optarg;
            break;
        case O_MAXCONN: if (num("--max-outbound-connections", optarg, 1, 1000000, &v)) return 2; c->pool.max_conns = (int)v; break;
        case O_IDLE: if (num("--max-idle-time-secs", optarg, 1, 86400 * 7, &v)) return 2; c->pool.max_idle_ms = (int)v * 1000; break;
        case O_MINIDLE: if (num("--min-idle-connections", optarg, 0, 100000, &v)) return 2; c->pool.min_idle = (int)v; break;
        case O_TARGETS: if (num("--max-pool-targets", optarg, 1, 1000000, &v)) return 2; c->pool.max_targets = (int)v; break;
        case O_STATS: if (num("--stats-interval-secs", optarg, 1, 86400, &v)) return 2; c->stats_interval_s = (int)v; break;
        case O_METRICS: c->metrics_listen = optarg; break;
        case O_MAXSESS: if (num("--max-sessions", optarg, 1, 10000000, &v)) return 2; c->max_sessions = (int)v; break;
        case O_USER: c->user = optarg; break;
        case O_DNS: {
            char err[300];
            if (dns_check_servers(optarg, err, sizeof err) < 0) {
                fprintf(stderr, "anytls-server: --dns-servers: %s\n", err);
                return 2;
            }
            c->dns_servers = optarg;
            break;
        }
        case O_USERS: c->users_file = optarg; break;
        case O_USERCAP: if (num("--max-sessions-per-user", optarg, 0, 10000000, &v)) return 2; c->max_sessions_per_user = (int)v; break;
        case O_FALLBACK: {
            addr_t fa;
            if (addr_from_string(optarg, &fa) < 0 || fa.port == 0) {
                fprintf(stderr, "anytls-server: --fallback wants HOST:PORT, got '%s'\n", optarg);
                return 2;
            }
            c->fallback = optarg;
            break;
        }
        case O_FBPP:
            if ((c->fallback_proxy_protocol = pp_parse_version(optarg)) < 0) {
                fprintf(stderr, "anytls-server: --fallback-proxy-protocol wants v1 or v2, got '%s'\n", optarg);
                return 2;
            }
            break;
        case O_FBMAX: if (num("--max-fallback-connections", optarg, 1, 1000000, &v)) return 2; c->max_fallback = (int)v; break;
        case O_SPAREDIALS: if (num("--max-spare-dials", optarg, 1, 1000000, &v)) return 2; c->max_spare_dials = (int)v; break;
        case O_STALL: if (num("--stall-timeout-secs", optarg, 1, 3600, &v)) return 2; c->stall_timeout_ms = (int)v * 1000; break;
        case O_PREAUTH: if (num("--max-preauth", optarg, 1, 10000000, &v)) return 2; c->max_preauth = (int)v; break;
        case O_PREAUTH_ADDR: if (num("--max-preauth-per-addr", optarg, 1, 10000000, &v)) return 2; c->max_preauth_per_addr = (int)v; break;
        case O_SESSBUF: if (num("--max-session-buffer-kb", optarg, 64, 16 << 20, &v)) return 2; c->session_buf = (size_t)v << 10; break;
        case O_PROCBUF: if (num("--max-buffer-mb", optarg, 1, 1 << 20, &v)) return 2; c->process_buf = (size_t)v << 20; break;
        case O_DENYPRIV: c->deny_private_targets = 1; break;
        case O_TFO: c->tcp_fast_open = 1; break;
        case O_ALLOWTGT: {
            char err[200];
            if (tpol_check_list(optarg, err, sizeof err) < 0) {
                fprintf(stderr, "anytls-server: --allow-target: %s\n", err);
                return 2;
            }
            c->allow_targets = optarg;
            break;
        }
        case O_MAXSPARES: if (num("--max-spares", optarg, 0, 10000000, &v)) return 2; c->max_spares = (int)v; break;
        case O_LOGTARGETS:
            if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
                fprintf(stderr, "anytls-server: --log-targets wants on or off, got '%s'\n", optarg);
                return 2;
            }
            c->log_targets = strcmp(optarg, "on") == 0;
            break;
        case O_CONFIG: fprintf(stderr, "anytls-server: write --config FILE in full, once\n"); return 2;
        case 'h': usage(stdout); return 1;
        case 'V': printf("anytls-server %s\n", ANYTLS_VERSION); return 1;
        case O_LISTTYPES: list_pool_types(); return 1;
        case ':': fprintf(stderr, "anytls-server: %s needs a value\n", argv[optind - 1]); usage(stderr); return 2;
        default: fprintf(stderr, "anytls-server: unknown option '%s'\n", argv[optind - 1]); usage(stderr); return 2;
        }
    }
    if (optind < argc) { fprintf(stderr, "anytls-server: unexpected argument '%s'\n", argv[optind]); return 2; }
    if (c->password && !*c->password) { fprintf(stderr, "anytls-server: -p PASSWORD must not be empty\n"); return 2; }
    if (!c->password && !c->users_file) {
        fprintf(stderr, "anytls-server: -p PASSWORD (or --users-file FILE) is required\n");
        return 2;
    }
    if (c->fallback_proxy_protocol && !c->fallback) {
        fprintf(stderr, "anytls-server: --fallback-proxy-protocol needs --fallback\n");
        return 2;
    }
    if ((c->cert == NULL) != (c->key == NULL)) { fprintf(stderr, "anytls-server: --cert and --key go together\n"); return 2; }
    if (c->pool.min_idle > c->pool.max_conns) {
        fprintf(stderr, "anytls-server: --min-idle-connections (%d) exceeds --max-outbound-connections (%d)\n",
                c->pool.min_idle, c->pool.max_conns);
        return 2;
    }
    return 0;
}


/* SIGHUP: the same command line and --config file, read again. */
static int orig_argc;
static char **orig_argv;
static char **reload_argvs[16];   /* kept: a reloaded config points into them */
static int nreloads;

static int reload(void *arg, server_config_t *out)
{
    int ac;
    char **av;
    if (nreloads >= (int)(sizeof reload_argvs / sizeof *reload_argvs)) {
        log_warn("SIGHUP: too many reloads; restart the server to change its configuration again");
        return -1;
    }
    if (expand(orig_argc, orig_argv, &ac, &av) < 0) return -1;
    if (av != orig_argv) reload_argvs[nreloads++] = av;
    server_config_defaults(out);
    int r = parse(ac, av, out);
    if (r != 0) return -1;
    return 0;
}

int main(int argc, char **argv)
{
    int ac;
    static char **av;   /* static: the configuration points into it until exit */
    orig_argc = argc;
    orig_argv = argv;
    if (expand(argc, argv, &ac, &av) < 0) return 2;
    server_config_t c;
    server_config_defaults(&c);
    int r = parse(ac, av, &c);
    if (r == 1) return 0;
    if (r) return 2;
    /* a bad users file is a bad flag: exit 2 now (a reload keeps the old users instead) */
    char err[512];
    users_t *u = users_load(c.users_file, c.password, err, sizeof err);
    if (!u) { fprintf(stderr, "anytls-server: %s\n", err); return 2; }
    users_free(u);
    c.reload = reload;
    return server_run(&c);
}
