// Verilator C++ harness of dsf_engine (architecture §5, §7.7) -- the engine testbench and, built
// with -DDSF_LOCKSTEP around the generated debug wrapper dsf_engine_dbg, the RTL side of lockstep.
//
// usage: tb_engine <jobs.bin> <out.bin> <result.json> <s0,s1,s2,s3> <t0,t1,t2,t3>
//                  [watchdog_cycles=20000] [max_cycles=50000000]
//
// jobs.bin : see tb_common.h (load_job_file).
// s0..s3 / t0..t3: initial xorshift32 states and draw thresholds of the channels 0 pixels
//            valid, 1 weights valid, 2 output ready, 3 skip valid (dsf_sim.models.prng).
// out.bin  : engine harness: one record per accepted output beat: u32 cycle, data[AXI_BYTES],
//            keep[AXI_BYTES] (0/1), last.
//            lockstep (-DDSF_LOCKSTEP): "DSFT" u32 nscalar u32 axi_bytes u32 keep_bytes u32
//            signature, then per cycle the scalar columns of dsf_trace.h (u32 each, generated from
//            models/engine/signals.py), tdata[AXI_BYTES], tkeep[keep_bytes] (bit i = lane i);
//            values seen during the cycle (inputs driven, before the edge that ends it).
// result.json: end cycle of every job (cycle index of its TLAST handshake + 1, counted from the
//            first cycle after reset release), per-job deltas, total, error.
// exit code: 0 all jobs' TLAST seen, 2 watchdog, 3 usage/file error, 4 AXI rule broken on m_axis
//            (engine harness only), 5 max_cycles.
//
// Stimulus: the generators step once at the start of every cycle (cycle 0 = first cycle with
// aresetn = 1). A source presents valid = (beats left) && draw unless a beat is pending; a
// presented beat stays (same data) until accepted. m_axis_tready = draw(2).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "verilated.h"

#include "tb_common.h"
#ifdef DSF_LOCKSTEP
#include "Vdsf_engine_dbg.h"
#include "dsf_trace.h"
typedef Vdsf_engine_dbg Top;
#else
#include "Vdsf_engine.h"
typedef Vdsf_engine Top;
#endif

struct Source {
  std::vector<Beat> beats;
  size_t idx = 0;
  bool valid = false;
};

template <class T> static void drive(Source& s, bool draw, uint8_t& valid, T& data,
                                     decltype(Top::s_axis_pixels_tkeep)& keep, uint8_t& last) {
  if (!s.valid) s.valid = s.idx < s.beats.size() && draw;
  valid = s.valid;
  if (s.idx < s.beats.size()) {
    const Beat& b = s.beats[s.idx];
    set_sig(data, b.data, AXI_BYTES);
    set_sig(keep, b.keepbits, (AXI_BYTES + 7) / 8);
    last = b.last;
  }
}

int main(int argc, char** argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: %s jobs.bin out.bin result.json s0,s1,s2,s3 t0,t1,t2,t3 [watchdog] "
                    "[max_cycles]\n", argv[0]);
    return 3;
  }
  PrngSet prng;
  prng.init(argv[4], argv[5], "tb_engine");
  const uint64_t watchdog = argc > 6 ? strtoull(argv[6], nullptr, 0) : 20000;
  const uint64_t max_cycles = argc > 7 ? strtoull(argv[7], nullptr, 0) : 50000000ull;
  const int nb = AXI_BYTES, kb = (AXI_BYTES + 7) / 8;

  JobFile jf = load_job_file(argv[1], "tb_engine");
  const uint32_t njobs = jf.njobs;
  Source src[3];  // 0 pixels, 1 weights, 2 skip
  src[0].beats = std::move(jf.pixels);
  src[1].beats = std::move(jf.weights);
  src[2].beats = std::move(jf.skip);

  FILE* fo = fopen(argv[2], "wb");
  if (!fo) { perror(argv[2]); return 3; }
  static char obuf[1 << 20];
  setvbuf(fo, obuf, _IOFBF, sizeof obuf);
