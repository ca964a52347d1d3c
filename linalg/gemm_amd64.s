// Micro-kernels of the pure-Go backend's GEMM (see gemm_go.go), in Go
// assembly for amd64. Each computes one tile C = alpha·A·B + beta·C from
// packed slivers: a holds k columns of MR values, b holds k rows of NR
// values. With beta = 0, C is not read.

#include "textflag.h"

// One step of the 6×16 float32 kernel: B row p in Y0, Y1; A column p
// broadcast, one value at a time, into Y2 and Y3.
#define S6x16_STEP(aoff, boff) \
	VMOVUPS boff(DI), Y0; \
	VMOVUPS boff+32(DI), Y1; \
	VBROADCASTSS aoff(SI), Y2; \
	VBROADCASTSS aoff+4(SI), Y3; \
	VFMADD231PS Y0, Y2, Y4; \
	VFMADD231PS Y1, Y2, Y5; \
	VFMADD231PS Y0, Y3, Y6; \
	VFMADD231PS Y1, Y3, Y7; \
	VBROADCASTSS aoff+8(SI), Y2; \
	VBROADCASTSS aoff+12(SI), Y3; \
	VFMADD231PS Y0, Y2, Y8; \
	VFMADD231PS Y1, Y2, Y9; \
	VFMADD231PS Y0, Y3, Y10; \
	VFMADD231PS Y1, Y3, Y11; \
	VBROADCASTSS aoff+16(SI), Y2; \
	VBROADCASTSS aoff+20(SI), Y3; \
	VFMADD231PS Y0, Y2, Y12; \
	VFMADD231PS Y1, Y2, Y13; \
	VFMADD231PS Y0, Y3, Y14; \
	VFMADD231PS Y1, Y3, Y15

// Store one row of the float32 tile: C[0:8], C[8:16] = alpha·acc (+ beta·C).
#define S_STORE_ROW_BETA(lo, hi) \
	VMULPS Y0, lo, lo; \
	VMULPS Y0, hi, hi; \
	VFMADD231PS (DX), Y1, lo; \
	VFMADD231PS 32(DX), Y1, hi; \
	VMOVUPS lo, (DX); \
	VMOVUPS hi, 32(DX); \
	ADDQ R8, DX

#define S_STORE_ROW(lo, hi) \
	VMULPS Y0, lo, lo; \
	VMULPS Y0, hi, hi; \
	VMOVUPS lo, (DX); \
	VMOVUPS hi, 32(DX); \
	ADDQ R8, DX

// func sgemmKernel6x16(k int, a, b, c *float32, ldc int, alpha, beta float32)
TEXT ·sgemmKernel6x16(SB), NOSPLIT, $0-48
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15
	CMPQ CX, $4
	JLT  s6tail

s6loop4:
	S6x16_STEP(0, 0)
	S6x16_STEP(24, 64)
	S6x16_STEP(48, 128)
	S6x16_STEP(72, 192)
	ADDQ $96, SI
	ADDQ $256, DI
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  s6loop4

s6tail:
	TESTQ CX, CX
	JZ    s6store

s6loop1:
	S6x16_STEP(0, 0)
	ADDQ $24, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  s6loop1

s6store:
	VBROADCASTSS alpha+40(FP), Y0
	MOVL beta+44(FP), AX
	ANDL $0x7fffffff, AX
	JZ   s6store0
	VBROADCASTSS beta+44(FP), Y1
	S_STORE_ROW_BETA(Y4, Y5)
	S_STORE_ROW_BETA(Y6, Y7)
	S_STORE_ROW_BETA(Y8, Y9)
	S_STORE_ROW_BETA(Y10, Y11)
	S_STORE_ROW_BETA(Y12, Y13)
	S_STORE_ROW_BETA(Y14, Y15)
	VZEROUPPER
	RET

s6store0:
	S_STORE_ROW(Y4, Y5)
	S_STORE_ROW(Y6, Y7)
	S_STORE_ROW(Y8, Y9)
	S_STORE_ROW(Y10, Y11)
	S_STORE_ROW(Y12, Y13)
	S_STORE_ROW(Y14, Y15)
	VZEROUPPER
	RET

