// AVX2 and FMA versions of the float32 kernels of fastmath.go: four values
// at a time, widened to float64 for the arithmetic. The exponential writes
// w·log₂e = n + f with n = round(w·log₂e), |f| ≤ ½, evaluates 2^f by its
// Taylor polynomial of degree 10 (relative error 2e-12) and adds n to the
// exponent bits; Φ uses the erfc fit of normCDFPDF.

#include "textflag.h"

// Four copies of each float64 constant, for full-width memory operands.
#define CONST4(name, bits) \
	DATA name<>+0(SB)/8, $bits; \
	DATA name<>+8(SB)/8, $bits; \
	DATA name<>+16(SB)/8, $bits; \
	DATA name<>+24(SB)/8, $bits; \
	GLOBL name<>(SB), RODATA|NOPTR, $32

CONST4(absmask, 0x7fffffffffffffff)
CONST4(one, 0x3ff0000000000000)      // 1
CONST4(half, 0x3fe0000000000000)     // 0.5
CONST4(ten, 0x4024000000000000)      // 10
CONST4(invsqrt2, 0x3fe6a09e667f3bcc) // 1/√2
CONST4(invsqrt2pi, 0x3fd9884533d43651) // 1/√(2π)
CONST4(log2e, 0x3ff71547652b82fe)    // log₂e
CONST4(neglog2e, 0xbff71547652b82fe) // −log₂e
CONST4(minexp, 0xc085e00000000000)   // −700
CONST4(maxabs, 0x4085e00000000000)   // 700

// (ln 2)^i / i!, i = 0 … 10.
CONST4(e2c0, 0x3ff0000000000000)
CONST4(e2c1, 0x3fe62e42fefa39ef)
CONST4(e2c2, 0x3fcebfbdff82c58e)
CONST4(e2c3, 0x3fac6b08d704a0bf)
CONST4(e2c4, 0x3f83b2ab6fba4e77)
CONST4(e2c5, 0x3f55d87fe78a6731)
CONST4(e2c6, 0x3f2430912f86c787)
CONST4(e2c7, 0x3eeffcbfc588b0c6)
CONST4(e2c8, 0x3eb62c0223a5c823)
CONST4(e2c9, 0x3e7b5253d395e7c3)
CONST4(e2c10, 0x3e3e4cf5158b8ec8)

// erfcCoef of fastmath.go.
CONST4(q0, 0x3fd20dbc5158fea1)
CONST4(q1, 0x3fd2107af6f75c67)
CONST4(q2, 0x3fcf60ffd9859d09)
CONST4(q3, 0x3fc7c6df1ab44aa3)
CONST4(q4, 0x3fabd4267e28c558)
CONST4(q5, 0x3fa2b52ea6229f46)
CONST4(q6, 0xbf982db7e0a7e1fa)
CONST4(q7, 0xbfd26e3bf8ae31f7)
CONST4(q8, 0x3fd8588ed6f2bbcc)
CONST4(q9, 0xbfc8679c34ab1f94)
CONST4(q10, 0x3fa2482ab6b9ca84)

// EXP2POLY: Y7 = 2^Y5 for |Y5| ≤ ½ (Horner, FMA).
#define EXP2POLY \
	VMOVUPD e2c10<>(SB), Y7; \
	VFMADD213PD e2c9<>(SB), Y5, Y7; \
	VFMADD213PD e2c8<>(SB), Y5, Y7; \
	VFMADD213PD e2c7<>(SB), Y5, Y7; \
	VFMADD213PD e2c6<>(SB), Y5, Y7; \
	VFMADD213PD e2c5<>(SB), Y5, Y7; \
	VFMADD213PD e2c4<>(SB), Y5, Y7; \
	VFMADD213PD e2c3<>(SB), Y5, Y7; \
	VFMADD213PD e2c2<>(SB), Y5, Y7; \
	VFMADD213PD e2c1<>(SB), Y5, Y7; \
	VFMADD213PD e2c0<>(SB), Y5, Y7

// EXPOF: Y2 = e^w for w = Y5·ln 2 given as y = Y5 (y = w·log₂e, −1022 < y ≤ 0).
// Clobbers Y5, Y6, Y7, X6.
#define EXPOF \
	VROUNDPD $0, Y5, Y6; \
	VSUBPD Y6, Y5, Y5; \
	EXP2POLY; \
	VCVTPD2DQY Y6, X6; \
	VPMOVSXDQ X6, Y6; \
	VPSLLQ $52, Y6, Y6; \
	VPADDQ Y6, Y7, Y2

