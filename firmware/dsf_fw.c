/* dsf_sim firmware runtime (C99). Compile with -I<export_dir> so "config_fw.h" is the export's.
 * Layouts: architecture §2-§3, firmware: architecture §6 (docs/architecture.md); integer
 * semantics: dsf_sim/frontend/quant.py and reference.py; stride lowering:
 * dsf_sim/compiler/lowering.py. Design and memory map: firmware/README.md. Every beat count and
 * header beat comes from the export's tables (computed once, in dsf_sim/compiler/geometry.py):
 * this file only multiplies and copies them.
 */
#define DSF_DEFINE_BUNDLES
#include "config_fw.h"
#include "dsf_fw.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define ALIGN 64u

/* ------------------------------------------------------------------------------------------
 * little helpers: unaligned little-endian loads/stores through memcpy (no aliasing UB)
 * ---------------------------------------------------------------------------------------- */
static int64_t ld64(const uint8_t *p) { int64_t v; memcpy(&v, p, 8); return v; }
static void st64(uint8_t *p, int64_t v) { memcpy(p, &v, 8); }
static int32_t ld32(const uint8_t *p) { int32_t v; memcpy(&v, p, 4); return v; }
static void st32(uint8_t *p, int32_t v) { memcpy(p, &v, 4); }
#if DSF_FILE_HEADER_BYTES != ALIGN
#error "the file header must keep the payloads ALIGN-aligned (binfile.HEADER_BYTES)"
#endif
static uint64_t align_up(uint64_t v) { return (v + ALIGN - 1) / ALIGN * ALIGN; }
static int64_t pow2(int s) { return (int64_t)1 << s; }

/* X_BITS-bit words packed LSB first: several to a byte (1/2/4 bits) or byte-aligned across
 * X_BITS/8 bytes (8/16 bits) -- the only two cases, since X_BITS is a power of two */
#define X_MASK ((((uint64_t)1) << X_BITS) - 1u)
static uint64_t xword_get(const uint8_t *p, uint64_t bit) {
#if X_BITS < 8
  return (uint64_t)(p[bit >> 3] >> (bit & 7)) & X_MASK;
#else
  uint64_t v = 0;
  int k;
  for (k = 0; k < X_BITS / 8; k++) v |= (uint64_t)p[(bit >> 3) + k] << (8 * k);
  return v;
#endif
}
static void xword_or(uint8_t *p, uint64_t bit, uint64_t v) {
  v &= X_MASK;
#if X_BITS < 8
  p[bit >> 3] |= (uint8_t)(v << (bit & 7));
#else
  {
    int k;
    for (k = 0; k < X_BITS / 8; k++) p[(bit >> 3) + k] |= (uint8_t)(v >> (8 * k));
  }
#endif
}

/* descriptor of bundle b; the clamp keeps the index provably in bounds for the compiler (a
 * one-bundle model otherwise trips -Warray-bounds in code that is unreachable for it) */
static const dsf_bundle_t *desc(int b) { return &dsf_bundles[(unsigned)b < N_BUNDLES ? b : 0]; }

/* part q of bundle b (q = index within the bundle) and the part owning global pass p */
static const dsf_part_t *part(int b, int q) {
  int64_t i = desc(b)->part0 + q;
  return &dsf_parts[(uint64_t)i < N_PARTS ? i : 0];
}
static int part_of(int b, int p) {
  int q;
  for (q = 0; q + 1 < desc(b)->nparts; q++)
    if (p < part(b, q)->p0 + part(b, q)->cp) return q;
  return q;
}
static const dsf_part_t *ppart(int b, int p) { return part(b, part_of(b, p)); }

/* ------------------------------------------------------------------------------------------
 * exact integer maths (== dsf_sim/frontend/quant.py)
 * ---------------------------------------------------------------------------------------- */
int64_t dsf_rhe_div(int64_t num, int64_t den) {
  /* floor division semantics (numpy floor_divide), den > 0 */
  int64_t q = num / den, r = num % den;
  if (r < 0) { q -= 1; r += den; }
  if (2 * r > den || (2 * r == den && (q & 1))) q += 1;
  return q;
}

