// One lane of the output pipeline (architecture §17.1, §17.3): bias add, requantisation and
// activation, optional residual add and second requantisation, the low X_BITS bits out, loaded
// into the lane's output register at the edges where `en` says its operands change (a beat
// enters the drain, is accepted, or its skip beat arrives). Registered so that the AXI port is
// driven by flops, and so that a simulator evaluates the lane only at those edges, not every
// cycle (Verilator: the engine runs 1.7x faster with 16 lanes).
// Every intermediate is PIPE_BITS two's complement: left shifts wrap (a shift >= PIPE_BITS gives
// 0), right shifts are clamped to PIPE_BITS - 1 and round half to even, clips compare signed.
// compiler/post.py proves per bundle that none of this departs from the integer reference.
`include "config_hw.svh"
module dsf_post_lane (
  input  logic                           clk,
  input  logic                           en,     // load `word` at this edge
  input  logic                           keep,   // the lane carries a packet word (else 0)
  input  logic [dsf_cfg::Y_OUT_BITS-1:0] a,      // raw sum, sign-extended to Y_OUT_BITS
  input  logic [dsf_cfg::B_BITS-1:0]     bias,   // bias word of the lane's channel
  input  logic [dsf_cfg::X_BITS-1:0]     skip,   // skip word (ADD)
  // verilator lint_off UNUSEDSIGNAL
  input  dsf_cfg::post_t                 cfg,    // (CG_M1 is the output's packet length)
  // verilator lint_on UNUSEDSIGNAL
  output logic [dsf_cfg::X_BITS-1:0]     word    // registered
);
  localparam int P  = dsf_cfg::PIPE_BITS;
  localparam int WS = dsf_cfg::W_SHIFT;
  localparam int WK = dsf_cfg::W_SLOPE;
  localparam int WC = dsf_cfg::W_CLIP;
  localparam int YOB = dsf_cfg::Y_OUT_BITS;
  localparam int BB = dsf_cfg::B_BITS;
  localparam int XB = dsf_cfg::X_BITS;
  localparam logic [P-1:0] ONE = {{(P - 1){1'b0}}, 1'b1};

  // x * 2^s modulo 2^P
  function automatic logic signed [P-1:0] shl(input logic signed [P-1:0] x,
                                              input logic [WS-1:0] s);
    shl = x <<< s;
  endfunction

  // round half to even of y / 2^e, e = min(d, P - 1)
  function automatic logic signed [P-1:0] shr_rhe(input logic signed [P-1:0] y,
                                                  input logic [WS:0] d);
    logic [WS:0] e;
    logic signed [P-1:0] fl;
    logic [P-1:0] rem, half;
    logic up;
    e = (32'(d) > P - 1) ? (WS + 1)'(P - 1) : d;
    fl = y >>> e;
    rem = y & ((ONE << e) - ONE);
    half = (e == '0) ? '0 : (ONE << (e - 1'b1));
    up = (e != '0) && ((rem > half) || ((rem == half) && fl[0]));
    shr_rhe = fl + $signed({{(P - 1){1'b0}}, up});
  endfunction

  // requantise: y = x << A, q = rhe(y / 2^(B + (x < 0 ? K : 0))), clip to [LO, HI]
  function automatic logic signed [P-1:0] rq(input logic signed [P-1:0] x,
                                             input logic [WS-1:0] A, input logic [WS-1:0] B,
                                             input logic [WK-1:0] K, input logic [WC-1:0] LO,
                                             input logic [WC-1:0] HI);
    logic signed [P-1:0] q, lo, hi;
    logic [WS:0] d;
    lo = $signed({{(P - WC){LO[WC-1]}}, LO});
    hi = $signed({{(P - WC){HI[WC-1]}}, HI});
    d = {1'b0, B} + (x[P-1] ? (WS + 1)'(K) : '0);
    q = shr_rhe(shl(x, A), d);
    rq = (q < lo) ? lo : ((q > hi) ? hi : q);
  endfunction

  // the whole lane, as a function of its operands (evaluated only where `en` loads it). The
  // configuration comes as its fields, not as the struct: yosys 0.23 cannot select a member of
  // a struct-typed function argument (it read every field as undefined and removed the lane;
  // tests/test_build_flows.py synthesises the lane and checks it)
  function automatic logic [XB-1:0] finish(
      input logic signed [P-1:0] x, input logic [BB-1:0] b, input logic [XB-1:0] s,
      input logic [WS-1:0] sh_core, input logic [WS-1:0] sh_bias,
      input logic [WS-1:0] a1, input logic [WS-1:0] b1, input logic [WK-1:0] k1,
      input logic [WC-1:0] lo1, input logic [WC-1:0] hi1,
      input logic add, input logic skip_signed, input logic [WS-1:0] sh_act,
      input logic [WS-1:0] sh_skip, input logic [WS-1:0] a2, input logic [WS-1:0] b2,
      input logic [WK-1:0] k2, input logic [WC-1:0] lo2, input logic [WC-1:0] hi2);
    logic signed [P-1:0] v, sk, t, q1;
    // only the low X_BITS bits of the final stage leave the lane
    // verilator lint_off UNUSEDSIGNAL
    logic signed [P-1:0] q2;
    // verilator lint_on UNUSEDSIGNAL
    v  = shl(x, sh_core) + shl($signed({{(P - BB){b[BB-1]}}, b}), sh_bias);
    q1 = rq(v, a1, b1, k1, lo1, hi1);
    sk = skip_signed ? $signed({{(P - XB){s[XB-1]}}, s}) : $signed({{(P - XB){1'b0}}, s});
    t  = shl(q1, sh_act) + shl(sk, sh_skip);
    q2 = rq(t, a2, b2, k2, lo2, hi2);
    finish = add ? q2[XB-1:0] : q1[XB-1:0];
  endfunction

  // the raw sum on P bits: sign-extended, or (Y_OUT_BITS > PIPE_BITS) its low P bits, exact
  // because the sum itself has Y_BITS < PIPE_BITS significant bits
  logic signed [P-1:0] a_p;
  if (P > YOB) begin : g_a_ext
    assign a_p = $signed({{(P - YOB){a[YOB-1]}}, a});
  end else if (P == YOB) begin : g_a_same
    assign a_p = $signed(a);
  end else begin : g_a_low
    // verilator lint_off UNUSEDSIGNAL
    logic [YOB-1:0] a_all;
    // verilator lint_on UNUSEDSIGNAL
    assign a_all = a;
    assign a_p = $signed(a_all[P-1:0]);
  end

  // no reset: `word` is read only while the drain holds a finish beat, which loaded it
  always_ff @(posedge clk)
    if (en) word <= keep ? finish(a_p, bias, skip, cfg.sh_core, cfg.sh_bias, cfg.a1, cfg.b1,
                                  cfg.k1, cfg.lo1, cfg.hi1, cfg.add, cfg.skip_signed,
                                  cfg.sh_act, cfg.sh_skip, cfg.a2, cfg.b2, cfg.k2, cfg.lo2,
                                  cfg.hi2) : '0;
endmodule
