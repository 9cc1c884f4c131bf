package importer

import "encoding/binary"

// sumKey is what a sumTable finds records by: a whole sha256 sum
// (sha256Sum), or a part of one (sumPrefix) when the caller keeps the
// rest elsewhere and confirms a match itself.
type sumKey interface {
	comparable
	// home returns bits of the key as uniform as a hash's, where probing
	// starts.
	home() uint64
}

// sha256Sum is a sha256 sum as a sumTable key.
type sha256Sum [32]byte

func (k sha256Sum) home() uint64 { return binary.LittleEndian.Uint64(k[:8]) }

// sumPrefix is a sumTable key of 8 bytes of a sha256 sum, its top bit set
// (never the zero key): records of different sums may share one.
type sumPrefix uint64

func prefixOf(k *[32]byte) sumPrefix {
	return sumPrefix(binary.LittleEndian.Uint64(k[:8]) | 1<<63)
}

func (k sumPrefix) home() uint64 { return uint64(k) }

// sumTable holds records of type R in the order they were pushed (a
// record's id is its position), each under a key K, and finds them by key
// through an open-addressing index of ids. Records and keys live in chunks
// of sumChunk: a record's address never changes, and a large table is
// never copied to grow (a 50,000-tag storage has ~170,000 blobs, which a
// growing slice would hold twice at the moment it grows). A record pushed
// with the zero key is kept but not indexed: the caller finds it otherwise.
type sumTable[K sumKey, R any] struct {
	chunks []*sumChunkOf[K, R]
	n      int
	// slots holds id+1 of the indexed records, 0 for free; linear probing
	// from the key's home (uniform: a hash's bits). It is at most
	// three quarters full (a hit then probes ~2.5 slots on average, a miss
	// ~8.5; fewer at the usual lower loads): 172,000 blobs take 1 MB of
	// slots, where at most half full they took 2.
	slots []uint32
}

const sumChunk = 2048

type sumChunkOf[K sumKey, R any] struct {
	keys [sumChunk]K
	recs [sumChunk]R
}

func (t *sumTable[K, R]) len() int { return t.n }

// at returns record id; the pointer stays valid until a truncate drops it.
func (t *sumTable[K, R]) at(id uint32) *R { return &t.chunks[id/sumChunk].recs[id%sumChunk] }

// key returns the key record id was pushed with.
func (t *sumTable[K, R]) key(id uint32) *K { return &t.chunks[id/sumChunk].keys[id%sumChunk] }

// lookup returns the id of the record pushed with key k.
func (t *sumTable[K, R]) lookup(k *K) (uint32, bool) { return t.lookupFunc(k, nil) }

// lookupFunc returns the id of the first record pushed with key k that
// match accepts (nil accepts any): for keys that records may share.
func (t *sumTable[K, R]) lookupFunc(k *K, match func(id uint32) bool) (uint32, bool) {
	var zero K
	if len(t.slots) == 0 || *k == zero {
		return 0, false
	}
	for i := t.home(k); ; i = (i + 1) & (len(t.slots) - 1) {
		switch s := t.slots[i]; {
		case s == 0:
			return 0, false
		case *t.key(s - 1) == *k && (match == nil || match(s-1)):
			return s - 1, true
		}
	}
}

// push appends record r under key k (zero: not indexed) and returns its
// id. The caller has checked that k is not in the table.
func (t *sumTable[K, R]) push(k K, r R) uint32 {
	id := uint32(t.n)
	if t.n == len(t.chunks)*sumChunk {
		t.chunks = append(t.chunks, new(sumChunkOf[K, R]))
	}
	c := t.chunks[id/sumChunk]
	c.keys[id%sumChunk], c.recs[id%sumChunk] = k, r
	t.n++
	var zero K
	if k == zero {
		return id
	}
	if 4*t.n > 3*len(t.slots) {
		t.rehash(max(1024, 2*len(t.slots)))
	} else {
		t.insert(id)
	}
	return id
}

// truncate forgets the records pushed after the first n.
func (t *sumTable[K, R]) truncate(n int) {
	if n >= t.n {
		return
	}
	var (
		zeroK K
		zeroR R
	)
	for id := t.n - 1; id >= n; id-- {
		if *t.key(uint32(id)) != zeroK {
			t.remove(uint32(id))
		}
		*t.key(uint32(id)), *t.at(uint32(id)) = zeroK, zeroR
	}
	t.n = n
	keep := (n + sumChunk - 1) / sumChunk
	clear(t.chunks[keep:])
	t.chunks = t.chunks[:keep]
}

func (t *sumTable[K, R]) home(k *K) int { return int((*k).home() & uint64(len(t.slots)-1)) }

func (t *sumTable[K, R]) insert(id uint32) {
	i := t.home(t.key(id))
	for t.slots[i] != 0 {
		i = (i + 1) & (len(t.slots) - 1)
	}
	t.slots[i] = id + 1
}

// rehash rebuilds the index with n slots (a power of two is used).
func (t *sumTable[K, R]) rehash(n int) {
	size := 1
	for size < n {
		size *= 2
	}
	t.slots = make([]uint32, size)
	var zero K
	for id := range uint32(t.n) {
		if *t.key(id) != zero {
			t.insert(id)
		}
	}
}

// remove takes id out of the index, shifting back the entries after it
// that probed past its slot (no tombstones).
func (t *sumTable[K, R]) remove(id uint32) {
	mask := len(t.slots) - 1
	i := t.home(t.key(id))
	for t.slots[i] != id+1 {
		i = (i + 1) & mask
	}
	for j := (i + 1) & mask; t.slots[j] != 0; j = (j + 1) & mask {
		h := t.home(t.key(t.slots[j] - 1))
		// The entry at j stays if its home lies cyclically in (i, j].
		if i <= j && i < h && h <= j || i > j && (i < h || h <= j) {
			continue
		}
		t.slots[i] = t.slots[j]
		i = j
	}
	t.slots[i] = 0
}
