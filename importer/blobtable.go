package importer

import (
	"encoding/binary"
	"encoding/hex"

	"github.com/opencontainers/go-digest"
)

// blobTable holds the plan's blobs in first-use order; a blob's id is its
// position. A sha256 digest is kept as its 32 bytes, found through an
// open-addressing index of ids: a 50,000-tag storage has ~170,000 blobs,
// which a map of digest strings to records held in ~30 MB, this in ~13.
// Digests of other algorithms (or not canonically spelled) are kept as
// strings in a side map.
type blobTable struct {
	rows []planBlob
	// slots holds id+1 of the sha256 blobs, 0 for free; linear probing
	// from the digest's first bytes (uniform: they are a hash).
	slots []uint32
	// other holds the blobs whose digest has no 32-byte form.
	other   map[digest.Digest]uint32
	otherOf map[uint32]digest.Digest
	// types are the content types met, typeIDs their indexes.
	types   []string
	typeIDs map[string]uint32
}

// setType sets the content type of blob id.
func (t *blobTable) setType(id uint32, ct string) {
	n, ok := t.typeIDs[ct]
	if !ok {
		if t.typeIDs == nil {
			t.typeIDs = map[string]uint32{}
		}
		n = uint32(len(t.types))
		t.types = append(t.types, ct)
		t.typeIDs[ct] = n
	}
	t.rows[id].ctype = n
}

// contentType is blob id's content type.
func (t *blobTable) contentType(id uint32) string {
	if len(t.types) == 0 {
		return ""
	}
	return t.types[t.rows[id].ctype]
}

type planBlob struct {
	sum  [32]byte // sha256; zero for a blob in other
	size int64
	// ctype indexes blobTable.types: the content type, which follows the
	// most recent manifest referencing the blob.
	ctype uint32
	// file is false for foreign layers and empty configs the source does
	// not hold: a blob row without data, as a push leaves it.
	file       bool
	fromHarbor bool // Harbor's storage already holds the data
}

// sha256Key returns the 32 bytes of a canonical sha256 digest (lowercase
// hex, as go-digest spells it).
func sha256Key(d digest.Digest) (k [32]byte, ok bool) {
	const prefix = "sha256:"
	s := string(d)
	if len(s) != len(prefix)+64 || s[:len(prefix)] != prefix {
		return k, false
	}
	for i := len(prefix); i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return k, false
		}
	}
	_, err := hex.Decode(k[:], []byte(s[len(prefix):]))
	return k, err == nil
}

func (t *blobTable) len() int { return len(t.rows) }

// digest returns the digest of blob id (a new string each call).
func (t *blobTable) digest(id uint32) digest.Digest {
	if d, ok := t.otherOf[id]; ok {
		return d
	}
	return sumDigest(t.rows[id].sum)
}

// find returns the id of d's blob.
func (t *blobTable) find(d digest.Digest) (uint32, bool) {
	k, ok := sha256Key(d)
	if !ok {
		id, ok := t.other[d]
		return id, ok
	}
	if len(t.slots) == 0 {
		return 0, false
	}
	for i := t.home(&k); ; i = (i + 1) & (len(t.slots) - 1) {
		switch s := t.slots[i]; {
		case s == 0:
			return 0, false
		case t.rows[s-1].sum == k:
			return s - 1, true
		}
	}
}

// get returns d's record, nil when d is no blob of the plan. The pointer
// is valid until the next add.
func (t *blobTable) get(d digest.Digest) *planBlob {
	if id, ok := t.find(d); ok {
		return &t.rows[id]
	}
	return nil
}

// add returns d's id, adding a record of size size when d is new.
func (t *blobTable) add(d digest.Digest, size int64) (id uint32, created bool) {
	if id, ok := t.find(d); ok {
		return id, false
	}
	id = uint32(len(t.rows))
	k, ok := sha256Key(d)
	if !ok {
		if t.other == nil {
			t.other, t.otherOf = map[digest.Digest]uint32{}, map[uint32]digest.Digest{}
		}
		t.other[d], t.otherOf[id] = id, d
		t.rows = append(t.rows, planBlob{size: size})
		return id, true
	}
	t.rows = append(t.rows, planBlob{sum: k, size: size})
	if 2*len(t.rows) > len(t.slots) {
		t.rehash(max(1024, 2*len(t.slots)))
	} else {
		t.insert(id)
	}
	return id, true
}

func (t *blobTable) home(k *[32]byte) int {
	return int(binary.LittleEndian.Uint64(k[:8]) & uint64(len(t.slots)-1))
}

func (t *blobTable) insert(id uint32) {
	i := t.home(&t.rows[id].sum)
	for t.slots[i] != 0 {
		i = (i + 1) & (len(t.slots) - 1)
	}
	t.slots[i] = id + 1
}

// rehash rebuilds the index with n slots (a power of two is used).
func (t *blobTable) rehash(n int) {
	size := 1
	for size < n {
		size *= 2
	}
	t.slots = make([]uint32, size)
	for id := range t.rows {
		if _, odd := t.otherOf[uint32(id)]; !odd {
			t.insert(uint32(id))
		}
	}
}

// truncate forgets the blobs added after the first n.
func (t *blobTable) truncate(n int) {
	for id := len(t.rows) - 1; id >= n; id-- {
		if d, odd := t.otherOf[uint32(id)]; odd {
			delete(t.other, d)
			delete(t.otherOf, uint32(id))
		} else {
			t.remove(uint32(id))
		}
	}
	t.rows = t.rows[:min(n, len(t.rows))]
}

// remove takes id out of the index, shifting back the entries after it
// that probed past its slot (no tombstones).
func (t *blobTable) remove(id uint32) {
	mask := len(t.slots) - 1
	i := t.home(&t.rows[id].sum)
	for t.slots[i] != id+1 {
		i = (i + 1) & mask
	}
	for j := (i + 1) & mask; t.slots[j] != 0; j = (j + 1) & mask {
		h := t.home(&t.rows[t.slots[j]-1].sum)
		// The entry at j stays if its home lies cyclically in (i, j].
		if i <= j && i < h && h <= j || i > j && (i < h || h <= j) {
			continue
		}
		t.slots[i] = t.slots[j]
		i = j
	}
	t.slots[i] = 0
}
