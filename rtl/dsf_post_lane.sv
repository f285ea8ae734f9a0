// One lane of the output pipeline (architecture §17.1), combinational: bias add, requantisation
// and activation, optional residual add and second requantisation, the low X_BITS bits out.
// Every intermediate is PIPE_BITS two's complement: left shifts wrap (a shift >= PIPE_BITS gives
// 0), right shifts are clamped to PIPE_BITS - 1 and round half to even, clips compare signed.
// compiler/post.py proves per bundle that none of this departs from the integer reference.
`include "config_hw.svh"
module dsf_post_lane (
  input  logic [dsf_cfg::Y_OUT_BITS-1:0] a,      // raw sum, sign-extended to Y_OUT_BITS
  input  logic [dsf_cfg::B_BITS-1:0]     bias,   // bias word of the lane's channel
  input  logic [dsf_cfg::X_BITS-1:0]     skip,   // skip word (ADD)
  input  dsf_cfg::post_t                 cfg,
  output logic [dsf_cfg::X_BITS-1:0]     word
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

  logic signed [P-1:0] v, sk, t;
  // only the low X_BITS bits of the final stage leave the lane
  // verilator lint_off UNUSEDSIGNAL
  logic signed [P-1:0] q1, q2;
  // verilator lint_on UNUSEDSIGNAL
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
  assign v  = shl(a_p, cfg.sh_core)
            + shl($signed({{(P - BB){bias[BB-1]}}, bias}), cfg.sh_bias);
  assign q1 = rq(v, cfg.a1, cfg.b1, cfg.k1, cfg.lo1, cfg.hi1);
  assign sk = cfg.skip_signed ? $signed({{(P - XB){skip[XB-1]}}, skip}) : $signed({{(P - XB){1'b0}}, skip});
  assign t  = shl(q1, cfg.sh_act) + shl(sk, cfg.sh_skip);
  assign q2 = rq(t, cfg.a2, cfg.b2, cfg.k2, cfg.lo2, cfg.hi2);
  assign word = cfg.add ? q2[dsf_cfg::X_BITS-1:0] : q1[dsf_cfg::X_BITS-1:0];
endmodule
