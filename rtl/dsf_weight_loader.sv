// Weight loader + two ping-pong weight banks (architecture §3 "Weights", §7.2) + the output
// pipeline's two configuration sets (§17.3).
//  * s_tready = !full[wr_bank] && !(configuration beats && cfg_full[cfg_wr])  (registers only).
//  * Per transfer: 1 header beat (WROWS_M1, FINISH), for a finish job CFG_BEATS configuration and
//    bias beats into set cfg_wr (the last one sets cfg_full[cfg_wr] and toggles cfg_wr), then
//    WROWS rows of WB beats each. A row is written into bank wr_bank at the edge that accepts its
//    last beat; the edge that accepts the last beat of the last row also sets full[wr_bank] and
//    toggles wr_bank. `cfg_release` (the output's TLAST beat of a finish job) clears
//    cfg_full[cfg_free] and toggles cfg_free: sets are filled and freed in job order.
//  * The compute side reads bank rd_bank (bank_ready = full[rd_bank]) with a 1-cycle registered read
//    and frees it with `release_bank` (clears full[rd_bank], toggles rd_bank at that edge; the read
//    issued in that same cycle still returns the old bank's row).
// Wide row registers are legitimately cleared with '0 (> 8k bits for big arrays).
// verilator lint_off WIDTHCONCAT
`include "config_hw.svh"
module dsf_weight_loader (
  input  logic                                     clk,
  input  logic                                     rstn,
  input  logic [dsf_cfg::AXI_WIDTH-1:0]            s_tdata,
  input  logic                                     s_tvalid,
  output logic                                     s_tready,
  // compute side
  output logic                                     bank_ready,
  input  logic                                     release_bank,
  input  logic [dsf_cfg::W_CM_M1-1:0]              raddr,
  output logic [dsf_cfg::COLS*dsf_cfg::K_BITS-1:0] rdata,
  // output pipeline: both configuration sets, and the release of the oldest
  input  logic                                     cfg_release,
  output logic [dsf_cfg::CFG_BEATS*dsf_cfg::AXI_WIDTH-1:0] cfg_set0,
  output logic [dsf_cfg::CFG_BEATS*dsf_cfg::AXI_WIDTH-1:0] cfg_set1
);
  localparam int AW = dsf_cfg::AXI_WIDTH;
  localparam int RW = dsf_cfg::COLS * dsf_cfg::K_BITS;

  logic [1:0]                    full;
  logic                          wr_bank, rd_bank, rd_bank_d;
  logic                          hdr_mode;
  logic [dsf_cfg::W_WROWS_M1-1:0] wrows_m1, row;
  logic [dsf_cfg::WBW-1:0]       beat;
  logic [dsf_cfg::WB*AW-1:0]     rowbuf, row_next;
  logic                          fire, row_done;
  logic                          cfg_mode, cfg_wr, cfg_free, cfg_wait;
  logic [1:0]                    cfg_full;
  logic [dsf_cfg::CFGBW-1:0]     cbeat;
  logic [dsf_cfg::CFG_BEATS*AW-1:0] cfgset [2];

  assign cfg_set0 = cfgset[0];
  assign cfg_set1 = cfgset[1];

  // the incoming beat read as a header (only WROWS_M1 and FINISH are used here)
  // verilator lint_off UNUSEDSIGNAL
  dsf_cfg::hdr_t h;
  // verilator lint_on UNUSEDSIGNAL
  assign h = s_tdata[dsf_cfg::HEADER_BITS-1:0];

  assign cfg_wait   = cfg_mode && cfg_full[cfg_wr];
  assign s_tready   = !full[wr_bank] && !cfg_wait;
  assign fire       = s_tvalid && s_tready;
  assign bank_ready = full[rd_bank];
  assign row_done   = fire && !hdr_mode && !cfg_mode && (beat == dsf_cfg::WBW'(dsf_cfg::WB - 1));

  always_comb begin
    row_next = rowbuf;
    row_next[beat*AW +: AW] = s_tdata;
  end

  `DSF_FF begin
    if (!rstn) begin
      full <= '0; wr_bank <= 1'b0; rd_bank <= 1'b0; rd_bank_d <= 1'b0; hdr_mode <= 1'b1;
      wrows_m1 <= '0; row <= '0; beat <= '0; rowbuf <= '0;
      cfg_mode <= 1'b0; cbeat <= '0; cfg_wr <= 1'b0; cfg_free <= 1'b0; cfg_full <= '0;
      cfgset[0] <= '0; cfgset[1] <= '0;
    end else begin
      rd_bank_d <= rd_bank;
      if (release_bank) begin
        full[rd_bank] <= 1'b0;
        rd_bank <= !rd_bank;
      end
      if (cfg_release) begin
        cfg_full[cfg_free] <= 1'b0;
        cfg_free <= !cfg_free;
      end
      if (fire) begin
        if (hdr_mode) begin
          hdr_mode <= 1'b0; wrows_m1 <= h.wrows_m1; row <= '0; beat <= '0;
          cfg_mode <= h.finish; cbeat <= '0;
        end else if (cfg_mode) begin
          cfgset[cfg_wr][32'(cbeat)*AW +: AW] <= s_tdata;
          if (cbeat == dsf_cfg::CFGBW'(dsf_cfg::CFG_BEATS - 1)) begin
            cfg_mode <= 1'b0; cbeat <= '0;
            cfg_full[cfg_wr] <= 1'b1;
            cfg_wr <= !cfg_wr;
          end else begin
            cbeat <= cbeat + 1'b1;
          end
        end else begin
          rowbuf <= row_next;
          if (row_done) begin
            beat <= '0;
            if (row == wrows_m1) begin
              full[wr_bank] <= 1'b1;
              wr_bank <= !wr_bank;
              hdr_mode <= 1'b1;
            end else begin
              row <= row + 1'b1;
            end
          end else begin
            beat <= beat + 1'b1;
          end
        end
      end
    end
  end

  logic [RW-1:0] rd0, rd1;
  logic [dsf_cfg::W_CM_M1-1:0] waddr;
  assign waddr = dsf_cfg::W_CM_M1'(row);

  dsf_weight_ram #(.DEPTH(dsf_cfg::RAM_WEIGHTS_DEPTH), .WIDTH(RW), .AW(dsf_cfg::W_CM_M1)) u_bank0 (
    .clk(clk), .we(row_done && !wr_bank), .waddr(waddr), .wdata(row_next[RW-1:0]),
    .raddr(raddr), .rdata(rd0));
  dsf_weight_ram #(.DEPTH(dsf_cfg::RAM_WEIGHTS_DEPTH), .WIDTH(RW), .AW(dsf_cfg::W_CM_M1)) u_bank1 (
    .clk(clk), .we(row_done && wr_bank), .waddr(waddr), .wdata(row_next[RW-1:0]),
    .raddr(raddr), .rdata(rd1));

  assign rdata = rd_bank_d ? rd1 : rd0;
endmodule
