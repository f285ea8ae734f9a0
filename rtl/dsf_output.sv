// Output path (architecture §3 "Output", §7.5): packet FIFO (NPK entries) + drain shift register.
//  * capture (stage-1 emit): FIFO <= packet built from acc[r][g*KW+KW-1] (pre-update values),
//    word r*CO_PRL+g sign-extended to Y_OUT_BITS; the packet's beats (dsf_cfg::ob_of), its
//    last-beat TKEEP (dsf_cfg::keep_of) and TLAST-of-job travel along. The sequencer issues an
//    emitting shift only when `room` (cnt + cap < NPK), so a capture always finds a free entry.
//  * drain: m_axis_tdata = dr[AXI_WIDTH-1:0]; each accepted beat shifts dr right by AXI_WIDTH.
//    The FIFO head moves into the drain in any cycle where the drain is empty or its last beat is
//    being accepted (so packets leave back-to-back).
// Wide packet registers are legitimately cleared with '0 (> 8k bits for big arrays).
// verilator lint_off WIDTHCONCAT
`include "config_hw.svh"
module dsf_output (
  input  logic                                                   clk,
  input  logic                                                   rstn,
  input  logic                                                   cap,
  input  logic                                                   cap_last,
  input  logic [dsf_cfg::W_KW2-1:0]                              cap_kw2,
  input  logic [dsf_cfg::ROWS*dsf_cfg::COLS*dsf_cfg::Y_BITS-1:0] acc_flat,
  output logic                                                   room,
  output logic [dsf_cfg::AXI_WIDTH-1:0]                          m_tdata,
  output logic [dsf_cfg::AXI_BYTES-1:0]                          m_tkeep,
  output logic                                                   m_tlast,
  output logic                                                   m_tvalid,
  input  logic                                                   m_tready
);
  localparam int ROWS = dsf_cfg::ROWS;
  localparam int COLS = dsf_cfg::COLS;
  localparam int YB = dsf_cfg::Y_BITS;
  localparam int YOB = dsf_cfg::Y_OUT_BITS;
  localparam int AW = dsf_cfg::AXI_WIDTH;
  localparam int NB = dsf_cfg::AXI_BYTES;
  localparam int NPK = dsf_cfg::NPK;
  localparam int OBW = dsf_cfg::OBW;
  localparam int PKW = dsf_cfg::OB_MAX * AW;
  localparam int NKW = 1 << dsf_cfg::W_KW2;
  localparam int KWV = (NKW < COLS) ? NKW : COLS;   // kw2 values that can give CO_PRL >= 1

  // ---- packet assembly for every possible KW (static wiring), then select by kw2
  logic [PKW-1:0] pk [KWV];
  logic [PKW-1:0] pk_sel;

  genvar v, r, g;
  generate
    for (v = 0; v < KWV; v++) begin : g_kw
      localparam int KW = 2 * v + 1;
      localparam int CO = COLS / KW;
      if (CO > 0) begin : g_some
        for (r = 0; r < ROWS; r++) begin : g_r
          for (g = 0; g < CO; g++) begin : g_g
            logic signed [YB-1:0] a;
            assign a = acc_flat[(r*COLS + g*KW + KW - 1)*YB +: YB];
            assign pk[v][(r*CO + g)*YOB +: YOB] = YOB'(a);
          end
        end
        if (ROWS*CO*YOB < PKW) begin : g_pad
          assign pk[v][PKW-1:ROWS*CO*YOB] = '0;
        end
      end else begin : g_none
        assign pk[v] = '0;
      end
    end
  endgenerate

  always_comb begin
    pk_sel = pk[0];
    for (int vv = 0; vv < KWV; vv++) if (cap_kw2 == dsf_cfg::W_KW2'(vv)) pk_sel = pk[vv];
  end

  // ---- packet FIFO (NPK entries) and drain
  logic [PKW-1:0]             q_d [NPK];
  logic [OBW-1:0]             q_ob [NPK];
  logic [NB-1:0]              q_keep [NPK];
  logic [NPK-1:0]             q_last;
  logic [dsf_cfg::NPK_PW-1:0] wp, rp;
  logic [dsf_cfg::NPK_CW-1:0] cnt;
  logic [PKW-1:0]             dr;
  logic [OBW-1:0]             dr_cnt;
  logic [NB-1:0]              dr_keep;
  logic                       dr_v, dr_last, fire, dr_free, pop;

  // room for one more capture, counting the one that may be in stage 1 now (registers only)
  assign room     = (32'(cnt) + 32'(cap)) < NPK;
  assign fire     = dr_v && m_tready;
  assign dr_free  = !dr_v || (fire && dr_cnt == OBW'(1));
  assign pop      = (cnt != '0) && dr_free;
  assign m_tvalid = dr_v;
  assign m_tdata  = dr[AW-1:0];
  // partial TKEEP only on the job's TLAST beat (inner packets are padded with kept zero bytes),
  // as an AXI DMA S2MM requires
  assign m_tkeep  = (dr_cnt == OBW'(1) && dr_last) ? dr_keep : '1;
  assign m_tlast  = dr_last && (dr_cnt == OBW'(1));

  function automatic logic [dsf_cfg::NPK_PW-1:0] inc(logic [dsf_cfg::NPK_PW-1:0] p);
    inc = (32'(p) == NPK - 1) ? '0 : p + 1'b1;
  endfunction

  // FIFO storage: written at a capture, read only after (pointers and count are reset)
  always_ff @(posedge clk) begin
    if (cap) begin
      q_d[wp] <= pk_sel; q_ob[wp] <= dsf_cfg::ob_of(cap_kw2); q_keep[wp] <= dsf_cfg::keep_of(cap_kw2);
      q_last[wp] <= cap_last;
    end
  end

  `DSF_FF begin
    if (!rstn) begin
      wp <= '0; rp <= '0; cnt <= '0;
      dr_v <= 1'b0; dr <= '0; dr_cnt <= '0; dr_keep <= '0; dr_last <= 1'b0;
    end else begin
      if (fire) begin
        dr <= dr >> AW;
        dr_cnt <= dr_cnt - 1'b1;
        if (dr_cnt == OBW'(1)) dr_v <= 1'b0;
      end
      if (pop) begin
        dr_v <= 1'b1; dr <= q_d[rp]; dr_cnt <= q_ob[rp]; dr_keep <= q_keep[rp];
        dr_last <= q_last[rp];
        rp <= inc(rp);
      end
      if (cap) wp <= inc(wp);
      cnt <= cnt + dsf_cfg::NPK_CW'(cap) - dsf_cfg::NPK_CW'(pop);
    end
  end
endmodule
