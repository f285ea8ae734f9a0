// Output path (architecture §3 "Output", §7.5, §17.3): packet FIFO (NPK entries) + drain shift
// register + the output pipeline's LANES lanes + a two-beat skip FIFO.
//  * capture (stage-1 emit): FIFO <= packet built from acc[r][g*KW+KW-1] (pre-update values):
//    raw job: word r*CO_PRL+g, finish job (cap_fin): word g*ROWS+r (channel-major), each
//    sign-extended to Y_OUT_BITS; the packet's beats (dsf_cfg::ob_of, or ob_fin of the job's
//    channel groups CG = min(CG_M1 + 1, CO_PRL) from its configuration set), its last-beat
//    TKEEP (keep_of / keep_fin), TLAST-of-job, fin, its configuration set and kw2 travel along. The sequencer issues an emitting shift only when `room` (cnt + cap < NPK), so
//    a capture always finds a free entry.
//  * drain, raw packet: m_axis_tdata = dr[AXI_WIDTH-1:0]; each accepted beat shifts dr right by
//    AXI_WIDTH. Finish packet: lane i of the beat is dsf_post_lane over raw word i of dr (packet
//    word k = beat*LANES + i, channel g = k / ROWS, tracked as g0 + (r0 + i) / ROWS), zero for
//    g >= CG (a finish packet ends after its CG channels' words); each accepted beat shifts dr right by LANES*Y_OUT_BITS. The lanes hold their
//    words in registers, loaded at the edges that change their operands from the drain's next
//    state (so the port is driven by flops; same data in every cycle as combinational lanes).
//    An adding finish packet is valid only with a skip beat in the FIFO and pops one per
//    accepted beat.
//    The FIFO head moves into the drain in any cycle where the drain is empty or its last beat is
//    being accepted (so packets leave back-to-back). The TLAST beat of a finish job raises
//    cfg_release (its configuration set is free again).
// Wide packet registers are legitimately cleared with '0 (> 8k bits for big arrays).
// verilator lint_off WIDTHCONCAT
`include "config_hw.svh"
module dsf_output (
  input  logic                                                   clk,
  input  logic                                                   rstn,
  input  logic                                                   cap,
  input  logic                                                   cap_last,
  input  logic [dsf_cfg::W_KW2-1:0]                              cap_kw2,
  input  logic                                                   cap_fin,
  input  logic                                                   cap_cfg,
  input  logic [dsf_cfg::ROWS*dsf_cfg::COLS*dsf_cfg::Y_BITS-1:0] acc_flat,
  output logic                                                   room,
  // the weight loader's configuration sets, and the release of the oldest
  input  logic [dsf_cfg::CFG_BEATS*dsf_cfg::AXI_WIDTH-1:0]       cfg_set0,
  input  logic [dsf_cfg::CFG_BEATS*dsf_cfg::AXI_WIDTH-1:0]       cfg_set1,
  output logic                                                   cfg_release,
  // skip stream (the residual operand, in this job's finished-output format)
  input  logic [dsf_cfg::AXI_WIDTH-1:0]                          s_skip_tdata,
  input  logic                                                   s_skip_tvalid,
  output logic                                                   s_skip_tready,
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
  localparam int XB = dsf_cfg::X_BITS;
  localparam int BB = dsf_cfg::B_BITS;
  localparam int AW = dsf_cfg::AXI_WIDTH;
  localparam int NB = dsf_cfg::AXI_BYTES;
  localparam int NPK = dsf_cfg::NPK;
  localparam int OBW = dsf_cfg::OBW;
  localparam int LANES = dsf_cfg::LANES;
  localparam int PKW = dsf_cfg::OB_MAX * AW;
  localparam int NKW = 1 << dsf_cfg::W_KW2;
  localparam int KWV = (NKW < COLS) ? NKW : COLS;   // kw2 values that can give CO_PRL >= 1
  localparam int GW = 16;       // lane channel / row arithmetic (COLS <= 1024, LANES <= 1024)
  localparam int LQ = LANES / ROWS;
  localparam int LR = LANES % ROWS;

  // ---- packet assembly for every possible KW (static wiring), both orders, then select
  logic [PKW-1:0] pk [KWV];
  logic [PKW-1:0] pkf [KWV];
  logic [PKW-1:0] pk_sel;

  genvar v, r, g, i;
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
            assign pkf[v][(g*ROWS + r)*YOB +: YOB] = YOB'(a);
          end
        end
        if (ROWS*CO*YOB < PKW) begin : g_pad
          assign pk[v][PKW-1:ROWS*CO*YOB] = '0;
          assign pkf[v][PKW-1:ROWS*CO*YOB] = '0;
        end
      end else begin : g_none
        assign pk[v] = '0;
        assign pkf[v] = '0;
      end
    end
  endgenerate

  always_comb begin
    pk_sel = cap_fin ? pkf[0] : pk[0];
    for (int vv = 0; vv < KWV; vv++)
      if (cap_kw2 == dsf_cfg::W_KW2'(vv)) pk_sel = cap_fin ? pkf[vv] : pk[vv];
  end

  // the channel groups a finish packet carries: its configuration's CG_M1 + 1, at most CO_PRL
  // (architecture §17.2); its beats and last-beat TKEEP follow from them
  function automatic logic [dsf_cfg::COW-1:0] fin_groups(
      input logic [dsf_cfg::WP_CG_M1-1:0] cg_m1,
      input logic [dsf_cfg::W_KW2-1:0] kw2);
    logic [31:0] cg, co;
    cg = 32'(cg_m1) + 32'd1;
    co = 32'(dsf_cfg::co_of(kw2));
    fin_groups = dsf_cfg::COW'((cg < co) ? cg : co);
  endfunction
  // verilator lint_off UNUSEDSIGNAL
  logic [dsf_cfg::CFG_BEATS*AW-1:0] cs_cap;
  dsf_cfg::post_t                   cfg_cap;  // the capturing job's set: only CG_M1 is read
  // verilator lint_on UNUSEDSIGNAL
  logic [dsf_cfg::COW-1:0] cg_cap;
  assign cs_cap  = cap_cfg ? cfg_set1 : cfg_set0;
  assign cfg_cap = cs_cap[dsf_cfg::POST_BITS-1:0];
  assign cg_cap  = fin_groups(cfg_cap.cg_m1, cap_kw2);
  logic [NB-1:0] keep_sel;
  assign keep_sel = cap_fin ? dsf_cfg::keep_fin(cg_cap) : dsf_cfg::keep_of(cap_kw2);

  // ---- packet FIFO (NPK entries) and drain
  logic [PKW-1:0]             q_d [NPK];
  logic [OBW-1:0]             q_ob [NPK];
  logic [NB-1:0]              q_keep [NPK];
  logic [dsf_cfg::W_KW2-1:0]  q_kw2 [NPK];
  logic [NPK-1:0]             q_last, q_fin, q_cfg;
  logic [dsf_cfg::NPK_PW-1:0] wp, rp;
  logic [dsf_cfg::NPK_CW-1:0] cnt;
  logic [PKW-1:0]             dr;
  logic [OBW-1:0]             dr_cnt;
  logic [NB-1:0]              dr_keep;
  logic [dsf_cfg::W_KW2-1:0]  dr_kw2;
  logic                       dr_v, dr_last, dr_fin, dr_cfg, fire, dr_free, pop;
  logic [GW-1:0]              g0, r0;       // channel and row of lane 0 (finish packet)

  // ---- skip FIFO (two beats)
  logic [AW-1:0]              sk [2];
  logic [1:0]                 sk_cnt;
  logic                       sk_rp, sk_wp, sk_fire, add;

  // ---- the drained packet's configuration set
  // (the configuration beats' padding after POST_BITS and after the COLS bias words is unused)
  // verilator lint_off UNUSEDSIGNAL
  logic [dsf_cfg::CFG_BEATS*AW-1:0] cs;
  dsf_cfg::post_t                   cfg;      // only ADD is read here (the lanes load cfg_n)
  // verilator lint_on UNUSEDSIGNAL
  assign cs  = dr_cfg ? cfg_set1 : cfg_set0;
  assign cfg = cs[dsf_cfg::POST_BITS-1:0];
  assign add = dr_fin && cfg.add;

  // room for one more capture, counting the one that may be in stage 1 now (registers only)
  assign room     = (32'(cnt) + 32'(cap)) < NPK;
  assign m_tvalid = dr_v && !(add && sk_cnt == 2'd0);
  assign fire     = m_tvalid && m_tready;
  assign dr_free  = !dr_v || (fire && dr_cnt == OBW'(1));
  assign pop      = (cnt != '0) && dr_free;
  assign s_skip_tready = sk_cnt != 2'd2;
  assign sk_fire  = s_skip_tvalid && s_skip_tready;
  assign cfg_release = fire && dr_fin && dr_last && (dr_cnt == OBW'(1));
  // partial TKEEP only on the job's TLAST beat (inner packets are padded with kept zero bytes),
  // as an AXI DMA S2MM requires
  assign m_tkeep  = (dr_cnt == OBW'(1) && dr_last) ? dr_keep : '1;
  assign m_tlast  = dr_last && (dr_cnt == OBW'(1));

  // ---- the LANES lanes of a finish beat, registered in the lanes: at every edge that changes
  // their operands (a packet enters the drain, a beat is accepted, a skip beat is written) they
  // load the beat the drain shows next, so fin_data is always the lanes over the drain's
  // current beat, like a combinational pipeline, but the port is driven by flops
  logic [AW-1:0] fin_data;
  logic          fin_n, cs_sel_n, sk_rp_n, upd;
  logic [dsf_cfg::W_KW2-1:0] kw2_n;
  logic [GW-1:0] g0_n, r0_n, cg_n;
  logic [AW-1:0] sk_n;
  // the drain as the next cycle sees it (the FIFO head on a pop, else shifted on a fire)
  assign fin_n    = pop ? q_fin[rp] : dr_fin;
  assign cs_sel_n = pop ? q_cfg[rp] : dr_cfg;
  assign kw2_n    = pop ? q_kw2[rp] : dr_kw2;
  assign g0_n     = pop ? '0 : !fire ? g0 : (LR != 0 && r0 >= GW'(ROWS - LR)) ? g0 + GW'(LQ + 1)
                                                                              : g0 + GW'(LQ);
  assign r0_n     = pop ? '0 : !fire ? r0 : (LR != 0 && r0 >= GW'(ROWS - LR))
                                             ? r0 + GW'(LR) - GW'(ROWS) : r0 + GW'(LR);
  assign sk_rp_n  = sk_rp ^ (fire && add);
  assign sk_n     = (sk_fire && sk_wp == sk_rp_n) ? s_skip_tdata : sk[sk_rp_n];
  assign upd      = fin_n && (pop || fire || sk_fire);
  // verilator lint_off UNUSEDSIGNAL
  logic [dsf_cfg::CFG_BEATS*AW-1:0] cs_n;
  // verilator lint_on UNUSEDSIGNAL
  dsf_cfg::post_t cfg_n;
  assign cs_n  = cs_sel_n ? cfg_set1 : cfg_set0;
  assign cfg_n = cs_n[dsf_cfg::POST_BITS-1:0];
  assign cg_n  = GW'(fin_groups(cfg_n.cg_m1, kw2_n));
  // the bias words of the next beat's set
  // one entry per value of a COW-bit channel index (entries >= COLS are never selected)
  logic [BB-1:0] bias_w [1 << dsf_cfg::COW];
  generate
    for (g = 0; g < (1 << dsf_cfg::COW); g++) begin : g_bias
      if (g < COLS) begin : g_w
        assign bias_w[g] = cs_n[dsf_cfg::POST_BEATS*AW + g*BB +: BB];
      end else begin : g_0
        assign bias_w[g] = '0;
      end
    end
  endgenerate
  generate
    for (i = 0; i < LANES; i++) begin : g_lane
      // channel of lane i: g0 + (r0 + i) / ROWS, with r0 < ROWS (constant-folded)
      localparam int IQ = i / ROWS;
      localparam int IR = i % ROWS;
      logic [GW-1:0]    gi;
      logic [YOB-1:0]   a, a_n;
      logic [BB-1:0]    b;
      logic             kp;
      assign gi = g0_n + GW'(IQ) + GW'(IR != 0 && r0_n >= GW'(ROWS - IR));
      // raw word i of the next beat: of the popped packet, of the drain shifted by a beat, or
      // of the drain as it is
      if ((LANES + i + 1) * YOB <= PKW) begin : g_a2
        assign a_n = pop ? q_d[rp][i*YOB +: YOB] : fire ? dr[(LANES+i)*YOB +: YOB] : dr[i*YOB +: YOB];
      end else if ((i + 1) * YOB <= PKW) begin : g_a1
        assign a_n = pop ? q_d[rp][i*YOB +: YOB] : fire ? '0 : dr[i*YOB +: YOB];
      end else begin : g_a0
        assign a_n = '0;
      end
      assign a = (gi < cg_n) ? a_n : '0;
      assign b = (gi < GW'(COLS)) ? bias_w[gi[dsf_cfg::COW-1:0]] : '0;
      assign kp = gi < cg_n;
      dsf_post_lane u_lane (.clk(clk), .en(upd), .keep(kp), .a(a), .bias(b),
                            .skip(sk_n[i*XB +: XB]), .cfg(cfg_n), .word(fin_data[i*XB +: XB]));
    end
  endgenerate
  assign m_tdata = dr_fin ? fin_data : dr[AW-1:0];

  function automatic logic [dsf_cfg::NPK_PW-1:0] inc(logic [dsf_cfg::NPK_PW-1:0] p);
    inc = (32'(p) == NPK - 1) ? '0 : p + 1'b1;
  endfunction

  // FIFO storage: written at a capture, read only after (pointers and count are reset)
  always_ff @(posedge clk) begin
    if (cap) begin
      q_d[wp] <= pk_sel;
      q_ob[wp] <= cap_fin ? dsf_cfg::ob_fin(cg_cap) : dsf_cfg::ob_of(cap_kw2);
      q_keep[wp] <= keep_sel;
      q_last[wp] <= cap_last; q_fin[wp] <= cap_fin; q_cfg[wp] <= cap_cfg; q_kw2[wp] <= cap_kw2;
    end
    if (sk_fire) sk[sk_wp] <= s_skip_tdata;
  end

  `DSF_FF begin
    if (!rstn) begin
      wp <= '0; rp <= '0; cnt <= '0;
      dr_v <= 1'b0; dr <= '0; dr_cnt <= '0; dr_keep <= '0; dr_last <= 1'b0;
      dr_fin <= 1'b0; dr_cfg <= 1'b0; dr_kw2 <= '0; g0 <= '0; r0 <= '0;
      sk_cnt <= '0; sk_rp <= 1'b0; sk_wp <= 1'b0;
    end else begin
      if (fire) begin
        dr <= dr_fin ? (dr >> (LANES * YOB)) : (dr >> AW);
        dr_cnt <= dr_cnt - 1'b1;
        // lane 0 moves on by LANES words: (g0, r0) + (LANES / ROWS, LANES % ROWS), carry
        if (LR != 0 && r0 >= GW'(ROWS - LR)) begin
          g0 <= g0 + GW'(LQ + 1); r0 <= r0 + GW'(LR) - GW'(ROWS);
        end else begin
          g0 <= g0 + GW'(LQ); r0 <= r0 + GW'(LR);
        end
        if (dr_cnt == OBW'(1)) dr_v <= 1'b0;
        if (add) sk_rp <= !sk_rp;
      end
      if (sk_fire) sk_wp <= !sk_wp;
      sk_cnt <= sk_cnt + 2'(sk_fire) - 2'(fire && add);
      if (pop) begin
        dr_v <= 1'b1; dr <= q_d[rp]; dr_cnt <= q_ob[rp]; dr_keep <= q_keep[rp];
        dr_last <= q_last[rp]; dr_fin <= q_fin[rp]; dr_cfg <= q_cfg[rp]; dr_kw2 <= q_kw2[rp];
        g0 <= '0; r0 <= '0;
        rp <= inc(rp);
      end
      if (cap) wp <= inc(wp);
      cnt <= cnt + dsf_cfg::NPK_CW'(cap) - dsf_cfg::NPK_CW'(pop);
    end
  end
endmodule
