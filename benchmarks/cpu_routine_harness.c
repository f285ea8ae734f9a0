/* The firmware's per-layer post-processing routines on real data, for counting their AArch64
 * instructions under qemu-aarch64 (benchmarks/cpu_costs.py, issue 16).
 *
 *   cpu_routine_harness weights.bin input.bin record.bin output.bin REPS OP:BUNDLE...
 *
 * First the whole firmware runs against a recorded DMA stream (firmware/tools/dsf_replay.c,
 * included here with its main renamed), so every bundle's output, the accumulator and the
 * buffers hold the data of a real frame. Then each OP runs REPS more times on its BUNDLE, between
 * calls of dsf_cost_mark, whose address the script looks for in the exec log: the instructions
 * between two marks are that op's (a "none" op measures the mark itself). The routines
 * are the firmware's own static functions (dsf_fw.c is included, not copied). */
#include "dsf_fw.c"
#define main dsf_replay_main
#include "tools/dsf_replay.c"
#undef main

/* a call the counting script finds in the exec log: the boundaries between measured ops */
__attribute__((noinline)) void dsf_cost_mark(void) { __asm__ volatile("" ::: "memory"); }

static int run_op(const char *op, int b) {
  const dsf_bundle_t *d = desc(b);
  if (!strcmp(op, "none")) {
  } else if (!strcmp(op, "post_raw")) {          /* requantise, activation, residual add */
    (void)post_raw(b);
  } else if (!strcmp(op, "pool_store")) {        /* pool (or copy) into the int32 output */
    pool_store(b, d->add ? d->add_frac : d->act_frac, 0, d->co);
  } else if (!strcmp(op, "unpack")) {            /* a finish bundle's words into tmp */
    unpack_finished(b, 0, d->co);
  } else if (!strcmp(op, "pack")) {              /* the bundle's pixel streams */
    pack_bundle_input(b, 0, d->src >= 0 ? desc((int)d->src)->co : d->ci);
  } else if (!strcmp(op, "skip_pack")) {         /* an adding finish bundle's skip streams */
    pack_skip(b);
  } else if (!strcmp(op, "accumulate")) {        /* one job's raw sums into the accumulator */
    job_t j;
    j.b = b; j.it = 0; j.p = 1; j.j = 0;
    accumulate(j);
  } else {
    return 4;
  }
  return 0;
}

/* usage: cpu_routine_harness weights input record output REPS OP:BUNDLE... */
int main(int argc, char **argv) {
  int reps, r, i, rc;
  if (argc < 6) {
    fprintf(stderr, "usage: %s weights input record output REPS OP:BUNDLE...\n", argv[0]);
    return 2;
  }
  rc = dsf_replay_main(5, argv);
  if (rc != 0) return rc;
  reps = atoi(argv[5]);
  for (i = 6; i < argc; i++) {
    char op[32];
    const char *colon = strchr(argv[i], ':');
    int b;
    if (colon == NULL || colon - argv[i] >= (long)sizeof(op)) return 3;
    memcpy(op, argv[i], (size_t)(colon - argv[i]));
    op[colon - argv[i]] = 0;
    b = atoi(colon + 1);
    if (b < 0 || b >= N_BUNDLES) return 3;
    dsf_cost_mark();
    for (r = 0; r < reps; r++)
      if ((rc = run_op(op, b)) != 0) return rc;
  }
  dsf_cost_mark();
  return 0;
}
