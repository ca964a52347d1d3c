// AVX-512 micro-kernels of the pure-Go backend's GEMM (see gemm_go.go and
// gemm_amd64.s): 12×32 tiles in float32 and 12×16 in float64, two ZMM
// registers per row of C (accumulators Z4 … Z27), B's row in Z0 and Z1,
// A's values broadcast into Z30 and Z31.

#include "textflag.h"

// Two rows of one step: broadcast A[r], A[r+1] and multiply-add B's row.
#define ROW2PS(aoff, acc0, acc1, acc2, acc3) \
	VBROADCASTSS aoff(SI), Z30; \
	VBROADCASTSS aoff+4(SI), Z31; \
	VFMADD231PS Z0, Z30, acc0; \
	VFMADD231PS Z1, Z30, acc1; \
	VFMADD231PS Z0, Z31, acc2; \
	VFMADD231PS Z1, Z31, acc3

#define S12x32_STEP(aoff, boff) \
	VMOVUPS boff(DI), Z0; \
	VMOVUPS boff+64(DI), Z1; \
	ROW2PS(aoff, Z4, Z5, Z6, Z7); \
	ROW2PS(aoff+8, Z8, Z9, Z10, Z11); \
	ROW2PS(aoff+16, Z12, Z13, Z14, Z15); \
	ROW2PS(aoff+24, Z16, Z17, Z18, Z19); \
	ROW2PS(aoff+32, Z20, Z21, Z22, Z23); \
	ROW2PS(aoff+40, Z24, Z25, Z26, Z27)

#define ZSTORE_BETA(mul, fma, mov, lo, hi) \
	mul Z0, lo, lo; \
	mul Z0, hi, hi; \
	fma (DX), Z1, lo; \
	fma 64(DX), Z1, hi; \
	mov lo, (DX); \
	mov hi, 64(DX); \
	ADDQ R8, DX

#define ZSTORE(mul, mov, lo, hi) \
	mul Z0, lo, lo; \
	mul Z0, hi, hi; \
	mov lo, (DX); \
	mov hi, 64(DX); \
	ADDQ R8, DX

#define ZCLEAR \
	VPXORQ Z4, Z4, Z4; VPXORQ Z5, Z5, Z5; VPXORQ Z6, Z6, Z6; VPXORQ Z7, Z7, Z7; \
	VPXORQ Z8, Z8, Z8; VPXORQ Z9, Z9, Z9; VPXORQ Z10, Z10, Z10; VPXORQ Z11, Z11, Z11; \
	VPXORQ Z12, Z12, Z12; VPXORQ Z13, Z13, Z13; VPXORQ Z14, Z14, Z14; VPXORQ Z15, Z15, Z15; \
	VPXORQ Z16, Z16, Z16; VPXORQ Z17, Z17, Z17; VPXORQ Z18, Z18, Z18; VPXORQ Z19, Z19, Z19; \
	VPXORQ Z20, Z20, Z20; VPXORQ Z21, Z21, Z21; VPXORQ Z22, Z22, Z22; VPXORQ Z23, Z23, Z23; \
	VPXORQ Z24, Z24, Z24; VPXORQ Z25, Z25, Z25; VPXORQ Z26, Z26, Z26; VPXORQ Z27, Z27, Z27

#define ZSTORE_ALL_BETA(mul, fma, mov) \
	ZSTORE_BETA(mul, fma, mov, Z4, Z5); \
	ZSTORE_BETA(mul, fma, mov, Z6, Z7); \
	ZSTORE_BETA(mul, fma, mov, Z8, Z9); \
	ZSTORE_BETA(mul, fma, mov, Z10, Z11); \
	ZSTORE_BETA(mul, fma, mov, Z12, Z13); \
	ZSTORE_BETA(mul, fma, mov, Z14, Z15); \
	ZSTORE_BETA(mul, fma, mov, Z16, Z17); \
	ZSTORE_BETA(mul, fma, mov, Z18, Z19); \
	ZSTORE_BETA(mul, fma, mov, Z20, Z21); \
	ZSTORE_BETA(mul, fma, mov, Z22, Z23); \
	ZSTORE_BETA(mul, fma, mov, Z24, Z25); \
	ZSTORE_BETA(mul, fma, mov, Z26, Z27)

