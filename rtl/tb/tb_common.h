// Helpers shared by the Verilator C++ harnesses (tb_engine.cpp, also built as tb_lockstep with
// -DDSF_LOCKSTEP, and the system testbench's DPI glue): wide-signal access, the architecture §5
// xorshift32 handshake PRNG (the C++ implementation; seeding and thresholds come from Python on
// the command line), and the job-file beat reader. dsf_cfg.h is generated from the hardware
// (compiler/rtl_config.py).
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "dsf_cfg.h"
#include "verilated.h"

// ------------------------------------------------------------------ wide-signal helpers
template <class T> static void set_sig(T& s, const uint8_t* b, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n && i < (int)sizeof(T); i++) v |= (uint64_t)b[i] << (8 * i);
  s = (T)v;
}
template <std::size_t W> static void set_sig(VlWide<W>& s, const uint8_t* b, int n) {
  for (std::size_t w = 0; w < W; w++) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
      int k = (int)w * 4 + i;
      if (k < n) v |= (uint32_t)b[k] << (8 * i);
    }
    s[w] = v;
  }
}
template <class T> static void get_sig(const T& s, uint8_t* b, int n) {
  uint64_t v = (uint64_t)s;
  for (int i = 0; i < n; i++) b[i] = i < 8 ? (uint8_t)(v >> (8 * i)) : 0;
}
template <std::size_t W> static void get_sig(const VlWide<W>& s, uint8_t* b, int n) {
  for (int i = 0; i < n; i++) b[i] = (uint8_t)(s[i / 4] >> (8 * (i % 4)));
}
// keep: one byte (0/1) per lane <-> bit mask
static void keep_to_bits(const uint8_t* k, int n, uint8_t* bits) {
  memset(bits, 0, (n + 7) / 8);
  for (int i = 0; i < n; i++)
    if (k[i]) bits[i / 8] |= (uint8_t)(1u << (i % 8));
}

// ------------------------------------------------------------------ PRNG (architecture §5)
// One generator per channel (0 pixels valid, 1 weights valid, 2 output ready, 3 skip valid),
// stepped once at the start of every cycle; the draw is state < threshold (threshold 2^32:
// always).
enum { N_PRNG = 4 };
struct Xorshift {
  uint32_t s = 1;
  uint64_t thr = 0;
  bool step() {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return (uint64_t)s < thr;
  }
};

// "a,b,c,d" -> N_PRNG unsigned numbers (exit 3 on a malformed argument)
static void parse_n(const char* arg, uint64_t v[N_PRNG], const char* who) {
  char* end = nullptr;
  const char* p = arg;
  for (int i = 0; i < N_PRNG; i++) {
    v[i] = strtoull(p, &end, 10);
    if (end == p || (i < N_PRNG - 1 && *end != ',') || (i == N_PRNG - 1 && *end != 0)) {
      fprintf(stderr, "%s: '%s' is not %d comma-separated numbers\n", who, arg, N_PRNG);
      exit(3);
    }
    p = end + 1;
  }
}

// the generators from "s0,s1,s2,s3" initial states and "t0,t1,t2,t3" thresholds
struct PrngSet {
  Xorshift ch[N_PRNG];
  void init(const char* states, const char* thresholds, const char* who) {
    uint64_t s[N_PRNG], t[N_PRNG];
    parse_n(states, s, who);
    parse_n(thresholds, t, who);
    for (int c = 0; c < N_PRNG; c++) { ch[c].s = (uint32_t)s[c]; ch[c].thr = t[c]; }
  }
  void draws(bool d[N_PRNG]) { for (int c = 0; c < N_PRNG; c++) d[c] = ch[c].step(); }
};

// one beat of a job file, stored inline (a run holds ~10^5..10^7 of them: no allocation each)
struct Beat {
  uint8_t data[AXI_BYTES];
  uint8_t keepbits[(AXI_BYTES + 7) / 8];
  uint8_t last;
};

static std::vector<Beat> read_beats(FILE* f, uint32_t n, int nb, const char* who) {
  std::vector<Beat> v(n);
  const size_t rec = 2 * (size_t)nb + 1;     // data, keep bytes (0/1), last
  std::vector<uint8_t> raw(rec * n);
  if (n && fread(raw.data(), rec, n, f) != n) {
    fprintf(stderr, "%s: truncated job file\n", who);
    exit(3);
  }
  for (uint32_t i = 0; i < n; i++) {
    const uint8_t* r = raw.data() + rec * i;
    memcpy(v[i].data, r, nb);
    keep_to_bits(r + nb, nb, v[i].keepbits);
    v[i].last = r[2 * nb];
  }
  return v;
}

// The job file of both harnesses: "DSFJ" u32 axi_bytes u32 njobs u32 n_weight_beats
// u32 n_pixel_beats u32 n_skip_beats, then the weight, pixel and skip beats. Exits with code 3
// on a bad file.
struct JobFile {
  int nb = 0;
  uint32_t njobs = 0;
  std::vector<Beat> weights, pixels, skip;
};

static JobFile load_job_file(const char* path, const char* who) {
  JobFile j;
  FILE* fi = fopen(path, "rb");
  if (!fi) { perror(path); exit(3); }
  char magic[4];
  uint32_t hdr[5];
  if (fread(magic, 1, 4, fi) != 4 || memcmp(magic, "DSFJ", 4) || fread(hdr, 4, 5, fi) != 5) {
    fprintf(stderr, "%s: bad job file header\n", who);
    exit(3);
  }
  j.nb = (int)hdr[0];
  if (j.nb != AXI_BYTES) {
    fprintf(stderr, "%s: job file has %d-byte beats, this build AXI_BYTES = %d\n", who, j.nb,
            AXI_BYTES);
    exit(3);
  }
  j.njobs = hdr[1];
  j.weights = read_beats(fi, hdr[2], j.nb, who);
  j.pixels = read_beats(fi, hdr[3], j.nb, who);
  j.skip = read_beats(fi, hdr[4], j.nb, who);
  fclose(fi);
  return j;
}
