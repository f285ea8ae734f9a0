/* dsf_sim bare-metal application for a Zynq / Zynq UltraScale+ board (Vitis standalone BSP).
 *
 * The same firmware state machine as every harness (dsf_fw.c), driven by dsf_fw_run_blocking
 * (dsf_fw_hal.c) with a HAL on four Xilinx AXI DMAs in simple mode, one per engine stream
 * (channel order of dsf_fw.h; register bases in the generated dsf_board.h, which match the block
 * design's address map). The model (weights, the packed input, the expected output) is linked in
 * from the generated dsf_data.c, copied into one DRAM image, run, and checked word by word.
 *
 * Caches: the CPU writes packed pixel and skip streams, so every M2S range is flushed before its
 * transfer; every S2MM range is invalidated before and after its transfer.
 */
#include <stdint.h>
#include <string.h>

#include "xaxidma.h"
#include "xil_cache.h"
#include "xil_printf.h"
#include "xtime_l.h"

#include "config_fw.h"
#include "dsf_board.h"
#include "dsf_fw.h"

extern const uint8_t dsf_weights_bin[];
extern const uint8_t dsf_input_bin[];
extern const int32_t dsf_expected_bin[];

static uint8_t dsf_dram[DSF_DRAM_BYTES] __attribute__((aligned(64)));

typedef struct {
  XAxiDma dma[DSF_N_CH];
  UINTPTR addr[DSF_N_CH];     /* the transfer in flight per channel: start, bytes */
  uint64_t started[DSF_N_CH];
  int failed;
} board_t;

static const UINTPTR dma_base[DSF_N_CH] = {DSF_DMA_PIXELS_BASE, DSF_DMA_WEIGHTS_BASE,
                                           DSF_DMA_OUTPUT_BASE, DSF_DMA_SKIP_BASE};

static int dir_of(int ch) { return ch == DSF_CH_OUTPUT ? XAXIDMA_DEVICE_TO_DMA : XAXIDMA_DMA_TO_DEVICE; }

static int board_init(board_t *b) {
  int ch;
  memset(b, 0, sizeof(*b));
  for (ch = 0; ch < DSF_N_CH; ch++) {
#ifdef SDT
    XAxiDma_Config *cfg = XAxiDma_LookupConfig(dma_base[ch]);
#else
    XAxiDma_Config *cfg = XAxiDma_LookupConfigBaseAddr(dma_base[ch]);
#endif
    if (cfg == NULL || XAxiDma_CfgInitialize(&b->dma[ch], cfg) != XST_SUCCESS) {
      xil_printf("dsf: no AXI DMA at 0x%08x (channel %d)\r\n", (unsigned)dma_base[ch], ch);
      return -1;
    }
    XAxiDma_IntrDisable(&b->dma[ch], XAXIDMA_IRQ_ALL_MASK, dir_of(ch));
  }
  return 0;
}

static void hal_start(void *ctx, int ch, uint64_t addr, uint64_t bytes) {
  board_t *b = (board_t *)ctx;
  UINTPTR a = (UINTPTR)(dsf_dram + addr);
  if (bytes >= ((uint64_t)1 << DSF_DMA_LENGTH_BITS)) {
    xil_printf("dsf: channel %d transfer of %u bytes exceeds the DMA length register\r\n", ch,
               (unsigned)bytes);
    b->failed = 1;
    return;
  }
  if (ch == DSF_CH_OUTPUT)
    Xil_DCacheInvalidateRange(a, (unsigned)bytes);
  else
    Xil_DCacheFlushRange(a, (unsigned)bytes);
  b->addr[ch] = a;
  b->started[ch] = bytes;
  if (XAxiDma_SimpleTransfer(&b->dma[ch], a, (u32)bytes, dir_of(ch)) != XST_SUCCESS) {
    xil_printf("dsf: channel %d refused a transfer at 0x%08x\r\n", ch, (unsigned)a);
    b->failed = 1;
  }
}

#ifndef DSF_DMA_TIMEOUT_S
#define DSF_DMA_TIMEOUT_S 2 /* no transfer of a model this board can hold takes seconds */
#endif

/* blocks until the transfer is done; a DMA error bit in the channel's status register or a
 * transfer that outlives the time budget goes to the firmware as DSF_DMA_FAILED | status */
static uint64_t hal_wait(void *ctx, int ch) {
  board_t *b = (board_t *)ctx;
  XTime t0, t;
  u32 sr;
  if (b->failed) return 0; /* the firmware reports the wrong count as an error */
  XTime_GetTime(&t0);
  for (;;) {
    sr = XAxiDma_ReadReg(b->dma[ch].RegBase,
                         (ch == DSF_CH_OUTPUT ? XAXIDMA_RX_OFFSET : 0) + XAXIDMA_SR_OFFSET);
    if (sr & DSF_DMA_SR_ERRORS) return DSF_DMA_FAILED | (sr & DSF_DMA_SR_ERRORS);
    if (!XAxiDma_Busy(&b->dma[ch], dir_of(ch))) break;
    XTime_GetTime(&t);
    if (t - t0 > (XTime)DSF_DMA_TIMEOUT_S * COUNTS_PER_SECOND) return DSF_DMA_FAILED | DSF_DMA_STUCK;
  }
  if (ch == DSF_CH_OUTPUT) {
    /* simple mode: the S2MM length register holds the bytes actually received (TLAST) */
    uint64_t n = XAxiDma_ReadReg(b->dma[ch].RegBase, XAXIDMA_RX_OFFSET + XAXIDMA_BUFFLEN_OFFSET);
    Xil_DCacheInvalidateRange(b->addr[ch], (unsigned)b->started[ch]);
    return n;
  }
  return b->started[ch];
}

int main(void) {
  static board_t board;
  dsf_hal_t hal = {&board, hal_start, hal_wait, NULL};
  XTime t0, t1;
  const int32_t *out;
  uint64_t need = dsf_fw_dram_required();
  int i, bad = 0, rc;

  xil_printf("dsf: %d bundles, DRAM image %u bytes\r\n", N_BUNDLES, (unsigned)need);
  if (need > sizeof(dsf_dram)) {
    xil_printf("dsf: DRAM image needs %u bytes, dsf_board.h reserves %u\r\n", (unsigned)need,
               (unsigned)sizeof(dsf_dram));
    return 1;
  }
  if (board_init(&board) != 0) return 1;
  memcpy(dsf_dram + dsf_fw_weights_offset(), dsf_weights_bin, WEIGHTS_BYTES);
  memcpy(dsf_dram + dsf_fw_input_offset(), dsf_input_bin, INPUT_BYTES);
  Xil_DCacheFlush();

  XTime_GetTime(&t0);
  rc = dsf_fw_run_blocking(dsf_dram, need, &hal);
  XTime_GetTime(&t1);
  if (rc != 0) {
    xil_printf("dsf: firmware error: %s\r\n", dsf_fw_error_msg());
    return 1;
  }
  out = (const int32_t *)(const void *)(dsf_dram + dsf_fw_output_offset());
  for (i = 0; i < OUTPUT_WORDS; i++) {
    if (out[i] != dsf_expected_bin[i]) {
      if (bad < 8) xil_printf("dsf: output[%d] = %d, expected %d\r\n", i, (int)out[i],
                              (int)dsf_expected_bin[i]);
      bad++;
    }
  }
  xil_printf("dsf: inference %s (%d/%d words differ), %u us\r\n", bad ? "FAILED" : "PASSED", bad,
             OUTPUT_WORDS, (unsigned)((t1 - t0) / (COUNTS_PER_SECOND / 1000000)));
  return bad ? 1 : 0;
}
