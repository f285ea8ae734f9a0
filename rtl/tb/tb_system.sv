// tb_system: whole-system testbench (architecture §11): dsf_engine + two M2S DMA models
// (pixels, weights) + one S2M DMA model (output), the architecture §5 handshake draws (stepped by
// the C++ generators of tb_common.h through DPI), and the C firmware (firmware/, non-blocking
// API) driven through DPI-C (rtl/tb/tb_system_dpi.cpp).
// The clock and reset are toggled by rtl/tb/tb_system_main.cpp; this module owns every edge.
//
// During cycle t:  M2S c: valid = active && (pending || draw_c(t)); data = beat `idx` of the
//                  transfer (fetched from DRAM when it becomes current); tlast on the last beat;
//                  tkeep all ones except the last beat (bytes - (n-1)*AXI_BYTES bytes kept).
//                  S2M: tready = active && draw_2(t).
// At the edge ending cycle t (one always block, DPI calls in this order):
//   1. handshakes of t advance the channels (S2M writes kept bytes to DRAM); completions are noted
//   2. completions delivered in channel order 0,1,2: dsf_fw_dma_done(ch, bytes)
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
  // handshake draws of channels 0..2 (bit c): for cycle 0 after re-seeding, then the next cycle's
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
  logic [AW-1:0] px_data, wt_data, m_tdata;
  logic [AB-1:0] px_keep, wt_keep, m_tkeep;
  logic px_last, wt_last, px_valid, wt_valid, px_ready, wt_ready;
  logic m_tlast, m_tvalid, m_tready;

  dsf_engine u_engine (
    .aclk(aclk), .aresetn(aresetn),
    .s_axis_pixels_tdata(px_data), .s_axis_pixels_tkeep(px_keep), .s_axis_pixels_tlast(px_last),
    .s_axis_pixels_tvalid(px_valid), .s_axis_pixels_tready(px_ready),
    .s_axis_weights_tdata(wt_data), .s_axis_weights_tkeep(wt_keep),
    .s_axis_weights_tlast(wt_last), .s_axis_weights_tvalid(wt_valid),
    .s_axis_weights_tready(wt_ready),
    .m_axis_tdata(m_tdata), .m_axis_tkeep(m_tkeep), .m_axis_tlast(m_tlast),
    .m_axis_tvalid(m_tvalid), .m_axis_tready(m_tready)
  );

  // ---------------------------------------------------------------- state
  logic [2:0]  draw;            // the generators' draws for the current cycle
  logic [63:0] cycle;
  logic        fw_done;
  // M2S channels 0 (pixels), 1 (weights)
  logic        m2s_act [2];
  logic        m2s_pend [2];
  logic [63:0] m2s_addr [2];   // DRAM address of the current beat
  logic [63:0] m2s_left [2];   // beats left including the current one
  logic [63:0] m2s_bytes [2];  // transfer bytes
  logic [AW-1:0] m2s_data [2];
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
  assign m_tready = s2m_act && draw[2];

  // ---------------------------------------------------------------- the edge
  always_ff @(posedge aclk) begin
    if (!aresetn) begin
      draw <= 3'(tb_prng_first());      // re-seeded and stepped once: the draws of cycle 0
      cycle <= 0;
      fw_done <= 0;
      for (int c = 0; c < 2; c++) begin
        m2s_act[c] <= 0; m2s_pend[c] <= 0; m2s_addr[c] <= 0; m2s_left[c] <= 0;
        m2s_bytes[c] <= 0; m2s_data[c] <= '0;
      end
      s2m_act <= 0; s2m_addr <= 0; s2m_off <= 0; s2m_bytes <= 0;
    end else begin : edge_blk
      // local copies (all writes back with <= at the end: the engine samples pre-edge values)
      logic a_act [2];
      logic a_pend [2];
      logic [63:0] a_addr [2], a_left [2], a_bytes [2];
      logic [AW-1:0] a_data [2];
      logic o_act;
      logic [63:0] o_addr, o_off, o_bytes;
      logic done_ev [3];
      logic [63:0] done_bytes [3];
      logic hs [3];
      logic pres [3];
      logic poll, f_done;
      int k, ch, kept;
      // verilator lint_off UNUSEDSIGNAL
      int err;  // nonzero: the C side has already stopped the run with a report
      // verilator lint_on UNUSEDSIGNAL
      longint unsigned addr, bytes;
      logic [AW-1:0] beat;

      for (int c = 0; c < 2; c++) begin
        a_act[c] = m2s_act[c]; a_pend[c] = m2s_pend[c]; a_addr[c] = m2s_addr[c];
        a_left[c] = m2s_left[c]; a_bytes[c] = m2s_bytes[c]; a_data[c] = m2s_data[c];
      end
      o_act = s2m_act; o_addr = s2m_addr; o_off = s2m_off; o_bytes = s2m_bytes;
      f_done = fw_done;
      for (int c = 0; c < 3; c++) begin done_ev[c] = 0; done_bytes[c] = 0; end

      // 1. handshakes of cycle t
      hs[0] = px_valid && px_ready;
      hs[1] = wt_valid && wt_ready;
      hs[2] = m_tvalid && m_tready;
      pres[0] = px_valid;
      pres[1] = wt_valid;
      pres[2] = m_tvalid;
      kept = 0;
      for (int c = 0; c < 2; c++) begin
        if (a_act[c]) begin
          if (hs[c]) begin
            a_pend[c] = 0;
            if (a_left[c] == 1) begin
              a_act[c] = 0;
              done_ev[c] = 1;
              done_bytes[c] = a_bytes[c];
            end else begin
              a_left[c] = a_left[c] - 1;
              a_addr[c] = a_addr[c] + 64'(AB);
              tb_dram_read_beat(a_addr[c], beat);
              a_data[c] = beat;
            end
          end else begin
            a_pend[c] = pres[c];
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
      tb_edge(cycle, {29'b0, s2m_act, m2s_act[1], m2s_act[0]},
              {29'b0, pres[2], pres[1], pres[0]}, {29'b0, hs[2], hs[1], hs[0]}, kept);

      // 2. completions in channel order
      poll = (cycle == 0);
      for (int c = 0; c < 3; c++)
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
          end else if (ch == 0 || ch == 1) begin
            a_act[ch] = 1; a_pend[ch] = 0; a_addr[ch] = addr; a_bytes[ch] = bytes;
            a_left[ch] = (bytes + 64'(AB) - 1) / 64'(AB);
            tb_dram_read_beat(addr, beat);
            a_data[ch] = beat;
          end
        end
      end

      for (int c = 0; c < 2; c++) begin
        m2s_act[c] <= a_act[c]; m2s_pend[c] <= a_pend[c]; m2s_addr[c] <= a_addr[c];
        m2s_left[c] <= a_left[c]; m2s_bytes[c] <= a_bytes[c]; m2s_data[c] <= a_data[c];
      end
      s2m_act <= o_act; s2m_addr <= o_addr; s2m_off <= o_off; s2m_bytes <= o_bytes;
      fw_done <= f_done;
      draw <= 3'(tb_prng_next());
      cycle <= cycle + 1;
    end
  end

endmodule
