/* counters.h -- the server's own counters, defined once (types only).
 *
 * SERVER_COUNTERS(X) lists every counter a worker keeps besides the pool's and
 * the dial histogram. From this one list come the per-worker struct
 * (server_types.h), the snapshot and its sum across workers (metrics.h,
 * server.c), the Prometheus families and the JSON (metrics.c). A new counter
 * is one line here plus its increment (SRV_COUNT in the code that counts it).
 *
 * X(field, type, family, labels, json_group, json_key, help)
 *   field       C name in the structs
 *   type        Prometheus type: counter or gauge
 *   family      Prometheus metric name; consecutive lines with the same family
 *               are one family (one HELP/TYPE) told apart by `labels`
 *   labels      "" or the label set, e.g. "direction=\"client_to_target\""
 *   json_group  the JSON object the value goes in; a group's lines must be
 *               consecutive (tests/test_metrics.c checks each group appears once)
 *   json_key    its key there
 */
#ifndef COUNTERS_H
#define COUNTERS_H

#define SERVER_COUNTERS(X)                                                                        \
    X(sessions_open, gauge, "anytls_sessions_open", "", "sessions", "open",                      \
      "AnyTLS sessions (TLS connections from clients) open now.")                                 \
    X(sessions_total, counter, "anytls_sessions_total", "", "sessions", "total",                  \
      "AnyTLS sessions accepted since start.")                                                    \
    X(auth_failures, counter, "anytls_auth_failures_total", "", "sessions", "auth_failures",      \
      "Sessions closed for a wrong password, a malformed auth or the auth timeout.")              \
    X(preauth_refused, counter, "anytls_preauth_refused_total", "", "sessions", "preauth_refused", \
      "Connections refused because the pre-auth budget (all, or one address's) was full.")       \
    X(user_cap_refused, counter, "anytls_user_session_cap_refused_total", "", "sessions",          \
      "user_cap_refused", "Authenticated sessions refused because their user was at --max-sessions-per-user.") \
    X(streams_open, gauge, "anytls_streams_open", "", "streams", "open",                          \
      "Proxied streams open now.")                                                                \
    X(streams_total, counter, "anytls_streams_total", "", "streams", "total",                     \
      "Proxied streams opened since start.")                                                      \
    X(dial_failures, counter, "anytls_dial_failures_total", "", "streams", "dial_failures",       \
      "Outbound dials for streams that failed (resolve, connect, timeout).")                      \
    X(streams_no_destination, counter, "anytls_streams_no_destination_total", "", "streams",        \
      "no_destination", "Streams closed for sending no destination within the auth timeout.")    \
    X(targets_denied, counter, "anytls_targets_denied_total", "", "streams", "targets_denied",    \
      "Dials refused by --deny-private-targets (streams, spare refills, UDP datagrams).")         \
    X(tfo_dials, counter, "anytls_tfo_dials_total", "", "tfo", "dials",                           \
      "Stream dials made with TCP Fast Open (--tcp-fast-open; spare refills never use it).")      \
    X(tfo_cookie_dials, counter, "anytls_tfo_cookie_dials_total", "", "tfo", "cookie_dials",      \
      "TFO dials that had the target's cookie: the SYN waited for the client's first bytes.")    \
    X(tfo_syn_data, counter, "anytls_tfo_syn_data_total", "", "tfo", "syn_data",                  \
      "TFO dials whose SYN carried client bytes.")                                                \
    X(tfo_syn_data_acked, counter, "anytls_tfo_syn_data_acked_total", "", "tfo", "syn_data_acked", \
      "TFO dials whose SYN data the target accepted (TCP_INFO TCPI_OPT_SYN_DATA): a handshake round trip saved.") \
    X(queued_to_targets, gauge, "anytls_queued_to_targets_bytes", "", "buffers", "to_targets",   \
      "Bytes held for targets that have not taken them yet (all streams).")                      \
    X(budget_pauses, counter, "anytls_buffer_budget_pauses_total", "", "buffers", "budget_pauses", \
      "Times a session stopped reading because its or the process's buffer budget was full.")     \
    X(uot_dropped, counter, "anytls_uot_dropped_total", "", "uot", "dropped",                    \
      "UDP-over-TCP datagrams dropped: too many waiting for their name, or the name did not resolve.") \
    X(bytes_client_to_target, counter, "anytls_bytes_total", "direction=\"client_to_target\"",    \
      "bytes", "client_to_target", "Stream payload bytes relayed, by direction.")                 \
    X(bytes_target_to_client, counter, "anytls_bytes_total", "direction=\"target_to_client\"",    \
      "bytes", "target_to_client", "Stream payload bytes relayed, by direction.")                 \
    X(dns_refused, counter, "anytls_dns_refused_total", "", "dns", "refused",                      \
      "Lookups refused because a resolver budget was full.")                                      \
    X(fallback_open, gauge, "anytls_fallback_connections_open", "", "fallback", "open",           \
      "Connections that did not authenticate, relayed to the --fallback server now.")            \
    X(fallback_total, counter, "anytls_fallback_connections_total", "", "fallback", "total",      \
      "Connections relayed to the --fallback server since start.")                               \
    X(fallback_refused, counter, "anytls_fallback_refused_total", "", "fallback", "refused",      \
      "Connections closed instead of relayed: --max-fallback-connections reached.")              \
    X(fallback_failures, counter, "anytls_fallback_failures_total", "", "fallback", "failures",   \
      "Connections closed because the --fallback server could not be reached.")                  \
    X(fallback_bytes_to_fallback, counter, "anytls_fallback_bytes_total", "direction=\"to_fallback\"", \
      "fallback", "bytes_to_fallback", "Bytes relayed between probers and the --fallback server, by direction.") \
    X(fallback_bytes_to_client, counter, "anytls_fallback_bytes_total", "direction=\"to_client\"",   \
      "fallback", "bytes_to_client", "Bytes relayed between probers and the --fallback server, by direction.")

/* USER_COUNTERS(X): per user, kept per worker in a table indexed by the user's
 * id (users.h: at most USERS_MAX), summed per user for metrics. Prometheus
 * only (each series also carries user="NAME"); the SIGUSR1 JSON line has the
 * totals above.
 * X(field, type, family, labels, help) as above. */
#define USER_COUNTERS(X)                                                                          \
    X(sessions_open, gauge, "anytls_user_sessions_open", "",                                      \
      "Authenticated sessions open now, by user.")                                                \
    X(sessions_total, counter, "anytls_user_sessions_total", "",                                  \
      "Sessions authenticated since start (or since the user was added), by user.")              \
    X(streams_total, counter, "anytls_user_streams_total", "",                                    \
      "Streams opened since start, by user.")                                                     \
    X(bytes_client_to_target, counter, "anytls_user_bytes_total", "direction=\"client_to_target\"", \
      "Stream payload bytes relayed, by user and direction.")                                    \
    X(bytes_target_to_client, counter, "anytls_user_bytes_total", "direction=\"target_to_client\"", \
      "Stream payload bytes relayed, by user and direction.")

#endif
