// Pixel streamer (architecture §7.1): two slots (ping-pong). Each slot holds either a header
// token (the header beat) or PB beats (PB from the header's KH2) with up to PK pixel columns of one
// pixel position (PK from KH2; architecture §3).
//  * s_tready = !full[fill]  (registered state only).
//  * The edge that accepts a header beat or the last beat of a column sets full[fill] and toggles
//    fill. After the last slot of a job (counted from the header: XN*XL*XW positions of
//    cdiv(CM_p, PK) slots) the next beat is a header again.
//  * The consumer sees slot rd (slot_full, slot_data) and frees it with `release_slot` (clears
//    full[rd], toggles rd at that edge).
// Wide slot registers are legitimately cleared with '0 (> 8k bits for big arrays).
// verilator lint_off WIDTHCONCAT
`include "config_hw.svh"
module dsf_pixel_streamer (
  input  logic                                          clk,
  input  logic                                          rstn,
  input  logic [dsf_cfg::AXI_WIDTH-1:0]                 s_tdata,
  input  logic                                          s_tvalid,
  output logic                                          s_tready,
  output logic                                          slot_full,
  output logic [dsf_cfg::PB_MAX*dsf_cfg::AXI_WIDTH-1:0] slot_data,
  input  logic                                          release_slot
);
  localparam int AW = dsf_cfg::AXI_WIDTH;

  logic [dsf_cfg::PB_MAX*AW-1:0] slot_q [2];
  logic [1:0]                    full;
  logic                          fill, rd, hdr_mode, fire, col_done, last_col, pos_last;
  logic [dsf_cfg::PBW-1:0]       beat, pb_m1;
  logic [dsf_cfg::PKW-1:0]       pk_m1;
  logic [dsf_cfg::W_CM_M1-1:0]   ci, cm_m1;
  logic [dsf_cfg::W_XW_M1-1:0]   w, xw_m1;
  logic [dsf_cfg::W_XL_M1-1:0]   l, xl_m1;
  logic [dsf_cfg::W_XN_M1-1:0]   n, xn_m1;

  // the incoming beat read as a header (only the job-length fields and KH2 are used here)
  // verilator lint_off UNUSEDSIGNAL
  dsf_cfg::hdr_t h;
  // verilator lint_on UNUSEDSIGNAL
  assign h = s_tdata[dsf_cfg::HEADER_BITS-1:0];

  assign s_tready  = !full[fill];
  assign fire      = s_tvalid && s_tready;
  assign col_done  = fire && !hdr_mode && (beat == pb_m1);
  // the slot holds channels ci .. ci+PK-1 (the position's last slot: the rest up to cm_m1)
  assign pos_last  = 32'(ci) + 32'(pk_m1) >= 32'(cm_m1);
  assign last_col  = pos_last && (w == xw_m1) && (l == xl_m1) && (n == xn_m1);
  assign slot_full = full[rd];
  assign slot_data = slot_q[rd];

  `DSF_FF begin
    if (!rstn) begin
      full <= '0; fill <= 1'b0; rd <= 1'b0; hdr_mode <= 1'b1; beat <= '0; pb_m1 <= '0;
      pk_m1 <= '0;
      ci <= '0; w <= '0; l <= '0; n <= '0; cm_m1 <= '0; xw_m1 <= '0; xl_m1 <= '0; xn_m1 <= '0;
      slot_q[0] <= '0; slot_q[1] <= '0;
    end else begin
      if (release_slot) begin
        full[rd] <= 1'b0;
        rd <= !rd;
      end
      if (fire) begin
        slot_q[fill][beat*AW +: AW] <= s_tdata;
        if (hdr_mode) begin
          full[fill] <= 1'b1; fill <= !fill;
          hdr_mode <= 1'b0; beat <= '0; pb_m1 <= dsf_cfg::pb_of(h.kh2) - 1'b1;
          pk_m1 <= dsf_cfg::pk_of(h.kh2) - 1'b1;
          cm_m1 <= h.cm_m1; xw_m1 <= h.xw_m1; xl_m1 <= h.xl_m1; xn_m1 <= h.xn_m1;
          ci <= '0; w <= '0; l <= '0; n <= '0;
        end else if (col_done) begin
          full[fill] <= 1'b1; fill <= !fill; beat <= '0;
          if (last_col) hdr_mode <= 1'b1;
          if (!pos_last) ci <= ci + dsf_cfg::W_CM_M1'(pk_m1) + 1'b1;
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
