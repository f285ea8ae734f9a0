// DPI-C glue of rtl/tb/tb_system.sv: the handshake draws (tb_common.h generators), DRAM beats, the firmware's
// non-blocking API (firmware/dsf_fw.h, compiled unchanged from firmware/*.c), event / command
// logging, channel statistics and the architecture §11 watchdog bookkeeping.
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "Vtb_system__Dpi.h"
#include "svdpi.h"
#include "tb_system.h"

TbState g_tb;

static const char* CH_NAMES[DSF_N_CH] = {"pixels", "weights", "output", "skip"};
static bool m2s(int c) { return c != DSF_CH_OUTPUT; }

static std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
static std::string fmt(const char* f, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, f);
  vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

static void fail(int rc, const std::string& msg) {
  if (!g_tb.stop) {
    g_tb.stop = true;
    g_tb.rc = rc;
    g_tb.error = msg;
  }
}

static int pack_draws() {
  bool d[N_PRNG];
  g_tb.prng.draws(d);
  int v = 0;
  for (int c = 0; c < N_PRNG; c++) v |= d[c] ? (1 << c) : 0;
  return v;
}

int tb_prng_first() {  // re-seed (reset may last several edges) and step once: cycle 0's draws
  g_tb.prng.init(g_tb.prng_states, g_tb.prng_thresholds, "tb_system");
  return pack_draws();
}

int tb_prng_next() { return pack_draws(); }

void tb_dram_read_beat(unsigned long long addr, svBitVecVal* data) {
  const int nb = AXI_BYTES;
  for (int w = 0; w < nb / 4; w++) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
      uint64_t a = addr + (uint64_t)(4 * w + i);
      if (a < g_tb.dram.size()) v |= (uint32_t)g_tb.dram[a] << (8 * i);
    }
    data[w] = v;
  }
}

int tb_dram_write_beat(unsigned long long addr, const svBitVecVal* data, int kept) {
  TbChan& c = g_tb.ch[2];
  if (!c.active) {
    fail(5, fmt("S2M handshake at cycle %" PRIu64 " with no output transfer active", g_tb.cycle));
    return 1;
  }
  if (addr + (uint64_t)kept > c.addr + c.bytes || addr + (uint64_t)kept > g_tb.dram.size()) {
    fail(5, fmt("output transfer of bundle %d it %d p %d exceeds its descriptor (%" PRIu64
                " bytes) at cycle %" PRIu64,
                c.bundle, c.it, c.p, c.bytes, g_tb.cycle + 1));
    return 1;
  }
  TbRaw& r = g_tb.raw.back();
  for (int i = 0; i < kept; i++) {
    uint8_t b = (uint8_t)(data[i / 4] >> (8 * (i % 4)));
    g_tb.dram[addr + i] = b;
    r.data.push_back(b);
  }
  return 0;
}

void tb_edge(unsigned long long cycle, int act, int present, int hs, int out_kept) {
  g_tb.cycle = cycle;
  for (int c = 0; c < DSF_N_CH; c++) {
    TbChan& ch = g_tb.ch[c];
    const bool a = (act >> c) & 1, pr = (present >> c) & 1, h = (hs >> c) & 1;
    if (a) {
      ch.busy++;
      if (m2s(c) ? (pr && !h) : !pr) ch.stall++;
    }
    if (h) {
      ch.beats++;
      const uint64_t n = m2s(c) ? (uint64_t)AXI_BYTES : (uint64_t)out_kept;
      const uint64_t real = (m2s(c) && ch.done + n > ch.bytes) ? ch.bytes - ch.done : n;
      ch.done += real;
      ch.bytes_total += real;
      g_tb.last_activity = (int64_t)cycle;
    }
  }
}

void tb_dma_done(unsigned long long cycle, int c, unsigned long long bytes) {
  TbChan& ch = g_tb.ch[c];
  g_tb.last_activity = (int64_t)cycle;
  std::string ev = fmt("{\"cycle\": %llu, \"ch\": %d, \"bytes\": %llu, \"bundle\": %d, \"it\": %d, "
                       "\"p\": %d}", cycle, c, bytes, ch.bundle, ch.it, ch.p);
  g_tb.events.push_back(ev);
  g_tb.log.push_back(fmt("{\"cycle\": %llu, \"cmd\": \"event\", \"ch\": %d, \"chan\": \"%s\", "
                         "\"bytes\": %llu, \"bundle\": %d, \"it\": %d, \"p\": %d, \"job\": %d}",
                         cycle, c, CH_NAMES[c], bytes, ch.bundle, ch.it, ch.p, ch.job));
  if (c == 2) {
    // end(b) = completion of the last output DMA of bundle b (later ones overwrite)
    if ((int)g_tb.bundle_end.size() <= ch.bundle) g_tb.bundle_end.resize(ch.bundle + 1, -1);
    g_tb.bundle_end[ch.bundle] = (int64_t)cycle;
  }
  ch.active = false;
  dsf_fw_dma_done(c, bytes);
}

