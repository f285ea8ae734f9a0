// ROWS x COLS PE array with elastic groups of KW columns (docs §4, §7). Stage 1 of the pipeline:
// every PE updates at the end of the cycle in which the stage-1 operation is presented.
//   clear : acc <= 0
//   mac   : acc[r][c] <= base + x[r] * w[c]        (wraps at Y_BITS)
//   shift : base = (c % KW == 0) ? 0 : acc[r][c-1]  else base = acc[r][c]
// KW = 2*kw2+1 comes with the operation. acc_flat exposes the current (pre-update) accumulators.
module dsf_pe_array #(
  parameter int ROWS = 4,
  parameter int COLS = 8,
  parameter int X_BITS = 4,
  parameter int K_BITS = 4,
  parameter int Y_BITS = 16,
  parameter int W_KW2 = 2
) (
  input  logic                        clk,
  input  logic                        rstn,
  input  logic                        clear,
  input  logic                        mac,
  input  logic                        shift,
  input  logic [W_KW2-1:0]            kw2,
  input  logic [ROWS*(X_BITS+1)-1:0]  x,
  input  logic [COLS*K_BITS-1:0]      wrow,
  output logic [ROWS*COLS*Y_BITS-1:0] acc_flat
);
  localparam int XE = X_BITS + 1;
  localparam int PW = XE + K_BITS;
  localparam int NKW = 1 << W_KW2;

  logic [Y_BITS-1:0] acc [ROWS][COLS];

  // group-start flags for each column and each possible kw2
  // verilator lint_off UNUSEDSIGNAL
  logic [COLS-1:0] gstart;   // bit 0 unused: column 0 always starts a group
  // verilator lint_on UNUSEDSIGNAL
  always_comb begin
    gstart = '0;
    for (int v = 0; v < NKW; v++) begin
      if (kw2 == W_KW2'(v)) begin
        for (int c = 0; c < COLS; c++) gstart[c] = ((c % (2 * v + 1)) == 0);
      end
    end
  end

  genvar r, c;
  generate
    for (r = 0; r < ROWS; r++) begin : g_row
      for (c = 0; c < COLS; c++) begin : g_col
        logic signed [XE-1:0]     xv;
        logic signed [K_BITS-1:0] wv;
        logic signed [PW-1:0]     prod;
        logic [Y_BITS-1:0]        prod_y, base, nxt;
        assign xv     = x[r*XE +: XE];
        assign wv     = wrow[c*K_BITS +: K_BITS];
        assign prod   = PW'(xv) * PW'(wv);
        assign prod_y = Y_BITS'(prod);
        if (c == 0) begin : g_c0
          assign base = shift ? '0 : acc[r][c];
        end else begin : g_cn
`ifdef DSF_MUT_PE_SHIFT
          assign base = shift ? acc[r][c-1] : acc[r][c];   // test-only mutation: wrong shift
`else
          assign base = shift ? (gstart[c] ? '0 : acc[r][c-1]) : acc[r][c];
`endif
        end
        assign nxt = base + (mac ? prod_y : '0);
        always_ff @(posedge clk) begin
          if (!rstn || clear) acc[r][c] <= '0;
          else if (mac || shift) acc[r][c] <= nxt;
        end
        assign acc_flat[(r*COLS + c)*Y_BITS +: Y_BITS] = acc[r][c];
      end
    end
  endgenerate
endmodule
