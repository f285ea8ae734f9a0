/* dsf_sim firmware runtime: public API (see firmware/README.md).
 *
 * The firmware owns the graph. It is a non-blocking state machine: the harness (Verilator DPI
 * testbench, Python cycle model through ctypes, or a board HAL loop) asks for the next command with
 * dsf_fw_next() and reports DMA completions with dsf_fw_dma_done(). The post-MAC work the engine
 * does not do (architecture §17: pass/part accumulation and post-processing of raw bundles, pool,
 * flatten, softmax, re-packing the next bundle's pixel streams and skip streams that are not a
 * producer's finished output) runs inside dsf_fw_next() on the CPU.
 *
 * C99, no dynamic allocation: every buffer lives in the caller's DRAM image (memory map in
 * README.md; offsets from the dsf_fw_*_offset accessors).
 */
#ifndef DSF_FW_H
#define DSF_FW_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* DMA channels */
enum { DSF_CH_PIXELS = 0, DSF_CH_WEIGHTS = 1, DSF_CH_OUTPUT = 2, DSF_CH_SKIP = 3, DSF_N_CH = 4 };

/* command kinds returned by dsf_fw_next */
enum { DSF_CMD_ERROR = -1, DSF_CMD_DMA = 1, DSF_CMD_WAIT = 2, DSF_CMD_DONE = 3 };

typedef struct {
  int32_t kind;     /* DSF_CMD_* */
  int32_t channel;  /* DMA: channel to start; WAIT: channel whose completion is awaited */
  uint64_t addr;    /* DMA: DRAM byte offset (source for M2S, destination for S2M) */
  uint64_t bytes;   /* DMA: transfer length in bytes (whole AXI beats) */
  int32_t bundle;   /* job the command belongs to (DMA and WAIT) */
  int32_t it;
  int32_t p;
  int32_t job;      /* global job index (bundle-major, then it, then p) */
} dsf_cmd_t;

/* ---- lifecycle ---- */
uint64_t dsf_fw_dram_required(void);            /* bytes the DRAM image must have */
void dsf_fw_init(uint8_t *dram, uint64_t dram_bytes);
int dsf_fw_next(dsf_cmd_t *cmd);                /* fills *cmd, returns cmd->kind */
void dsf_fw_dma_done(int channel, uint64_t bytes_transferred);
/* a failed transfer, reported instead of dma_done: status = the channel's AXI DMA status register
 * (DMASR error bits below) and/or DSF_DMA_STUCK; the run stops with a named report */
void dsf_fw_dma_error(int channel, uint32_t status);
#define DSF_DMA_SR_INT_ERR 0x10u        /* PG021 DMASR: DMAIntErr */
#define DSF_DMA_SR_SLV_ERR 0x20u        /* DMASlvErr */
#define DSF_DMA_SR_DEC_ERR 0x40u        /* DMADecErr */
#define DSF_DMA_SR_ERRORS 0x70u
#define DSF_DMA_STUCK 0x80000000u       /* not a DMASR bit: the HAL's time budget ran out */
#define DSF_DMA_FAILED 0x8000000000000000ull /* dsf_hal_t.dma_wait: FAILED | status */
const char *dsf_fw_error_msg(void);             /* "" when no error */

/* ---- memory map ---- */
uint64_t dsf_fw_weights_offset(void);           /* weights.bin, WEIGHTS_BYTES */
uint64_t dsf_fw_input_offset(void);             /* input.bin, INPUT_BYTES */
uint64_t dsf_fw_output_offset(void);            /* final int32 output, OUTPUT_WORDS words */
uint64_t dsf_fw_softmax_offset(void);           /* float64 softmax, OUTPUT_WORDS (if enabled) */
uint64_t dsf_fw_raw_offset(void);               /* engine output receive buffer */
uint64_t dsf_fw_raw_bytes(void);
uint64_t dsf_fw_acc_offset(void);               /* int64 pass/iteration accumulator */
uint64_t dsf_fw_tmp_offset(void);               /* int64 post-processing scratch */
uint64_t dsf_fw_fin_offset(int bundle);         /* finished output of a finish bundle (jobs in order) */
uint64_t dsf_fw_skip_offset(int bundle);        /* firmware-packed skip streams (non-direct ADD) */

/* ---- debug accessors ---- */
int dsf_fw_n_bundles(void);
int dsf_fw_n_passes(int bundle);
int dsf_fw_n_iterations(int bundle);
int dsf_fw_total_jobs(void);
uint64_t dsf_fw_debug_out_offset(int bundle);   /* int32 bundle output (NHWC or NF) */
uint64_t dsf_fw_debug_out_words(int bundle);
uint64_t dsf_fw_debug_pix_offset(int bundle, int p); /* packed pixel stream of pass p */
uint64_t dsf_fw_debug_pix_bytes(int bundle, int p);
uint64_t dsf_fw_debug_weights_job_offset(int bundle, int it, int p);
uint64_t dsf_fw_debug_weights_job_bytes(int bundle, int p);
uint64_t dsf_fw_debug_output_job_bytes(int bundle);
int dsf_fw_debug_bundles_done(void);            /* bundles fully post-processed so far */

/* ---- exact integer maths (exported so tests can fuzz them vs dsf_sim/frontend/quant.py) ---- */
int64_t dsf_rhe_div(int64_t num, int64_t den);
int64_t dsf_requant(int64_t v, int f_in, int frac, int64_t lo, int64_t hi, int slope, int pshift,
                    int64_t count);

/* ---- integer softmax / GELU / LayerNorm (architecture §21, = dsf_sim/frontend/int_ops.py);
 * Q20 internally; the int-returning ones give -1 for an input outside their documented range */
int64_t dsf_iexp(int64_t t_q20);                                   /* t <= 0 -> exp(t) Q20 */
int dsf_isoftmax(const int64_t *q, int n, int f, int fo, int64_t *y); /* y at frac fo */
int dsf_igelu(int64_t q, int f, int64_t *g_q20);
int dsf_ilayernorm(const int64_t *q, int n, int fz, int64_t *z);   /* z at frac fz */

/* ---- command stream dump: one JSON object, no newline; returns length written ---- */
int dsf_fw_cmd_json(const dsf_cmd_t *cmd, char *buf, int buf_len);

/* ---- blocking wrapper for a board HAL (dsf_fw_hal.c) ---- */
typedef struct {
  void *ctx;
  void (*dma_start)(void *ctx, int channel, uint64_t addr, uint64_t bytes);
  uint64_t (*dma_wait)(void *ctx, int channel);  /* blocks, returns bytes transferred, or
                                                    DSF_DMA_FAILED | status (an error bit or
                                                    DSF_DMA_STUCK after the HAL's time budget) */
  void (*on_cmd)(void *ctx, const dsf_cmd_t *cmd); /* optional: logging (may be NULL) */
} dsf_hal_t;
int dsf_fw_run_blocking(uint8_t *dram, uint64_t dram_bytes, const dsf_hal_t *hal);

#ifdef __cplusplus
}
#endif
#endif
