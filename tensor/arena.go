package tensor

import "sync"

// Arena recycles the buffers of tensors: a repeated computation (a forward
// and backward pass over batch after batch) takes the buffers it returned
// last time instead of asking the allocator and the kernel for fresh
// memory. Buffers are kept by length; an Arena is safe for concurrent use.
type Arena[T Float] struct {
	mu   sync.Mutex
	free map[int][][]T
	held int64 // elements in free buffers
}

// NewArena returns an empty arena.
func NewArena[T Float]() *Arena[T] {
	return &Arena[T]{free: map[int][][]T{}}
}

// Get returns a buffer of n elements, reused when one of that length is
// free; its contents are zero when zero is set and undefined otherwise.
func (a *Arena[T]) Get(n int, zero bool) []T {
	a.mu.Lock()
	l := a.free[n]
	if k := len(l); k > 0 {
		b := l[k-1]
		l[k-1] = nil
		a.free[n] = l[:k-1]
		a.held -= int64(n)
		a.mu.Unlock()
		if zero {
			clear(b)
		}
		return b
	}
	a.mu.Unlock()
	// The pass that asks for a fresh buffer writes it at once, often from
	// several threads: fresh maps its pages in one call instead.
	return fresh[T](n)
}

// Put gives b back for reuse. The caller must not use b afterwards, and
// must put each buffer once.
func (a *Arena[T]) Put(b []T) {
	if cap(b) == 0 {
		return
	}
	b = b[:cap(b)]
	a.mu.Lock()
	a.free[len(b)] = append(a.free[len(b)], b)
	a.held += int64(len(b))
	a.mu.Unlock()
}

// Held is the number of elements in free buffers.
func (a *Arena[T]) Held() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.held
}
