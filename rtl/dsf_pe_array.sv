// ROWS x COLS PE array with elastic groups of KW columns (architecture §4, §7.4). Stage 1 of the
// pipeline: every PE updates at the end of the cycle in which the stage-1 operation is presented.
//   clear : acc <= 0
//   mac   : acc[r][c] <= base + x[r] * w[c]        (wraps at Y_BITS)
//   shift : base = (c % KW == 0) ? 0 : acc[r][c-1]  else base = acc[r][c]
// KW = 2*kw2+1 comes with the operation. acc_flat exposes the current (pre-update) accumulators.
`include "config_hw.svh"
module dsf_pe_array (
  input  logic                                                   clk,
  input  logic                                                   rstn,
  input  logic                                                   clear,
  input  logic                                                   mac,
  input  logic                                                   shift,
  input  logic [dsf_cfg::W_KW2-1:0]                              kw2,
  input  logic [dsf_cfg::ROWS*(dsf_cfg::X_BITS+1)-1:0]           x,
  input  logic [dsf_cfg::COLS*dsf_cfg::K_BITS-1:0]               wrow,
  output logic [dsf_cfg::ROWS*dsf_cfg::COLS*dsf_cfg::Y_BITS-1:0] acc_flat
);
  localparam int ROWS = dsf_cfg::ROWS;
  localparam int COLS = dsf_cfg::COLS;
  localparam int KB = dsf_cfg::K_BITS;
  localparam int YB = dsf_cfg::Y_BITS;
  localparam int XE = dsf_cfg::X_BITS + 1;
  localparam int PW = XE + KB;
  localparam int NKW = 1 << dsf_cfg::W_KW2;

  logic [YB-1:0] acc [ROWS][COLS];

  // group-start flags for each column and each possible kw2
  // verilator lint_off UNUSEDSIGNAL
  logic [COLS-1:0] gstart;   // bit 0 unused: column 0 always starts a group
  // verilator lint_on UNUSEDSIGNAL
  always_comb begin
    gstart = '0;
    for (int v = 0; v < NKW; v++) begin
      if (kw2 == dsf_cfg::W_KW2'(v)) begin
        for (int c = 0; c < COLS; c++) gstart[c] = ((c % (2 * v + 1)) == 0);
      end
    end
  end

  genvar r, c;
  generate
    for (r = 0; r < ROWS; r++) begin : g_row
      for (c = 0; c < COLS; c++) begin : g_col
        logic signed [XE-1:0] xv;
        logic signed [KB-1:0] wv;
        logic signed [PW-1:0] prod;
        logic [YB-1:0]        prod_y, base, nxt;
        assign xv     = x[r*XE +: XE];
        assign wv     = wrow[c*KB +: KB];
        assign prod   = PW'(xv) * PW'(wv);
        assign prod_y = YB'(prod);
        if (c == 0) begin : g_c0
          assign base = shift ? '0 : acc[r][c];
        end else begin : g_cn
          assign base = shift ? (gstart[c] ? '0 : acc[r][c-1]) : acc[r][c];
        end
        assign nxt = base + (mac ? prod_y : '0);
        `DSF_FF begin
          if (!rstn) acc[r][c] <= '0;
          else if (clear) acc[r][c] <= '0;
          else if (mac || shift) acc[r][c] <= nxt;
        end
        assign acc_flat[(r*COLS + c)*YB +: YB] = acc[r][c];
      end
    end
  endgenerate
endmodule
