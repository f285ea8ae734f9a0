// dsf_engine: top level of the DeepSoCFlow-style engine (docs/architecture.md; micro-architecture
// and cycle timing in §7). Two AXI-Stream slaves (pixels, weights), one master (raw sums).
`include "config_hw.svh"

module dsf_engine #(
  parameter int ROWS              = `ROWS,
  parameter int COLS              = `COLS,
  parameter int X_BITS            = `X_BITS,
  parameter int K_BITS            = `K_BITS,
  parameter int Y_BITS            = `Y_BITS,
  parameter int Y_OUT_BITS        = `Y_OUT_BITS,
  parameter int KH_MAX            = `KH_MAX,
  parameter int KW_MAX            = `KW_MAX,
  parameter int RAM_WEIGHTS_DEPTH = `RAM_WEIGHTS_DEPTH,
  parameter int AXI_WIDTH         = `AXI_WIDTH,
  parameter int W_KH2             = `W_KH2,
  parameter int W_KW2             = `W_KW2,
  parameter int W_CM              = `W_CM,
  parameter int W_XW              = `W_XW,
  parameter int W_XL              = `W_XL,
  parameter int W_XN              = `W_XN,
  parameter int W_WROWS           = `W_WROWS,
  parameter int PR_MAX            = `PR_MAX
) (
  input  logic                   aclk,
  input  logic                   aresetn,

  input  logic [AXI_WIDTH-1:0]   s_axis_pixels_tdata,
  input  logic [AXI_WIDTH/8-1:0] s_axis_pixels_tkeep,
  input  logic                   s_axis_pixels_tlast,
  input  logic                   s_axis_pixels_tvalid,
  output logic                   s_axis_pixels_tready,

  input  logic [AXI_WIDTH-1:0]   s_axis_weights_tdata,
  input  logic [AXI_WIDTH/8-1:0] s_axis_weights_tkeep,
  input  logic                   s_axis_weights_tlast,
  input  logic                   s_axis_weights_tvalid,
  output logic                   s_axis_weights_tready,

  output logic [AXI_WIDTH-1:0]   m_axis_tdata,
  output logic [AXI_WIDTH/8-1:0] m_axis_tkeep,
  output logic                   m_axis_tlast,
  output logic                   m_axis_tvalid,
  input  logic                   m_axis_tready
`ifdef DSF_DEBUG_PORTS
  // test-only internal state for lockstep co-simulation (dsf_sim/rtl_bridge/lockstep.py)
  ,
  output logic [1:0]             dbg_seq_st,
  output logic [W_XN-1:0]        dbg_n,
  output logic [W_XL-1:0]        dbg_l,
  output logic [W_XW-1:0]        dbg_w,
  output logic [W_CM-1:0]        dbg_ci,
  output logic [W_KH2:0]         dbg_kh,
  output logic [W_KW2-1:0]       dbg_f,
  output logic [1:0]             dbg_pix_full,
  output logic [1:0]             dbg_wb_full,
  output logic [7:0]             dbg_out_cnt,
  output logic [W_CM-1:0]        dbg_raddr,
  output logic                   dbg_s1_mac,
  output logic                   dbg_s1_emit,
  output logic [Y_BITS-1:0]      dbg_acc00
