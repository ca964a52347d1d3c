package data

import (
	"fmt"
	"math"

	"github.com/bico-dev/bico/tensor"
)

// axisFilter holds, for each output coordinate along one axis, the first
// input coordinate it reads and the weights of the consecutive inputs.
type axisFilter struct {
	start []int
	taps  [][]float32
}

// bilinearFilter builds the weights of a bilinear (triangle) resampling of
// in samples to out samples. Sample centres sit at half-integer positions
// (pixel i covers [i, i+1)). When shrinking, the triangle is widened by
// the scale so that every input contributes (antialiasing), as PIL's
// Image.resize(BILINEAR) and torch's interpolate(antialias=True) do; when
// enlarging it is plain bilinear interpolation with the edges clamped.
func bilinearFilter(in, out int) axisFilter {
	scale := float64(in) / float64(out)
	fs := math.Max(scale, 1) // filter scale
	f := axisFilter{start: make([]int, out), taps: make([][]float32, out)}
	for i := range out {
		centre := (float64(i) + 0.5) * scale
		lo := max(int(math.Ceil(centre-fs-0.5)), 0)
		hi := min(int(math.Floor(centre+fs-0.5)), in-1)
		w := make([]float64, 0, hi-lo+1)
		sum := 0.0
		for j := lo; j <= hi; j++ {
			v := 1 - math.Abs(float64(j)+0.5-centre)/fs
			if v < 0 {
				v = 0
			}
			w = append(w, v)
			sum += v
		}
		taps := make([]float32, len(w))
		for k, v := range w {
			taps[k] = float32(v / sum)
		}
		f.start[i], f.taps[i] = lo, taps
	}
	return f
}

// resizePlane resamples one h×w plane src into the oh×ow plane dst, first
// along rows into tmp (h×ow) and then along columns.
func resizePlane(dst, src, tmp []float32, h, w, oh, ow int, fx, fy axisFilter) {
	for y := range h {
		row := src[y*w : (y+1)*w]
		out := tmp[y*ow : (y+1)*ow]
		for x := range ow {
			s := fx.start[x]
			var acc float32
			for k, c := range fx.taps[x] {
				acc += c * row[s+k]
			}
			out[x] = acc
		}
	}
	for y := range oh {
		s := fy.start[y]
		out := dst[y*ow : (y+1)*ow]
		clear(out)
		for k, c := range fy.taps[y] {
			in := tmp[(s+k)*ow : (s+k+1)*ow]
			for x := range out {
				out[x] += c * in[x]
			}
		}
	}
}

// Resize resamples images [N, C, H, W] to [N, C, h, w] by bilinear
// interpolation, antialiased when shrinking (see bilinearFilter). It
// returns a copy even when the size is unchanged.
func Resize(images *tensor.Tensor[float32], h, w int) *tensor.Tensor[float32] {
	s := images.Shape
	if len(s) != 4 {
		panic(fmt.Sprintf("data: resize images of shape %v, want [N, C, H, W]", s))
	}
	if h <= 0 || w <= 0 {
		panic(fmt.Sprintf("data: resize to %d×%d", h, w))
	}
	if s[2] == h && s[3] == w {
		return images.Clone()
	}
	out := tensor.New[float32](s[0], s[1], h, w)
	if s[2] == 0 || s[3] == 0 {
		return out
	}
	fx, fy := bilinearFilter(s[3], w), bilinearFilter(s[2], h)
	in, on := s[2]*s[3], h*w
	planes := s[0] * s[1]
	parallelChunks(planes, func(lo, hi int) {
		tmp := make([]float32, s[2]*w)
		for p := lo; p < hi; p++ {
			resizePlane(out.Data[p*on:(p+1)*on], images.Data[p*in:(p+1)*in], tmp, s[2], s[3], h, w, fx, fy)
		}
	})
	return out
}

// parallelChunks splits [0, n) into contiguous chunks and calls fn on each
// on its own goroutine.
func parallelChunks(n int, fn func(lo, hi int)) {
	const chunk = 64
	k := (n + chunk - 1) / chunk
	parallelFor(k, func(i int) { fn(i*chunk, min((i+1)*chunk, n)) })
}

// Luminance weights (ITU-R BT.601, as Go's color.GrayModel and PIL's "L").
const (
	lumR = 0.299
	lumG = 0.587
	lumB = 0.114
)

// ConvertChannels returns images [N, C, H, W] with the given number of
// channels: 1 channel is repeated to any count, 3 channels become 1 by
// luminance (0.299 R + 0.587 G + 0.114 B). With the same channel count, or
// channels ≤ 0, it returns images itself. Other conversions are an error.
func ConvertChannels(images *tensor.Tensor[float32], channels int) (*tensor.Tensor[float32], error) {
	s := images.Shape
	if len(s) != 4 {
		return nil, fmt.Errorf("data: images of shape %v, want [N, C, H, W]", s)
	}
	c := s[1]
	if channels <= 0 || channels == c {
		return images, nil
	}
	plane := s[2] * s[3]
	out := tensor.New[float32](s[0], channels, s[2], s[3])
	switch {
	case c == 1:
		for n := range s[0] {
			src := images.Data[n*plane : (n+1)*plane]
			for k := range channels {
				copy(out.Data[(n*channels+k)*plane:], src)
			}
		}
	case c == 3 && channels == 1:
		for n := range s[0] {
			src := images.Data[n*3*plane : (n+1)*3*plane]
			r, g, b := src[:plane], src[plane:2*plane], src[2*plane:]
			dst := out.Data[n*plane : (n+1)*plane]
			for i := range dst {
				dst[i] = lumR*r[i] + lumG*g[i] + lumB*b[i]
			}
		}
	default:
		return nil, fmt.Errorf("data: cannot convert %d-channel images to %d channels", c, channels)
	}
	return out, nil
}
