/* dsf_replay: run the firmware on a target (e.g. under qemu-aarch64 / qemu-arm) against a
 * recorded DMA stream, and check it word for word.
 *
 *   dsf_replay weights.bin input.bin record.bin output.bin
 *
 * record.bin is every DMA transfer of a reference run, in command order (written by
 * dsf_sim/runtime/replay.py): per transfer a little-endian header {u32 channel, u32 pad,
 * u64 bytes} and then, for an MM2S channel, the bytes the firmware handed the DMA (recorded
 * when it started the transfer), for the output channel the bytes the engine wrote (recorded
 * when the firmware waited for it). The HAL here checks that the firmware starts the
 * same channel with the same length and, for MM2S, the same data (so any difference in packing
 * on this ABI is caught at its first byte), and answers output waits with the recorded engine
 * output. The final output words go to output.bin. Exit 0 on success, 1 on a difference.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_fw.h"
#include "dsf_fw.h"

typedef struct {
  uint8_t *dram;
  FILE *rec;
  uint64_t n;        /* transfers replayed */
  int failed;
  uint64_t pend_bytes[DSF_N_CH];
  uint64_t pend_addr[DSF_N_CH];
} replay_t;

static int read_file(const char *path, uint8_t *dst, uint64_t want) {
  FILE *f = fopen(path, "rb");
  size_t got;
  if (f == NULL) return -1;
  got = fread(dst, 1, (size_t)want, f);
  fclose(f);
  return got == (size_t)want ? 0 : -1;
}

static int next_header(replay_t *r, uint32_t *ch, uint64_t *bytes) {
  uint8_t h[16];
  if (fread(h, 1, 16, r->rec) != 16) return -1;
  memcpy(ch, h, 4);
  memcpy(bytes, h + 8, 8);
  return 0;
}

static void mismatch(replay_t *r, int ch, uint64_t bytes, uint32_t rch, uint64_t rbytes) {
  fprintf(stderr, "transfer %llu: firmware %s channel %d with %llu bytes, the record has "
          "channel %u with %llu\n", (unsigned long long)r->n,
          ch == DSF_CH_OUTPUT ? "waits on" : "starts", ch, (unsigned long long)bytes,
          (unsigned)rch, (unsigned long long)rbytes);
  r->failed = 1;
}

/* MM2S records are checked when the firmware starts the transfer; an output record is read when
 * the firmware waits for it (the recorder writes it then, after the engine answered). */
static void start(void *ctx, int ch, uint64_t addr, uint64_t bytes) {
  replay_t *r = (replay_t *)ctx;
  uint32_t rch = 0;
  uint64_t rbytes = 0, i;
  if (r->failed) return;
  r->pend_addr[ch] = addr;
  r->pend_bytes[ch] = bytes;
  if (ch == DSF_CH_OUTPUT) return;
  if (next_header(r, &rch, &rbytes) != 0 || (int)rch != ch || rbytes != bytes) {
    mismatch(r, ch, bytes, rch, rbytes);
    return;
  }
  for (i = 0; i < bytes; i++) {
    int c = fgetc(r->rec);
    if (c < 0 || (uint8_t)c != r->dram[addr + i]) {
      fprintf(stderr, "transfer %llu (channel %d): byte %llu is 0x%02x, the record has 0x%02x\n",
              (unsigned long long)r->n, ch, (unsigned long long)i, r->dram[addr + i],
              c < 0 ? 0 : c);
      r->failed = 1;
      return;
    }
  }
  r->n++;
}

static uint64_t wait_ch(void *ctx, int ch) {
  replay_t *r = (replay_t *)ctx;
  uint32_t rch = 0;
  uint64_t rbytes = 0;
  if (r->failed) return 0;
  if (ch != DSF_CH_OUTPUT) return r->pend_bytes[ch];
  if (next_header(r, &rch, &rbytes) != 0 || (int)rch != ch || rbytes > r->pend_bytes[ch]) {
    mismatch(r, ch, r->pend_bytes[ch], rch, rbytes);
    return 0;
  }
  if (fread(r->dram + r->pend_addr[ch], 1, (size_t)rbytes, r->rec) != (size_t)rbytes) {
    fprintf(stderr, "transfer %llu: record truncated\n", (unsigned long long)r->n);
    r->failed = 1;
    return 0;
  }
  r->n++;
  return rbytes;
}

int main(int argc, char **argv) {
  replay_t r;
  dsf_hal_t hal;
  uint64_t need = dsf_fw_dram_required();
  FILE *out;
  int rc;
  if (argc != 5) {
    fprintf(stderr, "usage: %s weights.bin input.bin record.bin output.bin\n", argv[0]);
    return 2;
  }
  memset(&r, 0, sizeof(r));
  r.dram = (uint8_t *)calloc((size_t)need + 64, 1);
  if (r.dram == NULL) return 2;
  if (read_file(argv[1], r.dram + dsf_fw_weights_offset(), WEIGHTS_BYTES) != 0 ||
      read_file(argv[2], r.dram + dsf_fw_input_offset(), INPUT_BYTES) != 0) {
    fprintf(stderr, "cannot read %s / %s\n", argv[1], argv[2]);
    return 2;
  }
  r.rec = fopen(argv[3], "rb");
  if (r.rec == NULL) return 2;
  hal.ctx = &r;
  hal.dma_start = start;
  hal.dma_wait = wait_ch;
  hal.on_cmd = NULL;
  rc = dsf_fw_run_blocking(r.dram, need, &hal);
  if (r.failed) return 1;
  if (rc != 0) {
    fprintf(stderr, "firmware error: %s\n", dsf_fw_error_msg());
    return 1;
  }
  if (fgetc(r.rec) != EOF) {
    fprintf(stderr, "the firmware finished after %llu transfers; the record has more\n",
            (unsigned long long)r.n);
    return 1;
  }
  out = fopen(argv[4], "wb");
  if (out == NULL) return 2;
  fwrite(r.dram + dsf_fw_output_offset(), 4, OUTPUT_WORDS, out);
  fclose(out);
  printf("replayed %llu transfers, %d output words\n", (unsigned long long)r.n, OUTPUT_WORDS);
  return 0;
}
