// Package memory manages how the process takes memory: Prefault asks the
// kernel to back fresh allocations with pages before they are first
// written, and SetLimit keeps the Go heap within the machine's memory.
//
// A large Go allocation is fresh memory from the kernel, which maps a page on
// the first write to it. Taking those page faults one at a time costs about
// 3 µs per 4 KiB page on the virtual machines bico is measured on, and eight
// times as much when two threads fault at once (`bico bench`: the first
// calibration batch of the ViT-B/16 pair took twice as long as the next
// ones, and a two-batch run spent 25 of its 69 processor seconds in the
// kernel). Populating the range in one call costs a fraction of that.
package memory

import "unsafe"

// MinPrefault is the least size in bytes that Prefault acts on: below it
// the system call costs more than the faults it saves.
const MinPrefault = 1 << 20

// Prefault maps the pages of b's memory for writing, when b is at least
// MinPrefault bytes, so that the first writes to it take no page faults.
// It changes neither b's contents nor its length, and does nothing where
// the system cannot do it (other systems, kernels before Linux 5.14).
func Prefault[T any](b []T) {
	if len(b) == 0 {
		return
	}
	var zero T
	n := uintptr(len(b)) * unsafe.Sizeof(zero)
	if n < MinPrefault {
		return
	}
	populate(unsafe.Pointer(&b[0]), n)
}
