// Sequencer (architecture §4, §7.3): walks n -> l -> w -> ci -> kh for the job whose header token
// is in the pixel slot, issuing at most one operation per cycle into stage 1 (the PE array / output
// capture): CLEAR (on the header token), MAC (one (ci, kh) beat; SHIFT too on the column's first
// beat), FLUSH (shift, no MAC; P_W+1 per row block). EMIT marks a shift whose leaving value is an
// output. Stage 0 (this module, cycle t) presents the weight RAM address; stage 1 (cycle t+1)
// registers hold the selected pixel words, the RAM has the row, the PE array updates at the end of
// t+1. A finish job (header FINISH, architecture §17.3) takes the next of the weight loader's two
// configuration sets; s1_fin / s1_cfg travel with the operation to the output capture.
`include "config_hw.svh"
module dsf_sequencer (
  input  logic                                          clk,
  input  logic                                          rstn,
  // pixel slot
  input  logic                                          slot_full,
  input  logic [dsf_cfg::PB_MAX*dsf_cfg::AXI_WIDTH-1:0] slot_data,
  output logic                                          release_slot,
  // weights
  input  logic                                          bank_ready,
  output logic                                          release_bank,
  output logic [dsf_cfg::W_CM_M1-1:0]                   raddr,
  // output packet FIFO has room for one more capture (see dsf_output)
  input  logic                                          out_room,
  // stage-1 operation (registered)
  output logic                                          s1_clear,
  output logic                                          s1_mac,
  output logic                                          s1_shift,
  output logic                                          s1_emit,
  output logic                                          s1_last,
  output logic [dsf_cfg::W_KW2-1:0]                     s1_kw2,
  output logic                                          s1_fin,
  output logic                                          s1_cfg,
  output logic [dsf_cfg::ROWS*(dsf_cfg::X_BITS+1)-1:0]  s1_x
);
  localparam int XB = dsf_cfg::X_BITS;
  localparam int XE = XB + 1;
  localparam int WKH = dsf_cfg::W_KH2 + 1;
  // a word offset inside a slot (PB_MAX beats of AXI_WIDTH / X_BITS words)
  localparam int XOW = $clog2(dsf_cfg::PB_MAX * dsf_cfg::AXI_WIDTH / XB + 1);

  typedef enum logic [1:0] {S_HDR = 2'd0, S_MAC = 2'd1, S_FLUSH = 2'd2} state_t;
  state_t st;

  logic [dsf_cfg::W_KH2-1:0]   kh2;
  logic [dsf_cfg::W_KW2-1:0]   kw2, f;
  logic [dsf_cfg::W_CM_M1-1:0] cm_m1, ci, addr;
  logic [dsf_cfg::W_XW_M1-1:0] xw_m1, w;
  logic [dsf_cfg::W_XL_M1-1:0] xl_m1, l;
  logic [dsf_cfg::W_XN_M1-1:0] xn_m1, n;
  logic                        xs;
  logic [WKH-1:0]              kh;
  logic                        fin, cfg, cfg_nx;   // the job finishes on chip, its set, the next
  // the column inside its pixel slot (architecture §3, §7.3): index, word offset, PK - 1, PR
  logic [dsf_cfg::PKW-1:0]     sub, pk_m1;
  logic [XOW-1:0]              xo, pr;

  // the slot read as a header token (WROWS_M1 is the weight loader's)
  // verilator lint_off UNUSEDSIGNAL
  dsf_cfg::hdr_t h;
  // verilator lint_on UNUSEDSIGNAL
  assign h = slot_data[dsf_cfg::HEADER_BITS-1:0];

  logic kh_last, ci_last, w_last, blk_last, first, emit_mac, emit_fl, f_last, busy_out, col_last;
  logic go_hdr, go_mac, go_fl;

  assign kh_last  = (kh == {kh2, 1'b0});
  assign ci_last  = (ci == cm_m1);
  assign col_last = ci_last || (sub == pk_m1);   // the slot's last column
  assign w_last   = (w == xw_m1);
  assign blk_last = (l == xl_m1) && (n == xn_m1);
  assign first    = (ci == '0) && (kh == '0);
  // column w's first beat emits output w-1-P_W if >= 0  <=>  w > P_W
  assign emit_mac = first && (32'(w) > 32'(kw2));
  // flush beat f emits output XW-1-P_W+f if >= 0  <=>  XW-1+f >= P_W
  assign emit_fl  = (32'(xw_m1) + 32'(f) >= 32'(kw2));
  assign f_last   = (f == kw2);
  // an emitting shift may only be issued if the output FIFO has room (counting stage 1)
  assign busy_out = !out_room;

  assign go_hdr = (st == S_HDR) && slot_full;
  assign go_mac = (st == S_MAC) && slot_full && bank_ready && !(emit_mac && busy_out);
  assign go_fl  = (st == S_FLUSH) && !(emit_fl && busy_out);

  assign release_slot = go_hdr || (go_mac && kh_last && col_last);
  assign release_bank = go_mac && kh_last && ci_last && w_last && blk_last;
  assign raddr        = addr;

  // pixel words x[xo + r + kh], r < ROWS, extended to X_BITS+1 bits (signed pixels: sign-extended)
  logic [dsf_cfg::ROWS*XB-1:0] xwin;
  logic [dsf_cfg::ROWS*XE-1:0] xext;
  assign xwin = slot_data[(32'(xo) + 32'(kh)) * XB +: dsf_cfg::ROWS * XB];
  always_comb begin
    for (int r = 0; r < dsf_cfg::ROWS; r++)
      xext[r*XE +: XE] = {xs & xwin[r*XB + XB - 1], xwin[r*XB +: XB]};
  end

  `DSF_FF begin
    if (!rstn) begin
      st <= S_HDR;
      kh2 <= '0; kw2 <= '0; cm_m1 <= '0; xw_m1 <= '0; xl_m1 <= '0; xn_m1 <= '0; xs <= 1'b0;
      kh <= '0; ci <= '0; addr <= '0; w <= '0; l <= '0; n <= '0; f <= '0;
      s1_clear <= 1'b0; s1_mac <= 1'b0; s1_shift <= 1'b0; s1_emit <= 1'b0; s1_last <= 1'b0;
      s1_kw2 <= '0; s1_x <= '0;
      fin <= 1'b0; cfg <= 1'b0; cfg_nx <= 1'b0; s1_fin <= 1'b0; s1_cfg <= 1'b0;
      sub <= '0; xo <= '0; pk_m1 <= '0; pr <= '0;
    end else begin
      s1_clear <= go_hdr;
      s1_mac   <= go_mac;
      s1_shift <= (go_mac && first) || go_fl;
      s1_emit  <= (go_mac && emit_mac) || (go_fl && emit_fl);
      s1_last  <= go_fl && emit_fl && f_last && blk_last;
      if (go_mac) s1_x <= xext;
      s1_kw2   <= go_hdr ? h.kw2 : kw2;
      s1_fin   <= go_hdr ? h.finish : fin;
      s1_cfg   <= (go_hdr && h.finish) ? cfg_nx : cfg;

      if (go_hdr) begin
        kh2 <= h.kh2; kw2 <= h.kw2; cm_m1 <= h.cm_m1; xw_m1 <= h.xw_m1; xl_m1 <= h.xl_m1;
        xn_m1 <= h.xn_m1; xs <= h.x_signed; fin <= h.finish;
        if (h.finish) begin
          cfg <= cfg_nx;
          cfg_nx <= !cfg_nx;
        end
        kh <= '0; ci <= '0; addr <= '0; w <= '0; l <= '0; n <= '0; f <= '0;
        sub <= '0; xo <= '0; pk_m1 <= dsf_cfg::pk_of(h.kh2) - 1'b1;
        pr <= XOW'(dsf_cfg::ROWS) + XOW'({h.kh2, 1'b0});
        st <= S_MAC;
      end
      if (go_mac) begin
        if (!kh_last) begin
          kh <= kh + 1'b1; addr <= addr + 1'b1;
        end else begin
          kh <= '0;
          if (col_last) begin
            sub <= '0; xo <= '0;
          end else begin
            sub <= sub + 1'b1; xo <= xo + pr;
          end
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