static int64_t clip(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* pshift: a leaky relu whose positive values are multiples of 2^pshift on the frac grid
 * (frontend/quant.py QSpec.pos_shift): round on the coarser grid, then rescale */
int64_t dsf_requant(int64_t v, int f_in, int frac, int64_t lo, int64_t hi, int slope, int pshift,
                    int64_t count) {
  int sh = frac - f_in - (slope >= 0 ? pshift : 0);
  int64_t num = sh > 0 ? v * pow2(sh) : v;
  int64_t den = sh < 0 ? count * pow2(-sh) : count;
  if (slope >= 0) { /* quantized_relu with negative slope 2^-slope */
    int64_t q;
    if (v < 0) {
      q = dsf_rhe_div(num, den * pow2(slope)) * pow2(pshift);
      return q < lo ? lo : q;
    }
    q = dsf_rhe_div(num, den);
    return (q > (hi >> pshift) ? (hi >> pshift) : q) * pow2(pshift);
  }
  return clip(dsf_rhe_div(num, den), lo, hi);
}

/* ------------------------------------------------------------------------------------------
 * integer softmax, GELU, LayerNorm (architecture §21): line for line the specification in
 * dsf_sim/frontend/int_ops.py, binary point IQ_F = 20, every rounding half to even
 * ---------------------------------------------------------------------------------------- */
#define IQ_F 20
#define IQ_ONE ((int64_t)1 << IQ_F)
#define IQ_LN2 726817
#define IQ_MAX_ABS ((int64_t)1 << 11)
static const int64_t IQ_EXP_C[4] = {1048433, 1044858, 501246, 122519};
#define IQ_GELU_K1 1673285
#define IQ_GELU_K3 46887

static int64_t iq_rsh(int64_t v, int s) { return s > 0 ? dsf_rhe_div(v, (int64_t)1 << s) : v; }

/* q * 2^-f as Q20; -1 when |value| >= 2^11 */
static int iq_to_q20(int64_t q, int f, int64_t *t) {
  int64_t a = q < 0 ? -q : q;
  if (f >= 0 ? a >= (IQ_MAX_ABS << f) : a >= (IQ_MAX_ABS >> -f)) return -1;
  *t = f <= IQ_F ? q * pow2(IQ_F - f) : iq_rsh(q, f - IQ_F);
  return 0;
}

int64_t dsf_iexp(int64_t t) {
  int64_t z, p, P;
  if (t > 0) t = 0;
  z = (-t) / IQ_LN2;
  p = t + z * IQ_LN2;
  P = iq_rsh(IQ_EXP_C[3] * p, IQ_F) + IQ_EXP_C[2];
  P = iq_rsh(P * p, IQ_F) + IQ_EXP_C[1];
  P = iq_rsh(P * p, IQ_F) + IQ_EXP_C[0];
  return z >= 62 ? 0 : iq_rsh(P, (int)z);
}

int dsf_isoftmax(const int64_t *q, int n, int f, int fo, int64_t *y) {
  int64_t m = 0, sum = 0;
  int i;
  if (n < 1 || fo < 0 || fo > 30) return -1;
  for (i = 0; i < n; i++) {
    if (iq_to_q20(q[i], f, &y[i]) != 0) return -1;
    if (i == 0 || y[i] > m) m = y[i];
  }
  for (i = 0; i < n; i++) { y[i] = dsf_iexp(y[i] - m); sum += y[i]; }
  for (i = 0; i < n; i++) y[i] = dsf_rhe_div(y[i] * pow2(fo), sum);
  return 0;
}

int dsf_igelu(int64_t q, int f, int64_t *g) {
  int64_t t, u, u3, y, e, s;
  if (iq_to_q20(q, f, &t) != 0) return -1;
  u = t < -8 * IQ_ONE ? -8 * IQ_ONE : (t > 8 * IQ_ONE ? 8 * IQ_ONE : t);
  u3 = iq_rsh(iq_rsh(u * u, IQ_F) * u, IQ_F);
  y = iq_rsh(IQ_GELU_K1 * (u + iq_rsh(IQ_GELU_K3 * u3, IQ_F)), IQ_F);
  e = dsf_iexp(y < 0 ? y : -y);
  s = dsf_rhe_div((int64_t)1 << (2 * IQ_F), IQ_ONE + e);
  if (y < 0) s = IQ_ONE - s;
  *g = iq_rsh(t * s, IQ_F);
  return 0;
}

static int iq_bitlen(uint64_t v) { int n = 0; while (v) { n++; v >>= 1; } return n; }

static uint64_t iq_isqrt(uint64_t v) { /* floor(sqrt(v)), bit by bit */
  uint64_t r = 0, bit = (uint64_t)1 << 62;
  while (bit > v) bit >>= 2;
  while (bit) {
    if (v >= r + bit) { v -= r + bit; r = (r >> 1) + bit; } else { r >>= 1; }
    bit >>= 2;
  }
  return r;
}

/* the row statistics of dsf_ilayernorm: z[i] = c_i = n·q_i - s, *R the rounded n·std·2^sh
 * (0 for a constant row, or when it rounds to 0: the row normalises to 0) */
static int iq_ln_stats(const int64_t *q, int n, int fz, int64_t *s_out, int *sh_out,
                       int64_t *R_out, int64_t *z) {
  int64_t s = 0, c;
  uint64_t V = 0, cmax = 0;
  int i, sh, a, b;
  *R_out = 0;
  *sh_out = 0;
  if (n < 1 || fz < 0 || fz > 24) return -1;
  for (i = 0; i < n; i++) {
    if (q[i] >= ((int64_t)1 << 31) || -q[i] >= ((int64_t)1 << 31)) return -1;
    s += q[i];
  }
  *s_out = s;
  for (i = 0; i < n; i++) {
    c = (int64_t)n * q[i] - s;
    if (c >= ((int64_t)1 << 31) || -c >= ((int64_t)1 << 31)) return -1;
    if ((uint64_t)(c < 0 ? -c : c) > cmax) cmax = (uint64_t)(c < 0 ? -c : c);
    V += (uint64_t)(c * c);
    if (V >= ((uint64_t)1 << 62)) return -1;
    z[i] = c;
  }
  if (V == 0) return 0;
  if (iq_bitlen(cmax) + fz > 62) return -1;
  a = (62 - iq_bitlen(V)) / 2;
  b = 62 - fz - iq_bitlen(cmax);
  sh = 16 < a ? 16 : a;
  if (b < sh) sh = b;
  *sh_out = sh;
  *R_out = (int64_t)iq_isqrt((uint64_t)dsf_rhe_div((int64_t)(V << (2 * sh)), n));
  return 0;
}

int dsf_ilayernorm(const int64_t *q, int n, int fz, int64_t *z) {
  int64_t s, R;
  int i, sh;
  if (iq_ln_stats(q, n, fz, &s, &sh, &R, z) != 0) return -1;
  for (i = 0; i < n; i++) z[i] = R == 0 ? 0 : dsf_rhe_div(z[i] * pow2(fz + sh), R);
  return 0;
}

static int64_t shl(int64_t v, int s) { return v * pow2(s); } /* exact left shift, s >= 0 */

/* ------------------------------------------------------------------------------------------
 * per-pass geometry: the export's pass table (byte counts, channels, the pixel header beat)
 * ---------------------------------------------------------------------------------------- */
static const dsf_pass_t *pass(int b, int p) {
  int64_t i = desc(b)->pass0 + p;
  return &dsf_passes[(uint64_t)i < N_PASSES ? i : 0];
}

/* the engine's output channels: CO, or a matmul core's N·CO columns (a block per batch item, §22) */
static int64_t co_e(const dsf_bundle_t *d) { return d->mm_n > 0 ? d->mm_n * d->co : d->co; }

/* accumulator words of bundle b: XN_e * out_h * out_w * CO_e (cropped output coordinates) */
static int64_t acc_words(int b) {
  const dsf_bundle_t *d = desc(b);
  return d->xn_e * d->out_h * d->out_w * co_e(d);
}

static uint64_t pix_bytes(int b, int p) { return (uint64_t)pass(b, p)->pix_bytes; }
static uint64_t wjob_bytes(int b, int p) { return (uint64_t)pass(b, p)->w_bytes; }

/* weights.bin holds each part's jobs in order it -> p, parts one after the other */
static uint64_t wjob_offset(int b, int it, int p) {
  const dsf_part_t *pt = ppart(b, p);
  uint64_t per_it = 0, before = 0;
  int q;
  for (q = (int)pt->p0; q < pt->p0 + pt->cp; q++) {
    per_it += wjob_bytes(b, q);
    if (q < p) before += wjob_bytes(b, q);
  }
  return (uint64_t)pt->w_offset + (uint64_t)it * per_it + before;
}

/* ------------------------------------------------------------------------------------------
 * memory map (computed from the descriptors; identical in dsf_fw_dram_required and init)
 * ---------------------------------------------------------------------------------------- */
typedef struct {
  uint64_t wfile, ifile;  /* where weights.bin / input.bin go (header first) */
  uint64_t weights, input, out[N_BUNDLES], pix[N_BUNDLES], fin[N_BUNDLES], skip[N_BUNDLES], raw,
      raw_bytes, acc, tmp, softmax, fnbuf, total;
} mmap_t;

static mmap_t MM;

/* bytes of one finish job's output (= of one skip stream): whole beats of the single part */
static uint64_t fin_job_bytes(int b) { return (uint64_t)part(b, 0)->out_bytes; }

/* a job's output packets: a finish job's last iteration carries only its valid channel groups,
 * so its packets may be shorter (architecture §17.2); every other job has the part's */
static int64_t job_ob(const dsf_part_t *q, int64_t it) { return it == q->it - 1 ? q->ob_last : q->ob; }
static uint64_t job_out_bytes(const dsf_part_t *q, int64_t it) {
  return (uint64_t)(it == q->it - 1 ? q->out_bytes_last : q->out_bytes);
}
static uint64_t job_out_moved(const dsf_part_t *q, int64_t it) {
  return (uint64_t)(it == q->it - 1 ? q->out_moved_last : q->out_moved);
}

static int64_t fn_lut_size(const dsf_bundle_t *d);

static void compute_map(void) {
  uint64_t o = 0, raw = 0, acc = 0, tmp = 0;
  int b, p;
  MM.wfile = 0;                     /* the files' headers are DSF_FILE_HEADER_BYTES = ALIGN */
  MM.weights = MM.wfile + DSF_FILE_HEADER_BYTES;
  o = align_up(WEIGHTS_BYTES);
  MM.ifile = o;
  MM.input = o + DSF_FILE_HEADER_BYTES;
  o = align_up(o + INPUT_BYTES);
  for (b = 0; b < N_BUNDLES; b++) {
    MM.out[b] = o;
    o = align_up(o + (uint64_t)desc(b)->out_size * 4u);
  }
  for (b = 0; b < N_BUNDLES; b++) {
    for (p = 0; p < desc(b)->cp; p++)
      if ((uint64_t)ppart(b, p)->out_bytes > raw) raw = (uint64_t)ppart(b, p)->out_bytes;
    if ((uint64_t)acc_words(b) > acc) acc = (uint64_t)acc_words(b);
    if ((uint64_t)acc_words(b) > tmp) tmp = (uint64_t)acc_words(b);
    if (b == 0) { MM.pix[b] = MM.input; continue; }
    MM.pix[b] = o;
    for (p = 0; p < desc(b)->cp; p++) o = align_up(o + pix_bytes(b, p));
  }
  for (b = 0; b < N_BUNDLES; b++) { /* finished outputs and packed skip streams (§17.4) */
    MM.fin[b] = MM.skip[b] = 0;
    if (!desc(b)->finish) continue;
    MM.fin[b] = o;
    o = align_up(o + (uint64_t)desc(b)->it * fin_job_bytes(b));
    if (desc(b)->add && !desc(b)->skip_direct) {
      MM.skip[b] = o;
      o = align_up(o + (uint64_t)desc(b)->it * fin_job_bytes(b));
    }
  }
  MM.raw = o;
  MM.raw_bytes = raw;
  o = align_up(o + raw);
  MM.acc = o;
  o = align_up(o + acc * 8u);
  MM.tmp = o;
  o = align_up(o + tmp * 8u);
  MM.softmax = o;
  o = align_up(o + (uint64_t)OUTPUT_WORDS * 8u);
  MM.fnbuf = o;                     /* one row of an fn stage (int64) */
  for (b = 0; b < N_BUNDLES; b++) { /* a row, a row's table, the stage's tables */
    uint64_t need = MM.fnbuf + 8u * (uint64_t)(2 * desc(b)->co + 2 * fn_lut_size(desc(b)));
    if (desc(b)->fn && need > o) o = need;
  }
  o = align_up(o);
  MM.total = o;
}

static uint64_t out_off(int b) { return MM.out[(unsigned)b < N_BUNDLES ? b : 0]; }

static uint64_t pix_offset(int b, int p) {
  uint64_t o = MM.pix[(unsigned)b < N_BUNDLES ? b : 0];
  int q;
  for (q = 0; q < p; q++) o = (b == 0) ? o + pix_bytes(b, q) : align_up(o + pix_bytes(b, q));
  return o;
}

/* ------------------------------------------------------------------------------------------
 * state
 * ---------------------------------------------------------------------------------------- */
typedef struct { int b, it, p, j; } job_t;

enum { PH_START, PH_O, PH_X, PH_S, PH_W, PH_END, PH_DONE, PH_ERROR };

static struct {
  uint8_t *dram;
  uint64_t dram_bytes;
  int phase;
  job_t cur;          /* job whose O/X/W(next) is being issued */
  job_t ojob;         /* job of the outstanding/landed output transfer */
  int o_valid;        /* ojob holds a transfer not yet accumulated */
  job_t djob;         /* a finish job whose slice work waits until the next job is issued */
  int d_valid;
  int busy[DSF_N_CH]; /* transfer issued, completion not yet reported */
  job_t chjob[DSF_N_CH];
  uint64_t expect[DSF_N_CH];
  uint64_t addr[DSF_N_CH];
  int total_jobs;
  int bundles_done;
  char msg[256];
} S;

static int fail(dsf_cmd_t *cmd, const char *m) {
  if (S.phase != PH_ERROR) {
    strncpy(S.msg, m, sizeof S.msg - 1);
    S.msg[sizeof S.msg - 1] = 0;
  }
  S.phase = PH_ERROR;
  if (cmd) { memset(cmd, 0, sizeof *cmd); cmd->kind = DSF_CMD_ERROR; }
  return DSF_CMD_ERROR;
}

static int job_next(job_t *j) { /* advance in firmware order part -> it -> p; 0 at the end */
  const dsf_part_t *q = ppart(j->b, j->p);
  j->j++;
  if (++j->p < q->p0 + q->cp) return 1;
  j->p = (int)q->p0;
  if (++j->it < q->it) return 1;
  j->it = 0;
  j->p = (int)(q->p0 + q->cp);
  if (j->p < desc(j->b)->cp) return 1;
  j->p = 0;
  return ++j->b < N_BUNDLES;
}

/* is j the last job of its bundle? */
static int job_last(job_t j) {
  const dsf_bundle_t *d = desc(j.b);
  return j.p == d->cp - 1 && j.it == ppart(j.b, j.p)->it - 1;
}

/* ------------------------------------------------------------------------------------------
 * pixel packing (bundle b's input streams from its source's output), lowering.lower_input in C
 * ---------------------------------------------------------------------------------------- */
static int64_t nth_bit(int64_t mask, int64_t k) {
  int64_t i;
  for (i = 0; i < 63; i++)
    if ((mask >> i) & 1) {
      if (k == 0) return i;
      k--;
    }
  return 0;
}

/* finished words of finish bundle b at (n, ., ow, c) (cropped coordinates): packet (n, l, w) of
 * job it = c / co_prl holds channel g = c % co_prl's rows as words g*ROWS + r (architecture
 * §17.2), cropped at the part's (r0_h, r0_w) like accumulate(). fin_column() resolves what does
 * not depend on the row once, fin_row() reads row oh. */
typedef struct {
  const uint8_t *job;    /* the job's finished stream */
  int64_t pk0, pk_l, r0, gbit, pk_bytes;
  int sign;
} fin_col_t;

static fin_col_t fin_column(int b, int64_t n, int64_t ow, int64_t c) {
  const dsf_part_t *q = part(b, 0);
  fin_col_t f;
  f.job = S.dram + MM.fin[b] + (uint64_t)(c / q->co_prl) * fin_job_bytes(b);
  f.pk_l = q->xw_e;
  f.pk0 = n * q->xl * q->xw_e + ow + q->r0_w;
  f.r0 = q->r0_h;
  f.gbit = (c % q->co_prl) * ROWS;
  f.pk_bytes = job_ob(q, c / q->co_prl) * AXI_BYTES;
  f.sign = desc(b)->out_signed;
  return f;
}

static int64_t fin_row(const fin_col_t *f, int64_t oh) {
  int64_t row = oh + f->r0, v;
  int64_t bit = (f->gbit + row % ROWS) * X_BITS;
  const uint8_t *p = f->job + (uint64_t)(f->pk0 + (row / ROWS) * f->pk_l) * f->pk_bytes;
  v = (int64_t)xword_get(p, (uint64_t)bit);
  if (f->sign && (v >> (X_BITS - 1))) v -= (int64_t)1 << X_BITS;
  return v;
}

static int64_t fin_at(int b, int64_t n, int64_t oh, int64_t ow, int64_t c) {
  fin_col_t f = fin_column(b, n, ow, c);
  return fin_row(&f, oh);
}

/* the same word by its NHWC index idx in bundle b's output */
static int64_t fin_word(int b, int64_t idx) {
  const dsf_bundle_t *d = desc(b);
  int64_t c = idx % d->co, t = idx / d->co, ow, oh;
  ow = t % d->out_w;
  t /= d->out_w;
  oh = t % d->out_h;
  return fin_at(b, t / d->out_h, oh, ow, c);
}

/* word idx of bundle b's output (b = -1: the model input): the int32 output where the firmware
 * writes one (out_int), else the finished words */
static int64_t tensor_word(int b, int64_t idx) {
  if (b < 0) return ld32(S.dram + MM.input + INPUT_INT_OFFSET + 4 * idx);
  if (desc(b)->out_int) return ld32(S.dram + out_off(b) + 4 * idx);
  return fin_word(b, idx);
}

/* OR nbits bits of src from bit sb into dst from bit db (the dst bits are zero): whole runs of
 * packed words at once, up to 56 bits per step (a step's bits span at most 8 bytes), as one
 * 8-byte load / store where both 8-byte windows end inside their buffers (src_end, dst_end),
 * else byte by byte (the host is little-endian) */
static void bits_or(uint8_t *dst, uint64_t db, const uint8_t *src, uint64_t sb, uint64_t nbits,
                    const uint8_t *src_end, const uint8_t *dst_end) {
  while (nbits) {
    uint64_t n = nbits < 56 ? nbits : 56, v = 0, w;
    const uint8_t *sp = src + (sb >> 3);
    uint8_t *dp = dst + (db >> 3);
    unsigned ss = (unsigned)(sb & 7), ds = (unsigned)(db & 7), k, nb;
    if (sp + 8 <= src_end && dp + 8 <= dst_end) {
      uint64_t d;
      memcpy(&v, sp, 8);
      memcpy(&d, dp, 8);
      d |= ((v >> ss) & ((((uint64_t)1) << n) - 1)) << ds;
      memcpy(dp, &d, 8);
    } else {
      nb = (unsigned)((ss + n + 7) >> 3);
      for (k = 0; k < nb; k++) v |= (uint64_t)sp[k] << (8 * k);
      w = ((v >> ss) & ((((uint64_t)1) << n) - 1)) << ds;
      nb = (unsigned)((ds + n + 7) >> 3);
      for (k = 0; k < nb; k++) dp[k] |= (uint8_t)(w >> (8 * k));
    }
    sb += n;
    db += n;
    nbits -= n;
  }
}

/* the bit where pixel column (n, l, w, c) of a pass with cm channels starts in its stream's
 * body: a position's columns sit pk per slot of pb beats, column c in slot c / pk from bit
 * (c % pk) * pr * X_BITS (architecture §3) */
static uint64_t column_bit(const dsf_part_t *q, int64_t cm, int64_t n, int64_t l, int64_t w,
                           int64_t c) {
  int64_t cb = (cm + q->pk - 1) / q->pk, slot = ((n * q->xl + l) * q->xw_e + w) * cb + c / q->pk;
  return (uint64_t)slot * (uint64_t)(q->pb * AXI_BYTES) * 8u +
         (uint64_t)((c % q->pk) * q->pr * X_BITS);
}

/* rows jj of the pixel column at bit cbit of cols that read rows srow = srow0 + jj of a
 * finished source column fc (vertical stride 1): the rows inside both images are one interval,
 * copied as runs of words, one per source row block (a run of a channel's rows is contiguous in
 * its packet, §17.2) */
static void pack_column_runs(uint8_t *cols, uint64_t cbit, const uint8_t *cols_end,
                             const fin_col_t *fc, int64_t srow0, int64_t ja, int64_t jb) {
  while (ja < jb) {
    int64_t row = srow0 + ja + fc->r0, blk = row / ROWS, pos = row - blk * ROWS;
    int64_t len = ROWS - pos < jb - ja ? ROWS - pos : jb - ja;
    const uint8_t *pk = fc->job + (uint64_t)(fc->pk0 + blk * fc->pk_l) * fc->pk_bytes;
    bits_or(cols, cbit + (uint64_t)ja * X_BITS, pk, (uint64_t)(fc->gbit + pos) * X_BITS,
            (uint64_t)len * X_BITS, pk + fc->pk_bytes, cols_end);
    ja += len;
  }
}

/* pass p of bundle b, a conv reading the words of its source in the source's own shape with
 * vertical stride 1 (finished words, or direct = 0: the source's int32 output): per channel its
 * phase, source channel and finished column once, per (n, l) the rows jj inside both images
 * (one interval [ja, jb), srow = s0 + jj), then every column's rows as runs of packed words
 * (pack_column_runs) or int32 rows sw * ci words apart. The same words as the general loop. */
static void pack_pass_stride1(int b, int p, int64_t lo, int64_t hi, int direct) {
  const dsf_bundle_t *d = desc(b);
  const dsf_part_t *q = ppart(b, p), *sq = part((int)d->src, 0);
  const dsf_pass_t *ps = pass(b, p);
  int64_t sh_ = d->h, sw_ = d->w, ci = d->ci, src_co = desc((int)d->src)->co;
  int64_t ph_ = q->kh_e / 2, cmp = ps->cm, c, n, l, w, jj;
  uint8_t *cols = S.dram + pix_offset(b, p) + AXI_BYTES;
  const uint8_t *cols_end = S.dram + pix_offset(b, p) + pix_bytes(b, p);
  const uint8_t *src32 = S.dram + out_off((int)d->src);
  for (c = 0; c < cmp; c++) {
    int64_t ce = ps->c0 + c, phase = ce / ci, c_src = ce % ci, pph, ppw;
    fin_col_t fc;
    if (c_src % src_co < lo || c_src % src_co >= hi) continue;   /* another slice's */
    pph = nth_bit(q->phmask_h, phase / q->nph_w);
    ppw = nth_bit(q->phmask_w, phase % q->nph_w);
    fc = fin_column((int)d->src, 0, 0, c_src);
    for (n = 0; n < d->xn_e; n++)
      for (l = 0; l < q->xl; l++) {
        int64_t r0 = l * ROWS - ph_, s0 = r0 + q->t_h + pph, ja = -r0, jb = q->xh_e - r0;
        if (ja < -s0) ja = -s0;
        if (jb > sh_ - s0) jb = sh_ - s0;
        if (ja < 0) ja = 0;
        if (jb > q->pr) jb = q->pr;
        if (ja >= jb) continue;
        for (w = 0; w < q->xw_e; w++) {
          int64_t scol = (w + q->t_w) * d->sw + ppw;
          uint64_t cbit = column_bit(q, cmp, n, l, w, c);
          if (scol < 0 || scol >= sw_) continue;
          if (direct) {
            fin_col_t f = fc;
            f.pk0 = fc.pk0 + n * sq->xl * sq->xw_e + scol;
            pack_column_runs(cols, cbit, cols_end, &f, s0, ja, jb);
          } else {
            const uint8_t *sp = src32 + 4 * (((n * sh_ + s0 + ja) * sw_ + scol) * ci + c_src);
            for (jj = ja; jj < jb; jj++, sp += 4 * sw_ * ci)
              xword_or(cols, cbit + (uint64_t)jj * X_BITS, (uint64_t)(uint32_t)ld32(sp));
          }
        }
      }
  }
}

/* bundle b's pixel streams, the source elements whose channel (in the source's NHWC output of
 * src_co channels) lies in [lo, hi): the whole input with lo = 0, hi = src_co; per finished job
 * of the source (a channel slice, architecture §17.4) otherwise. lo = 0 clears the streams. */
static void pack_bundle_input(int b, int64_t lo, int64_t hi) {
  const dsf_bundle_t *d = desc(b);
  /* source tensor dims; dense: [batch, F] seen as [1, batch, 1, F] */
  int64_t sh_ = d->kind ? d->n : d->h, sw_ = d->kind ? 1 : d->w;
  int64_t ci = d->ci, s_h = d->sh, s_w = d->sw;
  int64_t src_co = d->src >= 0 ? desc((int)d->src)->co : ci;
  /* a conv bundle reading a finish bundle's words in the source's own NHWC shape: address them
   * by coordinates (fin_at), not by a flat index decomposed again word by word */
  const dsf_bundle_t *sd = d->src >= 0 ? desc((int)d->src) : 0;
  int direct = sd && !sd->out_int && d->kind == 0 && sh_ == sd->out_h && sw_ == sd->out_w &&
               ci == sd->co;
  /* ... or the source's int32 output in the same shape: a column's rows are sw_ * ci apart */
  int int32_src = sd && sd->out_int && d->kind == 0 && sh_ == sd->out_h && sw_ == sd->out_w &&
                  ci == sd->co;
  int p;
  for (p = 0; p < d->cp; p++) { /* every pass of every part: the part's own phases / shift */
    const dsf_part_t *q = ppart(b, p);
    const dsf_pass_t *ps = pass(b, p);
    int64_t t_h = q->t_h, t_w = q->t_w, ph_ = q->kh_e / 2;
    uint8_t *out = S.dram + pix_offset(b, p);
    uint8_t *cols = out + AXI_BYTES;
    int64_t c0 = ps->c0, cmp = ps->cm, n, l, w, c, jj;
    if (lo == 0) {
      memset(out, 0, pix_bytes(b, p));
      memcpy(out, dsf_pixel_headers[d->pass0 + p], AXI_BYTES);  /* the header beat, as exported */
    }
    if ((direct || int32_src) && s_h == 1) {
      pack_pass_stride1(b, p, lo, hi, direct);
      continue;
    }
    for (n = 0; n < d->xn_e; n++)
      for (l = 0; l < q->xl; l++)
        for (w = 0; w < q->xw_e; w++)
          for (c = 0; c < cmp; c++) {
            int64_t ce = c0 + c, phase = ce / ci, c_src = ce % ci, pph, ppw, scol;
            uint64_t cbit = column_bit(q, cmp, n, l, w, c);
            fin_col_t fc;
            /* the source channel: ci is src_co (conv) or a multiple of it (dense after flatten,
             * whose column is 0), so it is c_src mod src_co -- checked before the phase lookups */
            if (c_src % src_co < lo || c_src % src_co >= hi) continue;   /* another slice's */
            pph = nth_bit(q->phmask_h, phase / q->nph_w);
            ppw = nth_bit(q->phmask_w, phase % q->nph_w);
            scol = (w + t_w) * s_w + ppw;
            if (scol < 0 || scol >= sw_) continue;
            if (direct) fc = fin_column((int)d->src, n, scol, c_src);
            for (jj = 0; jj < q->pr; jj++) {
              int64_t row = l * ROWS + jj - ph_, srow;
              int32_t v;
              uint64_t bit;
              if (row < 0 || row >= q->xh_e) continue;
              srow = (row + t_h) * s_h + pph;
              if (srow < 0 || srow >= sh_) continue;
              v = direct ? (int32_t)fin_row(&fc, srow)
                         : (int32_t)tensor_word((int)d->src,
                                                ((n * sh_ + srow) * sw_ + scol) * ci + c_src);
              if (!v) continue;
              bit = cbit + (uint64_t)jj * X_BITS;
              xword_or(cols, bit, (uint64_t)(uint32_t)v);
            }
          }
  }
}

/* K_BITS-bit weight words, packed like the pixel words (LSB first) */
#define K_MASK ((((uint64_t)1) << K_BITS) - 1u)
static void kword_or(uint8_t *p, uint64_t bit, uint64_t v) {
  v &= K_MASK;
#if K_BITS < 8
  p[bit >> 3] |= (uint8_t)(v << (bit & 7));
#else
  {
    int k;
    for (k = 0; k < K_BITS / 8; k++) p[(bit >> 3) + k] |= (uint8_t)(v >> (8 * k));
  }
#endif
}

/* a matmul core's weight streams (architecture §22), every job's body written in place in
 * weights.bin (the export left the header beats and zero bodies there): weight row k of pass p
 * is engine input channel ci = c0 + k, word g of job it is engine column co = it·CO_PRL + g =
 * n·CO + cc; the block-diagonal kernel holds operand b's word where ci and cc are the same
 * head (a·bᵀ: cc = h·T + j, ci in head h's dh channels -> b[n][j][ci]; a·b: ci = h·T + j, cc
 * in head h's dv channels -> b[n][j][cc]) and 0 elsewhere. */
static void pack_mm_weights(int b) {
  const dsf_bundle_t *d = desc(b);
  const dsf_part_t *q = part(b, 0);
  int64_t H = d->mm_heads, T = d->mm_t, Cb = d->mm_cb, CO = d->co, COe = co_e(d);
  int64_t hsz = Cb / H, it, p, k, g;
  for (it = 0; it < d->it; it++)
    for (p = 0; p < d->cp; p++) {
      const dsf_pass_t *ps = pass(b, (int)p);
      uint64_t row_bytes = (wjob_bytes(b, (int)p) - AXI_BYTES) / (uint64_t)ps->cm;
      uint8_t *body = S.dram + MM.weights + wjob_offset(b, (int)it, (int)p) + AXI_BYTES;
      memset(body, 0, (size_t)(row_bytes * (uint64_t)ps->cm));
      for (k = 0; k < ps->cm; k++) {
        int64_t ci = ps->c0 + k;
        for (g = 0; g < q->co_prl; g++) {
          int64_t co = it * q->co_prl + g, n, cc, j, c;
          int64_t v;
          if (co >= COe) break;
          n = co / CO;
          cc = co % CO;
          if (d->mm == 1) {           /* a·bᵀ */
            if (ci / hsz != cc / T) continue;
            j = cc % T;
            c = ci;
          } else {                    /* a·b */
            if (ci / T != cc / hsz) continue;
            j = ci % T;
            c = cc;
          }
          v = tensor_word((int)d->mm_src, (n * T + j) * Cb + c);
          if (v) kword_or(body + (uint64_t)k * row_bytes, (uint64_t)g * K_BITS, (uint64_t)v);
        }
      }
    }
}

/* ------------------------------------------------------------------------------------------
 * accumulation of one job's raw sums, and the bundle's post-processing
 * ---------------------------------------------------------------------------------------- */
static int64_t out_word(const uint8_t *p, int64_t k) {
#if Y_OUT_BITS == 8
  return (int8_t)p[k];
#elif Y_OUT_BITS == 16
  int16_t v; memcpy(&v, p + 2 * k, 2); return v;
#elif Y_OUT_BITS == 32
  return ld32(p + 4 * k);
#elif Y_OUT_BITS == 64
  return ld64(p + 8 * k);
#else
#error "unsupported Y_OUT_BITS"
#endif
}

/* add job j's raw sums into the accumulator [XN_e][out_h][out_w][CO], cropping at the part's
 * offset (r0_h, r0_w): engine rows/columns outside the layer output are dropped */
static void accumulate(job_t j) {
  const dsf_bundle_t *d = desc(j.b);
  const dsf_part_t *q = ppart(j.b, j.p);
  const uint8_t *raw = S.dram + MM.raw;
  uint8_t *acc = S.dram + MM.acc;
  int64_t CO = co_e(d), co0 = (int64_t)j.it * q->co_prl, gco = CO - co0, n, l, w, r, gg;
  if (gco > q->co_prl) gco = q->co_prl;
  for (n = 0; n < d->xn_e; n++)
    for (l = 0; l < q->xl; l++)
      for (w = 0; w < q->xw_e; w++) {
        const uint8_t *pk = raw + ((n * q->xl + l) * q->xw_e + w) * q->ob * AXI_BYTES;
        int64_t ow = w - q->r0_w;
        if (ow < 0 || ow >= d->out_w) continue;
        for (r = 0; r < ROWS; r++) {
          int64_t oh = l * ROWS + r - q->r0_h;
          uint8_t *a;
          if (oh < 0 || oh >= d->out_h) continue;
          a = acc + 8 * (((n * d->out_h + oh) * d->out_w + ow) * CO + co0);
          for (gg = 0; gg < gco; gg++)
            st64(a + 8 * gg, ld64(a + 8 * gg) + out_word(pk, r * q->co_prl + gg));
        }
      }
}

static int64_t bias_word(int b, int64_t c) {
  const uint8_t *p = S.dram + MM.weights + desc(b)->b_offset;
#if B_BITS == 8
  return (int8_t)p[c];
#elif B_BITS == 16
  int16_t v; memcpy(&v, p + 2 * c, 2); return v;
#else
  return ld32(p + 4 * c);
#endif
}

/* the skip streams of an adding finish bundle whose skip tensor is not a producer's finished
 * output with the same job geometry: the tensor packed like a finished output of this bundle's
 * jobs (words g*ROWS + r of packet (n, l, w)), zeros outside the cropped output (§17.2) */
static void pack_skip(int b) {
  const dsf_bundle_t *d = desc(b);
  const dsf_part_t *q = part(b, 0);
  uint8_t *base = S.dram + MM.skip[b];
  int64_t n, oh, ow, c;
  memset(base, 0, (size_t)(d->it * (int64_t)fin_job_bytes(b)));
  for (n = 0; n < d->xn_e; n++)
    for (oh = 0; oh < d->out_h; oh++)
      for (ow = 0; ow < d->out_w; ow++)
        for (c = 0; c < d->co; c++) {
          int64_t v = tensor_word((int)d->skip, ((n * d->out_h + oh) * d->out_w + ow) * d->co + c);
          int64_t row = oh + q->r0_h, it = c / q->co_prl, g = c % q->co_prl;
          int64_t pk = (n * q->xl + row / ROWS) * q->xw_e + ow + q->r0_w;
          int64_t bit = (g * ROWS + row % ROWS) * X_BITS;
          uint8_t *p = base + (uint64_t)it * fin_job_bytes(b) + (uint64_t)pk * job_ob(q, it) * AXI_BYTES;
          xword_or(p, (uint64_t)bit, (uint64_t)v);
        }
}

/* a finish bundle's output channels [lo, hi): its finished words (cropped) into tmp, for pool
 * or copy (§17.4) */
static void unpack_finished(int b, int64_t lo, int64_t hi) {
  const dsf_bundle_t *d = desc(b);
  uint8_t *tmp = S.dram + MM.tmp;
  int64_t n, oh, ow, c, OH = d->out_h, OW = d->out_w, CO = d->co;
  for (n = 0; n < d->xn_e; n++)
    for (ow = 0; ow < OW; ow++)
      for (c = lo; c < hi; c++) {   /* one channel column: fin_row's packets, walked row by row */
        fin_col_t f = fin_column(b, n, ow, c);
        int64_t blk = f.r0 / ROWS, pos = f.r0 - blk * ROWS;
        const uint8_t *pk = f.job + (uint64_t)(f.pk0 + blk * f.pk_l) * f.pk_bytes;
        uint8_t *t = tmp + 8 * ((n * OH * OW + ow) * CO + c);
        for (oh = 0; oh < OH; oh++, t += 8 * OW * CO) {
          int64_t v = (int64_t)xword_get(pk, (uint64_t)((f.gbit + pos) * X_BITS));
          if (f.sign && (v >> (X_BITS - 1))) v -= (int64_t)1 << X_BITS;
          st64(t, v);
          if (++pos == ROWS) {
            pos = 0;
            pk += (uint64_t)f.pk_l * f.pk_bytes;
          }
        }
      }
}

/* the fn stage (architecture §21-§22) on tmp (binary point f) in place: per row of the last
 * axis (softmax: per group of it) the integer function at fn_frac, then the fn quantiser;
 * returns the binary point of the result. int64 rows need the 8-byte aligned DRAM image. */
/* The fn stage's input words are the activation's (or the add's) quantiser outputs, so they
 * lie in [fn_in_lo, fn_in_hi]: with at most FN_LUT_MAX of them, GELU (+ its quantiser) becomes a
 * table of every input value and softmax's exp a table of every difference to the row maximum
 * (binary point <= 20: t_max - t_i = (q_max - q_i)·2^(20-f) exactly). Same functions, same
 * integers, evaluated once per value instead of once per element; an entry whose input is out
 * of the functions' range is marked and only fails when an element uses it. */
#define FN_LUT_MAX 4096
#define FN_BAD INT64_MIN
static int64_t fn_in_lo(const dsf_bundle_t *d) { return d->add ? d->add_lo : d->act_lo; }
static int64_t fn_in_hi(const dsf_bundle_t *d) { return d->add ? d->add_hi : d->act_hi; }
static int64_t fn_lut_size(const dsf_bundle_t *d) {
  int64_t f = d->add ? d->add_frac : d->act_frac, nt = fn_in_hi(d) - fn_in_lo(d) + 1;
  if (d->fn == 2 || (d->fn == 1 && f >= 0 && f <= IQ_F)) return nt <= FN_LUT_MAX ? nt : 0;
  return 0;
}

/* one softmax row by the exp table, quantised in place: with fewer table entries than row
 * words, each difference's result (division + quantiser) is computed once per row (rowtab) */
static int fn_softmax_lut(const dsf_bundle_t *d, int64_t *q, int64_t n, int f, int64_t nt,
                          const int64_t *lut, int64_t *rowtab, int64_t *y) {
  int64_t m = q[0], sum = 0, i, lim = IQ_MAX_ABS << f, fo = d->fn_frac;
  for (i = 0; i < n; i++) {
    if ((q[i] < 0 ? -q[i] : q[i]) >= lim) return -1;
    if (q[i] > m) m = q[i];
  }
  for (i = 0; i < n; i++) sum += lut[m - q[i]];
  if (nt < n) {
    for (i = 0; i < nt; i++)
      rowtab[i] = dsf_requant(dsf_rhe_div(lut[i] * pow2((int)fo), sum), (int)fo,
                              (int)d->fn_ofrac, d->fn_lo, d->fn_hi, (int)d->fn_slope,
                              (int)d->fn_pshift, 1);
    for (i = 0; i < n; i++) q[i] = rowtab[m - q[i]];
    return 1;                        /* done: already quantised */
  }
  for (i = 0; i < n; i++) y[i] = dsf_rhe_div(lut[m - q[i]] * pow2((int)fo), sum);
  return 0;
}

/* one LayerNorm row quantised in place, per distinct value when the row's value range is
 * shorter than the row: c = n·v - s is linear in v, so every v in [min, max] has |c| <= the
 * row's own largest |c| and the statistics' shift bound holds for it. Returns 1 when done,
 * 0 when z holds the normalised row for the caller's quantiser, -1 on a range error. */
static int fn_layernorm_row(const dsf_bundle_t *d, int64_t *q, int64_t n, int64_t *z,
                            int64_t *rowtab) {
  int64_t s, R, lo = q[0], hi = q[0], v, i;
  int sh, fz = (int)d->fn_frac;
  for (i = 1; i < n; i++) {
    if (q[i] < lo) lo = q[i];
    if (q[i] > hi) hi = q[i];
  }
  if (hi - lo + 1 >= n) return dsf_ilayernorm(q, (int)n, fz, z);
  if (iq_ln_stats(q, (int)n, fz, &s, &sh, &R, z) != 0) return -1;
  for (v = lo; v <= hi; v++)
    rowtab[v - lo] = dsf_requant(R == 0 ? 0 : dsf_rhe_div((n * v - s) * pow2(fz + sh), R), fz,
                                 (int)d->fn_ofrac, d->fn_lo, d->fn_hi, (int)d->fn_slope,
                                 (int)d->fn_pshift, 1);
  for (i = 0; i < n; i++) q[i] = rowtab[q[i] - lo];
  return 1;
}

static int64_t fn_stage(int b, int64_t f) {
  const dsf_bundle_t *d = desc(b);
  int64_t total = d->xn_e * d->out_h * d->out_w * d->co, n = d->co, r, i, g;
  int64_t nt = fn_lut_size(d), lo = fn_in_lo(d);
  int64_t *t = (int64_t *)(void *)(S.dram + MM.tmp), *z = (int64_t *)(void *)(S.dram + MM.fnbuf);
  int64_t *lut = z + 2 * d->co;     /* after the row and a LayerNorm row's table */
  if (((uintptr_t)S.dram & 7u) != 0) {
    fail(NULL, "fn stage: the DRAM image must be 8-byte aligned");
    return f;
  }
  for (i = 0; i < nt; i++) {          /* the tables (see FN_LUT_MAX) */
    int64_t v;
    if (d->fn == 1) lut[i] = dsf_iexp(-i * pow2((int)(IQ_F - f)));
    else
      lut[i] = dsf_igelu(lo + i, (int)f, &v) != 0 ? FN_BAD
               : dsf_requant(v, (int)d->fn_frac, (int)d->fn_ofrac, d->fn_lo, d->fn_hi,
                             (int)d->fn_slope, (int)d->fn_pshift, 1);
  }
  if (d->fn == 1) n = d->co / d->fn_groups;       /* softmax: one per head block */
  for (r = 0; r < total; r += n) {
    int bad = 0;
    if (d->fn == 2 && nt) {           /* GELU and its quantiser by table */
      for (i = 0; i < n && !bad; i++) bad = (t[r + i] = lut[t[r + i] - lo]) == FN_BAD;
      if (!bad) continue;
    } else if (d->fn == 1 && nt) {
      bad = fn_softmax_lut(d, t + r, n, (int)f, nt, lut, lut + nt, z);
      if (bad == 1) continue;
    } else if (d->fn == 1) {
      bad = dsf_isoftmax(t + r, (int)n, (int)f, (int)d->fn_frac, z);
    } else if (d->fn == 3) {
      bad = fn_layernorm_row(d, t + r, n, z, z + d->co);
      if (bad == 1) continue;
    } else {
      for (i = 0; i < n && !bad; i++) bad = dsf_igelu(t[r + i], (int)f, z + i);
    }
    if (bad) {
      static const char *what[] = {"", "softmax: an input is outside |value| < 2^11",
                                   "gelu: an input is outside |value| < 2^11",
                                   "layernorm: a row's sum of squares reaches 2^62"};
      char m[200];
      snprintf(m, sizeof m, "bundle %d fn stage %s (architecture §21)", b,
               what[d->fn >= 1 && d->fn <= 3 ? d->fn : 0]);
      fail(NULL, m);
      return f;
    }
    for (g = 0; g < n; g++)
      t[r + g] = dsf_requant(z[g], (int)d->fn_frac, (int)d->fn_ofrac, d->fn_lo, d->fn_hi,
                             (int)d->fn_slope, (int)d->fn_pshift, 1);
  }
  return d->fn_ofrac;
}

/* a matmul core of batch N > 1 (§22): keep batch n's rows' block n of the N·CO columns,
 * compacting the accumulator in place to [N·S][CO] (destinations never pass their sources) */
static void mm_diagonal(int b) {
  const dsf_bundle_t *d = desc(b);
  uint8_t *acc = S.dram + MM.acc;
  int64_t N = d->mm_n, rows = d->out_h / N, n, i, c;
  if (N <= 1) return;
  for (n = 0; n < N; n++)
    for (i = 0; i < rows; i++)
      for (c = 0; c < d->co; c++)
        st64(acc + 8 * ((n * rows + i) * d->co + c),
             ld64(acc + 8 * ((n * rows + i) * N * d->co + n * d->co + c)));
}

/* a raw bundle's bias + activation (+ residual add) (+ fn) from the cropped accumulator into
 * tmp; returns the binary point of the result */
static int64_t post_raw(int b) {
  const dsf_bundle_t *d = desc(b);
  const uint8_t *acc = S.dram + MM.acc;
  uint8_t *tmp = S.dram + MM.tmp;
  int64_t total = d->xn_e * d->out_h * d->out_w * d->co, idx, c = 0, f = d->act_frac;
  for (idx = 0; idx < total; idx++, c = c + 1 == d->co ? 0 : c + 1) {   /* c = idx % co */
    int64_t y = ld64(acc + 8 * idx);
    if (d->use_bias)
      y = shl(y, (int)(d->f_s - d->f_core)) + shl(bias_word(b, c), (int)(d->f_s - d->f_bias));
    st64(tmp + 8 * idx, dsf_requant(y, (int)d->f_s, (int)d->act_frac, d->act_lo, d->act_hi,
                                    (int)d->act_slope, (int)d->act_pshift, 1));
  }
  if (d->add) {
    for (idx = 0; idx < total; idx++) {
      int64_t y = shl(ld64(tmp + 8 * idx), (int)(d->f_t - f)) +
                  shl(tensor_word((int)d->skip, idx), (int)(d->f_t - d->f_skip));
      st64(tmp + 8 * idx, dsf_requant(y, (int)d->f_t, (int)d->add_frac, d->add_lo, d->add_hi,
                                      (int)d->add_slope, (int)d->add_pshift, 1));
    }
    f = d->add_frac;
  }
  if (d->fn) f = fn_stage(b, f);
  return f;
}

/* GCC 12 -O2 drops the call pool_store(b, post_raw(b), 0, co) of a raw pooled multi-pass bundle
 * (its inter-procedural value ranges, -fipa-vrp, wrongly merge the two call sites' channel
 * ranges; found by `dsf fuzz`, seed 1276): keep pool_store out of IPA analysis */
#if defined(__GNUC__) && !defined(__clang__)
#define DSF_NOIPA __attribute__((noipa))
#else
#define DSF_NOIPA
#endif

/* pool (TF padding; count = window ∩ image) or copy tmp (binary point f) into the int32 output,
 * channels [lo, hi) */
static DSF_NOIPA void pool_store(int b, int64_t f, int64_t lo, int64_t hi) {
  const dsf_bundle_t *d = desc(b);
  const uint8_t *tmp = S.dram + MM.tmp;
  uint8_t *out = S.dram + out_off(b);
  int64_t N = d->xn_e, OH = d->out_h, OW = d->out_w, CO = d->co, n, c, pos;
  if (d->pool) {
    int64_t pi, pj, a, bb;
    for (n = 0; n < N; n++)
      for (pi = 0; pi < d->pool_oh; pi++)
        for (pj = 0; pj < d->pool_ow; pj++) {
          /* the window's rows [r0, r1) and columns [q0, q1) inside the image, once per position;
           * then every channel over them (cnt = the window's elements, as counted one by one) */
          int64_t r0 = pi * d->pool_sh - d->pool_pt, r1 = r0 + d->pool_kh;
          int64_t q0 = pj * d->pool_sw - d->pool_pl, q1 = q0 + d->pool_kw, cnt;
          const uint8_t *win;
          uint8_t *dst = out + 4 * (((n * d->pool_oh + pi) * d->pool_ow + pj) * CO);
          if (r0 < 0) r0 = 0;
          if (r1 > OH) r1 = OH;
          if (q0 < 0) q0 = 0;
          if (q1 > OW) q1 = OW;
          cnt = (r1 > r0 && q1 > q0) ? (r1 - r0) * (q1 - q0) : 0;
          win = tmp + 8 * (((n * OH + r0) * OW + q0) * CO);
          for (c = lo; c < hi; c++) {
            int64_t acc_v = 0, y;
            if (cnt) {
              const uint8_t *row = win + 8 * c;
              acc_v = d->pool == 1 ? ld64(row) : 0;
              for (a = r0; a < r1; a++, row += 8 * OW * CO) {
                const uint8_t *e = row;
                for (bb = q0; bb < q1; bb++, e += 8 * CO) {
                  int64_t v = ld64(e);
                  if (d->pool == 1) acc_v = v > acc_v ? v : acc_v;
                  else acc_v += v;
                }
              }
            }
            y = dsf_requant(acc_v, (int)f, (int)d->pool_frac, d->pool_lo, d->pool_hi,
                            (int)d->pool_slope, (int)d->pool_pshift, d->pool == 1 ? 1 : cnt);
            st32(dst + 4 * c, (int32_t)y);
          }
        }
  } else {
    for (pos = 0; pos < N * OH * OW; pos++)
      for (c = lo; c < hi; c++)
        st32(out + 4 * (pos * CO + c), (int32_t)ld64(tmp + 8 * (pos * CO + c)));
  }
}

/* float64 softmax of the int32 output (flatten: NHWC -> N,(H*W*C) is the same memory order) */
static void softmax_out(int b) {
  const dsf_bundle_t *d = desc(b);
  const uint8_t *out = S.dram + out_off(b);
  int64_t last = d->flatten ? d->out_size / d->n : d->co, rows = d->out_size / last, r, c;
  uint8_t *sm = S.dram + MM.softmax;
  double scale;
  if (d->softmax_frac > 0) { /* the integer softmax (architecture §21): int64 at softmax_frac */
    int64_t *q = (int64_t *)(void *)(S.dram + MM.tmp), *y = (int64_t *)(void *)sm;
    if (((uintptr_t)S.dram & 7u) != 0) {
      fail(NULL, "integer softmax: the DRAM image must be 8-byte aligned");
      return;
    }
    for (r = 0; r < rows; r++) {
      for (c = 0; c < last; c++) q[c] = ld32(out + 4 * (r * last + c));
      if (dsf_isoftmax(q, (int)last, (int)d->out_frac, (int)d->softmax_frac, y + r * last) != 0) {
        fail(NULL, "integer softmax: an input is outside |value| < 2^11 (architecture §21)");
        return;
      }
    }
    return;
  }
  scale = ldexp(1.0, -(int)d->out_frac);
  for (r = 0; r < rows; r++) {
    double mx = -HUGE_VAL, sum = 0.0, e;
    for (c = 0; c < last; c++) {
      double z = (double)ld32(out + 4 * (r * last + c)) * scale;
      if (z > mx) mx = z;
    }
    for (c = 0; c < last; c++) {
      e = exp((double)ld32(out + 4 * (r * last + c)) * scale - mx);
      memcpy(sm + 8 * (r * last + c), &e, 8);
      sum += e;
    }
    for (c = 0; c < last; c++) {
      memcpy(&e, sm + 8 * (r * last + c), 8);
      e /= sum;
      memcpy(sm + 8 * (r * last + c), &e, 8);
    }
  }
}

/* does bundle b read the finish bundle b - 1, so that b - 1's jobs pack b's input slice by
 * slice (architecture §17.4)? */
static int packed_per_job(int b) {
  return b > 0 && b < N_BUNDLES && desc(b)->src == b - 1 && desc(b - 1)->finish;
}

/* finish bundle b's job `it` has landed: its channel slice's share of what the engine did not
 * do — unpack and pool (out_int bundles), pack into the next bundle's pixel streams */
static void finish_slice(int b, int64_t it) {
  const dsf_bundle_t *d = desc(b);
  int64_t co_prl = part(b, 0)->co_prl, lo = it * co_prl, hi = lo + co_prl;
  if (hi > d->co) hi = d->co;
  if (lo >= hi) return;
  if (d->out_int) {         /* pool, or the model's output: int32 from the finished words */
    unpack_finished(b, lo, hi);
    pool_store(b, d->add ? d->add_frac : d->act_frac, lo, hi);
  }
  if (packed_per_job(b + 1)) pack_bundle_input(b + 1, lo, hi);
}

/* the bundle's last job has landed: what the engine did not do (architecture §17.4) */
static void finish_bundle(int b) {
  const dsf_bundle_t *d = desc(b);
  if (!d->finish) {
    mm_diagonal(b);
    pool_store(b, post_raw(b), 0, d->co);
  }
  if (d->softmax) softmax_out(b);
  S.bundles_done = b + 1;
}

/* ------------------------------------------------------------------------------------------
 * state machine
 * ---------------------------------------------------------------------------------------- */
static int cmd_fill(dsf_cmd_t *cmd, int kind, int ch, uint64_t addr, uint64_t bytes, job_t j) {
  cmd->kind = kind;
  cmd->channel = ch;
  cmd->addr = addr;
  cmd->bytes = bytes;
  cmd->bundle = j.b;
  cmd->it = j.it;
  cmd->p = j.p;
  cmd->job = j.j;
  return kind;
}

static int issue(dsf_cmd_t *cmd, int ch, uint64_t addr, uint64_t bytes, job_t j) {
  if (addr + bytes > S.dram_bytes) return fail(cmd, "DMA outside the DRAM image");
  S.busy[ch] = 1;
  S.chjob[ch] = j;
  S.expect[ch] = bytes;
  S.addr[ch] = addr;
  return cmd_fill(cmd, DSF_CMD_DMA, ch, addr, bytes, j);
}

static int wait_for(dsf_cmd_t *cmd, int ch) {
  return cmd_fill(cmd, DSF_CMD_WAIT, ch, 0, 0, S.chjob[ch]);
}

/* The output channel is idle; accumulate the landed job (raw) or work on its channel slice
 * (finish) and finish its bundle if it was the bundle's last job. */
static void retire_output(void) {
  if (!S.o_valid) return;
  S.o_valid = 0;
  if (desc(S.ojob.b)->finish) finish_slice(S.ojob.b, S.ojob.it);  /* words stay where they landed */
  else accumulate(S.ojob);
  if (job_last(S.ojob)) finish_bundle(S.ojob.b);
}

/* the deferred slice of a finish job: done once the following job's DMAs are issued, so the CPU
 * works while the engine runs (architecture §17.4) */
static void run_deferred(void) {
  if (!S.d_valid) return;
  S.d_valid = 0;
  finish_slice(S.djob.b, S.djob.it);
}

static void start_bundle(int b) {
  const dsf_bundle_t *d = desc(b);
  if (!d->finish) memset(S.dram + MM.acc, 0, (size_t)acc_words(b) * 8u);
  if (b > 0 && !packed_per_job(b)) pack_bundle_input(b, 0, d->src >= 0 ? desc((int)d->src)->co : d->ci);
  if (d->finish && d->add && !d->skip_direct) pack_skip(b);
}

/* where job j's output lands: the raw buffer, or the job's slot of the bundle's finished region */
static uint64_t out_dest(job_t j) {
  return desc(j.b)->finish ? MM.fin[j.b] + (uint64_t)j.it * fin_job_bytes(j.b) : MM.raw;
}

/* the skip stream of job j of an adding finish bundle: the producer's finished job it, or the
 * stream the firmware packed */
static uint64_t skip_src(job_t j) {
  const dsf_bundle_t *d = desc(j.b);
  if (d->skip_direct) return MM.fin[d->skip] + (uint64_t)j.it * fin_job_bytes((int)d->skip);
  return MM.skip[j.b] + (uint64_t)j.it * fin_job_bytes(j.b);
}

int dsf_fw_next(dsf_cmd_t *cmd) {
  for (;;) {
    switch (S.phase) {
      case PH_START: /* W(0) */
        S.phase = PH_O;
        if (desc(0)->mm) pack_mm_weights(0);
        return issue(cmd, DSF_CH_WEIGHTS, MM.weights + wjob_offset(0, 0, 0), wjob_bytes(0, 0), S.cur);
      case PH_O: { /* O(j): output buffer must be free (previous output accumulated) */
        job_t j = S.cur;
        int first = j.it == 0 && j.p == 0;
        run_deferred();
        if (S.busy[DSF_CH_OUTPUT]) return wait_for(cmd, DSF_CH_OUTPUT);
        if (S.o_valid && !first && desc(S.ojob.b)->finish && !job_last(S.ojob)) {
          S.djob = S.ojob;    /* its own DRAM slot: O(j) cannot overwrite it */
          S.d_valid = 1;
          S.o_valid = 0;
        }
        retire_output();
        if (first) start_bundle(j.b);
        S.ojob = j;
        S.o_valid = 1;
        S.phase = PH_X;
        {
          int r = issue(cmd, DSF_CH_OUTPUT, out_dest(j), job_out_bytes(ppart(j.b, j.p), j.it), j);
          S.expect[DSF_CH_OUTPUT] = job_out_moved(ppart(j.b, j.p), j.it);
          return r;
        }
      }
      case PH_X: { /* X(j): pixel stream of pass p */
        job_t j = S.cur;
        if (S.busy[DSF_CH_PIXELS]) return wait_for(cmd, DSF_CH_PIXELS);
        S.phase = PH_S;
        return issue(cmd, DSF_CH_PIXELS, pix_offset(j.b, j.p), pix_bytes(j.b, j.p), j);
      }
      case PH_S: { /* S(j): the skip stream of an adding finish job */
        job_t j = S.cur;
        if (!(desc(j.b)->finish && desc(j.b)->add)) { S.phase = PH_W; continue; }
        if (S.busy[DSF_CH_SKIP]) return wait_for(cmd, DSF_CH_SKIP);
        S.phase = PH_W;
        return issue(cmd, DSF_CH_SKIP, skip_src(j), job_out_bytes(part(j.b, 0), j.it), j);
      }
      case PH_W: { /* W(j+1): prefetch into the free weight bank */
        job_t nx = S.cur;
        if (!job_next(&nx)) { S.phase = PH_END; continue; }
        if (desc(nx.b)->mm && nx.it == 0 && nx.p == 0 && nx.b != S.cur.b) {
          /* a matmul core's weights are its operand's output (§22): that bundle must be done
           * before they are packed, and they are packed before the first weights go out */
          if (S.bundles_done <= desc(nx.b)->mm_src) {
            if (S.busy[DSF_CH_OUTPUT]) return wait_for(cmd, DSF_CH_OUTPUT);
            run_deferred();
            retire_output();
          }
          if (S.bundles_done <= desc(nx.b)->mm_src)
            return fail(cmd, "matmul operand not finished before its weights are packed");
          if (S.busy[DSF_CH_WEIGHTS]) return wait_for(cmd, DSF_CH_WEIGHTS);
          pack_mm_weights(nx.b);
        }
        if (S.busy[DSF_CH_WEIGHTS]) return wait_for(cmd, DSF_CH_WEIGHTS);
        S.cur = nx;
        S.phase = PH_O;
        return issue(cmd, DSF_CH_WEIGHTS, MM.weights + wjob_offset(nx.b, nx.it, nx.p),
                     wjob_bytes(nx.b, nx.p), nx);
      }
      case PH_END: {
        int ch;
        run_deferred();
        for (ch = 0; ch < DSF_N_CH; ch++)
          if (S.busy[ch]) return wait_for(cmd, ch);
        retire_output();
        S.phase = PH_DONE;
        continue;
      }
      case PH_DONE: {
        job_t none = {-1, -1, -1, -1};
        return cmd_fill(cmd, DSF_CMD_DONE, -1, 0, 0, none);
      }
      default:
        return fail(cmd, S.msg[0] ? S.msg : "firmware in error state");
    }
  }
}

/* A transfer that failed: the channel's AXI DMA status register (error bits of PG021 DMASR) or
 * DSF_DMA_STUCK from a HAL whose time budget ran out. The run stops with a report naming the
 * channel, the job, the transfer and the cause (the next dsf_fw_next returns DSF_CMD_ERROR). */
void dsf_fw_dma_error(int channel, uint32_t status) {
  static const char *ch_names[DSF_N_CH] = {"pixels", "weights", "output", "skip"};
  char m[256], why[120];
  int n = 0;
  if (channel < 0 || channel >= DSF_N_CH) { fail(NULL, "dma_error: bad channel"); return; }
  if (!S.busy[channel]) {
    snprintf(m, sizeof m, "dma_error: channel %d (%s) has no transfer in flight (status 0x%08x)",
             channel, ch_names[channel], (unsigned)status);
    fail(NULL, m);
    return;
  }
  why[0] = 0;
  if (status & DSF_DMA_STUCK)
    n += snprintf(why + n, sizeof why - n, "stuck: no completion within the HAL's time budget; ");
  if (status & DSF_DMA_SR_INT_ERR)
    n += snprintf(why + n, sizeof why - n, "DMAIntErr (internal: length or TLAST); ");
  if ((status & DSF_DMA_SR_SLV_ERR) && n < (int)sizeof why)
    n += snprintf(why + n, sizeof why - n, "DMASlvErr (memory answered SLVERR); ");
  if ((status & DSF_DMA_SR_DEC_ERR) && n < (int)sizeof why)
    n += snprintf(why + n, sizeof why - n, "DMADecErr (no memory at the address); ");
  if (n == 0) snprintf(why, sizeof why, "status 0x%08x without an error bit; ", (unsigned)status);
  else if (n >= (int)sizeof why) n = (int)sizeof why - 1;
  if (n >= 2 && why[n - 2] == ';') why[n - 2] = 0;
  snprintf(m, sizeof m, "DMA error on channel %d (%s), bundle %d it %d p %d, %llu bytes at DRAM "
           "offset %llu: %s", channel, ch_names[channel], S.chjob[channel].b, S.chjob[channel].it,
           S.chjob[channel].p, (unsigned long long)S.expect[channel],
           (unsigned long long)S.addr[channel], why);
  S.busy[channel] = 0;
  fail(NULL, m);
}

void dsf_fw_dma_done(int channel, uint64_t bytes_transferred) {
  char m[200];
  if (channel < 0 || channel >= DSF_N_CH) { fail(NULL, "dma_done: bad channel"); return; }
  if (!S.busy[channel]) {
    snprintf(m, sizeof m, "dma_done: channel %d has no transfer in flight", channel);
    fail(NULL, m);
    return;
  }
  if (bytes_transferred != S.expect[channel]) {
    snprintf(m, sizeof m, "dma_done: channel %d bundle %d it %d p %d moved %llu bytes, expected %llu",
             channel, S.chjob[channel].b, S.chjob[channel].it, S.chjob[channel].p,
             (unsigned long long)bytes_transferred, (unsigned long long)S.expect[channel]);
    fail(NULL, m);
    return;
  }
  S.busy[channel] = 0;
}

/* the header binfile.py writes in front of weights.bin / input.bin: a file of another model or
 * hardware, another format version or a truncated copy is refused before any DMA starts */
static void check_file(const char *name, uint64_t off, uint32_t kind, uint64_t file_bytes) {
  static const uint8_t magic[8] = {'D', 'S', 'F', 'B', 'I', 'N', 0, 0};
  const uint8_t *h = S.dram + off;
  char m[200];
  uint64_t size = (uint64_t)ld64(h + 16), hash = (uint64_t)ld64(h + 24);
  if (memcmp(h, magic, 8) != 0)
    snprintf(m, sizeof m, "%s: header magic is invalid: allowed \"DSFBIN\" (not a dsf_sim "
             "export file at DRAM offset %llu)", name, (unsigned long long)off);
  else if ((uint32_t)ld32(h + 8) != DSF_FILE_VERSION)
    snprintf(m, sizeof m, "%s: format version = %u is invalid: allowed %u", name,
             (unsigned)(uint32_t)ld32(h + 8), (unsigned)DSF_FILE_VERSION);
  else if ((uint32_t)ld32(h + 12) != kind)
    snprintf(m, sizeof m, "%s: kind = %u is invalid: allowed %u", name, (unsigned)(uint32_t)ld32(h + 12),
             (unsigned)kind);
  else if (size != file_bytes - DSF_FILE_HEADER_BYTES)
    snprintf(m, sizeof m, "%s: data = %llu bytes is invalid: allowed %llu (this firmware's "
             "model)", name, (unsigned long long)size,
             (unsigned long long)(file_bytes - DSF_FILE_HEADER_BYTES));
  else if (hash != DSF_CONFIG_HASH)
    snprintf(m, sizeof m, "%s: config hash = 0x%016llx is invalid: allowed 0x%016llx (the file "
             "belongs to another model or hardware)", name, (unsigned long long)hash,
             (unsigned long long)DSF_CONFIG_HASH);
  else
    return;
  fail(NULL, m);
}

void dsf_fw_init(uint8_t *dram, uint64_t dram_bytes) {
  job_t first = {0, 0, 0, 0};
  memset(&S, 0, sizeof S);
  compute_map();
  S.dram = dram;
  S.dram_bytes = dram_bytes;
  S.cur = first;
  S.phase = PH_START;
  S.total_jobs = dsf_fw_total_jobs();
  if (dram_bytes < MM.total) {
    char m[160];
    snprintf(m, sizeof m, "dsf_fw_init: DRAM image has %llu bytes, needs %llu",
             (unsigned long long)dram_bytes, (unsigned long long)MM.total);
    fail(NULL, m);
    return;
  }
  check_file("weights.bin", MM.wfile, DSF_KIND_WEIGHTS, WEIGHTS_BYTES);
  if (S.phase != PH_ERROR) check_file("input.bin", MM.ifile, DSF_KIND_INPUT, INPUT_BYTES);
}

const char *dsf_fw_error_msg(void) { return S.phase == PH_ERROR ? S.msg : ""; }

/* ---- memory map accessors ---- */
uint64_t dsf_fw_dram_required(void) { compute_map(); return MM.total; }
uint64_t dsf_fw_weights_offset(void) { compute_map(); return MM.wfile; }
uint64_t dsf_fw_input_offset(void) { compute_map(); return MM.ifile; }
uint64_t dsf_fw_output_offset(void) { compute_map(); return MM.out[N_BUNDLES - 1]; }
uint64_t dsf_fw_softmax_offset(void) { compute_map(); return MM.softmax; }
uint64_t dsf_fw_raw_offset(void) { compute_map(); return MM.raw; }
uint64_t dsf_fw_raw_bytes(void) { compute_map(); return MM.raw_bytes; }
uint64_t dsf_fw_acc_offset(void) { compute_map(); return MM.acc; }
uint64_t dsf_fw_tmp_offset(void) { compute_map(); return MM.tmp; }
uint64_t dsf_fw_fin_offset(int b) {
  compute_map();
  return ((unsigned)b < N_BUNDLES) ? MM.fin[b] : 0;
}
uint64_t dsf_fw_skip_offset(int b) {
  compute_map();
  return ((unsigned)b < N_BUNDLES) ? MM.skip[b] : 0;
}

/* ---- debug accessors ---- */
static int bad_b(int b) { return b < 0 || b >= N_BUNDLES; }
int dsf_fw_n_bundles(void) { return N_BUNDLES; }
int dsf_fw_n_passes(int b) { return bad_b(b) ? -1 : (int)desc(b)->cp; }
int dsf_fw_n_iterations(int b) { return bad_b(b) ? -1 : (int)desc(b)->it; }
int dsf_fw_total_jobs(void) {
  int b, q, t = 0;
  for (b = 0; b < N_BUNDLES; b++)
    for (q = 0; q < desc(b)->nparts; q++) t += (int)(part(b, q)->it * part(b, q)->cp);
  return t;
}
uint64_t dsf_fw_debug_out_offset(int b) { compute_map(); return bad_b(b) ? 0 : MM.out[b]; }
uint64_t dsf_fw_debug_out_words(int b) { return bad_b(b) ? 0 : (uint64_t)desc(b)->out_size; }
uint64_t dsf_fw_debug_pix_offset(int b, int p) {
  compute_map();
  return (bad_b(b) || p < 0 || p >= desc(b)->cp) ? 0 : pix_offset(b, p);
}
uint64_t dsf_fw_debug_pix_bytes(int b, int p) {
  return (bad_b(b) || p < 0 || p >= desc(b)->cp) ? 0 : pix_bytes(b, p);
}
uint64_t dsf_fw_debug_weights_job_offset(int b, int it, int p) {
  return bad_b(b) ? 0 : wjob_offset(b, it, p);
}
uint64_t dsf_fw_debug_weights_job_bytes(int b, int p) { return bad_b(b) ? 0 : wjob_bytes(b, p); }
uint64_t dsf_fw_debug_output_job_bytes(int b) { return bad_b(b) ? 0 : (uint64_t)ppart(b, 0)->out_bytes; }
int dsf_fw_debug_bundles_done(void) { return S.bundles_done; }

/* ---- command stream dump ---- */
int dsf_fw_cmd_json(const dsf_cmd_t *c, char *buf, int n) {
  static const char *ch_names[DSF_N_CH] = {"pixels", "weights", "output", "skip"};
  const char *chn = (c->channel >= 0 && c->channel < DSF_N_CH) ? ch_names[c->channel] : "none";
  switch (c->kind) {
    case DSF_CMD_DMA:
      return snprintf(buf, (size_t)n,
                      "{\"cmd\":\"dma\",\"ch\":%d,\"chan\":\"%s\",\"addr\":%llu,\"bytes\":%llu,"
                      "\"bundle\":%d,\"it\":%d,\"p\":%d,\"job\":%d}",
                      c->channel, chn, (unsigned long long)c->addr, (unsigned long long)c->bytes,
                      c->bundle, c->it, c->p, c->job);
    case DSF_CMD_WAIT:
      return snprintf(buf, (size_t)n,
                      "{\"cmd\":\"wait\",\"ch\":%d,\"chan\":\"%s\",\"bundle\":%d,\"it\":%d,\"p\":%d,"
                      "\"job\":%d}",
                      c->channel, chn, c->bundle, c->it, c->p, c->job);
    case DSF_CMD_DONE:
      return snprintf(buf, (size_t)n, "{\"cmd\":\"done\"}");
    default:
      return snprintf(buf, (size_t)n, "{\"cmd\":\"error\",\"msg\":\"%s\"}", S.msg);
  }
}