// NORMCDF: from x in Y0, Y1 = Φ(x) and Y2 = e^(−x²/2) (φ(x)·√(2π)).
// Clobbers Y3 … Y9.
#define NORMCDF \
	VANDPD absmask<>(SB), Y0, Y3; \
	VMULPD invsqrt2<>(SB), Y3, Y3; \
	VMINPD ten<>(SB), Y3, Y3; \
	VMULPD half<>(SB), Y3, Y4; \
	VADDPD one<>(SB), Y4, Y4; \
	VMOVUPD one<>(SB), Y5; \
	VDIVPD Y4, Y5, Y4; \
	VMULPD Y3, Y3, Y5; \
	VMULPD neglog2e<>(SB), Y5, Y5; \
	EXPOF; \
	VMOVUPD q10<>(SB), Y8; \
	VFMADD213PD q9<>(SB), Y4, Y8; \
	VFMADD213PD q8<>(SB), Y4, Y8; \
	VFMADD213PD q7<>(SB), Y4, Y8; \
	VFMADD213PD q6<>(SB), Y4, Y8; \
	VFMADD213PD q5<>(SB), Y4, Y8; \
	VFMADD213PD q4<>(SB), Y4, Y8; \
	VFMADD213PD q3<>(SB), Y4, Y8; \
	VFMADD213PD q2<>(SB), Y4, Y8; \
	VFMADD213PD q1<>(SB), Y4, Y8; \
	VFMADD213PD q0<>(SB), Y4, Y8; \
	VMULPD Y4, Y8, Y8; \
	VMULPD Y2, Y8, Y8; \
	VMULPD half<>(SB), Y8, Y8; \
	VMOVUPD one<>(SB), Y9; \
	VSUBPD Y8, Y9, Y9; \
	VBLENDVPD Y0, Y8, Y9, Y1

// SIGMOID: from x in Y0, Y1 = σ(x) = 1/(1 + e^−x) and Y2 = e^−|x|, as
// sigmoid of activation.go: e/(1 + e) below 0, 1/(1 + e) above.
// Clobbers Y3 … Y7.
#define SIGMOID \
	VANDPD absmask<>(SB), Y0, Y3; \
	VMINPD maxabs<>(SB), Y3, Y3; \
	VMULPD neglog2e<>(SB), Y3, Y5; \
	EXPOF; \
	VADDPD one<>(SB), Y2, Y4; \
	VMOVUPD one<>(SB), Y3; \
	VBLENDVPD Y0, Y2, Y3, Y3; \
	VDIVPD Y4, Y3, Y1

// func swigluFwdAVX2(gate, up, y *float32, n int)
// y[i] = g[i]·σ(g[i])·u[i] for i < n, n a multiple of 4.
TEXT ·swigluFwdAVX2(SB), NOSPLIT, $0-32
	MOVQ gate+0(FP), SI
	MOVQ up+8(FP), BX
	MOVQ y+16(FP), DI
	MOVQ n+24(FP), CX
	SHRQ $2, CX
	JZ   sfdone

sfloop:
	VCVTPS2PD (SI), Y0
	SIGMOID
	VMULPD Y1, Y0, Y1
	VCVTPS2PD (BX), Y3
	VMULPD Y3, Y1, Y1
	VCVTPD2PSY Y1, X1
	VMOVUPS X1, (DI)
	ADDQ $16, SI
	ADDQ $16, BX
	ADDQ $16, DI
	DECQ CX
	JNZ  sfloop

sfdone:
	VZEROUPPER
	RET

// func swigluBwdAVX2(gate, up, gy, dg, du *float32, n int)
// With s = σ(g[i]): dg[i] = gy[i]·u[i]·s·(1 + g[i]·(1 − s)) and
// du[i] = gy[i]·g[i]·s, for i < n, n a multiple of 4.
TEXT ·swigluBwdAVX2(SB), NOSPLIT, $0-48
	MOVQ gate+0(FP), SI
	MOVQ up+8(FP), BX
	MOVQ gy+16(FP), DX
	MOVQ dg+24(FP), DI
	MOVQ du+32(FP), R8
	MOVQ n+40(FP), CX
	SHRQ $2, CX
	JZ   sbdone

