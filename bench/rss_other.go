//go:build !unix

package bench

// maxRSS is not available here.
func maxRSS() int64 { return 0 }

// CPUSeconds is not available here.
func CPUSeconds() float64 { return 0 }
