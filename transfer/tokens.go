package transfer

import (
	"fmt"
	"math"

	"github.com/bico-dev/bico/tensor"
)

// TokenRule says how rows of the source and target are made to correspond
// when their token counts differ (METHOD.md step 3).
type TokenRule string

const (
	// TokensResample resamples the source's patch grid to the target's grid
	// bilinearly and keeps the class token as is (the default).
	TokensResample TokenRule = "resample"
	// TokensClass keeps only the class token's row of each sample.
	TokensClass TokenRule = "cls"
	// TokensMean keeps one row per sample: the mean over its tokens.
	TokensMean TokenRule = "mean"
)

// gridLayout splits a token count into a prefix (the class token, if any)
// and a square patch grid: n = prefix + side².
func gridLayout(n int) (prefix, side int, err error) {
	side = squareSide(n)
	prefix = n - side*side
	if prefix > 1 || side == 0 {
		return 0, 0, fmt.Errorf("%d tokens are not a square patch grid with at most one class token", n)
	}
	return prefix, side, nil
}

// squareSide returns the largest side whose square is at most n (0 for
// n < 1).
func squareSide(n int) int {
	if n < 1 {
		return 0
	}
	side := int(math.Sqrt(float64(n)))
	for side*side > n {
		side--
	}
	for (side+1)*(side+1) <= n {
		side++
	}
	return side
}

// reduceTokens applies the rule to rows shaped [batch, tokens, d] (rows of
// rank 2 have no token axis and pass through): for TokensClass the first
// token, for TokensMean the mean over tokens. Resampling happens in
// alignTokens, since it needs the other side's token count.
func reduceTokens(x *tensor.Tensor[float32], rule TokenRule) *tensor.Tensor[float32] {
	if len(x.Shape) != 3 || rule == TokensResample {
		return x
	}
	b, n, d := x.Shape[0], x.Shape[1], x.Shape[2]
	out := tensor.New[float32](b, 1, d)
	for i := 0; i < b; i++ {
		dst := out.Data[i*d : (i+1)*d]
		if rule == TokensClass {
			copy(dst, x.Data[i*n*d:i*n*d+d])
			continue
		}
		for t := 0; t < n; t++ {
			row := x.Data[(i*n+t)*d : (i*n+t+1)*d]
			for j, v := range row {
				dst[j] += v
			}
		}
		inv := 1 / float32(n)
		for j := range dst {
			dst[j] *= inv
		}
	}
	return out
}

// alignTokens returns the source rows src [batch, nA, d] resampled to nB
// tokens, so that row i of the result corresponds to row i of the target:
// the class token (if any) is kept, the patch grid resampled bilinearly.
func alignTokens(src *tensor.Tensor[float32], nB int) (*tensor.Tensor[float32], error) {
	if len(src.Shape) != 3 || src.Shape[1] == nB {
		return src, nil
	}
	b, nA, d := src.Shape[0], src.Shape[1], src.Shape[2]
	pA, sA, err := gridLayout(nA)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	pB, sB, err := gridLayout(nB)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	if pA != pB {
		return nil, fmt.Errorf("source has %d class tokens, target %d", pA, pB)
	}
	out := tensor.New[float32](b, nB, d)
	for i := 0; i < b; i++ {
		in := src.Data[i*nA*d : (i+1)*nA*d]
		dst := out.Data[i*nB*d : (i+1)*nB*d]
		copy(dst[:pA*d], in[:pA*d])
		ResampleGrid(dst[pB*d:], in[pA*d:], sA, sB, d)
	}
	return out, nil
}

