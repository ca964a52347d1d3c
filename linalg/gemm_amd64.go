package linalg

import "golang.org/x/sys/cpu"

// The assembly micro-kernels of gemm_amd64.s (AVX2 and FMA).

//go:noescape
func sgemmKernel6x16(k int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func dgemmKernel6x8(k int, a, b, c *float64, ldc int, alpha, beta float64)

// The AVX-512 micro-kernels of gemm_avx512_amd64.s.

//go:noescape
func sgemmKernel12x32(k int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func dgemmKernel12x16(k int, a, b, c *float64, ldc int, alpha, beta float64)

// The kernels for each instruction set.
var (
	hasAVX2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	hasAVX512  = cpu.X86.HasAVX512F && hasAVX2FMA

	avx2Shapes = func() (*gemmShape[float32], *gemmShape[float64]) {
		return &gemmShape[float32]{name: "avx2-6x16", mr: 6, nr: 16, kc: 256, mc: 72, nc: 3072, kernel: sgemmKernel6x16},
			&gemmShape[float64]{name: "avx2-6x8", mr: 6, nr: 8, kc: 256, mc: 48, nc: 1536, kernel: dgemmKernel6x8}
	}
	avx512Shapes = func() (*gemmShape[float32], *gemmShape[float64]) {
		return &gemmShape[float32]{name: "avx512-12x32", mr: 12, nr: 32, kc: 192, mc: 192, nc: 3072, kernel: sgemmKernel12x32},
			&gemmShape[float64]{name: "avx512-12x16", mr: 12, nr: 16, kc: 192, mc: 96, nc: 1536, kernel: dgemmKernel12x16}
	}
)

func init() {
	switch {
	case hasAVX512:
		sgemmShape, dgemmShape = avx512Shapes()
	case hasAVX2FMA:
		sgemmShape, dgemmShape = avx2Shapes()
	}
}
