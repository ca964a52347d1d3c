package data

import (
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // register the GIF decoder
	_ "image/jpeg"
	"image/png"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/bico-dev/bico/tensor"
)

// FolderOptions says how LoadImageFolder shapes its images.
type FolderOptions struct {
	// Height and Width are the common size every image is resized to
	// (bilinear, see Resize). Both zero: the size of the first image.
	Height, Width int
	// Channels is 1 or 3. Zero: 1 when every image is grayscale, else 3.
	// A grayscale image is repeated into 3 channels, a colour image
	// becomes 1 channel by luminance (see ConvertChannels).
	Channels int
}

// imageExts are the file extensions LoadImageFolder reads (lower case).
var imageExts = map[string]bool{".png": true, ".jpg": true, ".jpeg": true, ".gif": true}

// isImageFile reports whether name has an extension LoadImageFolder reads.
func isImageFile(name string) bool {
	return imageExts[strings.ToLower(filepath.Ext(name))]
}

// decoded is one image as float32 [C, H, W] in [0, 1].
type decoded struct {
	c, h, w int
	pix     []float32
}

// LoadImageFolder reads a folder with one sub-folder per class: the class
// ids follow the sorted sub-folder names, which become ClassNames. Every
// PNG, JPEG and GIF (first frame) file under a class folder, at any depth,
// is one sample; other files and names starting with "." are skipped.
// Images are converted to [0, 1]: a grayscale file (gray colour model, or
// a palette of grays) gives 1 channel, any other 3 (RGB, with transparent
// pixels composited over black). A file that cannot be decoded, or a class
// folder with no images, is an error naming it.
func LoadImageFolder(dir string, opts FolderOptions) (*Dataset, error) {
	if (opts.Height == 0) != (opts.Width == 0) || opts.Height < 0 || opts.Width < 0 {
		return nil, fmt.Errorf("data: image folder %s: size %d×%d: give both height and width, or neither", dir, opts.Height, opts.Width)
	}
	if opts.Channels != 0 && opts.Channels != 1 && opts.Channels != 3 {
		return nil, fmt.Errorf("data: image folder %s: %d channels, want 1 or 3", dir, opts.Channels)
	}
	classes, err := classFolders(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	var labels []int
	for c, name := range classes {
		sub := filepath.Join(dir, name)
		n := 0
		err := filepath.WalkDir(sub, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if p != sub && strings.HasPrefix(e.Name(), ".") {
				if e.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if e.IsDir() || !isImageFile(p) {
				return nil
			}
			files = append(files, p)
			labels = append(labels, c)
			n++
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("data: image folder: %w", err)
		}
		if n == 0 {
			return nil, fmt.Errorf("data: image folder: class folder %s has no images (.png, .jpg, .jpeg, .gif)", sub)
		}
	}

	imgs := make([]decoded, len(files))
	errs := make([]error, len(files))
	parallelFor(len(files), func(i int) { imgs[i], errs[i] = decodeFile(files[i]) })
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}

	h, w, ch := opts.Height, opts.Width, opts.Channels
	if h == 0 {
		h, w = imgs[0].h, imgs[0].w
	}
	if ch == 0 {
		ch = 1
		for _, im := range imgs {
			if im.c != 1 {
				ch = 3
				break
			}
		}
	}
	ds := &Dataset{
		Inputs:     tensor.New[float32](len(files), ch, h, w),
		Labels:     labels,
		Classes:    len(classes),
		ClassNames: classes,
	}
	size := ch * h * w
	parallelFor(len(imgs), func(i int) {
		im := imgs[i]
		x := tensor.FromSlice(im.pix, 1, im.c, im.h, im.w)
		x, _ = ConvertChannels(x, ch) // 1 → 3 or 3 → 1 only: cannot fail
		if im.h != h || im.w != w {
			x = Resize(x, h, w)
		}
		copy(ds.Inputs.Data[i*size:(i+1)*size], x.Data)
		imgs[i].pix = nil
	})
	return ds, nil
}

// classFolders lists the sub-folders of dir (following symbolic links) in
// sorted order, skipping hidden ones.
func classFolders(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("data: image folder: %w", err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		st, err := os.Stat(filepath.Join(dir, e.Name()))
		if err == nil && st.IsDir() {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("data: image folder %s has no class sub-folders", dir)
	}
	return names, nil // os.ReadDir sorts by name
}

// decodeFile reads one image file as float32 [C, H, W] in [0, 1].
func decodeFile(path string) (decoded, error) {
	f, err := os.Open(path)
	if err != nil {
		return decoded{}, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	img, format, err := image.Decode(f)
	if err != nil {
		return decoded{}, fmt.Errorf("data: image %s: %w", path, err)
	}
	d := imageToFloat(img)
	if d.h == 0 || d.w == 0 {
		return decoded{}, fmt.Errorf("data: image %s: empty %s image", path, format)
	}
	return d, nil
}

// isGray reports whether img holds only grays.
func isGray(img image.Image) bool {
	switch m := img.(type) {
	case *image.Gray, *image.Gray16:
		return true
	case *image.Paletted:
		for _, c := range m.Palette {
			r, g, b, _ := c.RGBA()
			if r != g || g != b {
				return false
			}
		}
		return true
	}
	cm := img.ColorModel()
	return cm == color.GrayModel || cm == color.Gray16Model
}

// imageToFloat converts img to [C, H, W] float32 in [0, 1], C being 1 for
// grayscale images and 3 otherwise.
func imageToFloat(img image.Image) decoded {
	b := img.Bounds()
	h, w := b.Dy(), b.Dx()
	if isGray(img) {
		d := decoded{c: 1, h: h, w: w, pix: make([]float32, h*w)}
		if g, ok := img.(*image.Gray); ok {
			for y := range h {
				row := g.Pix[y*g.Stride : y*g.Stride+w]
				for x, v := range row {
					d.pix[y*w+x] = byteToUnit[v]
				}
			}
			return d
		}
		for y := range h {
			for x := range w {
				r, _, _, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
				d.pix[y*w+x] = float32(r) / 0xffff
			}
		}
		return d
	}
	d := decoded{c: 3, h: h, w: w, pix: make([]float32, 3*h*w)}
	plane := h * w
	r, g, bl := d.pix[:plane], d.pix[plane:2*plane], d.pix[2*plane:]
	if m, ok := img.(*image.RGBA); ok { // already premultiplied
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+4*w]
			for x := range w {
				i := y*w + x
				r[i], g[i], bl[i] = byteToUnit[row[4*x]], byteToUnit[row[4*x+1]], byteToUnit[row[4*x+2]]
			}
		}
		return d
	}
	for y := range h {
		for x := range w {
			cr, cg, cb, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			i := y*w + x
			r[i], g[i], bl[i] = float32(cr)/0xffff, float32(cg)/0xffff, float32(cb)/0xffff
		}
	}
	return d
}

// SaveImageFolder writes ds as a folder LoadImageFolder reads back: one
// sub-folder per class (named by ClassName, so the sorted order must match
// the class order for ids to survive; numbered names are zero-padded), one
// 8-bit PNG per sample named by its index. Values are clipped to [0, 1]
// and rounded to 1/255. Images must have 1 or 3 channels; token sequences
// are refused.
func SaveImageFolder(dir string, ds *Dataset) error {
	if err := ds.Validate(); err != nil {
		return err
	}
	if ds.IsText() {
		return fmt.Errorf("data: save image folder: the dataset holds token sequences, not images")
	}
	c, h, w := ds.Channels(), ds.Height(), ds.Width()
	if c != 1 && c != 3 {
		return fmt.Errorf("data: save image folder: %d-channel images, want 1 or 3", c)
	}
	digits := len(fmt.Sprint(max(ds.Classes-1, 0)))
	names := make([]string, ds.Classes)
	for k := range names {
		if k < len(ds.ClassNames) {
			names[k] = ds.ClassNames[k]
		} else {
			names[k] = fmt.Sprintf("%0*d", digits, k)
		}
		if err := os.MkdirAll(filepath.Join(dir, names[k]), 0o755); err != nil {
			return fmt.Errorf("data: save image folder: %w", err)
		}
	}
	idxDigits := len(fmt.Sprint(max(ds.Len()-1, 0)))
	plane := h * w
	for i := range ds.Len() {
		px := ds.Inputs.Data[i*c*plane : (i+1)*c*plane]
		var img image.Image
		if c == 1 {
			g := image.NewGray(image.Rect(0, 0, w, h))
			for k := range plane {
				g.Pix[k] = toByte(px[k])
			}
			img = g
		} else {
			m := image.NewRGBA(image.Rect(0, 0, w, h))
			for k := range plane {
				m.Pix[4*k], m.Pix[4*k+1], m.Pix[4*k+2], m.Pix[4*k+3] = toByte(px[k]), toByte(px[plane+k]), toByte(px[2*plane+k]), 255
			}
			img = m
		}
		p := filepath.Join(dir, names[ds.Labels[i]], fmt.Sprintf("%0*d.png", idxDigits, i))
		if err := writePNG(p, img); err != nil {
			return err
		}
	}
	return nil
}

func toByte(v float32) uint8 {
	return uint8(math.Round(float64(min(max(v, 0), 1)) * 255))
}

func writePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("data: %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	return nil
}
