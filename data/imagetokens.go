package data

import (
	"fmt"

	"github.com/bico-dev/bico/tensor"
)

// ImageTokenVocab is the number of distinct tokens ImageTokens gives.
const ImageTokenVocab = 256

// ImageTokens turns images [N, C, H, W] into token sequences [N, T], a
// stand-in for text built from labelled images: each block×block square
// of the image (in row-major order over the grid, T = (H/block)·(W/block))
// becomes one token, from the mean intensity (over the channels too) of
// its four quadrants, each quantised into 4 levels (0 to 3 for means in
// [0, ¼), …, [¾, 1]), as quadrant levels l₀ + 4l₁ + 16l₂ + 64l₃ (top left,
// top right, bottom left, bottom right): ImageTokenVocab ids in all.
// block must be even and divide H and W. Labels and classes are kept.
func ImageTokens(ds *Dataset, block int) (*Dataset, error) {
	s := ds.Inputs.Shape
	if len(s) != 4 {
		return nil, fmt.Errorf("data: image tokens of inputs %v, want images [N, C, H, W]", s)
	}
	n, c, h, w := s[0], s[1], s[2], s[3]
	if block <= 0 || block%2 != 0 || h%block != 0 || w%block != 0 {
		return nil, fmt.Errorf("data: image tokens of %dx%d images with blocks of %d: want an even block dividing both sides", h, w, block)
	}
	gh, gw, half := h/block, w/block, block/2
	out := tensor.New[float32](n, gh*gw)
	inv := 1 / float64(c*half*half)
	parallelChunks(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			img := ds.Inputs.Data[i*c*h*w : (i+1)*c*h*w]
			for by := 0; by < gh; by++ {
				for bx := 0; bx < gw; bx++ {
					id := 0
					for q := 3; q >= 0; q-- {
						y0, x0 := by*block+(q/2)*half, bx*block+(q%2)*half
						sum := 0.0
						for ch := 0; ch < c; ch++ {
							for y := y0; y < y0+half; y++ {
								for _, v := range img[(ch*h+y)*w+x0 : (ch*h+y)*w+x0+half] {
									sum += float64(v)
								}
							}
						}
						id = 4*id + min(3, max(0, int(sum*inv*4)))
					}
					out.Data[i*gh*gw+by*gw+bx] = float32(id)
				}
			}
		}
	})
	return ds.withInputs(out), nil
}