sbloop:
	VCVTPS2PD (SI), Y0
	SIGMOID
	VCVTPS2PD (DX), Y8
	VMULPD Y1, Y0, Y9
	VMULPD Y8, Y9, Y9
	VCVTPD2PSY Y9, X9
	VMOVUPS X9, (R8)
	VMOVUPD one<>(SB), Y10
	VSUBPD Y1, Y10, Y10
	VMULPD Y0, Y10, Y10
	VADDPD one<>(SB), Y10, Y10
	VMULPD Y1, Y10, Y10
	VCVTPS2PD (BX), Y11
	VMULPD Y11, Y10, Y10
	VMULPD Y8, Y10, Y10
	VCVTPD2PSY Y10, X10
	VMOVUPS X10, (DI)
	ADDQ $16, SI
	ADDQ $16, BX
	ADDQ $16, DX
	ADDQ $16, DI
	ADDQ $16, R8
	DECQ CX
	JNZ  sbloop

sbdone:
	VZEROUPPER
	RET

// func geluFwdAVX2(x, y *float32, n int)
// y[i] = x[i]·Φ(x[i]) for i < n, n a multiple of 4.
TEXT ·geluFwdAVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ n+16(FP), CX
	SHRQ $2, CX
	JZ   gfdone

gfloop:
	VCVTPS2PD (SI), Y0
	NORMCDF
	VMULPD Y1, Y0, Y1
	VCVTPD2PSY Y1, X1
	VMOVUPS X1, (DI)
	ADDQ $16, SI
	ADDQ $16, DI
	DECQ CX
	JNZ  gfloop

gfdone:
	VZEROUPPER
	RET

// func geluBwdAVX2(x, gr, dx *float32, n int)
// dx[i] = gr[i]·(Φ(x[i]) + x[i]·φ(x[i])) for i < n, n a multiple of 4.
TEXT ·geluBwdAVX2(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ gr+8(FP), BX
	MOVQ dx+16(FP), DI
	MOVQ n+24(FP), CX
	SHRQ $2, CX
	JZ   gbdone

gbloop:
	VCVTPS2PD (SI), Y0
	NORMCDF
	VMULPD invsqrt2pi<>(SB), Y2, Y2
	VFMADD231PD Y2, Y0, Y1
	VCVTPS2PD (BX), Y3
	VMULPD Y3, Y1, Y1
	VCVTPD2PSY Y1, X1
	VMOVUPS X1, (DI)
	ADDQ $16, SI
	ADDQ $16, BX
	ADDQ $16, DI
	DECQ CX
	JNZ  gbloop

gbdone:
	VZEROUPPER
	RET

// func expShiftAVX2(x *float32, n int, shift float32) float64
// x[i] = e^(x[i] − shift) for i < n (n a multiple of 4, x[i] ≤ shift),
// returning the sum of the new values in float64.
TEXT ·expShiftAVX2(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS shift+16(FP), X0
	VCVTPS2PD X0, Y10
	VXORPD Y11, Y11, Y11
	SHRQ $2, CX
	JZ   esdone

esloop:
	VCVTPS2PD (SI), Y0
	VSUBPD Y10, Y0, Y0
	VMAXPD minexp<>(SB), Y0, Y0
	VMULPD log2e<>(SB), Y0, Y5
	EXPOF
	VADDPD Y2, Y11, Y11
	VCVTPD2PSY Y2, X2
	VMOVUPS X2, (SI)
	ADDQ $16, SI
	DECQ CX
	JNZ  esloop

esdone:
	VEXTRACTF128 $1, Y11, X12
	VADDPD X12, X11, X11
	VHADDPD X11, X11, X11
	MOVSD X11, ret+24(FP)
	VZEROUPPER
	RET

// func maxAVX2(x *float32, n int) float32
// The largest of x[0:n], n a positive multiple of 8, or NaN if any is NaN
// (VMAXPS alone would pass NaNs over, so unordered lanes are collected).
TEXT ·maxAVX2(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VMOVUPS (SI), Y0
	VXORPS Y1, Y1, Y1
	SHRQ $3, CX

mxloop:
	VMOVUPS (SI), Y2
	VCMPPS $3, Y2, Y2, Y3
	VORPS Y3, Y1, Y1
	VMAXPS Y2, Y0, Y0
	ADDQ $32, SI
	DECQ CX
	JNZ  mxloop

	VEXTRACTF128 $1, Y0, X2
	VMAXPS X2, X0, X0
	VPERMILPS $0x4e, X0, X2
	VMAXPS X2, X0, X0
	VPERMILPS $0xb1, X0, X2
	VMAXPS X2, X0, X0
	VPTEST Y1, Y1
	JNZ  mxnan
	VMOVSS X0, ret+16(FP)
	VZEROUPPER
	RET

mxnan:
	MOVL $0x7fc00000, AX
	MOVL AX, ret+16(FP)
	VZEROUPPER
	RET
