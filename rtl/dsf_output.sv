// Output path (docs §3 "Output", §7): packet FIFO (KW_MAX/2+2 entries) + drain shift register.
//  * capture (stage-1 emit): FIFO <= packet built from acc[r][g*KW+KW-1] (pre-update values),
//    word r*CO_PRL+g sign-extended to Y_OUT_BITS; OB, last-beat TKEEP and TLAST-of-job travel along.
//    The sequencer issues an emitting shift only when `room` (cnt + cap < NPK), so a capture
//    always finds a free entry.
//  * drain: m_axis_tdata = dr[AXI_WIDTH-1:0]; each accepted beat shifts dr right by AXI_WIDTH.
//    The FIFO head moves into the drain in any cycle where the drain is empty or its last beat is
//    being accepted (so packets leave back-to-back).
// Wide packet/row registers are legitimately cleared with '0 (> 8k bits for big arrays).
// verilator lint_off WIDTHCONCAT
module dsf_output #(
  parameter int ROWS = 4,
  parameter int COLS = 8,
  parameter int Y_BITS = 16,
  parameter int Y_OUT_BITS = 16,
  parameter int AXI_WIDTH = 64,
  parameter int KW_MAX = 5,
  parameter int W_KW2 = 2
) (
  input  logic                        clk,
  input  logic                        rstn,
  input  logic                        cap,
  input  logic                        cap_last,
  input  logic [W_KW2-1:0]            cap_kw2,
  input  logic [ROWS*COLS*Y_BITS-1:0] acc_flat,
  output logic                        room,
  output logic [AXI_WIDTH-1:0]        m_tdata,
  output logic [AXI_WIDTH/8-1:0]      m_tkeep,
  output logic                        m_tlast,
  output logic                        m_tvalid,
  input  logic                        m_tready
);
  localparam int NW = ROWS * COLS;
  localparam int OB_MAX = (NW * Y_OUT_BITS + AXI_WIDTH - 1) / AXI_WIDTH;
  localparam int PKW = OB_MAX * AXI_WIDTH;
  localparam int OBW = $clog2(OB_MAX + 1);
  localparam int NB = AXI_WIDTH / 8;
  localparam int NKW = 1 << W_KW2;
  localparam int KWV = (NKW < COLS) ? NKW : COLS;   // kw2 values that can give CO_PRL >= 1

  // ---- packet assembly for every possible KW (static wiring), then select by kw2
  logic [PKW-1:0]    pk [KWV];
  logic [PKW-1:0]    pk_sel;
  logic [OBW-1:0]    ob_sel;
  logic [NB-1:0]     keep_sel;

  genvar v, r, g;
  generate
    for (v = 0; v < KWV; v++) begin : g_kw
      localparam int KW = 2 * v + 1;
      localparam int CO = COLS / KW;
      if (CO > 0) begin : g_some
        for (r = 0; r < ROWS; r++) begin : g_r
          for (g = 0; g < CO; g++) begin : g_g
            logic signed [Y_BITS-1:0] a;
            assign a = acc_flat[(r*COLS + g*KW + KW - 1)*Y_BITS +: Y_BITS];
            assign pk[v][(r*CO + g)*Y_OUT_BITS +: Y_OUT_BITS] = Y_OUT_BITS'(a);
          end
        end
        if (ROWS*CO*Y_OUT_BITS < PKW) begin : g_pad
          assign pk[v][PKW-1:ROWS*CO*Y_OUT_BITS] = '0;
        end
      end else begin : g_none
        assign pk[v] = '0;
      end
    end
  endgenerate

  function automatic int ob_of(int vv);
    int co;
    co = COLS / (2 * vv + 1);
    if (co < 1) ob_of = 1;
    else ob_of = (ROWS * co * Y_OUT_BITS + AXI_WIDTH - 1) / AXI_WIDTH;
  endfunction

  function automatic int keep_bytes_of(int vv);
    int co;
    co = COLS / (2 * vv + 1);
    if (co < 1) keep_bytes_of = NB;
    else keep_bytes_of = ROWS * co * Y_OUT_BITS / 8 - (ob_of(vv) - 1) * NB;
  endfunction

  always_comb begin
    pk_sel = pk[0]; ob_sel = OBW'(ob_of(0)); keep_sel = '1;
    for (int vv = 0; vv < KWV; vv++) begin
      if (cap_kw2 == W_KW2'(vv)) begin
        pk_sel = pk[vv];
        ob_sel = OBW'(ob_of(vv));
        for (int b = 0; b < NB; b++) keep_sel[b] = (b < keep_bytes_of(vv));
      end
    end
  end

  // ---- packet FIFO (NPK entries) and drain
  localparam int NPK = KW_MAX / 2 + 2;          // P_W+1 flush packets back-to-back + 1
  localparam int PW_ = (NPK < 2) ? 1 : $clog2(NPK);
  localparam int CW = $clog2(NPK + 1);

  logic [PKW-1:0] q_d [NPK];
  logic [OBW-1:0] q_ob [NPK];
  logic [NB-1:0]  q_keep [NPK];
  logic [NPK-1:0] q_last;
  logic [PW_-1:0] wp, rp;
  logic [CW-1:0]  cnt;
  logic [PKW-1:0] dr;
  logic [OBW-1:0] dr_cnt;
  logic [NB-1:0]  dr_keep;
  logic           dr_v, dr_last, fire, dr_free, pop;

  // room for one more capture, counting the one that may be in stage 1 now (registers only)
  assign room     = (32'(cnt) + 32'(cap)) < NPK;
  assign fire     = dr_v && m_tready;
`ifdef DSF_MUT_OUT_LATE_VALID
  assign dr_free  = !dr_v;                       // test-only mutation: late valid (no b2b)
`else
  assign dr_free  = !dr_v || (fire && dr_cnt == OBW'(1));
`endif
  assign pop      = (cnt != '0) && dr_free;
  assign m_tvalid = dr_v;
  assign m_tdata  = dr[AXI_WIDTH-1:0];
`ifdef DSF_MUT_OUT_KEEP
  assign m_tkeep  = '1;                          // test-only mutation: dropped keep
`else
  // partial TKEEP only on the job's TLAST beat (inner packets are padded with kept zero bytes),
  // as an AXI DMA S2MM requires
  assign m_tkeep  = (dr_cnt == OBW'(1) && dr_last) ? dr_keep : '1;
`endif
`ifdef DSF_MUT_OUT_LAST
  assign m_tlast  = dr_last;                     // test-only mutation: wrong last
`else
  assign m_tlast  = dr_last && (dr_cnt == OBW'(1));
`endif

  function automatic logic [PW_-1:0] inc(logic [PW_-1:0] p);
    inc = (32'(p) == NPK - 1) ? '0 : p + 1'b1;
  endfunction

  always_ff @(posedge clk) begin
    if (!rstn) begin
      wp <= '0; rp <= '0; cnt <= '0; q_last <= '0;
      dr_v <= 1'b0; dr <= '0; dr_cnt <= '0; dr_keep <= '0; dr_last <= 1'b0;
    end else begin
      if (fire) begin
        dr <= dr >> AXI_WIDTH;
        dr_cnt <= dr_cnt - 1'b1;
        if (dr_cnt == OBW'(1)) dr_v <= 1'b0;
      end
      if (pop) begin
        dr_v <= 1'b1; dr <= q_d[rp]; dr_cnt <= q_ob[rp]; dr_keep <= q_keep[rp];
        dr_last <= q_last[rp];
        rp <= inc(rp);
      end
      if (cap) begin
        q_d[wp] <= pk_sel; q_ob[wp] <= ob_sel; q_keep[wp] <= keep_sel; q_last[wp] <= cap_last;
        wp <= inc(wp);
      end
      cnt <= cnt + CW'(cap) - CW'(pop);
    end
  end
endmodule