// One step of the 6×8 float64 kernel: B row p in Y0, Y1 (4 values each).
#define D6x8_STEP(aoff, boff) \
	VMOVUPD boff(DI), Y0; \
	VMOVUPD boff+32(DI), Y1; \
	VBROADCASTSD aoff(SI), Y2; \
	VBROADCASTSD aoff+8(SI), Y3; \
	VFMADD231PD Y0, Y2, Y4; \
	VFMADD231PD Y1, Y2, Y5; \
	VFMADD231PD Y0, Y3, Y6; \
	VFMADD231PD Y1, Y3, Y7; \
	VBROADCASTSD aoff+16(SI), Y2; \
	VBROADCASTSD aoff+24(SI), Y3; \
	VFMADD231PD Y0, Y2, Y8; \
	VFMADD231PD Y1, Y2, Y9; \
	VFMADD231PD Y0, Y3, Y10; \
	VFMADD231PD Y1, Y3, Y11; \
	VBROADCASTSD aoff+32(SI), Y2; \
	VBROADCASTSD aoff+40(SI), Y3; \
	VFMADD231PD Y0, Y2, Y12; \
	VFMADD231PD Y1, Y2, Y13; \
	VFMADD231PD Y0, Y3, Y14; \
	VFMADD231PD Y1, Y3, Y15

#define D_STORE_ROW_BETA(lo, hi) \
	VMULPD Y0, lo, lo; \
	VMULPD Y0, hi, hi; \
	VFMADD231PD (DX), Y1, lo; \
	VFMADD231PD 32(DX), Y1, hi; \
	VMOVUPD lo, (DX); \
	VMOVUPD hi, 32(DX); \
	ADDQ R8, DX

#define D_STORE_ROW(lo, hi) \
	VMULPD Y0, lo, lo; \
	VMULPD Y0, hi, hi; \
	VMOVUPD lo, (DX); \
	VMOVUPD hi, 32(DX); \
	ADDQ R8, DX

// func dgemmKernel6x8(k int, a, b, c *float64, ldc int, alpha, beta float64)
TEXT ·dgemmKernel6x8(SB), NOSPLIT, $0-56
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $3, R8
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7
	VXORPD Y8, Y8, Y8
	VXORPD Y9, Y9, Y9
	VXORPD Y10, Y10, Y10
	VXORPD Y11, Y11, Y11
	VXORPD Y12, Y12, Y12
	VXORPD Y13, Y13, Y13
	VXORPD Y14, Y14, Y14
	VXORPD Y15, Y15, Y15
	CMPQ CX, $4
	JLT  d6tail

d6loop4:
	D6x8_STEP(0, 0)
	D6x8_STEP(48, 64)
	D6x8_STEP(96, 128)
	D6x8_STEP(144, 192)
	ADDQ $192, SI
	ADDQ $256, DI
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  d6loop4

d6tail:
	TESTQ CX, CX
	JZ    d6store

d6loop1:
	D6x8_STEP(0, 0)
	ADDQ $48, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  d6loop1

d6store:
	VBROADCASTSD alpha+40(FP), Y0
	MOVQ beta+48(FP), AX
	SHLQ $1, AX
	JZ   d6store0
	VBROADCASTSD beta+48(FP), Y1
	D_STORE_ROW_BETA(Y4, Y5)
	D_STORE_ROW_BETA(Y6, Y7)
	D_STORE_ROW_BETA(Y8, Y9)
	D_STORE_ROW_BETA(Y10, Y11)
	D_STORE_ROW_BETA(Y12, Y13)
	D_STORE_ROW_BETA(Y14, Y15)
	VZEROUPPER
	RET

d6store0:
	D_STORE_ROW(Y4, Y5)
	D_STORE_ROW(Y6, Y7)
	D_STORE_ROW(Y8, Y9)
	D_STORE_ROW(Y10, Y11)
	D_STORE_ROW(Y12, Y13)
	D_STORE_ROW(Y14, Y15)
	VZEROUPPER
	RET
