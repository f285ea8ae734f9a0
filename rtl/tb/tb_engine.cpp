// Verilator C++ harness for dsf_engine (docs/architecture.md §5, §7).
//
// usage: tb_engine <jobs.bin> <out.bin> <result.json> <seed> <valid_prob> <ready_prob>
//                  [watchdog_cycles=20000] [max_cycles=50000000]
//
// jobs.bin : "DSFJ" u32 axi_bytes u32 njobs u32 n_weight_beats u32 n_pixel_beats, then the weight
//            beats and the pixel beats, each beat = data[axi_bytes] keep[axi_bytes](0/1) last(u8).
// out.bin  : one record per accepted output beat: u32 cycle, data[axi_bytes], keep[axi_bytes], last.
// result.json: end cycle of every job (cycle index of its TLAST handshake + 1, counted from the
//            first cycle after reset release), per-job deltas, total.
//
// Stimulus (docs §5): one xorshift32 per channel (0 pixels valid, 1 weights valid, 2 output ready),
// stepped once at the start of every cycle (cycle 0 = first cycle with aresetn = 1), draw = state <
// floor(p * 2^32) (p >= 1: always). A source that presented a beat keeps it until taken.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "Vdsf_engine.h"
#include "verilated.h"

#include "tb_common.h"

struct Source {
  const char* name;
  std::vector<Beat> beats;
  size_t idx = 0;
  bool valid = false;
  uint64_t accepted = 0;
};

int main(int argc, char** argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: %s jobs.bin out.bin result.json seed valid_prob ready_prob "
                    "[watchdog] [max_cycles]\n", argv[0]);
    return 3;
  }
  const uint32_t seed = (uint32_t)strtoul(argv[4], nullptr, 0);
  const double vprob = atof(argv[5]), rprob = atof(argv[6]);
  const uint64_t watchdog = argc > 7 ? strtoull(argv[7], nullptr, 0) : 20000;
  const uint64_t max_cycles = argc > 8 ? strtoull(argv[8], nullptr, 0) : 50000000ull;

  JobFile jf = load_job_file(argv[1], "tb_engine");
  const int nb = jf.nb;
  const uint32_t njobs = jf.njobs;
  Source src[2];
  src[1].name = "weights";
  src[1].beats = std::move(jf.weights);
  src[0].name = "pixels";
  src[0].beats = std::move(jf.pixels);

  auto ctx = std::make_unique<VerilatedContext>();
  auto top = std::make_unique<Vdsf_engine>(ctx.get());
  FILE* fo = fopen(argv[2], "wb");
  if (!fo) { perror(argv[2]); return 3; }

  // reset: 4 cycles with aresetn = 0, all valids low
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
  std::vector<uint64_t> end_cycles;
  uint64_t cycle = 0, last_hs = 0, out_beats = 0;
  std::vector<uint8_t> od(nb), ok(nb), prev_d(nb), prev_k(nb), kb(nb);
  bool prev_stall = false;
  uint8_t prev_l = 0;
  int rc = 0;
  std::string err;

  while (end_cycles.size() < njobs) {
    bool draw[3];
    for (int c = 0; c < 3; c++) draw[c] = prng[c].step();
    for (int c = 0; c < 2; c++) {
      Source& s = src[c];
      if (!s.valid) s.valid = s.idx < s.beats.size() && draw[c];
    }
    // drive sources
    {
      Source& s = src[0];
      top->s_axis_pixels_tvalid = s.valid;
      if (s.idx < s.beats.size()) {
        const Beat& b = s.beats[s.idx];
        set_sig(top->s_axis_pixels_tdata, b.data.data(), nb);
        set_sig(top->s_axis_pixels_tkeep, b.keepbits.data(), (nb + 7) / 8);
        top->s_axis_pixels_tlast = b.last;
      }
    }
    {
      Source& s = src[1];
      top->s_axis_weights_tvalid = s.valid;
      if (s.idx < s.beats.size()) {
        const Beat& b = s.beats[s.idx];
        set_sig(top->s_axis_weights_tdata, b.data.data(), nb);
        set_sig(top->s_axis_weights_tkeep, b.keepbits.data(), (nb + 7) / 8);
        top->s_axis_weights_tlast = b.last;
      }
    }
    top->m_axis_tready = draw[2];
    top->eval();

    const bool pf = src[0].valid && top->s_axis_pixels_tready;
    const bool wf = src[1].valid && top->s_axis_weights_tready;
    const bool ov = top->m_axis_tvalid;
    const bool of = ov && draw[2];
    get_sig(top->m_axis_tdata, od.data(), nb);
    uint8_t keepbytes[128];
    get_sig(top->m_axis_tkeep, keepbytes, (nb + 7) / 8);
    for (int i = 0; i < nb; i++) ok[i] = (keepbytes[i / 8] >> (i % 8)) & 1;
    const uint8_t ol = top->m_axis_tlast;

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
      out_beats++;
      if (ol) end_cycles.push_back(cycle + 1);
    }

    top->aclk = 1; top->eval();
    top->aclk = 0;

    if (pf) { src[0].idx++; src[0].valid = false; src[0].accepted++; }
    if (wf) { src[1].idx++; src[1].valid = false; src[1].accepted++; }
    if (pf || wf || of) last_hs = cycle;
    cycle++;
    if (cycle - last_hs > watchdog || cycle >= max_cycles) {
      char buf[1024];
      const char* stuck = "output (m_axis)";
      if (src[0].idx < src[0].beats.size() && !top->s_axis_pixels_tready) stuck = "pixels (s_axis_pixels)";
      else if (src[1].idx < src[1].beats.size() && !top->s_axis_weights_tready) stuck = "weights (s_axis_weights)";
      snprintf(buf, sizeof buf,
               "watchdog: no handshake for %llu cycles at cycle %llu (stuck channel: %s); "
               "pixels %zu/%zu beats accepted (tready=%d), weights %zu/%zu (tready=%d), "
               "output %llu beats, m_axis_tvalid=%d, jobs done %zu/%u",
               (unsigned long long)(cycle - last_hs), (unsigned long long)cycle, stuck,
               src[0].idx, src[0].beats.size(), (int)top->s_axis_pixels_tready, src[1].idx,
               src[1].beats.size(), (int)top->s_axis_weights_tready,
               (unsigned long long)out_beats, (int)top->m_axis_tvalid, end_cycles.size(), njobs);
      err = buf;
      rc = 2;
      break;
    }
  }
  fclose(fo);
  top->final();

  FILE* fj = fopen(argv[3], "w");
  if (!fj) { perror(argv[3]); return 3; }
  fprintf(fj, "{\"ok\": %s, \"error\": \"%s\", \"njobs\": %u, \"seed\": %u, \"valid_prob\": %.17g, "
              "\"ready_prob\": %.17g, \"total_cycles\": %llu, \"output_beats\": %llu, "
              "\"pixel_beats_accepted\": %llu, \"weight_beats_accepted\": %llu, \"end_cycles\": [",
          rc == 0 ? "true" : "false", err.c_str(), njobs, seed, vprob, rprob,
          (unsigned long long)(end_cycles.empty() ? cycle : end_cycles.back()),
          (unsigned long long)out_beats, (unsigned long long)src[0].accepted,
          (unsigned long long)src[1].accepted);
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
