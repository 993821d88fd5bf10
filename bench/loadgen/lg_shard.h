/* lg_shard.h -- --procs N: N processes share the load. Each child runs the
 * whole single-threaded loop on its share (rate/N: independent Poisson streams
 * add up to a Poisson stream of rate R; cap, closed-loop workers, sessions and
 * max-streams split as evenly as whole numbers allow) from a common start
 * time, then leaves its counters and histograms in shared memory; the parent
 * prints merged progress and the merged result. */
#ifndef LG_SHARD_H
#define LG_SHARD_H

/* Forks lg_cfg.procs children. Returns in each child, its share set in lg_cfg
 * and lg_st.shard / t_begin_fixed; the parent waits for them, forwards
 * SIGINT/SIGTERM, merges and reports, then exits. */
void lg_shard_fork(void);
/* In a child: this moment's counts, for the parent's progress line. */
void lg_shard_publish(void);
/* In a child, at the end: the counts and histograms for the merge. */
void lg_shard_save(void);

#endif
