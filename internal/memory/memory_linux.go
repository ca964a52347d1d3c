package memory

import (
	"syscall"
	"unsafe"
)

// madvPopulateWrite is MADV_POPULATE_WRITE (Linux 5.14), missing from the
// syscall package.
const madvPopulateWrite = 23

// populate applies MADV_POPULATE_WRITE to the whole pages inside the n
// bytes at p: the partial pages at the ends may be shared with other
// objects and are left to fault as usual.
func populate(p unsafe.Pointer, n uintptr) {
	page := uintptr(syscall.Getpagesize())
	skip := (page - uintptr(p)%page) % page
	if n <= skip {
		return
	}
	whole := (n - skip) / page * page
	if whole == 0 {
		return
	}
	region := unsafe.Slice((*byte)(unsafe.Add(p, skip)), whole)
	_ = syscall.Madvise(region, madvPopulateWrite) // an old kernel says EINVAL: nothing lost
}
