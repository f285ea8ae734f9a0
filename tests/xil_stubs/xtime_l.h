/* Test stand-in for the BSP's xtime_l.h: declarations only. */
#ifndef XTIME_L_H
#define XTIME_L_H
#include "xil_types.h"
typedef u64 XTime;
#define COUNTS_PER_SECOND 100000000ULL
void XTime_GetTime(XTime *Xtime_Global);
#endif
