// Shared state of the system testbench (DPI glue tb_system_dpi.cpp <-> main tb_system_main.cpp).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "dsf_fw.h"
#include "tb_common.h"

struct TbChan {
  bool active = false;
  uint64_t addr = 0, bytes = 0, done = 0;  // done: bytes moved so far
  int bundle = -1, it = -1, p = -1, job = -1;
  uint64_t bytes_total = 0, beats = 0, busy = 0, stall = 0;
};

struct TbRaw {
  int bundle, it, p, job;
  std::vector<uint8_t> data;
};

struct TbState {
  // config: handshake generators (initial states, thresholds: from the command line)
  const char* prng_states = "1,1,1,1";
  const char* prng_thresholds = "0,0,0,0";
  PrngSet prng;
  uint64_t watchdog = 200000;
  // DRAM
  std::vector<uint8_t> dram;
  // run state
  TbChan ch[DSF_N_CH];
  uint64_t cycle = 0;          // last edge seen (cycle index t of the edge ending t)
  int64_t last_activity = -1;  // cycle of the last handshake / event / firmware command
  bool fw_done = false;
  int64_t done_cycle = -1;
  bool stop = false;
  int rc = 0;
  std::string error;
  dsf_cmd_t last_cmd{};
  uint64_t last_cmd_cycle = 0;
  bool have_last_cmd = false;
  std::vector<std::string> log;         // JSON lines: commands + events, with cycle
  std::vector<std::string> commands;    // JSON objects: DMA and DONE commands, with cycle
  std::vector<std::string> events;      // JSON objects: completion events
  std::vector<int64_t> bundle_end;      // cycle of the completion of bundle b's last output DMA
  std::vector<TbRaw> raw;               // every output transfer's bytes
};

extern TbState g_tb;
void tb_watchdog_check();
