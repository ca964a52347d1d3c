// Command llmpair writes a language-model transfer to time and measure
// with bico transfer: a source base A, its "fine-tune" A + noise and a
// target base B, random-weight Llama causal LMs of SmolLM2-135M's shape
// (bench.SmolLM2, or -shape qwen for a Qwen2.5-0.5B-sized Llama) saved as
// Hugging Face folders, calib.jsonl, 64 sequences of random token ids, and
// lora/, a PEFT LoRA adapter of A (rank 16 on every query and value
// projection, as fine-tunes of language models usually are). The weights
// are random, so the transfer's accuracy means nothing; its time and memory
// are those of a real model of that shape.
//
//	go run ./examples/llmpair -out /tmp/pair
//	cd /tmp/pair && /usr/bin/time -v bico transfer --source-base a --source-finetuned aft \
//	    --target-base b --calib calib.jsonl --per-class 64 --method bico --batch 8 --out out
//	cd /tmp/pair && /usr/bin/time -v bico transfer --source-base a --source-finetuned lora \
//	    --target-base b --calib calib.jsonl --per-class 64 --method bico --batch 8 --save-lora --out out-lora
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/bico-dev/bico/bench"
	"github.com/bico-dev/bico/model"
	"github.com/bico-dev/bico/safetensors"
)

func main() {
	out := flag.String("out", "", "folder to write a, aft, b and calib.jsonl into")
	shape := flag.String("shape", "smollm2", "model shape: smollm2 (135M parameters) or qwen (494M)")
	sequences := flag.Int("sequences", 64, "calibration sequences")
	flag.Parse()
	if *out == "" {
		log.Fatal("llmpair: -out is required")
	}
	s := bench.SmolLM2
	switch *shape {
	case "smollm2":
	case "qwen":
		s = bench.LLM{Hidden: 896, Layers: 24, Heads: 14, KVHeads: 2, MLP: 4864, Vocab: 151936, Seq: 128, Tied: true}
	default:
		log.Fatalf("llmpair: -shape %q: want smollm2 or qwen", *shape)
	}
	if err := write(*out, s, *sequences); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("wrote %s: %s\n", *out, s)
}

// write saves the three models of shape s and n calibration sequences to
// dir.
func write(dir string, s bench.LLM, n int) error {
	a, b, err := bench.Models(s, s, 1)
	if err != nil {
		return err
	}
	// The fine-tune: every parameter moved by Gaussian noise of 0.002.
	rng := rand.New(rand.NewPCG(3, 3))
	ps := model.Params(a)
	for _, name := range a.ParamNames() {
		t := ps[name].Clone()
		for i := range t.Data {
			t.Data[i] += 0.002 * float32(rng.NormFloat64())
		}
		ps[name] = t
	}
	aft, err := model.WithParams(a, ps)
	if err != nil {
		return err
	}
	for name, m := range map[string]model.Model{"a": a, "aft": aft, "b": b} {
		if err := model.Save(filepath.Join(dir, name), m, 1<<30); err != nil {
			return err
		}
	}
	if err := writeLoRA(filepath.Join(dir, "lora"), a, rng); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "calib.jsonl"))
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for range n {
		ids := make([]int, s.Seq)
		for j := range ids {
			ids[j] = 1 + rng.IntN(s.Vocab-1)
		}
		if err := enc.Encode(map[string]any{"input_ids": ids}); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// writeLoRA saves a PEFT LoRA adapter of m in dir: rank 16, lora_alpha 32,
// on every q_proj and v_proj, with A of unit-variance entries and B of
// 0.001·N(0, 1).
func writeLoRA(dir string, m model.Model, rng *rand.Rand) error {
	const rank = 16
	random := func(n int, std float64) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(std * rng.NormFloat64())
		}
		return x
	}
	var tensors []safetensors.Tensor
	for _, s := range m.Sites() {
		if s.Role != "query" && s.Role != "value" {
			continue
		}
		key := "base_model.model." + strings.TrimSuffix(s.Weight, ".weight")
		tensors = append(tensors,
			safetensors.F32(key+".lora_A.weight", []int{rank, s.In}, random(rank*s.In, 1)),
			safetensors.F32(key+".lora_B.weight", []int{s.Out, rank}, random(s.Out*rank, 0.001)))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := safetensors.Write(filepath.Join(dir, model.AdapterWeightsFile), tensors, nil); err != nil {
		return err
	}
	cfg := `{"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 16, "lora_alpha": 32, "target_modules": ["q_proj", "v_proj"]}` + "\n"
	return os.WriteFile(filepath.Join(dir, model.AdapterConfigFile), []byte(cfg), 0o644)
}
