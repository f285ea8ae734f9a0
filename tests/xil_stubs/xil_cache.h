/* Test stand-in for the BSP's xil_cache.h: declarations only. */
#ifndef XIL_CACHE_H
#define XIL_CACHE_H
#include "xil_types.h"
void Xil_DCacheFlush(void);
void Xil_DCacheFlushRange(INTPTR adr, INTPTR len);
void Xil_DCacheInvalidateRange(INTPTR adr, INTPTR len);
#endif
