/* Test stand-in for the BSP's xil_printf.h; the format attribute lets -Wformat check the calls. */
#ifndef XIL_PRINTF_H
#define XIL_PRINTF_H
#include "xil_types.h"
void xil_printf(const char8 *ctrl1, ...) __attribute__((format(printf, 1, 2)));
#endif
