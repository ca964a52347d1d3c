package tokenizer

import (
	"fmt"
	"sync"
	"unicode/utf8"
)

// A bpe is a byte-pair encoding model: it splits a word into characters
// and merges adjacent pairs, the pair of lowest rank first.
type bpe struct {
	vocabulary
	merges       map[uint64]merge // by pairKey of the two ids
	unk          string           // unk_token; "" if none
	fuseUnk      bool             // fuse adjacent unknown characters into one unk
	ignoreMerges bool             // take a word found in the vocabulary whole
	bytes        [256]int         // ids of the <0xAB> tokens, -1 if absent

	mu    sync.RWMutex
	cache map[string][]int // ids of words seen before
}

// A merge is the result of merging a pair: its rank and the merged id.
type merge struct {
	rank int32
	id   int32
}

const (
	cacheCap     = 10000 // most words kept in the cache
	cacheWordLen = 256   // longest word kept in the cache
)

// pairKey returns the key of the pair (a, b) in bpe.merges.
func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// newBPE builds a model from its vocabulary and merges.
func newBPE(vocab map[string]int, merges [][2]string, prefix string) (*bpe, error) {
	v, err := newVocabulary(vocab, prefix)
	if err != nil {
		return nil, err
	}
	m := &bpe{vocabulary: v}
	for b := range m.bytes {
		id, ok := vocab[fmt.Sprintf("<0x%02X>", b)]
		if !ok {
			id = -1
		}
		m.bytes[b] = id
	}
	m.merges = make(map[uint64]merge, len(merges))
	for i, mg := range merges {
		a, b := mg[0], mg[1]
		ida, ok := vocab[a]
		if !ok {
			return nil, fmt.Errorf("merge %d (%q %q): token %q is not in the vocabulary", i, a, b, a)
		}
		idb, ok := vocab[b]
		if !ok {
			return nil, fmt.Errorf("merge %d (%q %q): token %q is not in the vocabulary", i, a, b, b)
		}
		if len(b) < len(prefix) {
			return nil, fmt.Errorf("merge %d (%q %q): token %q is shorter than continuing_subword_prefix", i, a, b, b)
		}
		merged := a + b[len(prefix):]
		id, ok := vocab[merged]
		if !ok {
			return nil, fmt.Errorf("merge %d (%q %q): merged token %q is not in the vocabulary", i, a, b, merged)
		}
		m.merges[pairKey(int32(ida), int32(idb))] = merge{rank: int32(i), id: int32(id)}
	}
	m.cache = make(map[string][]int)
	return m, nil
}

// tokenize appends the ids of word to dst.
func (m *bpe) tokenize(dst []int, word string) ([]int, error) {
	if word == "" {
		return dst, nil
	}
	if m.ignoreMerges {
		if id, ok := m.vocab[word]; ok {
			return append(dst, id), nil
		}
	}
	m.mu.RLock()
	ids, ok := m.cache[word]
	m.mu.RUnlock()
	if ok {
		return append(dst, ids...), nil
	}
	syms, err := m.symbols(word)
	if err != nil {
		return dst, err
	}
	syms = m.mergeAll(syms)
	n := len(dst)
	for _, s := range syms {
		dst = append(dst, int(s.id))
	}
	if len(word) < cacheWordLen {
		m.mu.Lock()
		if len(m.cache) < cacheCap {
			m.cache[word] = append([]int(nil), dst[n:]...)
		}
		m.mu.Unlock()
	}
	return dst, nil
}

// A symbol is a part of a word during merging, in a linked list.
type symbol struct {
	id         int32
	prev, next int32 // indices, -1 at the ends
	size       int32 // bytes; 0 once merged into its left neighbour
}

