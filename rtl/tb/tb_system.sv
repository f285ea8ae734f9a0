// tb_system: whole-system testbench (architecture §11): dsf_engine + three M2S DMA models
// (pixels, weights, skip) + one S2M DMA model (output), the architecture §5 handshake draws (stepped by
// the C++ generators of tb_common.h through DPI), and the C firmware (firmware/, non-blocking
// API) driven through DPI-C (rtl/tb/tb_system_dpi.cpp).
// The clock and reset are toggled by rtl/tb/tb_system_main.cpp; this module owns every edge.
//
// M2S model m = 0, 1, 2 is DMA channel 0 (pixels), 1 (weights), 3 (skip); 2 is the S2M (output).
// During cycle t:  M2S c: valid = active && (pending || draw_c(t)); data = beat `idx` of the
//                  transfer (fetched from DRAM when it becomes current); tlast on the last beat;
//                  tkeep all ones except the last beat (bytes - (n-1)*AXI_BYTES bytes kept).
//                  S2M: tready = active && draw_2(t).
// At the edge ending cycle t (one always block, DPI calls in this order):
//   1. handshakes of t advance the channels (S2M writes kept bytes to DRAM); completions are noted
//   2. completions delivered in channel order 0,1,2,3: dsf_fw_dma_done(ch, bytes)
//   3. unless the firmware is done: dsf_fw_next until WAIT/DONE (polled at the edge of cycle 0 and
//      at every edge with a completion; equivalent to polling at every edge, architecture §11);
//      each DMA loads its channel, active from cycle t+1.
module tb_system (
  input logic aclk,
  input logic aresetn
);
  localparam int AW = dsf_cfg::AXI_WIDTH;
  localparam int AB = dsf_cfg::AXI_BYTES;

  // ---------------------------------------------------------------- DPI-C (tb_system_dpi.cpp)
  // handshake draws of channels 0..3 (bit c): for cycle 0 after re-seeding, then the next cycle's
  import "DPI-C" function int tb_prng_first();
  import "DPI-C" function int tb_prng_next();
  import "DPI-C" function void tb_dram_read_beat(input longint unsigned addr,
                                                 output bit [AW-1:0] data);
  // S2M beat: writes the kept bytes at addr (C checks the descriptor bound), 0 or error
  import "DPI-C" function int tb_dram_write_beat(input longint unsigned addr,
                                                 input bit [AW-1:0] data, input int kept);
  // per-edge bookkeeping: handshakes, presented/stall flags (statistics + watchdog)
  import "DPI-C" function void tb_edge(input longint unsigned cycle, input int act,
                                       input int present, input int hs, input int out_kept);
  import "DPI-C" function void tb_dma_done(input longint unsigned cycle, input int ch,
                                           input longint unsigned bytes);
  // returns kind (1 DMA, 2 WAIT, 3 DONE, -1 ERROR); DMA: ch/addr/bytes of the new transfer
  import "DPI-C" function int tb_fw_next(input longint unsigned cycle, output int ch,
                                         output longint unsigned addr,
                                         output longint unsigned bytes);

  // ---------------------------------------------------------------- engine
  logic [AW-1:0] px_data, wt_data, sk_data, m_tdata;
  logic [AB-1:0] px_keep, wt_keep, sk_keep, m_tkeep;
  logic px_last, wt_last, sk_last, px_valid, wt_valid, sk_valid, px_ready, wt_ready, sk_ready;
  logic m_tlast, m_tvalid, m_tready;

  dsf_engine u_engine (
    .aclk(aclk), .aresetn(aresetn),
    .s_axis_pixels_tdata(px_data), .s_axis_pixels_tkeep(px_keep), .s_axis_pixels_tlast(px_last),
    .s_axis_pixels_tvalid(px_valid), .s_axis_pixels_tready(px_ready),
    .s_axis_weights_tdata(wt_data), .s_axis_weights_tkeep(wt_keep),
    .s_axis_weights_tlast(wt_last), .s_axis_weights_tvalid(wt_valid),
    .s_axis_weights_tready(wt_ready),
    .s_axis_skip_tdata(sk_data), .s_axis_skip_tkeep(sk_keep), .s_axis_skip_tlast(sk_last),
    .s_axis_skip_tvalid(sk_valid), .s_axis_skip_tready(sk_ready),
    .m_axis_tdata(m_tdata), .m_axis_tkeep(m_tkeep), .m_axis_tlast(m_tlast),
    .m_axis_tvalid(m_tvalid), .m_axis_tready(m_tready)
  );

  // ---------------------------------------------------------------- state
  logic [3:0]  draw;            // the generators' draws for the current cycle
  logic [63:0] cycle;
  logic        fw_done;
  // M2S models 0 (pixels, channel 0), 1 (weights, channel 1), 2 (skip, channel 3)
  localparam int NM = 3;
  function automatic int ch_of(input int m);
    ch_of = (m == 2) ? 3 : m;
  endfunction
  logic        m2s_act [NM];
  logic        m2s_pend [NM];
  logic [63:0] m2s_addr [NM];   // DRAM address of the current beat
  logic [63:0] m2s_left [NM];   // beats left including the current one
  logic [63:0] m2s_bytes [NM];  // transfer bytes
  logic [AW-1:0] m2s_data [NM];
  // S2M
  logic        s2m_act;
  logic [63:0] s2m_addr, s2m_off, s2m_bytes;

  function automatic logic [AB-1:0] keep_of(input logic [63:0] left, input logic [63:0] bytes);
    logic [AB-1:0] k;
    logic [63:0] n;
    k = '1;
    if (left == 1) begin
      n = bytes - ((bytes + 64'(AB) - 1) / 64'(AB) - 1) * 64'(AB);
      for (int i = 0; i < AB; i++) k[i] = (64'(i) < n);
    end
    return k;
  endfunction

  assign px_valid = m2s_act[0] && (m2s_pend[0] || draw[0]);
  assign wt_valid = m2s_act[1] && (m2s_pend[1] || draw[1]);
  assign px_data = m2s_data[0];
  assign wt_data = m2s_data[1];
  assign px_last = m2s_act[0] && m2s_left[0] == 1;
  assign wt_last = m2s_act[1] && m2s_left[1] == 1;
  assign px_keep = keep_of(m2s_left[0], m2s_bytes[0]);
  assign wt_keep = keep_of(m2s_left[1], m2s_bytes[1]);
  assign sk_valid = m2s_act[2] && (m2s_pend[2] || draw[3]);
  assign sk_data = m2s_data[2];
  assign sk_last = m2s_act[2] && m2s_left[2] == 1;
  assign sk_keep = keep_of(m2s_left[2], m2s_bytes[2]);
  assign m_tready = s2m_act && draw[2];

  // ---------------------------------------------------------------- the edge
  always_ff @(posedge aclk) begin
    if (!aresetn) begin
      draw <= 4'(tb_prng_first());      // re-seeded and stepped once: the draws of cycle 0
      cycle <= 0;
      fw_done <= 0;
      for (int c = 0; c < NM; c++) begin
        m2s_act[c] <= 0; m2s_pend[c] <= 0; m2s_addr[c] <= 0; m2s_left[c] <= 0;
        m2s_bytes[c] <= 0; m2s_data[c] <= '0;
      end
      s2m_act <= 0; s2m_addr <= 0; s2m_off <= 0; s2m_bytes <= 0;
    end else begin : edge_blk
      // local copies (all writes back with <= at the end: the engine samples pre-edge values)
      logic a_act [NM];
      logic a_pend [NM];
      logic [63:0] a_addr [NM], a_left [NM], a_bytes [NM];
      logic [AW-1:0] a_data [NM];
      logic o_act;
      logic [63:0] o_addr, o_off, o_bytes;
      logic done_ev [4];          // by DMA channel
      logic [63:0] done_bytes [4];
      logic hs [4];
      logic pres [4];
      logic poll, f_done;
      int k, ch, kept;
      // verilator lint_off UNUSEDSIGNAL
      int err;  // nonzero: the C side has already stopped the run with a report
      // verilator lint_on UNUSEDSIGNAL
      longint unsigned addr, bytes;
      logic [AW-1:0] beat;

      for (int c = 0; c < NM; c++) begin
        a_act[c] = m2s_act[c]; a_pend[c] = m2s_pend[c]; a_addr[c] = m2s_addr[c];
        a_left[c] = m2s_left[c]; a_bytes[c] = m2s_bytes[c]; a_data[c] = m2s_data[c];
      end
      o_act = s2m_act; o_addr = s2m_addr; o_off = s2m_off; o_bytes = s2m_bytes;
      f_done = fw_done;
      for (int c = 0; c < 4; c++) begin done_ev[c] = 0; done_bytes[c] = 0; end

      // 1. handshakes of cycle t
      hs[0] = px_valid && px_ready;
      hs[1] = wt_valid && wt_ready;
      hs[2] = m_tvalid && m_tready;
      hs[3] = sk_valid && sk_ready;
      pres[0] = px_valid;
      pres[1] = wt_valid;
      pres[2] = m_tvalid;
      pres[3] = sk_valid;
      kept = 0;
      for (int m = 0; m < NM; m++) begin
        if (a_act[m]) begin
          if (hs[ch_of(m)]) begin
            a_pend[m] = 0;
            if (a_left[m] == 1) begin
              a_act[m] = 0;
              done_ev[ch_of(m)] = 1;
              done_bytes[ch_of(m)] = a_bytes[m];
            end else begin
              a_left[m] = a_left[m] - 1;
              a_addr[m] = a_addr[m] + 64'(AB);
              tb_dram_read_beat(a_addr[m], beat);
              a_data[m] = beat;
            end
          end else begin
            a_pend[m] = pres[ch_of(m)];
          end
        end
      end
      if (hs[2]) begin
        for (int i = 0; i < AB; i++) if (m_tkeep[i]) kept = i + 1;
        // the C side checks addr + kept against the descriptor (longer transfer: error, stop)
        err = tb_dram_write_beat(o_addr + o_off, m_tdata, kept);
        o_off = o_off + 64'(kept);
        if (m_tlast) begin
          o_act = 0;
          done_ev[2] = 1;
          done_bytes[2] = o_off;
        end
      end
      tb_edge(cycle, {28'b0, m2s_act[2], s2m_act, m2s_act[1], m2s_act[0]},
              {28'b0, pres[3], pres[2], pres[1], pres[0]}, {28'b0, hs[3], hs[2], hs[1], hs[0]},
              kept);

      // 2. completions in channel order
      poll = (cycle == 0);
      for (int c = 0; c < 4; c++)
        if (done_ev[c]) begin
          tb_dma_done(cycle, c, done_bytes[c]);
          poll = 1;
        end

      // 3. poll the firmware
      if (poll && !f_done) begin
        for (int guard = 0; guard < 64; guard++) begin
          k = tb_fw_next(cycle, ch, addr, bytes);
          if (k != 1) begin
            if (k == 3) f_done = 1;
            break;
          end
          if (ch == 2) begin
            o_act = 1; o_addr = addr; o_off = 0; o_bytes = bytes;
          end else if (ch == 0 || ch == 1 || ch == 3) begin
            int m;
            m = (ch == 3) ? 2 : ch;
            a_act[m] = 1; a_pend[m] = 0; a_addr[m] = addr; a_bytes[m] = bytes;
            a_left[m] = (bytes + 64'(AB) - 1) / 64'(AB);
            tb_dram_read_beat(addr, beat);
            a_data[m] = beat;
          end
        end
      end

      for (int c = 0; c < NM; c++) begin
        m2s_act[c] <= a_act[c]; m2s_pend[c] <= a_pend[c]; m2s_addr[c] <= a_addr[c];
        m2s_left[c] <= a_left[c]; m2s_bytes[c] <= a_bytes[c]; m2s_data[c] <= a_data[c];
      end
      s2m_act <= o_act; s2m_addr <= o_addr; s2m_off <= o_off; s2m_bytes <= o_bytes;
      fw_done <= f_done;
      draw <= 4'(tb_prng_next());
      cycle <= cycle + 1;
    end
  end

endmodule
