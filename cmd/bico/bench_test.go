package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestBenchLlama runs the bench on the small Llama pair and checks that the
// flags of one family are refused with the other.
func TestBenchLlama(t *testing.T) {
	msg, err := run(t, "bench", "--family", "llama", "--skip-main", "--small-batches", "1", "--small-repeats", "1",
		"--sgemm", "64", "--eval-samples", "2", "--eval-repeats", "1", "--json", "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Small struct {
			Family, Unit string
			Source       map[string]any
			Statistics   int
		}
	}
	if err := json.Unmarshal([]byte(msg), &res); err != nil {
		t.Fatalf("%v in %s", err, msg)
	}
	if s := res.Small; s.Family != "llama" || s.Unit != "sequences" || s.Source["vocab"] != 256.0 || s.Statistics == 0 {
		t.Errorf("small pair %+v: want a llama pair over sequences, vocabulary 256, with statistics", s)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--family", "llama", "--image", "32"}, "--image is a vit setting"},
		{[]string{"--vocab", "100"}, "--vocab is a llama setting"},
		{[]string{"--family", "bert"}, `--family "bert"`},
		{[]string{"--family", "llama", "--heads", "7"}, "not an even head size"},
	} {
		args := append([]string{"bench", "--skip-small", "--quiet", "--sgemm", "64"}, tc.args...)
		if _, err := run(t, args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("bench %v: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}
