package linalg

// The shapes the pure-Go backend computes with: the portable Go kernels,
// replaced at init by assembly where the CPU supports it (gemm_amd64.go).
var (
	sgemmShape = &gemmShape[float32]{name: "go-4x8", mr: 4, nr: 8, kc: 256, mc: 64, nc: 2048, kernel: goKernel[float32](4, 8)}
	dgemmShape = &gemmShape[float64]{name: "go-4x4", mr: 4, nr: 4, kc: 256, mc: 64, nc: 1024, kernel: goKernel[float64](4, 4)}
)
