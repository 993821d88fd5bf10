/* lg_report.h -- everything loadgen prints: the progress line on stderr once
 * a second, the closing summary and the start-lag warning on stderr, and the
 * result on stdout: one CSV line (--csv-header: the header first) or one JSON
 * object (--json). The research scripts parse these: their text, fields and
 * column order are an interface. Also owns the latency histograms. */
#ifndef LG_REPORT_H
#define LG_REPORT_H

#include <stdint.h>

/* Allocates and clears lg_st.h[]. */
void lg_report_init(void);
/* CPU time of this process (user + system), ns. */
uint64_t lg_report_cpu_ns(void);
/* The single-process progress line (this second's counts, then reset). */
void lg_report_progress(uint64_t t);
/* The --procs parent's progress line: counts summed over the shards. */
void lg_report_progress_procs(uint64_t t, uint64_t started, uint64_t ok, uint64_t err,
                              int inflight);
/* Summary, warning (if behind schedule) and result for the whole run; cpu is
 * the load generator's CPU time (summed over the --procs shards). */
void lg_report_finish(uint64_t cpu);

#endif
