// Sequencer (docs §4, §7): walks n -> l -> w -> ci -> kh for the job whose header token is in the
// pixel slot, issuing at most one operation per cycle into stage 1 (the PE array / output capture):
//   CLEAR (on the header token), MAC (one (ci, kh) beat; SHIFT too on the column's first beat),
//   FLUSH (shift, no MAC; P_W+1 per row block). EMIT marks a shift whose leaving value is an output.
// Stage 0 (this module, cycle t) presents the weight RAM address; stage 1 (cycle t+1) registers
// hold the selected pixel words, the RAM has the row, the PE array updates at the end of t+1.
module dsf_sequencer #(
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
  input  logic                    clk,
  input  logic                    rstn,
  // pixel slot
  input  logic                    slot_full,
  input  logic                    slot_hdr,
  input  logic [PB_MAX*AXI_WIDTH-1:0] slot_data,
  output logic                    release_slot,
  // weights
  input  logic                    bank_ready,
  output logic                    release_bank,
  output logic [W_CM-1:0]         raddr,
  // output packet FIFO has room for one more capture (see dsf_output)
  input  logic                    out_room,
  // stage-1 operation (registered)
  output logic                    s1_clear,
  output logic                    s1_mac,
  output logic                    s1_shift,
  output logic                    s1_emit,
  output logic                    s1_last,
  output logic [W_KW2-1:0]        s1_kw2,
  output logic [ROWS*(X_BITS+1)-1:0] s1_x
);
  localparam int PB_MAX = (PR_MAX * X_BITS + AXI_WIDTH - 1) / AXI_WIDTH;
  localparam int WKH = W_KH2 + 1;
  localparam int XE = X_BITS + 1;

  typedef enum logic [1:0] {S_HDR = 2'd0, S_MAC = 2'd1, S_FLUSH = 2'd2} state_t;
  state_t st;

  logic [W_KH2-1:0] kh2;
  logic [W_KW2-1:0] kw2, f;
  logic [W_CM-1:0]  cm_m1, ci, addr;
  logic [W_XW-1:0]  xw_m1, w;
  logic [W_XL-1:0]  xl_m1, l;
  logic [W_XN-1:0]  xn_m1, n;
  logic             xs;
  logic [WKH-1:0]   kh;

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
    .beat(slot_data[AXI_WIDTH-1:0]), .kh2(h_kh2), .kw2(h_kw2), .cm_m1(h_cm), .xw_m1(h_xw),
    .xl_m1(h_xl), .xn_m1(h_xn), .wrows_m1(h_wrows), .x_signed(h_xs));

  // verilator lint_off UNUSEDSIGNAL
  logic unused_hdr;
  assign unused_hdr = ^{h_wrows, slot_hdr};
  // verilator lint_on UNUSEDSIGNAL

  logic kh_last, ci_last, w_last, blk_last, first, emit_mac, emit_fl, f_last, busy_out;
  logic go_hdr, go_mac, go_fl;
  logic [WKH-1:0] kh_m1;

  assign kh_m1    = {kh2, 1'b0};
  assign kh_last  = (kh == kh_m1);
  assign ci_last  = (ci == cm_m1);
  assign w_last   = (w == xw_m1);
  assign blk_last = (l == xl_m1) && (n == xn_m1);
  assign first    = (ci == '0) && (kh == '0);
  // column w's first beat emits output w-1-P_W if >= 0  <=>  w > P_W
`ifdef DSF_MUT_SEQ_EMIT
  assign emit_mac = first && (32'(w) >= 32'(kw2));  // test-only mutation: off-by-one
`else
  assign emit_mac = first && (32'(w) > 32'(kw2));
`endif
  // flush beat f emits output XW-1-P_W+f if >= 0  <=>  XW-1+f >= P_W
  assign emit_fl  = (32'(xw_m1) + 32'(f) >= 32'(kw2));
`ifdef DSF_MUT_SEQ_FLUSH
  assign f_last   = (32'(f) == 32'(kw2) + 1);    // test-only mutation: flush count
`else
  assign f_last   = (f == kw2);
`endif
  // an emitting shift may only be issued if the output FIFO has room (counting stage 1)
  assign busy_out = !out_room;

  assign go_hdr = (st == S_HDR) && slot_full;
  assign go_mac = (st == S_MAC) && slot_full && bank_ready && !(emit_mac && busy_out);
  assign go_fl  = (st == S_FLUSH) && !(emit_fl && busy_out);

  assign release_slot = go_hdr || (go_mac && kh_last);
  assign release_bank = go_mac && kh_last && ci_last && w_last && blk_last;
  assign raddr        = addr;

  // pixel words x[r + kh], r < ROWS, extended to X_BITS+1 bits
  logic [ROWS*X_BITS-1:0] xwin;
  logic [ROWS*XE-1:0]     xext;
  assign xwin = slot_data[32'(kh) * X_BITS +: ROWS * X_BITS];
  always_comb begin
    for (int r = 0; r < ROWS; r++)
`ifdef DSF_MUT_SEQ_SIGN
      xext[r*XE +: XE] = {1'b0, xwin[r*X_BITS +: X_BITS]};   // test-only mutation: no sext
`else
      xext[r*XE +: XE] = {xs & xwin[r*X_BITS + X_BITS - 1], xwin[r*X_BITS +: X_BITS]};
`endif
  end

  always_ff @(posedge clk) begin
    if (!rstn) begin
      st <= S_HDR;
      kh2 <= '0; kw2 <= '0; cm_m1 <= '0; xw_m1 <= '0; xl_m1 <= '0; xn_m1 <= '0; xs <= 1'b0;
      kh <= '0; ci <= '0; addr <= '0; w <= '0; l <= '0; n <= '0; f <= '0;
      s1_clear <= 1'b0; s1_mac <= 1'b0; s1_shift <= 1'b0; s1_emit <= 1'b0; s1_last <= 1'b0;
      s1_kw2 <= '0; s1_x <= '0;
    end else begin
      s1_clear <= go_hdr;
      s1_mac   <= go_mac;
      s1_shift <= (go_mac && first) || go_fl;
      s1_emit  <= (go_mac && emit_mac) || (go_fl && emit_fl);
      s1_last  <= go_fl && emit_fl && f_last && blk_last;
      if (go_mac) s1_x <= xext;
      s1_kw2   <= go_hdr ? h_kw2 : kw2;

      if (go_hdr) begin
        kh2 <= h_kh2; kw2 <= h_kw2; cm_m1 <= h_cm; xw_m1 <= h_xw; xl_m1 <= h_xl; xn_m1 <= h_xn;
        xs <= h_xs;
        kh <= '0; ci <= '0; addr <= '0; w <= '0; l <= '0; n <= '0; f <= '0;
        st <= S_MAC;
      end
      if (go_mac) begin
        if (!kh_last) begin
          kh <= kh + 1'b1; addr <= addr + 1'b1;
        end else begin
          kh <= '0;
          if (!ci_last) begin
            ci <= ci + 1'b1; addr <= addr + 1'b1;
          end else begin
            ci <= '0; addr <= '0;
            if (!w_last) w <= w + 1'b1;
            else begin
              w <= '0; f <= '0; st <= S_FLUSH;
            end
          end
        end
      end
      if (go_fl) begin
        if (!f_last) f <= f + 1'b1;
        else begin
          f <= '0;
          if (blk_last) st <= S_HDR;
          else begin
            st <= S_MAC;
            if (l != xl_m1) l <= l + 1'b1;
            else begin
              l <= '0; n <= n + 1'b1;
            end
          end
        end
      end
    end
  end
endmodule
