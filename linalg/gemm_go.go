package linalg

import (
	"sync"
	"unsafe"
)

// The pure-Go backend's matrix product is a blocked, packed GEMM in the
// manner of Goto and van de Geijn: C is computed in panels of nc columns;
// for each slice of kc along the inner dimension the kc×nc block of op(B) is
// packed into nr-column slivers, then for each mc×kc block of op(A), packed
// into mr-row slivers, a register-blocked micro-kernel computes every mr×nr
// tile of C from one A sliver and one B sliver, both contiguous, the B
// sliver in L1 and the A block in L2. The micro-kernel is assembly (AVX2 and
// FMA, or AVX-512) where the CPU has it and Go otherwise; the pool splits
// large products into blocks of C computed on several goroutines.

// microKernel computes the mr×nr tile C = alpha·A·B + beta·C from packed
// slivers: a holds k columns of mr values, b holds k rows of nr values; c
// is the tile's first element and ldc the row stride of C. With beta = 0, C
// is not read.
type microKernel[T Float] func(k int, a, b, c *T, ldc int, alpha, beta T)

// gemmShape is a micro-kernel with the block sizes that suit it.
type gemmShape[T Float] struct {
	name       string
	mr, nr     int
	kc, mc, nc int
	kernel     microKernel[T]
}

// gemmWork is the scratch of one serial product: the packed blocks and an
// edge tile. It is recycled through a sync.Pool so that products allocate
// nothing in steady state.
type gemmWork[T Float] struct {
	a, b, tile []T
}

var (
	workPool32 sync.Pool
	workPool64 sync.Pool
)

func getWork[T Float](sh *gemmShape[T], kc, mc, nc int) *gemmWork[T] {
	var w *gemmWork[T]
	var zero T
	var p *sync.Pool
	if unsafe.Sizeof(zero) == 4 {
		p = &workPool32
	} else {
		p = &workPool64
	}
	if v := p.Get(); v != nil {
		w = v.(*gemmWork[T])
	} else {
		w = new(gemmWork[T])
	}
	grow := func(s []T, n int) []T {
		if cap(s) < n {
			return make([]T, n)
		}
		return s[:n]
	}
	w.a = grow(w.a, roundUp(mc, sh.mr)*kc)
	w.b = grow(w.b, roundUp(nc, sh.nr)*kc)
	w.tile = grow(w.tile, sh.mr*sh.nr)
	return w
}

func putWork[T Float](w *gemmWork[T]) {
	var zero T
	if unsafe.Sizeof(zero) == 4 {
		workPool32.Put(w)
	} else {
		workPool64.Put(w)
	}
}

func roundUp(n, m int) int { return (n + m - 1) / m * m }

// gemmSerial computes C = alpha·op(A)·op(B) + beta·C on the calling
// goroutine with the blocked, packed algorithm described above. The
// arguments have been checked; m, n, k > 0 and alpha ≠ 0.
func gemmSerial[T Float](sh *gemmShape[T], transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	mr, nr := sh.mr, sh.nr
	w := getWork(sh, min(k, sh.kc), min(m, sh.mc), min(n, sh.nc))
	defer putWork(w)
	for jc := 0; jc < n; jc += sh.nc {
		nc := min(sh.nc, n-jc)
		for pc := 0; pc < k; pc += sh.kc {
			kc := min(sh.kc, k-pc)
			packB(w.b, b, ldb, transB, pc, kc, jc, nc, nr)
			bet := beta
			if pc > 0 {
				bet = 1 // later slices add to what the first wrote
			}
			for ic := 0; ic < m; ic += sh.mc {
				mc := min(sh.mc, m-ic)
				packA(w.a, a, lda, transA, ic, mc, pc, kc, mr)
				for jr := 0; jr < nc; jr += nr {
					bp := &w.b[jr*kc]
					cols := min(nr, nc-jr)
					for ir := 0; ir < mc; ir += mr {
						ap := &w.a[ir*kc]
						rows := min(mr, mc-ir)
						ci := (ic+ir)*ldc + jc + jr
						if rows == mr && cols == nr {
							sh.kernel(kc, ap, bp, &c[ci], ldc, alpha, bet)
							continue
						}
						// An edge tile: compute it whole into the scratch
						// tile, then update the part inside C.
						sh.kernel(kc, ap, bp, &w.tile[0], nr, 1, 0)
						for r := 0; r < rows; r++ {
							dst := c[ci+r*ldc : ci+r*ldc+cols]
							src := w.tile[r*nr : r*nr+cols]
							if bet == 0 {
								for j, v := range src {
									dst[j] = alpha * v
								}
							} else {
								for j, v := range src {
									dst[j] = alpha*v + bet*dst[j]
								}
							}
						}
					}
				}
			}
		}
	}
}

