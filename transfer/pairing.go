package transfer

import (
	"fmt"
	"math"

	"github.com/bico-dev/bico/model"
)

// SitePair is a linear site of the target model and the source site whose
// task vector it receives.
type SitePair struct {
	A, B model.Site
}

// depth is the number of repeated blocks of a model: one more than the
// largest block index of its sites.
func depth(sites []model.Site) int {
	n := 0
	for _, s := range sites {
		n = max(n, s.Block+1)
	}
	return n
}

// RelativeDepth pairs target block j with source block
// round(j·(L_A−1)/(L_B−1)) (METHOD.md step 6, the default).
func RelativeDepth(lA, lB int) []int {
	pair := make([]int, lB)
	for j := range pair {
		if lB > 1 {
			pair[j] = int(math.Round(float64(j) * float64(lA-1) / float64(lB-1)))
		}
	}
	return pair
}

// pairSites pairs every target site with the source site of the same role in
// the paired block (blockOf[j] is the source block of target block j, −1 for
// none). Sites outside the blocks pair by role. Target sites without a
// partner are returned separately: they receive no delta.
func pairSites(a, b []model.Site, blockOf []int) (pairs []SitePair, unpaired []model.Site, err error) {
	type key struct {
		role  string
		block int
	}
	byKey := map[key]model.Site{}
	for _, s := range a {
		k := key{s.Role, s.Block}
		if _, dup := byKey[k]; dup {
			return nil, nil, fmt.Errorf("source model has two %q sites in block %d", s.Role, s.Block)
		}
		byKey[k] = s
	}
	for _, s := range b {
		src := -1
		if s.Block >= 0 && s.Block < len(blockOf) {
			src = blockOf[s.Block]
		}
		if s.Block < 0 {
			src = -1
		} else if src < 0 {
			unpaired = append(unpaired, s)
			continue
		}
		sa, ok := byKey[key{s.Role, src}]
		if !ok {
			unpaired = append(unpaired, s)
			continue
		}
		pairs = append(pairs, SitePair{A: sa, B: s})
	}
	return pairs, unpaired, nil
}