int tb_fw_next(unsigned long long cycle, int* ch, unsigned long long* addr,
               unsigned long long* bytes) {
  dsf_cmd_t cmd;
  char buf[512];
  const int k = dsf_fw_next(&cmd);
  *ch = cmd.channel;
  *addr = cmd.addr;
  *bytes = cmd.bytes;
  dsf_fw_cmd_json(&cmd, buf, sizeof buf);
  std::string j = buf;
  std::string jc = fmt("{\"cycle\": %llu, ", cycle) + j.substr(1);
  g_tb.last_cmd = cmd;  // for the watchdog report (WAIT included: names the awaited channel)
  g_tb.last_cmd_cycle = cycle;
  g_tb.have_last_cmd = true;
  if (k == DSF_CMD_WAIT) {
    g_tb.log.push_back(jc);
    return k;
  }
  g_tb.last_activity = (int64_t)cycle;
  g_tb.log.push_back(jc);
  if (k == DSF_CMD_DMA) {
    g_tb.commands.push_back(jc);
    if (cmd.channel < 0 || cmd.channel >= DSF_N_CH) {
      fail(6, fmt("firmware DMA on bad channel %d", cmd.channel));
      return DSF_CMD_ERROR;
    }
    TbChan& c = g_tb.ch[cmd.channel];
    if (c.active) {
      fail(6, fmt("firmware started channel %s while busy at cycle %llu", CH_NAMES[cmd.channel],
                  cycle));
      return DSF_CMD_ERROR;
    }
    if (cmd.addr + cmd.bytes > g_tb.dram.size()) {
      fail(6, fmt("firmware DMA outside DRAM at cycle %llu", cycle));
      return DSF_CMD_ERROR;
    }
    c.active = true;
    c.addr = cmd.addr;
    c.bytes = cmd.bytes;
    c.done = 0;
    c.bundle = cmd.bundle;
    c.it = cmd.it;
    c.p = cmd.p;
    c.job = cmd.job;
    if (cmd.channel == 2) g_tb.raw.push_back(TbRaw{cmd.bundle, cmd.it, cmd.p, cmd.job, {}});
  } else if (k == DSF_CMD_DONE) {
    g_tb.commands.push_back(jc);
    g_tb.fw_done = true;
    g_tb.done_cycle = (int64_t)cycle;
    for (int c = 0; c < DSF_N_CH; c++)
      if (g_tb.ch[c].active) fail(6, fmt("firmware DONE with channel %s active", CH_NAMES[c]));
    if (!g_tb.stop) g_tb.stop = true;
  } else {
    fail(7, fmt("firmware error at cycle %llu: %s", cycle, dsf_fw_error_msg()));
  }
  return k;
}

void tb_watchdog_check() {
  if (g_tb.stop || g_tb.watchdog == 0) return;
  const int64_t quiet = (int64_t)g_tb.cycle - g_tb.last_activity;
  if (quiet < (int64_t)g_tb.watchdog) return;
  std::string m = fmt("watchdog: no handshake, event or firmware command for %" PRId64
                      " cycles at cycle %" PRIu64 ";",
                      quiet, g_tb.cycle);
  int n = 0;
  for (int c = 0; c < DSF_N_CH; c++) {
    const TbChan& ch = g_tb.ch[c];
    if (!ch.active) continue;
    m += fmt("%s %s active: bundle %d it %d p %d (job %d), %" PRIu64 "/%" PRIu64 " bytes;",
             n++ ? "" : " stuck channels:", CH_NAMES[c], ch.bundle, ch.it, ch.p, ch.job, ch.done,
             ch.bytes);
  }
  if (!n) m += " no channel active;";
  if (g_tb.have_last_cmd) {
    char buf[512];
    dsf_fw_cmd_json(&g_tb.last_cmd, buf, sizeof buf);
    m += fmt(" firmware last command (cycle %" PRIu64 "): %s", g_tb.last_cmd_cycle, buf);
  }
  fail(2, m);
}
