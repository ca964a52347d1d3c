package tokenizer

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkEncode encodes the test corpus with each kind of tokenizer and
// reports tokens per second.
func BenchmarkEncode(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "corpus.txt"))
	if err != nil {
		b.Fatal(err)
	}
	text := string(data)
	for _, name := range []string{"gpt2", "llama3", "o200k", "llama2"} {
		b.Run(name, func(b *testing.B) {
			tok := loadFixture(b, name)
			b.SetBytes(int64(len(text)))
			tokens := 0
			for b.Loop() {
				ids, err := tok.Encode(text)
				if err != nil {
					b.Fatal(err)
				}
				tokens += len(ids)
			}
			b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
