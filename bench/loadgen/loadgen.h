/* loadgen.h -- the two process-wide structs of bench/loadgen, defined in
 * loadgen_main.c: lg_cfg, the configuration (the flags; a --procs child
 * rewrites its share once, right after the fork, before anything runs), and
 * lg_st, the run's state. One thread per process runs everything, so neither
 * is locked: modules read lg_cfg and own their part of lg_st (lg_types.h says
 * which field is what). Also brings bench_util.h in as "loadgen". */
#ifndef LOADGEN_H
#define LOADGEN_H

#define BENCH_PROG "loadgen"
#include "bench_util.h"
#include "lg_types.h"

extern lg_config_t lg_cfg;
extern lg_state_t lg_st;

#endif
