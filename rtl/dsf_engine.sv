// dsf_engine: top level of the DeepSoCFlow-style engine (architecture §7, §17). Three AXI-Stream
// slaves (pixels, weights, skip), one master (raw sums, or finished activations of a finish job). Every size comes from the generated package dsf_cfg
// (compiler/rtl_config.py); the reset style from config_hw.svh. No test hooks: lockstep debug
// ports live in a generated wrapper, mutations in copies of these files (models/engine/
// mutations.py), so the synthesised engine is exactly this.
module dsf_engine (
  input  logic                            aclk,
  input  logic                            aresetn,

  input  logic [dsf_cfg::AXI_WIDTH-1:0]   s_axis_pixels_tdata,
  input  logic [dsf_cfg::AXI_BYTES-1:0]   s_axis_pixels_tkeep,
  input  logic                            s_axis_pixels_tlast,
  input  logic                            s_axis_pixels_tvalid,
  output logic                            s_axis_pixels_tready,

  input  logic [dsf_cfg::AXI_WIDTH-1:0]   s_axis_weights_tdata,
  input  logic [dsf_cfg::AXI_BYTES-1:0]   s_axis_weights_tkeep,
  input  logic                            s_axis_weights_tlast,
  input  logic                            s_axis_weights_tvalid,
  output logic                            s_axis_weights_tready,

  input  logic [dsf_cfg::AXI_WIDTH-1:0]   s_axis_skip_tdata,
  input  logic [dsf_cfg::AXI_BYTES-1:0]   s_axis_skip_tkeep,
  input  logic                            s_axis_skip_tlast,
  input  logic                            s_axis_skip_tvalid,
  output logic                            s_axis_skip_tready,

  output logic [dsf_cfg::AXI_WIDTH-1:0]   m_axis_tdata,
  output logic [dsf_cfg::AXI_BYTES-1:0]   m_axis_tkeep,
  output logic                            m_axis_tlast,
  output logic                            m_axis_tvalid,
  input  logic                            m_axis_tready
);
  // The engine counts beats from the headers; input TKEEP/TLAST carry no extra information.
  // verilator lint_off UNUSEDSIGNAL
  logic unused_in;
  assign unused_in = ^{s_axis_pixels_tkeep, s_axis_pixels_tlast, s_axis_weights_tkeep,
                       s_axis_weights_tlast, s_axis_skip_tkeep, s_axis_skip_tlast};
  // verilator lint_on UNUSEDSIGNAL

  logic                                             slot_full, release_slot;
  logic [dsf_cfg::PB_MAX*dsf_cfg::AXI_WIDTH-1:0]    slot_data;
  logic                                             bank_ready, release_bank;
  logic [dsf_cfg::W_CM_M1-1:0]                      raddr;
  logic [dsf_cfg::COLS*dsf_cfg::K_BITS-1:0]         wrow;
  logic                                             out_room;
  logic                                             s1_clear, s1_mac, s1_shift, s1_emit, s1_last;
  logic [dsf_cfg::W_KW2-1:0]                        s1_kw2;
  logic                                             s1_fin, s1_cfg, cfg_release;
  logic [dsf_cfg::CFG_BEATS*dsf_cfg::AXI_WIDTH-1:0] cfg_set0, cfg_set1;
  logic [dsf_cfg::ROWS*(dsf_cfg::X_BITS+1)-1:0]     s1_x;
  logic [dsf_cfg::ROWS*dsf_cfg::COLS*dsf_cfg::Y_BITS-1:0] acc_flat;

  dsf_pixel_streamer u_pix (
    .clk(aclk), .rstn(aresetn),
    .s_tdata(s_axis_pixels_tdata), .s_tvalid(s_axis_pixels_tvalid),
    .s_tready(s_axis_pixels_tready),
    .slot_full(slot_full), .slot_data(slot_data), .release_slot(release_slot));

  dsf_weight_loader u_wl (
    .clk(aclk), .rstn(aresetn),
    .s_tdata(s_axis_weights_tdata), .s_tvalid(s_axis_weights_tvalid),
    .s_tready(s_axis_weights_tready),
    .bank_ready(bank_ready), .release_bank(release_bank), .raddr(raddr), .rdata(wrow),
    .cfg_release(cfg_release), .cfg_set0(cfg_set0), .cfg_set1(cfg_set1));

  dsf_sequencer u_seq (
    .clk(aclk), .rstn(aresetn),
    .slot_full(slot_full), .slot_data(slot_data), .release_slot(release_slot),
    .bank_ready(bank_ready), .release_bank(release_bank), .raddr(raddr),
    .out_room(out_room),
    .s1_clear(s1_clear), .s1_mac(s1_mac), .s1_shift(s1_shift), .s1_emit(s1_emit),
    .s1_last(s1_last), .s1_kw2(s1_kw2), .s1_fin(s1_fin), .s1_cfg(s1_cfg), .s1_x(s1_x));

  dsf_pe_array u_pe (
    .clk(aclk), .rstn(aresetn),
    .clear(s1_clear), .mac(s1_mac), .shift(s1_shift), .kw2(s1_kw2), .x(s1_x), .wrow(wrow),
    .acc_flat(acc_flat));

  dsf_output u_out (
    .clk(aclk), .rstn(aresetn),
    .cap(s1_emit), .cap_last(s1_last), .cap_kw2(s1_kw2), .cap_fin(s1_fin), .cap_cfg(s1_cfg),
    .acc_flat(acc_flat), .room(out_room),
    .cfg_set0(cfg_set0), .cfg_set1(cfg_set1), .cfg_release(cfg_release),
    .s_skip_tdata(s_axis_skip_tdata), .s_skip_tvalid(s_axis_skip_tvalid),
    .s_skip_tready(s_axis_skip_tready),
    .m_tdata(m_axis_tdata), .m_tkeep(m_axis_tkeep), .m_tlast(m_axis_tlast),
    .m_tvalid(m_axis_tvalid), .m_tready(m_axis_tready));
endmodule
