/* malloc_conf.h: jemalloc start-up options of the two binaries. Include it in
 * exactly one file per program (its main): it defines the variable jemalloc
 * reads when it starts.
 *
 * background_thread: a jemalloc thread returns freed pages to the system once
 * their decay time (10 s) has passed, also while the proxy idles. Without it
 * purging only happens on allocation, so after a burst of handshakes an idle
 * server kept ~36 KB per idle session instead of ~23 KB (1,000 sessions,
 * scripts/reliability.sh). Redis runs jemalloc the same way. MALLOC_CONF in
 * the environment still overrides this. */
#ifndef ANYTLS_MALLOC_CONF_H
#define ANYTLS_MALLOC_CONF_H

#ifdef USE_JEMALLOC
const char *malloc_conf = "background_thread:true";
#endif

#endif
