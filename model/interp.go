package model

import "math"

// Bicubic resampling of a position-embedding grid, as torch's
// nn.functional.interpolate(mode="bicubic", align_corners=False) computes
// it: a linear map, here built as a matrix, so that a model whose
// checkpoint holds positions for one grid runs on images of another and the
// gradient reaches the stored table.

// bicubicWeights returns the out×in matrix (row-major) that resamples a
// sequence of in values to out values with torch's bicubic interpolation,
// align_corners false. Without antialias each output reads the four inputs
// around its source position scale·(i + ½) − ½ (scale = in/out), with the
// cubic convolution kernel of a = −0.75 and indices clamped to the ends.
// With antialias (torch's antialias=True, as PIL resamples) the kernel of
// a = −0.5 is stretched by scale when shrinking (its support grows from 2
// to 2·scale), cut at the ends, and its weights normalised to sum to one.
func bicubicWeights(in, out int, antialias bool) []float64 {
	w := make([]float64, out*in)
	scale := float64(in) / float64(out)
	for i := 0; i < out; i++ {
		row := w[i*in : (i+1)*in]
		if antialias {
			bicubicAntialiasRow(row, i, scale)
		} else {
			bicubicRow(row, i, scale)
		}
	}
	return w
}

// bicubicRow sets the weights of output i without antialiasing.
func bicubicRow(row []float64, i int, scale float64) {
	const a = -0.75
	src := scale*(float64(i)+0.5) - 0.5
	x0 := math.Floor(src)
	t := src - x0
	for k := -1; k <= 2; k++ {
		j := min(max(int(x0)+k, 0), len(row)-1)
		row[j] += cubicKernel(math.Abs(t-float64(k)), a)
	}
}

// bicubicAntialiasRow sets the weights of output i with antialiasing.
func bicubicAntialiasRow(row []float64, i int, scale float64) {
	const a = -0.5
	support, inv := 2.0, 1.0
	if scale >= 1 {
		support, inv = 2*scale, 1/scale
	}
	center := scale * (float64(i) + 0.5)
	lo := max(int(center-support+0.5), 0)
	hi := min(int(center+support+0.5), len(row))
	total := 0.0
	for j := lo; j < hi; j++ {
		v := cubicKernel(math.Abs((float64(j)-center+0.5)*inv), a)
		row[j] = v
		total += v
	}
	if total != 0 {
		for j := lo; j < hi; j++ {
			row[j] /= total
		}
	}
}

// cubicKernel is Keys' cubic convolution kernel with parameter a at
// distance x ≥ 0.
func cubicKernel(x, a float64) float64 {
	switch {
	case x < 1:
		return ((a+2)*x-(a+3))*x*x + 1
	case x < 2:
		return ((a*x-5*a)*x+8*a)*x - 4*a
	}
	return 0
}

// gridResampler returns the (newH·newW)×(oldH·oldW) matrix, as a float32
// tensor, that resamples a row-major oldH×oldW grid of vectors to newH×newW
// with bicubicWeights along each axis.
func gridResampler(oldH, oldW, newH, newW int, antialias bool) *Tensor {
	ry := bicubicWeights(oldH, newH, antialias)
	rx := bicubicWeights(oldW, newW, antialias)
	out := make([]float32, newH*newW*oldH*oldW)
	cols := oldH * oldW
	for y := 0; y < newH; y++ {
		for x := 0; x < newW; x++ {
			row := out[(y*newW+x)*cols:]
			for sy := 0; sy < oldH; sy++ {
				wy := ry[y*oldH+sy]
				if wy == 0 {
					continue
				}
				for sx := 0; sx < oldW; sx++ {
					row[sy*oldW+sx] = float32(wy * rx[x*oldW+sx])
				}
			}
		}
	}
	return &Tensor{Shape: []int{newH * newW, cols}, Data: out}
}
