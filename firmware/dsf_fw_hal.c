/* Blocking wrapper: drives the non-blocking firmware with a board HAL (e.g. Xilinx AXI DMA in
 * simple mode: dma_start = XAxiDma_SimpleTransfer, dma_wait = poll XAxiDma_Busy then read the
 * transferred length). Only this file differs between harnesses; the state machine is shared. */
#include "dsf_fw.h"

#include <stddef.h>

int dsf_fw_run_blocking(uint8_t *dram, uint64_t dram_bytes, const dsf_hal_t *hal) {
  dsf_cmd_t cmd;
  dsf_fw_init(dram, dram_bytes);
  for (;;) {
    int k = dsf_fw_next(&cmd);
    if (hal->on_cmd != NULL) hal->on_cmd(hal->ctx, &cmd);
    if (k == DSF_CMD_DMA) {
      hal->dma_start(hal->ctx, cmd.channel, cmd.addr, cmd.bytes);
    } else if (k == DSF_CMD_WAIT) {
      uint64_t n = hal->dma_wait(hal->ctx, cmd.channel);
      if (n & DSF_DMA_FAILED)
        dsf_fw_dma_error(cmd.channel, (uint32_t)(n & 0xffffffffu));
      else
        dsf_fw_dma_done(cmd.channel, n);
    } else {
      return k == DSF_CMD_DONE ? 0 : -1;
    }
  }
}