`endif
);
  localparam int PB_MAX = (PR_MAX * X_BITS + AXI_WIDTH - 1) / AXI_WIDTH;

  // The engine counts beats from the headers; input TKEEP/TLAST carry no extra information.
  // verilator lint_off UNUSEDSIGNAL
  logic unused_in;
  assign unused_in = ^{s_axis_pixels_tkeep, s_axis_pixels_tlast, s_axis_weights_tkeep,
                       s_axis_weights_tlast};
  // verilator lint_on UNUSEDSIGNAL

  initial begin
    if (KH_MAX / 2 > ROWS) $error("KH_MAX/2 must be <= ROWS");
    if (KW_MAX > COLS) $error("KW_MAX must be <= COLS");
    if (PR_MAX != ROWS + 2 * (KH_MAX / 2)) $error("PR_MAX must be ROWS + 2*(KH_MAX/2)");
    if (Y_OUT_BITS < Y_BITS || (Y_OUT_BITS % 8) != 0) $error("bad Y_OUT_BITS");
  end

  logic                      slot_full, slot_hdr, release_slot;
  logic [PB_MAX*AXI_WIDTH-1:0] slot_data;
  logic                      bank_ready, release_bank;
  logic [W_CM-1:0]           raddr;
  logic [COLS*K_BITS-1:0]    wrow;
  logic                      out_room;
  logic                      s1_clear, s1_mac, s1_shift, s1_emit, s1_last;
  logic [W_KW2-1:0]          s1_kw2;
  logic [ROWS*(X_BITS+1)-1:0] s1_x;
  logic [ROWS*COLS*Y_BITS-1:0] acc_flat;

  dsf_pixel_streamer #(.ROWS(ROWS), .X_BITS(X_BITS), .AXI_WIDTH(AXI_WIDTH), .PR_MAX(PR_MAX),
    .W_KH2(W_KH2), .W_KW2(W_KW2), .W_CM(W_CM), .W_XW(W_XW), .W_XL(W_XL), .W_XN(W_XN),
    .W_WROWS(W_WROWS)) u_pix (
    .clk(aclk), .rstn(aresetn),
    .s_tdata(s_axis_pixels_tdata), .s_tvalid(s_axis_pixels_tvalid),
    .s_tready(s_axis_pixels_tready),
    .slot_full(slot_full), .slot_hdr(slot_hdr), .slot_data(slot_data),
    .release_slot(release_slot));

  dsf_weight_loader #(.COLS(COLS), .K_BITS(K_BITS), .AXI_WIDTH(AXI_WIDTH),
    .RAM_WEIGHTS_DEPTH(RAM_WEIGHTS_DEPTH), .W_KH2(W_KH2), .W_KW2(W_KW2), .W_CM(W_CM),
    .W_XW(W_XW), .W_XL(W_XL), .W_XN(W_XN), .W_WROWS(W_WROWS)) u_wl (
    .clk(aclk), .rstn(aresetn),
    .s_tdata(s_axis_weights_tdata), .s_tvalid(s_axis_weights_tvalid),
    .s_tready(s_axis_weights_tready),
    .bank_ready(bank_ready), .release_bank(release_bank), .raddr(raddr), .rdata(wrow));

  dsf_sequencer #(.ROWS(ROWS), .X_BITS(X_BITS), .AXI_WIDTH(AXI_WIDTH), .PR_MAX(PR_MAX),
    .W_KH2(W_KH2), .W_KW2(W_KW2), .W_CM(W_CM), .W_XW(W_XW), .W_XL(W_XL), .W_XN(W_XN),
    .W_WROWS(W_WROWS)) u_seq (
    .clk(aclk), .rstn(aresetn),
    .slot_full(slot_full), .slot_hdr(slot_hdr), .slot_data(slot_data),
    .release_slot(release_slot),
    .bank_ready(bank_ready), .release_bank(release_bank), .raddr(raddr),
    .out_room(out_room),
    .s1_clear(s1_clear), .s1_mac(s1_mac), .s1_shift(s1_shift), .s1_emit(s1_emit),
    .s1_last(s1_last), .s1_kw2(s1_kw2), .s1_x(s1_x));

  dsf_pe_array #(.ROWS(ROWS), .COLS(COLS), .X_BITS(X_BITS), .K_BITS(K_BITS), .Y_BITS(Y_BITS),
    .W_KW2(W_KW2)) u_pe (
    .clk(aclk), .rstn(aresetn),
    .clear(s1_clear), .mac(s1_mac), .shift(s1_shift), .kw2(s1_kw2), .x(s1_x), .wrow(wrow),
    .acc_flat(acc_flat));

  dsf_output #(.ROWS(ROWS), .COLS(COLS), .Y_BITS(Y_BITS), .Y_OUT_BITS(Y_OUT_BITS),
    .AXI_WIDTH(AXI_WIDTH), .KW_MAX(KW_MAX), .W_KW2(W_KW2)) u_out (
    .clk(aclk), .rstn(aresetn),
    .cap(s1_emit), .cap_last(s1_last), .cap_kw2(s1_kw2), .acc_flat(acc_flat),
    .room(out_room),
    .m_tdata(m_axis_tdata), .m_tkeep(m_axis_tkeep), .m_tlast(m_axis_tlast),
    .m_tvalid(m_axis_tvalid), .m_tready(m_axis_tready));

`ifdef DSF_DEBUG_PORTS
  assign dbg_seq_st   = u_seq.st;
  assign dbg_n        = u_seq.n;
  assign dbg_l        = u_seq.l;
  assign dbg_w        = u_seq.w;
  assign dbg_ci       = u_seq.ci;
  assign dbg_kh       = u_seq.kh;
  assign dbg_f        = u_seq.f;
  assign dbg_pix_full = u_pix.full;
  assign dbg_wb_full  = u_wl.full;
  assign dbg_out_cnt  = 8'(u_out.cnt);
  assign dbg_raddr    = raddr;
  assign dbg_s1_mac   = s1_mac;
  assign dbg_s1_emit  = s1_emit;
  assign dbg_acc00    = acc_flat[Y_BITS-1:0];
`endif
endmodule
