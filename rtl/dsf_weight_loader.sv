// Weight loader + two ping-pong weight banks (docs §3 "Weights", §7).
//  * s_tready = !full[wr_bank]  (registered state only).
//  * Per transfer: 1 header beat (only WROWS_M1 is used), then WROWS rows of WB beats each. A row is
//    written into bank wr_bank at the edge that accepts its last beat; the edge that accepts the
//    last beat of the last row also sets full[wr_bank] and toggles wr_bank.
//  * The compute side reads bank rd_bank (bank_ready = full[rd_bank]) with a 1-cycle registered read
//    and frees it with `release_bank` (clears full[rd_bank], toggles rd_bank at that edge; the read
//    issued in that same cycle still returns the old bank's row).
// Wide packet/row registers are legitimately cleared with '0 (> 8k bits for big arrays).
// verilator lint_off WIDTHCONCAT
module dsf_weight_loader #(
  parameter int COLS = 8,
  parameter int K_BITS = 4,
  parameter int AXI_WIDTH = 64,
  parameter int RAM_WEIGHTS_DEPTH = 20,
  parameter int W_KH2 = 2,
  parameter int W_KW2 = 2,
  parameter int W_CM = 5,
  parameter int W_XW = 5,
  parameter int W_XL = 3,
  parameter int W_XN = 2,
  parameter int W_WROWS = 5
) (
  input  logic                   clk,
  input  logic                   rstn,
  input  logic [AXI_WIDTH-1:0]   s_tdata,
  input  logic                   s_tvalid,
  output logic                   s_tready,
  // compute side
  output logic                   bank_ready,
  input  logic                   release_bank,
  input  logic [W_CM-1:0]        raddr,
  output logic [COLS*K_BITS-1:0] rdata
);
  localparam int RW = COLS * K_BITS;
  localparam int WB = (RW + AXI_WIDTH - 1) / AXI_WIDTH;
  localparam int WBW = $clog2(WB + 1);

  logic [1:0]             full;
  logic                   wr_bank, rd_bank, rd_bank_d;
  logic                   hdr_mode;
  logic [W_WROWS-1:0]     wrows_m1, row;
  logic [WBW-1:0]         beat;
  logic [WB*AXI_WIDTH-1:0] rowbuf, row_next;
  logic                   fire, row_done;

  logic [W_KH2-1:0] h_kh2;
  logic [W_KW2-1:0] h_kw2;
  logic [W_CM-1:0]  h_cm;
  logic [W_XW-1:0]  h_xw;
  logic [W_XL-1:0]  h_xl;
  logic [W_XN-1:0]  h_xn;
  logic [W_WROWS-1:0] h_wrows;
  logic             h_xs;

  dsf_header_decode #(.AXI_WIDTH(AXI_WIDTH), .W_KH2(W_KH2), .W_KW2(W_KW2), .W_CM(W_CM),
    .W_XW(W_XW), .W_XL(W_XL), .W_XN(W_XN), .W_WROWS(W_WROWS)) u_hdr (
    .beat(s_tdata), .kh2(h_kh2), .kw2(h_kw2), .cm_m1(h_cm), .xw_m1(h_xw), .xl_m1(h_xl),
    .xn_m1(h_xn), .wrows_m1(h_wrows), .x_signed(h_xs));

  // verilator lint_off UNUSEDSIGNAL
  logic unused_hdr;
  assign unused_hdr = ^{h_kh2, h_kw2, h_cm, h_xw, h_xl, h_xn, h_xs};
  // verilator lint_on UNUSEDSIGNAL

`ifdef DSF_MUT_WL_READY
  assign s_tready   = !full[rd_bank];            // test-only mutation: swapped ready
`else
  assign s_tready   = !full[wr_bank];
`endif
  assign fire       = s_tvalid && s_tready;
  assign bank_ready = full[rd_bank];
  assign row_done   = fire && !hdr_mode && (beat == WBW'(WB - 1));

  always_comb begin
    row_next = rowbuf;
    row_next[beat*AXI_WIDTH +: AXI_WIDTH] = s_tdata;
  end

  always_ff @(posedge clk) begin
    if (!rstn) begin
      full <= '0; wr_bank <= 1'b0; rd_bank <= 1'b0; rd_bank_d <= 1'b0; hdr_mode <= 1'b1;
      wrows_m1 <= '0; row <= '0; beat <= '0; rowbuf <= '0;
    end else begin
      rd_bank_d <= rd_bank;
      if (release_bank) begin
        full[rd_bank] <= 1'b0;
        rd_bank <= !rd_bank;
      end
      if (fire) begin
        if (hdr_mode) begin
          hdr_mode <= 1'b0; wrows_m1 <= h_wrows; row <= '0; beat <= '0;
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
  logic [W_CM-1:0] waddr;
  assign waddr = W_CM'(row);

  dsf_weight_ram #(.DEPTH(RAM_WEIGHTS_DEPTH), .WIDTH(RW), .AW(W_CM)) u_bank0 (
    .clk(clk), .we(row_done && !wr_bank), .waddr(waddr), .wdata(row_next[RW-1:0]),
    .raddr(raddr), .rdata(rd0));
  dsf_weight_ram #(.DEPTH(RAM_WEIGHTS_DEPTH), .WIDTH(RW), .AW(W_CM)) u_bank1 (
    .clk(clk), .we(row_done && wr_bank), .waddr(waddr), .wdata(row_next[RW-1:0]),
    .raddr(raddr), .rdata(rd1));

`ifdef DSF_MUT_WL_BANK
  assign rdata = rd_bank ? rd1 : rd0;            // test-only mutation: bank swap error
`else
  assign rdata = rd_bank_d ? rd1 : rd0;
`endif
endmodule
