package memory

import (
	"syscall"
	"testing"
	"unsafe"
)

// resident counts the pages of b (page-aligned) that are in memory.
func resident(t *testing.T, b []byte) int {
	page := syscall.Getpagesize()
	vec := make([]byte, (len(b)+page-1)/page)
	_, _, errno := syscall.Syscall(syscall.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 {
		t.Fatalf("mincore: %v", errno)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}

// TestPrefaultMapsPages checks that Prefault makes the pages of fresh,
// never-written memory resident, so that writing them takes no faults.
func TestPrefaultMapsPages(t *testing.T) {
	const size = 16 << 20
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(b)
	pages := size / syscall.Getpagesize()
	if n := resident(t, b); n != 0 {
		t.Skipf("%d of %d pages of fresh memory already resident", n, pages)
	}
	if err := syscall.Madvise(b[:syscall.Getpagesize()], madvPopulateWrite); err != nil {
		t.Skipf("MADV_POPULATE_WRITE unsupported: %v", err)
	}
	Prefault(b[100:]) // an unaligned start: the first page is left alone
	if n := resident(t, b); n != pages {
		t.Errorf("%d of %d pages resident after Prefault", n, pages)
	}
	for i, v := range b {
		if v != 0 {
			t.Fatalf("byte %d is %d after Prefault", i, v)
		}
	}
}
