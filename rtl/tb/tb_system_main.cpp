// Whole-system testbench main (architecture §11): toggles the clock and reset of
// rtl/tb/tb_system.sv, loads the DRAM image, runs until the firmware is DONE, an error, or the
// watchdog, and writes the results.
//
// usage: tb_system <weights.bin> <input.bin> <out_dir> <s0,s1,s2,s3> <t0,t1,t2,t3>
//                  [watchdog=200000] [max_cycles=200000000]
// s0..s3 / t0..t3: initial xorshift32 states and draw thresholds (dsf_sim.models.prng)
// out_dir/result.json : cycles_total, done_cycle, cycles_per_bundle, events, channels, commands,
//                       memory map, raw index, error
// out_dir/log.jsonl   : firmware commands (dma / wait / done) and completion events, with cycles
// out_dir/raw.bin     : every output transfer's bytes, back to back (index in result.json "raw")
// out_dir/dram.bin    : the final DRAM image
// exit: 0 ok, 2 watchdog, 5 S2M error, 6 firmware/DMA protocol error, 7 firmware error, 3 usage
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "Vtb_system.h"
#include "tb_system.h"
#include "verilated.h"

static bool read_file(const char* path, std::vector<uint8_t>& v) {
  FILE* f = fopen(path, "rb");
  if (!f) return false;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  v.resize((size_t)n);
  size_t r = n ? fread(v.data(), 1, (size_t)n, f) : 0;
  fclose(f);
  return r == (size_t)n;
}

static std::string json_str(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if ((unsigned char)c < 0x20) continue;
    o += c;
  }
  return o + "\"";
}

