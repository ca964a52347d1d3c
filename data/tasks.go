package data

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/bico-dev/bico/tensor"
)

// Task is a deterministic image transform that turns a dataset (MNIST in
// the experiments) into a shifted task: same labels, different inputs.
// Transforms that draw random numbers draw them from a generator seeded
// by the seed, the task name and the sample's index in the dataset, so a
// sample's result depends on its position: transforming a subset is not
// the same as taking the subset of a transformed set.
type Task struct {
	Name        string
	Description string
	// sample transforms one image src [c, h, w] into dst ([c, h, w], or
	// [c, w, h] when transposed); r is nil for tasks that draw no random
	// numbers. setup, when set, builds sample for a given image shape.
	sample sampleFunc
	setup  func(c, h, w int) sampleFunc
	random bool
	// transposed says the output is [c, w, h].
	transposed bool
}

type sampleFunc func(dst, src []float32, c, h, w int, r *rand.Rand)

// Apply returns the transformed dataset; labels and classes are unchanged.
// ds is not modified. It panics unless ds holds images [N, C, H, W].
func (t Task) Apply(ds *Dataset, seed uint64) *Dataset {
	s := ds.Inputs.Shape
	if len(s) != 4 {
		panic(fmt.Sprintf("data: task %s applies to images [N, C, H, W], not inputs of shape %v", t.Name, s))
	}
	n, c, h, w := s[0], s[1], s[2], s[3]
	sample := t.sample
	if t.setup != nil {
		sample = t.setup(c, h, w)
	}
	if sample == nil {
		panic("data: Apply of a zero Task")
	}
	oh, ow := h, w
	if t.transposed {
		oh, ow = w, h
	}
	out := tensor.New[float32](n, c, oh, ow)
	in, on := c*h*w, c*oh*ow
	stream := nameHash(t.Name)
	parallelChunks(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			var r *rand.Rand
			if t.random {
				r = rand.New(rand.NewPCG(seed, stream^uint64(i)))
			}
			sample(out.Data[i*on:(i+1)*on], ds.Inputs.Data[i*in:(i+1)*in], c, h, w, r)
		}
	})
	return ds.withInputs(out)
}