#ifdef DSF_LOCKSTEP
  fwrite("DSFT", 1, 4, fo);
  const uint32_t th[4] = {DSF_NSCALAR, (uint32_t)nb, (uint32_t)kb, DSF_TRACE_SIGNATURE};
  fwrite(th, 4, 4, fo);
  uint32_t sc[DSF_NSCALAR];
  // rows are gathered and written 4096 at a time (three small fwrites per cycle cost ~7 %)
  const size_t rowb = 4 * DSF_NSCALAR + nb + kb, trows = 4096;
  std::vector<uint8_t> tbuf(rowb * trows);
  size_t tn = 0;
#endif

  auto ctx = std::make_unique<VerilatedContext>();
  auto top = std::make_unique<Top>(ctx.get());
  // reset: 4 rising edges with aresetn = 0, all valids low
  top->aclk = 0;
  top->aresetn = 0;
  top->s_axis_pixels_tvalid = 0;
  top->s_axis_weights_tvalid = 0;
  top->s_axis_skip_tvalid = 0;
  top->m_axis_tready = 0;
  top->eval();
  for (int i = 0; i < 4; i++) {
    top->aclk = 1; top->eval();
    top->aclk = 0; top->eval();
  }
  top->aresetn = 1;

  std::vector<uint64_t> end_cycles;
  uint64_t cycle = 0, last_hs = 0, out_beats = 0;
  std::vector<uint8_t> od(nb), ok(nb), prev_d(nb), prev_k(nb), okb(kb > 8 ? kb : 8);
  bool prev_stall = false;
  uint8_t prev_l = 0;
  int rc = 0;
  std::string err;

  while (end_cycles.size() < njobs) {
    bool draw[N_PRNG];
    prng.draws(draw);
    drive(src[0], draw[0], top->s_axis_pixels_tvalid, top->s_axis_pixels_tdata,
          top->s_axis_pixels_tkeep, top->s_axis_pixels_tlast);
    drive(src[1], draw[1], top->s_axis_weights_tvalid, top->s_axis_weights_tdata,
          top->s_axis_weights_tkeep, top->s_axis_weights_tlast);
    drive(src[2], draw[3], top->s_axis_skip_tvalid, top->s_axis_skip_tdata,
          top->s_axis_skip_tkeep, top->s_axis_skip_tlast);
    top->m_axis_tready = draw[2];
    top->eval();

    const bool pf = src[0].valid && top->s_axis_pixels_tready;
    const bool wf = src[1].valid && top->s_axis_weights_tready;
    const bool sf = src[2].valid && top->s_axis_skip_tready;
    const bool ov = top->m_axis_tvalid;
    const bool of = ov && draw[2];
    const uint8_t ol = top->m_axis_tlast;
    get_sig(top->m_axis_tdata, od.data(), nb);
    get_sig(top->m_axis_tkeep, okb.data(), kb);
#ifdef DSF_LOCKSTEP
    DSF_TRACE_READ(sc, top);
    sc[F_P_VALID] = src[0].valid; sc[F_W_VALID] = src[1].valid; sc[F_M_READY] = draw[2];
    sc[F_P_IDX] = (uint32_t)src[0].idx; sc[F_W_IDX] = (uint32_t)src[1].idx;
    sc[F_S_VALID] = src[2].valid; sc[F_S_IDX] = (uint32_t)src[2].idx;
    sc[F_JOBS_DONE] = (uint32_t)end_cycles.size();
    uint8_t* row = tbuf.data() + rowb * tn;
    memcpy(row, sc, 4 * DSF_NSCALAR);
    memcpy(row + 4 * DSF_NSCALAR, od.data(), nb);
    memcpy(row + 4 * DSF_NSCALAR + nb, okb.data(), kb);
    if (++tn == trows) { fwrite(tbuf.data(), rowb, tn, fo); tn = 0; }
#else
    for (int i = 0; i < nb; i++) ok[i] = (okb[i / 8] >> (i % 8)) & 1;
    if (prev_stall && (!ov || od != prev_d || ok != prev_k || ol != prev_l)) {
      char buf[256];
      snprintf(buf, sizeof buf, "AXI violation on m_axis at cycle %llu: valid/data/keep/last "
               "changed while valid && !ready", (unsigned long long)cycle);
      err = buf;
      rc = 4;
      break;
    }
    prev_stall = ov && !draw[2];
    prev_d = od; prev_k = ok; prev_l = ol;
    if (of) {
      uint32_t cy = (uint32_t)cycle;
      fwrite(&cy, 4, 1, fo);
      fwrite(od.data(), 1, nb, fo);
      fwrite(ok.data(), 1, nb, fo);
      fwrite(&ol, 1, 1, fo);
    }
#endif
    if (of) {
      out_beats++;
      if (ol) end_cycles.push_back(cycle + 1);
    }

    top->aclk = 1; top->eval();
    top->aclk = 0;

    const bool fired[3] = {pf, wf, sf};
    for (int c = 0; c < 3; c++)
      if (fired[c]) { src[c].idx++; src[c].valid = false; }
    if (pf || wf || sf || of) last_hs = cycle;
    cycle++;
    if (cycle - last_hs > watchdog || cycle >= max_cycles) {
      char buf[1024];
      const char* stuck = "output (m_axis)";
      if (src[0].idx < src[0].beats.size() && !top->s_axis_pixels_tready) stuck = "pixels (s_axis_pixels)";
      else if (src[1].idx < src[1].beats.size() && !top->s_axis_weights_tready) stuck = "weights (s_axis_weights)";
      else if (src[2].idx < src[2].beats.size() && !top->s_axis_skip_tready) stuck = "skip (s_axis_skip)";
      snprintf(buf, sizeof buf,
               "%s at cycle %llu (stuck channel: %s); pixels %zu/%zu beats accepted (tready=%d), "
               "weights %zu/%zu (tready=%d), skip %zu/%zu, output %llu beats, m_axis_tvalid=%d, "
               "jobs done %zu/%u",
               cycle >= max_cycles ? "max_cycles reached" : "watchdog: no handshake",
               (unsigned long long)cycle, stuck, src[0].idx, src[0].beats.size(),
               (int)top->s_axis_pixels_tready, src[1].idx, src[1].beats.size(),
               (int)top->s_axis_weights_tready, src[2].idx, src[2].beats.size(),
               (unsigned long long)out_beats,
               (int)top->m_axis_tvalid, end_cycles.size(), njobs);
      err = buf;
      rc = cycle >= max_cycles ? 5 : 2;
      break;
    }
  }
