package model

import (
	"fmt"
	"math"

	"github.com/bico-dev/bico/safetensors"
)

// Storage precisions a checkpoint is written in. Models are held in float32;
// these say how Save rounds the weights into the file.
var dtypeNames = map[safetensors.Dtype]string{
	safetensors.DtypeF32:  "float32",
	safetensors.DtypeBF16: "bfloat16",
	safetensors.DtypeF16:  "float16",
}

// ParseDtype returns the safetensors dtype of a torch dtype name
// ("float32", "bfloat16", "float16", as config.json's torch_dtype gives it)
// or of a safetensors one ("F32", "BF16", "F16").
func ParseDtype(s string) (safetensors.Dtype, error) {
	for d, name := range dtypeNames {
		if s == name || s == string(d) {
			return d, nil
		}
	}
	return "", fmt.Errorf("dtype %q: want float32, bfloat16 or float16", s)
}

// DtypeName returns the torch name of d ("bfloat16" for BF16).
func DtypeName(d safetensors.Dtype) string {
	if n, ok := dtypeNames[d]; ok {
		return n
	}
	return string(d)
}

// StoredDtype returns the precision the floating-point tensors of the
// checkpoint in folder dir (a model or, with its adapter_model.safetensors,
// a LoRA adapter) are stored in: their common dtype, or float32 when they
// mix dtypes or are of one Save cannot write (F64, 8-bit floats).
func StoredDtype(dir string) (safetensors.Dtype, error) {
	ck, err := safetensors.OpenDir(dir)
	if err != nil {
		return "", fmt.Errorf("model: %w", err)
	}
	defer ck.Close()
	var common safetensors.Dtype
	for _, name := range ck.Names() {
		info, _ := ck.Info(name)
		if !info.Dtype.IsFloat() {
			continue
		}
		if common != "" && info.Dtype != common {
			return safetensors.DtypeF32, nil
		}
		common = info.Dtype
	}
	if _, ok := dtypeNames[common]; !ok {
		return safetensors.DtypeF32, nil
	}
	return common, nil
}

// encodeTensor returns data as a safetensors tensor of dtype d, rounded to
// nearest. A value float16 cannot hold (beyond ±65504) is an error naming
// the tensor rather than an infinity in the file.
func encodeTensor(name string, shape []int, data []float32, d safetensors.Dtype) (safetensors.Tensor, error) {
	switch d {
	case safetensors.DtypeF32, "":
		return safetensors.F32(name, shape, data), nil
	case safetensors.DtypeBF16:
		return safetensors.BF16(name, shape, data), nil
	case safetensors.DtypeF16:
		for i, v := range data {
			if math.Abs(float64(v)) > 65504 {
				return safetensors.Tensor{}, fmt.Errorf("tensor %q: value %g at index %d is beyond float16's range (±65504); write bfloat16 or float32", name, v, i)
			}
		}
		return safetensors.F16(name, shape, data), nil
	}
	return safetensors.Tensor{}, fmt.Errorf("tensor %q: cannot write dtype %s; want float32, bfloat16 or float16", name, d)
}
