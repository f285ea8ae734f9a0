/* Per-element work of the firmware's integer functions (architecture §21-§22), for counting
 * instructions under qemu-aarch64 (benchmarks/cpu_costs.py). `harness OP N` runs OP on N
 * elements of fixed pseudo-random data; the script runs two N and takes the difference, so
 * start-up and the loop set-up cancel. The functions are the firmware's own (dsf_fw.c); the
 * "*_table" ops repeat the firmware's table loops (fn_stage) on a table built once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsf_fw.h"

#define ROW 64
static int64_t q[ROW], y[ROW], lut[16];

static uint64_t rng = 88172645463325252ull;
static int64_t next_word(int bits) { /* xorshift64: a signed `bits`-bit word */
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (int64_t)(rng % (1u << bits)) - (1 << (bits - 1));
}

int main(int argc, char **argv) {
  long n, i, k;
  int64_t acc = 0, g;
  const char *op;
  if (argc != 3) return 2;
  op = argv[1];
  n = atol(argv[2]);
  for (i = 0; i < 16; i++) lut[i] = dsf_iexp(-i * ((int64_t)1 << 18));
  for (i = 0; i < n; i += ROW) {
    for (k = 0; k < ROW; k++) q[k] = next_word(4);     /* 4-bit words at binary point 2 */
    if (!strcmp(op, "fill")) {                         /* the data alone (subtracted) */
    } else if (!strcmp(op, "requant")) {
      for (k = 0; k < ROW; k++) y[k] = dsf_requant(q[k] * 1000, 20, 4, -8, 7, -1, 0, 1);
    } else if (!strcmp(op, "gelu")) {
      for (k = 0; k < ROW; k++) dsf_igelu(q[k], 2, &y[k]);
    } else if (!strcmp(op, "softmax")) {
      dsf_isoftmax(q, ROW, 2, 16, y);
    } else if (!strcmp(op, "layernorm")) {
      dsf_ilayernorm(q, ROW, 16, y);
    } else if (!strcmp(op, "gelu_table")) {            /* fn_stage: t[i] = lut[t[i] - lo] */
      for (k = 0; k < ROW; k++) y[k] = lut[q[k] + 8] == INT64_MIN ? 0 : lut[q[k] + 8];
    } else if (!strcmp(op, "softmax_table")) {         /* fn_softmax_lut with a row table */
      int64_t m = q[0], s = 0;
      for (k = 0; k < ROW; k++) m = q[k] > m ? q[k] : m;
      for (k = 0; k < ROW; k++) s += lut[m - q[k]];
      for (k = 0; k < ROW; k++) y[k] = lut[m - q[k]] + s;
    } else if (!strcmp(op, "layernorm_table")) {       /* fn_layernorm_row: stats + lookup */
      int64_t lo = q[0], hi = q[0], s = 0, c;
      uint64_t V = 0;
      for (k = 0; k < ROW; k++) { lo = q[k] < lo ? q[k] : lo; hi = q[k] > hi ? q[k] : hi; }
      for (k = 0; k < ROW; k++) s += q[k];
      for (k = 0; k < ROW; k++) { c = ROW * q[k] - s; V += (uint64_t)(c * c); y[k] = c; }
      for (k = 0; k < ROW; k++) y[k] = lut[q[k] - lo] + (int64_t)(V & 1);
    } else {
      return 3;
    }
    for (k = 0; k < ROW; k++) acc += y[k];
  }
  g = acc;
  printf("%lld\n", (long long)g);
  return 0;
}