#ifdef DSF_LOCKSTEP
  if (tn) fwrite(tbuf.data(), rowb, tn, fo);
#endif
  fclose(fo);
  top->final();

  FILE* fj = fopen(argv[3], "w");
  if (!fj) { perror(argv[3]); return 3; }
  fprintf(fj, "{\"ok\": %s, \"error\": \"%s\", \"njobs\": %u, \"total_cycles\": %llu, "
              "\"cycles_run\": %llu, \"output_beats\": %llu, \"pixel_beats_accepted\": %zu, "
              "\"weight_beats_accepted\": %zu, \"skip_beats_accepted\": %zu, \"end_cycles\": [",
          rc == 0 ? "true" : "false", err.c_str(), njobs,
          (unsigned long long)(end_cycles.empty() ? cycle : end_cycles.back()),
          (unsigned long long)cycle, (unsigned long long)out_beats, src[0].idx, src[1].idx,
          src[2].idx);
  for (size_t i = 0; i < end_cycles.size(); i++)
    fprintf(fj, "%s%llu", i ? ", " : "", (unsigned long long)end_cycles[i]);
  fprintf(fj, "], \"cycles_per_job\": [");
  for (size_t i = 0; i < end_cycles.size(); i++)
    fprintf(fj, "%s%llu", i ? ", " : "",
            (unsigned long long)(end_cycles[i] - (i ? end_cycles[i - 1] : 0)));
  fprintf(fj, "]}\n");
  fclose(fj);
  if (rc) fprintf(stderr, "tb_engine: %s\n", err.c_str());
  return rc;
}
