package data

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"github.com/bico-dev/bico/tensor"
)

// PreprocessorFile is the name of the Hugging Face image processor
// configuration in a checkpoint folder.
const PreprocessorFile = "preprocessor_config.json"

// Size is an image size as Hugging Face image processors write it: either
// {"height": H, "width": W}, {"shortest_edge": S}, or a bare number N
// (read as N×N).
type Size struct {
	Height       int `json:"height,omitempty"`
	Width        int `json:"width,omitempty"`
	ShortestEdge int `json:"shortest_edge,omitempty"`
}

// UnmarshalJSON reads a size object or a bare number.
func (s *Size) UnmarshalJSON(b []byte) error {
	var n float64
	if err := json.Unmarshal(b, &n); err == nil {
		if n != math.Trunc(n) || n < 0 || n > 1<<30 {
			return fmt.Errorf("size %v is not a valid integer size", n)
		}
		*s = Size{Height: int(n), Width: int(n)}
		return nil
	}
	type plain Size
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*s = Size(p)
	return nil
}

// Preprocess is the image preprocessing of a Hugging Face checkpoint, read
// from preprocessor_config.json with the field names and defaults of
// transformers' ViTImageProcessor: resize to size (bilinear), rescale,
// normalise per channel by image_mean and image_std. The fields of
// processors that resize the shortest edge and crop the centre (CLIP,
// ConvNeXt) are honoured too.
//
// Images reaching Apply are already in [0, 1]: every loader of this
// package stores an 8-bit value v as v/255, which is exactly what
// do_rescale with the usual rescale_factor 1/255 does to raw 0–255 pixels.
// So Apply rescales only by the remainder, 255·rescale_factor, when it
// differs from 1; with do_rescale false the images are used as they are.
type Preprocess struct {
	DoResize      bool      `json:"do_resize"`
	Size          Size      `json:"size"`
	Resample      int       `json:"resample"` // PIL code; 2 is bilinear. Apply always resizes bilinearly
	DoCenterCrop  bool      `json:"do_center_crop"`
	CropSize      Size      `json:"crop_size"`
	DoRescale     bool      `json:"do_rescale"`
	RescaleFactor float64   `json:"rescale_factor"`
	DoNormalize   bool      `json:"do_normalize"`
	ImageMean     []float64 `json:"image_mean"`
	ImageStd      []float64 `json:"image_std"`
	ProcessorType string    `json:"image_processor_type,omitempty"`
}

// DefaultPreprocess returns the defaults of ViTImageProcessor: resize to
// 224×224 bilinearly, rescale by 1/255, normalise with mean 0.5 and
// standard deviation 0.5 in every channel.
func DefaultPreprocess() *Preprocess {
	return &Preprocess{
		DoResize:      true,
		Size:          Size{Height: 224, Width: 224},
		Resample:      2,
		DoRescale:     true,
		RescaleFactor: 1.0 / 255,
		DoNormalize:   true,
		ImageMean:     []float64{0.5, 0.5, 0.5},
		ImageStd:      []float64{0.5, 0.5, 0.5},
	}
}

// ParsePreprocessor reads a preprocessor_config.json document; fields it
// lacks keep the ViTImageProcessor defaults.
func ParsePreprocessor(b []byte) (*Preprocess, error) {
	p := DefaultPreprocess()
	if err := json.Unmarshal(b, p); err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// LoadPreprocessor reads preprocessor_config.json from the checkpoint folder
// dir (or dir itself when it is a file). The bool reports whether the file
// exists: a folder without one gives (nil, false, nil), and the caller
// decides what to feed the model.
func LoadPreprocessor(dir string) (*Preprocess, bool, error) {
	path := dir
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		path = filepath.Join(dir, PreprocessorFile)
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("data: %w", err)
	}
	p, err := ParsePreprocessor(b)
	if err != nil {
		return nil, true, fmt.Errorf("data: %s: %w", path, err)
	}
	return p, true, nil
}

// Validate checks that the configuration can be applied.
func (p *Preprocess) Validate() error {
	if p.DoResize {
		s := p.Size
		if s.ShortestEdge == 0 && (s.Height <= 0 || s.Width <= 0) {
			return fmt.Errorf("preprocess: resize to size %+v: want positive height and width, or shortest_edge", s)
		}
		if s.ShortestEdge < 0 {
			return fmt.Errorf("preprocess: shortest_edge %d", s.ShortestEdge)
		}
	}
	if p.DoCenterCrop && (p.CropSize.Height <= 0 || p.CropSize.Width <= 0) {
		return fmt.Errorf("preprocess: crop_size %+v: want positive height and width", p.CropSize)
	}
	if p.DoRescale && !(p.RescaleFactor > 0) {
		return fmt.Errorf("preprocess: rescale_factor %v", p.RescaleFactor)
	}
	if p.DoNormalize {
		if len(p.ImageMean) == 0 || len(p.ImageMean) != len(p.ImageStd) {
			return fmt.Errorf("preprocess: image_mean %v and image_std %v: want the same, non-zero length", p.ImageMean, p.ImageStd)
		}
		for _, s := range p.ImageStd {
			if !(s > 0) {
				return fmt.Errorf("preprocess: image_std %v: want positive values", p.ImageStd)
			}
		}
	}
	return nil
}