// symbols returns the initial symbols of word: one per character, or one
// per byte with byte fallback, or unk for unknown characters.
func (m *bpe) symbols(word string) ([]symbol, error) {
	syms := make([]symbol, 0, len(word))
	add := func(id, size int) {
		prev := int32(len(syms) - 1)
		if prev >= 0 {
			syms[prev].next = int32(len(syms))
		}
		syms = append(syms, symbol{id: int32(id), prev: prev, next: -1, size: int32(size)})
	}
	unkID, unkSize := -1, 0
	for i := 0; i < len(word); {
		_, n := utf8.DecodeRuneInString(word[i:])
		s := word[i : i+n]
		if i > 0 && m.prefix != "" {
			s = m.prefix + s
		}
		if i+n == len(word) && m.suffix != "" {
			s += m.suffix
		}
		i += n
		if id, ok := m.vocab[s]; ok {
			if unkID >= 0 {
				add(unkID, unkSize)
				unkID = -1
			}
			add(id, n)
			continue
		}
		if m.byteFallback && m.hasBytes(s) {
			for j := 0; j < len(s); j++ {
				add(m.bytes[s[j]], 1)
			}
			continue
		}
		if m.unk == "" {
			continue
		}
		if unkID >= 0 && m.fuseUnk {
			unkSize += n
			continue
		}
		if unkID >= 0 {
			add(unkID, unkSize)
		}
		id, ok := m.vocab[m.unk]
		if !ok {
			return nil, fmt.Errorf("unk_token %q is not in the vocabulary", m.unk)
		}
		unkID, unkSize = id, n
	}
	if unkID >= 0 {
		add(unkID, unkSize)
	}
	return syms, nil
}

// hasBytes reports whether every byte of s has a <0xAB> token.
func (m *bpe) hasBytes(s string) bool {
	for j := 0; j < len(s); j++ {
		if m.bytes[s[j]] < 0 {
			return false
		}
	}
	return true
}

// mergeAll merges the pairs of syms, lowest rank first and, among equal
// ranks, leftmost first, and returns the remaining symbols.
func (m *bpe) mergeAll(syms []symbol) []symbol {
	if len(syms) < 2 {
		return syms
	}
	var q mergeQueue
	for i := 0; i+1 < len(syms); i++ {
		if mg, ok := m.merges[pairKey(syms[i].id, syms[i+1].id)]; ok {
			q.push(mergeItem{pos: int32(i), rank: mg.rank, id: mg.id})
		}
	}
	for len(q) > 0 {
		top := q.pop()
		cur := &syms[top.pos]
		if cur.size == 0 || cur.next < 0 {
			continue
		}
		right := syms[cur.next]
		if mg, ok := m.merges[pairKey(cur.id, right.id)]; !ok || mg.id != top.id {
			continue // stale entry
		}
		syms[cur.next].size = 0
		cur.id = top.id
		cur.size += right.size
		cur.next = right.next
		if right.next >= 0 {
			syms[right.next].prev = top.pos
		}
		if cur.prev >= 0 {
			if mg, ok := m.merges[pairKey(syms[cur.prev].id, cur.id)]; ok {
				q.push(mergeItem{pos: cur.prev, rank: mg.rank, id: mg.id})
			}
		}
		if cur.next >= 0 {
			if mg, ok := m.merges[pairKey(cur.id, syms[cur.next].id)]; ok {
				q.push(mergeItem{pos: top.pos, rank: mg.rank, id: mg.id})
			}
		}
	}
	out := syms[:0]
	for _, s := range syms {
		if s.size != 0 {
			out = append(out, s)
		}
	}
	return out
}

// A mergeItem is a candidate merge of the pair starting at pos.
type mergeItem struct {
	pos, rank, id int32
}

// less orders merges by rank, then by position.
func (a mergeItem) less(b mergeItem) bool {
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	return a.pos < b.pos
}

// A mergeQueue is a binary min-heap of merges.
type mergeQueue []mergeItem

func (q *mergeQueue) push(it mergeItem) {
	h := append(*q, it)
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !h[i].less(h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	*q = h
}

func (q *mergeQueue) pop() mergeItem {
	h := *q
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	for i := 0; ; {
		l, small := 2*i+1, i
		if l < len(h) && h[l].less(h[small]) {
			small = l
		}
		if r := l + 1; r < len(h) && h[r].less(h[small]) {
			small = r
		}
		if small == i {
			break
		}
		h[i], h[small] = h[small], h[i]
		i = small
	}
	*q = h
	return top
}
