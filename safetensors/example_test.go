package safetensors_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/bico-dev/bico/safetensors"
)

func Example() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	tensors := []safetensors.Tensor{
		safetensors.F32("linear.weight", []int{2, 3}, []float32{1, 2, 3, 4, 5, 6}),
		safetensors.BF16("linear.bias", []int{2}, []float32{0.5, -0.5}),
		safetensors.I64("step", nil, []int64{1000}),
	}
	path := filepath.Join(dir, "model.safetensors")
	if err := safetensors.Write(path, tensors, map[string]string{"format": "pt"}); err != nil {
		log.Fatal(err)
	}

	f, err := safetensors.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	w, shape, err := f.Float32("linear.weight")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.Names(), w, shape)
	// Output: [linear.bias linear.weight step] [1 2 3 4 5 6] [2 3]
}

func ExampleSummarize() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	tensors := []safetensors.Tensor{
		safetensors.F32("encoder.weight", []int{64, 32}, make([]float32, 64*32)),
		safetensors.F32("encoder.bias", []int{64}, make([]float32, 64)),
		safetensors.F16("head.weight", []int{10, 64}, make([]float32, 10*64)),
	}
	if _, err := safetensors.WriteSharded(dir, tensors, nil, 4096); err != nil {
		log.Fatal(err)
	}

	s, err := safetensors.Summarize(dir)
	if err != nil {
		log.Fatal(err)
	}
	s.WriteTo(os.Stdout)
	// Output:
	// NAME            DTYPE  SHAPE     PARAMS
	// encoder.bias    F32    [64]      64
	// encoder.weight  F32    [64, 32]  2048
	// head.weight     F16    [10, 64]  640
	// 3 tensors, 2,752 parameters, 9,728 bytes in 3 file(s)
}