int main(int argc, char** argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: %s weights.bin input.bin out_dir s0,s1,s2,s3 t0,t1,t2,t3 "
                    "[watchdog] [max_cycles]\n", argv[0]);
    return 3;
  }
  TbState& T = g_tb;
  T.prng_states = argv[4];
  T.prng_thresholds = argv[5];
  T.prng.init(argv[4], argv[5], "tb_system");  // validates the arguments before the run
  T.watchdog = argc > 6 ? strtoull(argv[6], nullptr, 0) : 200000;
  const uint64_t max_cycles = argc > 7 ? strtoull(argv[7], nullptr, 0) : 200000000ull;
  const std::string out = argv[3];

  std::vector<uint8_t> wts, inp;
  if (!read_file(argv[1], wts) || !read_file(argv[2], inp)) {
    fprintf(stderr, "tb_system: cannot read %s / %s\n", argv[1], argv[2]);
    return 3;
  }
  T.dram.assign(dsf_fw_dram_required(), 0);
  const uint64_t wo = dsf_fw_weights_offset(), io = dsf_fw_input_offset();
  if (wo + wts.size() > T.dram.size() || io + inp.size() > T.dram.size()) {
    fprintf(stderr, "tb_system: weights/input do not fit the firmware memory map\n");
    return 3;
  }
  std::copy(wts.begin(), wts.end(), T.dram.begin() + (long)wo);
  std::copy(inp.begin(), inp.end(), T.dram.begin() + (long)io);
  dsf_fw_init(T.dram.data(), T.dram.size());

  auto ctx = std::make_unique<VerilatedContext>();
  auto top = std::make_unique<Vtb_system>(ctx.get());
  top->aclk = 0;
  top->aresetn = 0;
  top->eval();
  for (int i = 0; i < 4; i++) {  // 4 rising edges in reset
    top->aclk = 1; top->eval();
    top->aclk = 0; top->eval();
  }
  top->aresetn = 1;
  top->eval();
  uint64_t cycle = 0;
  while (!T.stop) {
    top->aclk = 1; top->eval();  // the edge ending `cycle` (tb_system.sv does all the work)
    top->aclk = 0; top->eval();
    tb_watchdog_check();
    cycle++;
    if (!T.stop && cycle >= max_cycles) {
      T.stop = true; T.rc = 2;
      T.error = "max_cycles reached at cycle " + std::to_string(cycle);
    }
  }
  top->final();
  if (T.rc == 0 && !T.fw_done) { T.rc = 6; T.error = "stopped without DONE"; }

  // ---- outputs
  const int nb = dsf_fw_n_bundles();
  std::vector<int64_t> per_bundle;
  if (T.rc == 0) {
    int64_t prev = -1;
    for (int b = 0; b < nb; b++) {
      int64_t e = b < (int)T.bundle_end.size() ? T.bundle_end[b] : prev;
      per_bundle.push_back(e - prev);
      prev = e;
    }
    if (!per_bundle.empty()) per_bundle.back() += T.done_cycle - prev;
  }
  FILE* fr = fopen((out + "/raw.bin").c_str(), "wb");
  std::string raw_idx = "[";
  uint64_t off = 0;
  for (size_t i = 0; i < T.raw.size(); i++) {
    const TbRaw& r = T.raw[i];
    if (fr && !r.data.empty()) fwrite(r.data.data(), 1, r.data.size(), fr);
    char b[200];
    snprintf(b, sizeof b, "%s{\"bundle\": %d, \"it\": %d, \"p\": %d, \"job\": %d, \"offset\": %" PRIu64
             ", \"bytes\": %zu}", i ? ", " : "", r.bundle, r.it, r.p, r.job, off, r.data.size());
    raw_idx += b;
    off += r.data.size();
  }
  raw_idx += "]";
  if (fr) fclose(fr);
  FILE* fd = fopen((out + "/dram.bin").c_str(), "wb");
  if (fd) { fwrite(T.dram.data(), 1, T.dram.size(), fd); fclose(fd); }
  FILE* fl = fopen((out + "/log.jsonl").c_str(), "w");
  if (fl) {
    for (auto& s : T.log) fprintf(fl, "%s\n", s.c_str());
    fclose(fl);
  }

  FILE* fj = fopen((out + "/result.json").c_str(), "w");
  if (!fj) { perror("result.json"); return 3; }
  static const char* names[DSF_N_CH] = {"pixels", "weights", "output", "skip"};
  fprintf(fj, "{\"sim\": \"verilator\", \"ok\": %s, \"error\": %s, \"returncode\": %d, ",
          T.rc == 0 ? "true" : "false", T.rc ? json_str(T.error).c_str() : "null", T.rc);
  fprintf(fj, "\"cycles_total\": %" PRId64 ", \"done_cycle\": %" PRId64 ", \"cycles_run\": %" PRIu64
              ", \"cycles_per_bundle\": [",
          T.rc == 0 ? T.done_cycle + 1 : (int64_t)-1, T.done_cycle, cycle);
  for (size_t i = 0; i < per_bundle.size(); i++)
    fprintf(fj, "%s%" PRId64, i ? ", " : "", per_bundle[i]);
  fprintf(fj, "], \"bundle_end\": [");
  for (size_t i = 0; i < T.bundle_end.size(); i++)
    fprintf(fj, "%s%" PRId64, i ? ", " : "", T.bundle_end[i]);
  fprintf(fj, "],\n\"channels\": {");
  for (int c = 0; c < DSF_N_CH; c++) {
    const TbChan& ch = T.ch[c];
    fprintf(fj, "%s\"%s\": {\"bytes\": %" PRIu64 ", \"beats\": %" PRIu64 ", \"busy_cycles\": %" PRIu64
                ", \"stall_cycles\": %" PRIu64 "}",
            c ? ", " : "", names[c], ch.bytes_total, ch.beats, ch.busy, ch.stall);
  }
  fprintf(fj, "},\n\"memory_map\": {\"total\": %zu, \"weights\": %" PRIu64 ", \"input\": %" PRIu64
              ", \"output\": %" PRIu64 ", \"softmax\": %" PRIu64 ", \"raw\": %" PRIu64
              ", \"bundle_out\": [",
          T.dram.size(), dsf_fw_weights_offset(), dsf_fw_input_offset(), dsf_fw_output_offset(),
          dsf_fw_softmax_offset(), dsf_fw_raw_offset());
  for (int b = 0; b < nb; b++)
    fprintf(fj, "%s[%" PRIu64 ", %" PRIu64 "]", b ? ", " : "", dsf_fw_debug_out_offset(b),
            dsf_fw_debug_out_words(b));
  fprintf(fj, "], \"bundle_pix\": [");
  for (int b = 0; b < nb; b++) {
    fprintf(fj, "%s[", b ? ", " : "");
    for (int p = 0; p < dsf_fw_n_passes(b); p++)
      fprintf(fj, "%s[%" PRIu64 ", %" PRIu64 "]", p ? ", " : "", dsf_fw_debug_pix_offset(b, p),
              dsf_fw_debug_pix_bytes(b, p));
    fprintf(fj, "]");
  }
  fprintf(fj, "]},\n\"raw\": %s,\n\"events\": [", raw_idx.c_str());
  for (size_t i = 0; i < T.events.size(); i++)
    fprintf(fj, "%s\n %s", i ? "," : "", T.events[i].c_str());
  fprintf(fj, "],\n\"commands\": [");
  for (size_t i = 0; i < T.commands.size(); i++)
    fprintf(fj, "%s\n %s", i ? "," : "", T.commands[i].c_str());
  fprintf(fj, "]}\n");
  fclose(fj);
  if (T.rc) fprintf(stderr, "tb_system: %s\n", T.error.c_str());
  return T.rc;
}
