// Pixel streamer (docs §3 "Pixels", §7): two column slots (ping-pong). Each slot holds either a
// header token (the header beat, 1 beat) or one pixel column (PB beats, PB from the header's KH2).
//  * s_tready = !full[fill]  (registered state only).
//  * The edge that accepts a header beat or the last beat of a column sets full[fill] and toggles
//    fill. After the last column of a job (counted from the header: XN*XL*XW*CM_p columns) the next
//    beat is a header again.
//  * The consumer sees slot rd (slot_full, slot_hdr, slot_data) and frees it with `release_slot`
//    (clears full[rd], toggles rd at that edge).
// Wide packet/row registers are legitimately cleared with '0 (> 8k bits for big arrays).
// verilator lint_off WIDTHCONCAT
module dsf_pixel_streamer #(
  parameter int ROWS = 4,
  parameter int X_BITS = 4,
  parameter int AXI_WIDTH = 64,
  parameter int PR_MAX = 8,
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
  output logic                   slot_full,
  output logic                   slot_hdr,
  output logic [PB_MAX*AXI_WIDTH-1:0] slot_data,
  input  logic                   release_slot
);
  localparam int PB_MAX = (PR_MAX * X_BITS + AXI_WIDTH - 1) / AXI_WIDTH;
  localparam int SW = PB_MAX * AXI_WIDTH;
  localparam int PBW = $clog2(PB_MAX + 1);
  localparam int NKH = 1 << W_KH2;

  logic [SW-1:0]  slot_q [2];
  logic [1:0]     full, hdr;
  logic           fill, rd, hdr_mode, fire, col_done, last_col;
  logic [PBW-1:0] beat, pb_m1, pb_m1_hdr;
  logic [W_CM-1:0] ci, cm_m1;
  logic [W_XW-1:0] w, xw_m1;
  logic [W_XL-1:0] l, xl_m1;
  logic [W_XN-1:0] n, xn_m1;

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
  assign unused_hdr = ^{h_kw2, h_wrows, h_xs};
  // verilator lint_on UNUSEDSIGNAL

  // PB - 1 for every possible KH2 value: ceil((ROWS + 2*kh2) * X_BITS / AXI_WIDTH) - 1
  always_comb begin
    pb_m1_hdr = '0;
    for (int v = 0; v < NKH; v++) begin
      if (h_kh2 == W_KH2'(v)) pb_m1_hdr = PBW'(((ROWS + 2 * v) * X_BITS + AXI_WIDTH - 1) / AXI_WIDTH - 1);
    end
  end

`ifdef DSF_MUT_PIX_READY_STUCK
  assign s_tready  = 1'b1;                       // test-only mutation: stuck ready
`else
  assign s_tready  = !full[fill];
`endif
  assign fire      = s_tvalid && s_tready;
  assign col_done  = fire && !hdr_mode && (beat == pb_m1);
  assign last_col  = (ci == cm_m1) && (w == xw_m1) && (l == xl_m1) && (n == xn_m1);
  assign slot_full = full[rd];
  assign slot_hdr  = hdr[rd];
  assign slot_data = slot_q[rd];

  always_ff @(posedge clk) begin
    if (!rstn) begin
      full <= '0; hdr <= '0; fill <= 1'b0; rd <= 1'b0; hdr_mode <= 1'b1; beat <= '0; pb_m1 <= '0;
      ci <= '0; w <= '0; l <= '0; n <= '0; cm_m1 <= '0; xw_m1 <= '0; xl_m1 <= '0; xn_m1 <= '0;
      slot_q[0] <= '0; slot_q[1] <= '0;
    end else begin
      if (release_slot) begin
        full[rd] <= 1'b0;
        rd <= !rd;
      end
      if (fire) begin
        slot_q[fill][beat*AXI_WIDTH +: AXI_WIDTH] <= s_tdata;
        if (hdr_mode) begin
          full[fill] <= 1'b1; hdr[fill] <= 1'b1; fill <= !fill;
          hdr_mode <= 1'b0; beat <= '0; pb_m1 <= pb_m1_hdr;
          cm_m1 <= h_cm; xw_m1 <= h_xw; xl_m1 <= h_xl; xn_m1 <= h_xn;
          ci <= '0; w <= '0; l <= '0; n <= '0;
        end else if (col_done) begin
          full[fill] <= 1'b1; hdr[fill] <= 1'b0; fill <= !fill; beat <= '0;
          if (last_col) hdr_mode <= 1'b1;
          if (ci != cm_m1) ci <= ci + 1'b1;
          else begin
            ci <= '0;
            if (w != xw_m1) w <= w + 1'b1;
            else begin
              w <= '0;
              if (l != xl_m1) l <= l + 1'b1;
              else begin
                l <= '0;
                n <= n + 1'b1;
              end
            end
          end
        end else begin
          beat <= beat + 1'b1;
        end
      end
    end
  end
endmodule