// alignRows makes the source rows a [batch, nA, d] and the target rows b
// [batch, nB, d] correspond row for row. pa and pb are the token rows each
// model puts before its patch grid (model.PrefixTokens; −1 when a model
// does not say). When neither says, it is alignTokens. Otherwise the first
// min(pa, pb) rows pair as they are (the class token, then registers in
// order), the extra prefix rows of the other side, which have no
// counterpart, are left out, and the source's grid is resampled to the
// target's.
func alignRows(a, b *tensor.Tensor[float32], pa, pb int) (*tensor.Tensor[float32], *tensor.Tensor[float32], error) {
	if len(a.Shape) != 3 || len(b.Shape) != 3 {
		return a, b, nil
	}
	if pa < 0 && pb < 0 {
		a, err := alignTokens(a, b.Shape[1])
		return a, b, err
	}
	nA, nB := a.Shape[1], b.Shape[1]
	if pa == pb && nA == nB {
		return a, b, nil
	}
	sA, err := prefixedGrid(nA, pa)
	if err != nil {
		return nil, nil, fmt.Errorf("source: %w", err)
	}
	sB, err := prefixedGrid(nB, pb)
	if err != nil {
		return nil, nil, fmt.Errorf("target: %w", err)
	}
	if pa < 0 {
		pa = nA - sA*sA
	}
	if pb < 0 {
		pb = nB - sB*sB
	}
	k := min(pa, pb)
	batch, d, n := a.Shape[0], a.Shape[2], k+sB*sB
	a2 := tensor.New[float32](batch, n, d)
	for i := 0; i < batch; i++ {
		src, dst := a.Data[i*nA*d:(i+1)*nA*d], a2.Data[i*n*d:(i+1)*n*d]
		copy(dst[:k*d], src[:k*d])
		ResampleGrid(dst[k*d:], src[pa*d:], sA, sB, d)
	}
	if pb == k {
		return a2, b, nil
	}
	dB := b.Shape[2]
	b2 := tensor.New[float32](batch, n, dB)
	for i := 0; i < batch; i++ {
		src, dst := b.Data[i*nB*dB:(i+1)*nB*dB], b2.Data[i*n*dB:(i+1)*n*dB]
		copy(dst[:k*dB], src[:k*dB])
		copy(dst[k*dB:], src[pb*dB:])
	}
	return a2, b2, nil
}

// prefixedGrid returns the side of the square patch grid after prefix rows
// of n token rows (prefix −1: a class token or none, from n).
func prefixedGrid(n, prefix int) (int, error) {
	if prefix < 0 {
		_, side, err := gridLayout(n)
		return side, err
	}
	side := squareSide(n - prefix)
	if prefix > n || side*side != n-prefix || side == 0 {
		return 0, fmt.Errorf("%d tokens are not %d prefix tokens and a square patch grid", n, prefix)
	}
	return side, nil
}

// ResampleGrid resamples a square grid of side sA of d-vectors (row-major,
// one vector per cell) to side sB by bilinear interpolation with aligned
// cell centres, writing into dst (sB·sB·d values).
func ResampleGrid(dst, src []float32, sA, sB, d int) {
	scale := float64(sA) / float64(sB)
	for y := 0; y < sB; y++ {
		y0, y1, wy := sample(y, scale, sA)
		for x := 0; x < sB; x++ {
			x0, x1, wx := sample(x, scale, sA)
			out := dst[(y*sB+x)*d : (y*sB+x+1)*d]
			c00 := src[(y0*sA+x0)*d:]
			c01 := src[(y0*sA+x1)*d:]
			c10 := src[(y1*sA+x0)*d:]
			c11 := src[(y1*sA+x1)*d:]
			w00 := float32((1 - wy) * (1 - wx))
			w01 := float32((1 - wy) * wx)
			w10 := float32(wy * (1 - wx))
			w11 := float32(wy * wx)
			for j := range out {
				out[j] = w00*c00[j] + w01*c01[j] + w10*c10[j] + w11*c11[j]
			}
		}
	}
}

// sample maps output cell i to the two source cells around its centre and
// the weight of the second.
func sample(i int, scale float64, n int) (i0, i1 int, w float64) {
	c := (float64(i)+0.5)*scale - 0.5
	c = math.Max(0, math.Min(c, float64(n-1)))
	i0 = int(math.Floor(c))
	i1 = min(i0+1, n-1)
	return i0, i1, c - float64(i0)
}