// OutputSize is the height and width Apply gives an image of size h×w.
func (p *Preprocess) OutputSize(h, w int) (int, int) {
	if p == nil {
		return h, w
	}
	if p.DoResize {
		h, w = p.resizeTo(h, w)
	}
	if p.DoCenterCrop {
		h, w = p.CropSize.Height, p.CropSize.Width
	}
	return h, w
}

// resizeTo is the size an h×w image is resized to: size's height and width,
// or, with shortest_edge S, the shorter side S and the longer scaled in
// proportion (rounded down, as transformers does).
func (p *Preprocess) resizeTo(h, w int) (int, int) {
	s := p.Size
	if s.ShortestEdge == 0 {
		return s.Height, s.Width
	}
	if h <= w {
		return s.ShortestEdge, max(int(float64(s.ShortestEdge)*float64(w)/float64(h)), 1)
	}
	return max(int(float64(s.ShortestEdge)*float64(h)/float64(w)), 1), s.ShortestEdge
}

// Apply preprocesses images [N, C, H, W] with values in [0, 1] for a model
// that takes the given number of channels (≤ 0: keep C): convert the
// channels (1 channel repeated, 3 channels to 1 by luminance), resize
// (bilinear, antialiased when shrinking, whatever resample says), crop the
// centre, rescale by 255·rescale_factor when that is not 1 (see
// Preprocess), and normalise channel k to (x − mean[k]) / std[k] (a single
// mean and std apply to every channel). It returns a new tensor; a nil
// Preprocess only converts channels. images is never modified.
func (p *Preprocess) Apply(images *tensor.Tensor[float32], channels int) (*tensor.Tensor[float32], error) {
	x, err := ConvertChannels(images, channels)
	if err != nil {
		return nil, err
	}
	if p == nil {
		if x == images {
			x = x.Clone()
		}
		return x, nil
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	c := x.Shape[1]
	if p.DoNormalize && len(p.ImageMean) != 1 && len(p.ImageMean) != c {
		return nil, fmt.Errorf("preprocess: %d-channel images but image_mean %v", c, p.ImageMean)
	}
	if p.DoResize {
		h, w := p.resizeTo(x.Shape[2], x.Shape[3])
		if h != x.Shape[2] || w != x.Shape[3] {
			x = Resize(x, h, w)
		}
	}
	if p.DoCenterCrop {
		x = centerCrop(x, p.CropSize.Height, p.CropSize.Width)
	}
	if x == images {
		x = x.Clone()
	}
	scale := float32(1)
	if p.DoRescale {
		if f := 255 * p.RescaleFactor; math.Abs(f-1) > 1e-6 {
			scale = float32(f)
		}
	}
	plane := x.Shape[2] * x.Shape[3]
	for n := range x.Shape[0] {
		for k := range c {
			mean, inv := float32(0), float32(1)
			if p.DoNormalize {
				j := min(k, len(p.ImageMean)-1)
				mean, inv = float32(p.ImageMean[j]), float32(1/p.ImageStd[j])
			}
			if scale == 1 && mean == 0 && inv == 1 {
				continue
			}
			v := x.Data[(n*c+k)*plane : (n*c+k+1)*plane]
			for i := range v {
				v[i] = (v[i]*scale - mean) * inv
			}
		}
	}
	return x, nil
}

// centerCrop cuts the central h×w window out of images [N, C, H, W],
// padding with zeros where the window reaches past the image (as
// transformers does).
func centerCrop(x *tensor.Tensor[float32], h, w int) *tensor.Tensor[float32] {
	s := x.Shape
	H, W := s[2], s[3]
	if H == h && W == w {
		return x
	}
	top, left := (H-h)/2, (W-w)/2
	if H < h {
		top = -((h - H) / 2)
	}
	if W < w {
		left = -((w - W) / 2)
	}
	out := tensor.New[float32](s[0], s[1], h, w)
	for p := range s[0] * s[1] {
		src := x.Data[p*H*W : (p+1)*H*W]
		dst := out.Data[p*h*w : (p+1)*h*w]
		for y := range h {
			sy := y + top
			if sy < 0 || sy >= H {
				continue
			}
			for xx := range w {
				sx := xx + left
				if sx >= 0 && sx < W {
					dst[y*w+xx] = src[sy*W+sx]
				}
			}
		}
	}
	return out
}