// packA packs rows [i0, i0+mc) and columns [p0, p0+kc) of op(A) into
// slivers of mr rows: sliver s holds, for each p, the mr values of rows
// i0+s·mr … (zero past the last row), at dst[s·mr·kc + p·mr + r].
func packA[T Float](dst, a []T, lda int, trans bool, i0, mc, p0, kc, mr int) {
	for is := 0; is < mc; is += mr {
		rows := min(mr, mc-is)
		d := dst[is*kc : is*kc+mr*kc]
		if !trans {
			// op(A)[i][p] = a[i·lda + p]: each row of A is one lane.
			for r := 0; r < rows; r++ {
				src := a[(i0+is+r)*lda+p0:]
				src = src[:kc]
				for p, v := range src {
					d[p*mr+r] = v
				}
			}
		} else {
			// op(A)[i][p] = a[p·lda + i]: rows of the sliver are contiguous.
			for p := 0; p < kc; p++ {
				copy(d[p*mr:p*mr+rows], a[(p0+p)*lda+i0+is:])
			}
		}
		if rows < mr {
			for p := 0; p < kc; p++ {
				clear(d[p*mr+rows : (p+1)*mr])
			}
		}
	}
}

// packB packs rows [p0, p0+kc) and columns [j0, j0+nc) of op(B) into
// slivers of nr columns: sliver s holds, for each p, the nr values of
// columns j0+s·nr … (zero past the last column), at dst[s·nr·kc + p·nr + j].
func packB[T Float](dst, b []T, ldb int, trans bool, p0, kc, j0, nc, nr int) {
	for js := 0; js < nc; js += nr {
		cols := min(nr, nc-js)
		d := dst[js*kc : js*kc+nr*kc]
		if !trans {
			// op(B)[p][j] = b[p·ldb + j]: rows of the sliver are contiguous.
			for p := 0; p < kc; p++ {
				copy(d[p*nr:p*nr+cols], b[(p0+p)*ldb+j0+js:])
			}
		} else {
			// op(B)[p][j] = b[j·ldb + p]: each row of B is one lane.
			for j := 0; j < cols; j++ {
				src := b[(j0+js+j)*ldb+p0:]
				src = src[:kc]
				for p, v := range src {
					d[p*nr+j] = v
				}
			}
		}
		if cols < nr {
			for p := 0; p < kc; p++ {
				clear(d[p*nr+cols : (p+1)*nr])
			}
		}
	}
}

// goKernel returns the portable micro-kernel for mr×nr tiles: plain Go,
// for CPUs without the assembly kernels.
func goKernel[T Float](mr, nr int) microKernel[T] {
	return func(k int, a, b, c *T, ldc int, alpha, beta T) {
		as := unsafe.Slice(a, k*mr)
		bs := unsafe.Slice(b, k*nr)
		cs := unsafe.Slice(c, (mr-1)*ldc+nr)
		var buf [512]T // mr·nr ≤ 512
		acc := buf[:mr*nr]
		for p := 0; p < k; p++ {
			brow := bs[p*nr : (p+1)*nr]
			for r, av := range as[p*mr : (p+1)*mr] {
				row := acc[r*nr : (r+1)*nr]
				for j, bv := range brow {
					row[j] += av * bv
				}
			}
		}
		for r := 0; r < mr; r++ {
			dst := cs[r*ldc : r*ldc+nr]
			src := acc[r*nr : (r+1)*nr]
			if beta == 0 {
				for j, v := range src {
					dst[j] = alpha * v
				}
			} else {
				for j, v := range src {
					dst[j] = alpha*v + beta*dst[j]
				}
			}
		}
	}
}