#define ZSTORE_ALL(mul, mov) \
	ZSTORE(mul, mov, Z4, Z5); \
	ZSTORE(mul, mov, Z6, Z7); \
	ZSTORE(mul, mov, Z8, Z9); \
	ZSTORE(mul, mov, Z10, Z11); \
	ZSTORE(mul, mov, Z12, Z13); \
	ZSTORE(mul, mov, Z14, Z15); \
	ZSTORE(mul, mov, Z16, Z17); \
	ZSTORE(mul, mov, Z18, Z19); \
	ZSTORE(mul, mov, Z20, Z21); \
	ZSTORE(mul, mov, Z22, Z23); \
	ZSTORE(mul, mov, Z24, Z25); \
	ZSTORE(mul, mov, Z26, Z27)

// func sgemmKernel12x32(k int, a, b, c *float32, ldc int, alpha, beta float32)
TEXT ·sgemmKernel12x32(SB), NOSPLIT, $0-48
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8
	ZCLEAR
	CMPQ CX, $4
	JLT  s12tail

s12loop4:
	S12x32_STEP(0, 0)
	S12x32_STEP(48, 128)
	S12x32_STEP(96, 256)
	S12x32_STEP(144, 384)
	ADDQ $192, SI
	ADDQ $512, DI
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  s12loop4

s12tail:
	TESTQ CX, CX
	JZ    s12store

s12loop1:
	S12x32_STEP(0, 0)
	ADDQ $48, SI
	ADDQ $128, DI
	DECQ CX
	JNZ  s12loop1

s12store:
	VBROADCASTSS alpha+40(FP), Z0
	MOVL beta+44(FP), AX
	ANDL $0x7fffffff, AX
	JZ   s12store0
	VBROADCASTSS beta+44(FP), Z1
	ZSTORE_ALL_BETA(VMULPS, VFMADD231PS, VMOVUPS)
	VZEROUPPER
	RET

s12store0:
	ZSTORE_ALL(VMULPS, VMOVUPS)
	VZEROUPPER
	RET

#define ROW2PD(aoff, acc0, acc1, acc2, acc3) \
	VBROADCASTSD aoff(SI), Z30; \
	VBROADCASTSD aoff+8(SI), Z31; \
	VFMADD231PD Z0, Z30, acc0; \
	VFMADD231PD Z1, Z30, acc1; \
	VFMADD231PD Z0, Z31, acc2; \
	VFMADD231PD Z1, Z31, acc3

#define D12x16_STEP(aoff, boff) \
	VMOVUPD boff(DI), Z0; \
	VMOVUPD boff+64(DI), Z1; \
	ROW2PD(aoff, Z4, Z5, Z6, Z7); \
	ROW2PD(aoff+16, Z8, Z9, Z10, Z11); \
	ROW2PD(aoff+32, Z12, Z13, Z14, Z15); \
	ROW2PD(aoff+48, Z16, Z17, Z18, Z19); \
	ROW2PD(aoff+64, Z20, Z21, Z22, Z23); \
	ROW2PD(aoff+80, Z24, Z25, Z26, Z27)

// func dgemmKernel12x16(k int, a, b, c *float64, ldc int, alpha, beta float64)
TEXT ·dgemmKernel12x16(SB), NOSPLIT, $0-56
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $3, R8
	ZCLEAR
	CMPQ CX, $4
	JLT  d12tail

d12loop4:
	D12x16_STEP(0, 0)
	D12x16_STEP(96, 128)
	D12x16_STEP(192, 256)
	D12x16_STEP(288, 384)
	ADDQ $384, SI
	ADDQ $512, DI
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  d12loop4

d12tail:
	TESTQ CX, CX
	JZ    d12store

d12loop1:
	D12x16_STEP(0, 0)
	ADDQ $96, SI
	ADDQ $128, DI
	DECQ CX
	JNZ  d12loop1

d12store:
	VBROADCASTSD alpha+40(FP), Z0
	MOVQ beta+48(FP), AX
	SHLQ $1, AX
	JZ   d12store0
	VBROADCASTSD beta+48(FP), Z1
	ZSTORE_ALL_BETA(VMULPD, VFMADD231PD, VMOVUPD)
	VZEROUPPER
	RET

d12store0:
	ZSTORE_ALL(VMULPD, VMOVUPD)
	VZEROUPPER
	RET
