// One weight bank: DEPTH rows of WIDTH bits, one write port, one read port with a 1-cycle
// registered read (address at edge E -> data valid after E). Generic (a memory-compiler macro
// can replace it); no reset, like a RAM.
module dsf_weight_ram #(
  parameter int DEPTH = 20,
  parameter int WIDTH = 32,
  parameter int AW = 5
) (
  input  logic             clk,
  input  logic             we,
  input  logic [AW-1:0]    waddr,
  input  logic [WIDTH-1:0] wdata,
  input  logic [AW-1:0]    raddr,
  output logic [WIDTH-1:0] rdata
);
  logic [WIDTH-1:0] mem [DEPTH];

  always_ff @(posedge clk) begin
    if (we) mem[waddr] <= wdata;
    rdata <= mem[raddr];
  end
endmodule
