// Header beat decoder (docs/architecture.md §2): fields packed LSB-first in the order
// KH2, KW2, CM_M1, XW_M1, XL_M1, XN_M1, WROWS_M1, X_SIGNED. Purely combinational.
module dsf_header_decode #(
  parameter int AXI_WIDTH = 64,
  parameter int W_KH2 = 2,
  parameter int W_KW2 = 2,
  parameter int W_CM = 5,
  parameter int W_XW = 5,
  parameter int W_XL = 3,
  parameter int W_XN = 2,
  parameter int W_WROWS = 5
) (
  /* verilator lint_off UNUSEDSIGNAL */
  input  logic [AXI_WIDTH-1:0] beat,   // high (unused) bits are zero by contract
  /* verilator lint_on UNUSEDSIGNAL */
  output logic [W_KH2-1:0]     kh2,
  output logic [W_KW2-1:0]     kw2,
  output logic [W_CM-1:0]      cm_m1,
  output logic [W_XW-1:0]      xw_m1,
  output logic [W_XL-1:0]      xl_m1,
  output logic [W_XN-1:0]      xn_m1,
  output logic [W_WROWS-1:0]   wrows_m1,
  output logic                 x_signed
);
  localparam int O_KH2   = 0;
  localparam int O_KW2   = O_KH2 + W_KH2;
  localparam int O_CM    = O_KW2 + W_KW2;
  localparam int O_XW    = O_CM + W_CM;
  localparam int O_XL    = O_XW + W_XW;
  localparam int O_XN    = O_XL + W_XL;
  localparam int O_WROWS = O_XN + W_XN;
  localparam int O_XS    = O_WROWS + W_WROWS;

  assign kh2      = beat[O_KH2 +: W_KH2];
  assign kw2      = beat[O_KW2 +: W_KW2];
  assign cm_m1    = beat[O_CM +: W_CM];
  assign xw_m1    = beat[O_XW +: W_XW];
  assign xl_m1    = beat[O_XL +: W_XL];
  assign xn_m1    = beat[O_XN +: W_XN];
  assign wrows_m1 = beat[O_WROWS +: W_WROWS];
  assign x_signed = beat[O_XS];
endmodule