func nameHash(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// Tasks lists the shifted tasks, "identity" first and then the eight
// shifts: rot90, invert, noise, blur, affine, hflip, downscale, stripes.
func Tasks() []Task {
	return []Task{
		{Name: "identity", Description: "the images unchanged", sample: identitySample},
		{Name: "rot90", Description: "rotated 90° counter-clockwise", sample: rot90Sample, transposed: true},
		{Name: "invert", Description: "inverted intensities, 1 − x", sample: invertSample},
		{Name: "noise", Description: "additive Gaussian noise, σ = 0.3, clipped to [0, 1]", sample: noiseSample, random: true},
		{Name: "blur", Description: "Gaussian blur, σ = 1.5 pixels", setup: blurSetup},
		{Name: "affine", Description: "random rotation ±20°, scale 0.85–1.15, translation ±3 pixels per sample", sample: affineSample, random: true},
		{Name: "hflip", Description: "mirrored left to right", sample: hflipSample},
		{Name: "downscale", Description: "shrunk to half size, centred on a black canvas", setup: downscaleSetup},
		{Name: "stripes", Description: "occluded: rows 2–4 of every 7 set to 0", sample: stripesSample},
	}
}

// TaskByName returns the task with the given name (case-insensitive).
func TaskByName(name string) (Task, error) {
	var names []string
	for _, t := range Tasks() {
		if strings.EqualFold(t.Name, name) {
			return t, nil
		}
		names = append(names, t.Name)
	}
	return Task{}, fmt.Errorf("data: unknown task %q, want one of %s", name, strings.Join(names, ", "))
}

func identitySample(dst, src []float32, c, h, w int, _ *rand.Rand) { copy(dst, src) }

// rot90Sample rotates counter-clockwise (as numpy.rot90): output pixel
// (y, x) of the w×h result is input pixel (x, w−1−y).
func rot90Sample(dst, src []float32, c, h, w int, _ *rand.Rand) {
	for k := range c {
		s, d := src[k*h*w:(k+1)*h*w], dst[k*h*w:(k+1)*h*w]
		for y := range w {
			for x := range h {
				d[y*h+x] = s[x*w+(w-1-y)]
			}
		}
	}
}

func invertSample(dst, src []float32, c, h, w int, _ *rand.Rand) {
	for i, v := range src {
		dst[i] = 1 - v
	}
}

func noiseSample(dst, src []float32, c, h, w int, r *rand.Rand) {
	const sigma = 0.3
	for i, v := range src {
		dst[i] = min(max(v+float32(sigma*r.NormFloat64()), 0), 1)
	}
}

func hflipSample(dst, src []float32, c, h, w int, _ *rand.Rand) {
	for row := range c * h {
		s, d := src[row*w:(row+1)*w], dst[row*w:(row+1)*w]
		for x := range w {
			d[x] = s[w-1-x]
		}
	}
}

// stripesSample zeroes rows y with y mod 7 in {2, 3, 4}.
func stripesSample(dst, src []float32, c, h, w int, _ *rand.Rand) {
	copy(dst, src)
	for k := range c {
		for y := range h {
			if m := y % 7; m >= 2 && m <= 4 {
				clear(dst[(k*h+y)*w : (k*h+y+1)*w])
			}
		}
	}
}

// gaussianFilter is a Gaussian of σ = 1.5 truncated at ±5 pixels along an
// axis of n pixels; at the borders the weights of the pixels inside are
// renormalised.
func gaussianFilter(n int) axisFilter {
	const sigma, radius = 1.5, 5
	f := axisFilter{start: make([]int, n), taps: make([][]float32, n)}
	for i := range n {
		lo, hi := max(i-radius, 0), min(i+radius, n-1)
		w := make([]float64, 0, hi-lo+1)
		sum := 0.0
		for j := lo; j <= hi; j++ {
			d := float64(j - i)
			v := math.Exp(-d * d / (2 * sigma * sigma))
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

// blurSetup returns a sample function that convolves each channel with
// gaussianFilter along rows, then along columns.
func blurSetup(c, h, w int) sampleFunc {
	fx, fy := gaussianFilter(w), gaussianFilter(h)
	return func(dst, src []float32, c, h, w int, _ *rand.Rand) {
		tmp := make([]float32, h*w)
		for k := range c {
			resizePlane(dst[k*h*w:(k+1)*h*w], src[k*h*w:(k+1)*h*w], tmp, h, w, h, w, fx, fy)
		}
	}
}

// affineSample rotates by θ ∈ [−20°, 20°], scales by s ∈ [0.85, 1.15] about
// the image centre and translates by (tx, ty) ∈ [−3, 3]² pixels, all drawn
// per sample; it samples bilinearly, zero outside the image.
func affineSample(dst, src []float32, c, h, w int, r *rand.Rand) {
	theta := (r.Float64()*2 - 1) * 20 * math.Pi / 180
	scale := 0.85 + 0.3*r.Float64()
	tx, ty := (r.Float64()*2-1)*3, (r.Float64()*2-1)*3
	cos, sin := math.Cos(theta)/scale, math.Sin(theta)/scale
	cx, cy := float64(w-1)/2, float64(h-1)/2
	for y := range h {
		for x := range w {
			// Inverse map: undo the translation, then the rotation and scale.
			px, py := float64(x)-cx-tx, float64(y)-cy-ty
			sx := cos*px + sin*py + cx
			sy := -sin*px + cos*py + cy
			x0, y0 := math.Floor(sx), math.Floor(sy)
			fx, fy := float32(sx-x0), float32(sy-y0)
			ix, iy := int(x0), int(y0)
			for k := range c {
				s := src[k*h*w : (k+1)*h*w]
				at := func(yy, xx int) float32 {
					if xx < 0 || xx >= w || yy < 0 || yy >= h {
						return 0
					}
					return s[yy*w+xx]
				}
				top := at(iy, ix)*(1-fx) + at(iy, ix+1)*fx
				bot := at(iy+1, ix)*(1-fx) + at(iy+1, ix+1)*fx
				dst[k*h*w+y*w+x] = top*(1-fy) + bot*fy
			}
		}
	}
}

// downscaleSetup returns a sample function that shrinks the image to half
// its size (antialiased bilinear, as Resize) and centres it on a zero
// canvas of the original size.
func downscaleSetup(c, h, w int) sampleFunc {
	oh, ow := max(h/2, 1), max(w/2, 1)
	fx, fy := bilinearFilter(w, ow), bilinearFilter(h, oh)
	top, left := (h-oh)/2, (w-ow)/2
	return func(dst, src []float32, c, h, w int, _ *rand.Rand) {
		clear(dst)
		tmp, small := make([]float32, h*ow), make([]float32, oh*ow)
		for k := range c {
			resizePlane(small, src[k*h*w:(k+1)*h*w], tmp, h, w, oh, ow, fx, fy)
			for y := range oh {
				copy(dst[k*h*w+(top+y)*w+left:], small[y*ow:(y+1)*ow])
			}
		}
	}
}
