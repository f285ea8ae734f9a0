// Helpers shared by the Verilator C++ harnesses tb_engine.cpp and tb_lockstep.cpp: wide-signal
// access, the docs §5 xorshift32 handshake PRNG, and the job-file beat reader.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

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

// ------------------------------------------------------------------ PRNG (docs §5)
struct Xorshift {
  uint32_t s;
  uint64_t thr;
  bool always;
  Xorshift(uint32_t seed, int ch, double p) {
    s = (uint32_t)((uint64_t)seed * 2654435761ull + (uint64_t)(ch + 1) * 40503ull);
    if (s == 0) s = 1;
    always = p >= 1.0;
    thr = always ? 0 : (uint64_t)(p * 4294967296.0);
  }
  bool step() {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return always || (uint64_t)s < thr;
  }
};

struct Beat {
  std::vector<uint8_t> data, keepbits;
  uint8_t last;
};

static std::vector<Beat> read_beats(FILE* f, uint32_t n, int nb, const char* who) {
  std::vector<Beat> v(n);
  std::vector<uint8_t> k(nb);
  for (uint32_t i = 0; i < n; i++) {
    v[i].data.resize(nb);
    v[i].keepbits.resize((nb + 7) / 8);
    if (fread(v[i].data.data(), 1, nb, f) != (size_t)nb || fread(k.data(), 1, nb, f) != (size_t)nb ||
        fread(&v[i].last, 1, 1, f) != 1) {
      fprintf(stderr, "%s: truncated job file\n", who);
      exit(3);
    }
    keep_to_bits(k.data(), nb, v[i].keepbits.data());
  }
  return v;
}

// The job file of both harnesses: "DSFJ" u32 axi_bytes u32 njobs u32 n_weight_beats
// u32 n_pixel_beats, then the weight beats and the pixel beats. Exits with code 3 on a bad file.
struct JobFile {
  int nb = 0;
  uint32_t njobs = 0;
  std::vector<Beat> weights, pixels;
};

static JobFile load_job_file(const char* path, const char* who) {
  JobFile j;
  FILE* fi = fopen(path, "rb");
  if (!fi) { perror(path); exit(3); }
  char magic[4];
  uint32_t hdr[4];
  if (fread(magic, 1, 4, fi) != 4 || memcmp(magic, "DSFJ", 4) || fread(hdr, 4, 4, fi) != 4) {
    fprintf(stderr, "%s: bad job file header\n", who);
    exit(3);
  }
  j.nb = (int)hdr[0];
  j.njobs = hdr[1];
  j.weights = read_beats(fi, hdr[2], j.nb, who);
  j.pixels = read_beats(fi, hdr[3], j.nb, who);
  fclose(fi);
  return j;
}
