/* Test stand-in for the AXI DMA v9 driver header (xaxidma.h / xaxidma_hw.h): declarations only. */
#ifndef XAXIDMA_H
#define XAXIDMA_H
#include "xil_types.h"
#define XAXIDMA_DMA_TO_DEVICE 0x00
#define XAXIDMA_DEVICE_TO_DMA 0x01
#define XAXIDMA_IRQ_ALL_MASK 0x00007000
#define XAXIDMA_RX_OFFSET 0x00000030
#define XAXIDMA_BUFFLEN_OFFSET 0x00000028
#define XAXIDMA_SR_OFFSET 0x00000004
typedef struct { u32 DeviceId; UINTPTR BaseAddr; } XAxiDma_Config;
typedef struct { UINTPTR RegBase; u32 HasMm2S; u32 HasS2Mm; u32 Initialized; } XAxiDma;
XAxiDma_Config *XAxiDma_LookupConfig(UINTPTR BaseAddress);
XAxiDma_Config *XAxiDma_LookupConfigBaseAddr(UINTPTR Baseaddr);
int XAxiDma_CfgInitialize(XAxiDma *InstancePtr, XAxiDma_Config *Config);
u32 XAxiDma_SimpleTransfer(XAxiDma *InstancePtr, UINTPTR BuffAddr, u32 Length, int Direction);
u32 XAxiDma_Busy(XAxiDma *InstancePtr, int Direction);
u32 Xil_In32(UINTPTR Addr);
void Xil_Out32(UINTPTR Addr, u32 Value);
#define XAxiDma_ReadReg(BaseAddress, RegOffset) Xil_In32((BaseAddress) + (RegOffset))
#define XAxiDma_IntrDisable(InstancePtr, Mask, Direction) \
  Xil_Out32((InstancePtr)->RegBase + ((Direction) * XAXIDMA_RX_OFFSET), (u32)(Mask))
#endif
