// Verilator C++ harness for lockstep co-simulation (dsf_sim/rtl_bridge/lockstep.py).
// Same stimulus as tb_engine.cpp (docs/architecture.md §5, §7.7); built with
// +define+DSF_DEBUG_PORTS. Records every compared signal of every cycle into a binary trace.
//
// usage: tb_lockstep <jobs.bin> <trace.bin> <seed> <valid_prob> <ready_prob> [watchdog] [max_cycles]
//
// trace.bin: "DSFT" u32 nscalar u32 axi_bytes u32 keep_bytes, then per cycle: nscalar x u32
//            (field order = SCALARS below and lockstep.SCALARS), tdata[axi_bytes],
//            tkeep[keep_bytes] (bit i = byte lane i). Values are those seen during the cycle
//            (after the inputs were driven, before the rising edge that ends it).
// exit code: 0 all jobs' TLAST seen, 2 watchdog, 5 max_cycles, 3 usage/file error.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "Vdsf_engine.h"
#include "verilated.h"

#include "tb_common.h"

struct Source {
  std::vector<Beat> beats;
  size_t idx = 0;
  bool valid = false;
};

enum {
  F_P_VALID, F_W_VALID, F_M_READY, F_P_IDX, F_W_IDX,
  F_P_READY, F_W_READY, F_M_VALID, F_M_LAST,
  F_SEQ_ST, F_N, F_L, F_W, F_CI, F_KH, F_F, F_PIX_FULL, F_WB_FULL, F_OUT_CNT, F_RADDR,
  F_S1_MAC, F_S1_EMIT, F_ACC00, F_JOBS_DONE, NSCALAR
};

int main(int argc, char** argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: %s jobs.bin trace.bin seed valid_prob ready_prob [watchdog] "
                    "[max_cycles]\n", argv[0]);
    return 3;
  }
  const uint32_t seed = (uint32_t)strtoul(argv[3], nullptr, 0);
  const double vprob = atof(argv[4]), rprob = atof(argv[5]);
  const uint64_t watchdog = argc > 6 ? strtoull(argv[6], nullptr, 0) : 20000;
  const uint64_t max_cycles = argc > 7 ? strtoull(argv[7], nullptr, 0) : 50000000ull;

  JobFile jf = load_job_file(argv[1], "tb_lockstep");
  const int nb = jf.nb, kb = (nb + 7) / 8;
  const uint32_t njobs = jf.njobs;
  Source src[2];
  src[1].beats = std::move(jf.weights);
  src[0].beats = std::move(jf.pixels);

  FILE* fo = fopen(argv[2], "wb");
  if (!fo) { perror(argv[2]); return 3; }
  static char obuf[1 << 20];
  setvbuf(fo, obuf, _IOFBF, sizeof obuf);
  fwrite("DSFT", 1, 4, fo);
  uint32_t th[3] = {NSCALAR, (uint32_t)nb, (uint32_t)kb};
  fwrite(th, 4, 3, fo);

  auto ctx = std::make_unique<VerilatedContext>();
  auto top = std::make_unique<Vdsf_engine>(ctx.get());
  top->aclk = 0;
  top->aresetn = 0;
  top->s_axis_pixels_tvalid = 0;
  top->s_axis_weights_tvalid = 0;
  top->m_axis_tready = 0;
  top->eval();
  for (int i = 0; i < 4; i++) {
    top->aclk = 1; top->eval();
    top->aclk = 0; top->eval();
  }
  top->aresetn = 1;

  Xorshift prng[3] = {Xorshift(seed, 0, vprob), Xorshift(seed, 1, vprob), Xorshift(seed, 2, rprob)};
  uint64_t cycle = 0, last_hs = 0, done = 0;
  std::vector<uint8_t> od(nb), okb(kb > 8 ? kb : 8);
  uint32_t sc[NSCALAR];
  int rc = 0;

  while (done < njobs) {
    bool draw[3];
    for (int c = 0; c < 3; c++) draw[c] = prng[c].step();
    for (int c = 0; c < 2; c++) {
      Source& s = src[c];
      if (!s.valid) s.valid = s.idx < s.beats.size() && draw[c];
    }
    top->s_axis_pixels_tvalid = src[0].valid;
    if (src[0].idx < src[0].beats.size()) {
      const Beat& b = src[0].beats[src[0].idx];
      set_sig(top->s_axis_pixels_tdata, b.data.data(), nb);
      set_sig(top->s_axis_pixels_tkeep, b.keepbits.data(), kb);
      top->s_axis_pixels_tlast = b.last;
    }
    top->s_axis_weights_tvalid = src[1].valid;
    if (src[1].idx < src[1].beats.size()) {
      const Beat& b = src[1].beats[src[1].idx];
      set_sig(top->s_axis_weights_tdata, b.data.data(), nb);
      set_sig(top->s_axis_weights_tkeep, b.keepbits.data(), kb);
      top->s_axis_weights_tlast = b.last;
    }
    top->m_axis_tready = draw[2];
    top->eval();

    const bool pf = src[0].valid && top->s_axis_pixels_tready;
    const bool wf = src[1].valid && top->s_axis_weights_tready;
    const bool of = top->m_axis_tvalid && draw[2];
    sc[F_P_VALID] = src[0].valid; sc[F_W_VALID] = src[1].valid; sc[F_M_READY] = draw[2];
    sc[F_P_IDX] = (uint32_t)src[0].idx; sc[F_W_IDX] = (uint32_t)src[1].idx;
    sc[F_P_READY] = top->s_axis_pixels_tready; sc[F_W_READY] = top->s_axis_weights_tready;
    sc[F_M_VALID] = top->m_axis_tvalid; sc[F_M_LAST] = top->m_axis_tlast;
    sc[F_SEQ_ST] = top->dbg_seq_st; sc[F_N] = top->dbg_n; sc[F_L] = top->dbg_l;
    sc[F_W] = top->dbg_w; sc[F_CI] = top->dbg_ci; sc[F_KH] = top->dbg_kh; sc[F_F] = top->dbg_f;
    sc[F_PIX_FULL] = top->dbg_pix_full; sc[F_WB_FULL] = top->dbg_wb_full;
    sc[F_OUT_CNT] = top->dbg_out_cnt; sc[F_RADDR] = top->dbg_raddr;
    sc[F_S1_MAC] = top->dbg_s1_mac; sc[F_S1_EMIT] = top->dbg_s1_emit;
    sc[F_ACC00] = (uint32_t)top->dbg_acc00; sc[F_JOBS_DONE] = (uint32_t)done;
    get_sig(top->m_axis_tdata, od.data(), nb);
    get_sig(top->m_axis_tkeep, okb.data(), kb);
    fwrite(sc, 4, NSCALAR, fo);
    fwrite(od.data(), 1, nb, fo);
    fwrite(okb.data(), 1, kb, fo);
    if (of && top->m_axis_tlast) done++;

    top->aclk = 1; top->eval();
    top->aclk = 0;
    if (pf) { src[0].idx++; src[0].valid = false; }
    if (wf) { src[1].idx++; src[1].valid = false; }
    if (pf || wf || of) last_hs = cycle;
    cycle++;
    if (cycle - last_hs > watchdog) { rc = 2; break; }
    if (cycle >= max_cycles) { rc = 5; break; }
  }
  fclose(fo);
  top->final();
  return rc;
}
