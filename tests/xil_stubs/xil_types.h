/* Test stand-in for the Vitis BSP's xil_types.h: only the declarations dsf_main_xil.c uses, with
 * the BSP's names and types, so the application compiles (-Werror) for every target in CI. */
#ifndef XIL_TYPES_H
#define XIL_TYPES_H
#include <stdint.h>
typedef uint8_t u8;
typedef uint32_t u32;
typedef uint64_t u64;
typedef uintptr_t UINTPTR;
typedef intptr_t INTPTR;
typedef char char8;
#define XST_SUCCESS 0L
#endif
