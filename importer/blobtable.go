package importer

import (
	"encoding/hex"

	"github.com/opencontainers/go-digest"

	"github.com/harbor-import/harbor-import/internal/regpath"
)

// blobTable holds the plan's blobs in first-use order; a blob's id is its
// position. A sha256 digest is kept as its 32 bytes in a sumTable: a
// 50,000-tag storage has ~170,000 blobs, which a map of digest strings to
// records held in ~30 MB, this in ~8. Digests of other algorithms (or not
// canonically spelled) are kept as strings in a side map.
type blobTable struct {
	sumTable[sha256Sum, planBlob]
	// other holds the blobs whose digest has no 32-byte form.
	other   map[digest.Digest]uint32
	otherOf map[uint32]digest.Digest
	// types are the content types met, typeIDs their indexes.
	types   []string
	typeIDs map[string]uint32
	// wideSize and wideType hold the sizes and type indexes that do not
	// fit a planBlob's fields.
	wideSize map[uint32]int64
	wideType map[uint32]uint32
}

// planBlob is a blob of the plan in one word, where a struct of its size,
// type index and flags took 16 bytes: the size in the low 48 bits, the
// index of its content type in blobTable.types in the next 14, and two
// flags. A size or an index that does not fit (a size past 256 TiB or
// below 0, as a manifest may declare for a foreign layer; a content type
// index of 16,383 or more) leaves its field all ones and waits in
// blobTable.wideSize or wideType.
type planBlob uint64

const (
	blobSizeBits = 48
	blobSizeMask = 1<<blobSizeBits - 1
	blobTypeMask = 1<<14 - 1 // after the size
	// blobFile is false for foreign layers and empty configs the source
	// does not hold: a blob row without data, as a push leaves it.
	blobFile planBlob = 1 << 62
	// blobFromHarbor: Harbor's storage already holds the data.
	blobFromHarbor planBlob = 1 << 63
)

func (b planBlob) file() bool       { return b&blobFile != 0 }
func (b planBlob) fromHarbor() bool { return b&blobFromHarbor != 0 }

// toPlace reports whether the blob has data that Harbor's storage lacks:
// what a run stages.
func (b planBlob) toPlace() bool { return b.file() && !b.fromHarbor() }

// mark sets the flags that are true.
func (b *planBlob) mark(file, fromHarbor bool) {
	if file {
		*b |= blobFile
	}
	if fromHarbor {
		*b |= blobFromHarbor
	}
}

// size returns blob id's size.
func (t *blobTable) size(id uint32) int64 {
	v := int64(*t.at(id) & blobSizeMask)
	if v == blobSizeMask {
		return t.wideSize[id]
	}
	return v
}

// setSize sets the size of blob id, just pushed (truncate dropped any
// wide size an earlier blob of that id had).
func (t *blobTable) setSize(id uint32, size int64) {
	b := t.at(id)
	if size >= 0 && size < blobSizeMask {
		*b |= planBlob(size)
		return
	}
	*b |= blobSizeMask
	if t.wideSize == nil {
		t.wideSize = map[uint32]int64{}
	}
	t.wideSize[id] = size
}

// setType sets the content type of blob id; it follows the most recent
// manifest referencing the blob.
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
	b := t.at(id)
	*b &^= blobTypeMask << blobSizeBits
	if n < blobTypeMask {
		*b |= planBlob(n) << blobSizeBits
		delete(t.wideType, id)
		return
	}
	*b |= blobTypeMask << blobSizeBits
	if t.wideType == nil {
		t.wideType = map[uint32]uint32{}
	}
	t.wideType[id] = n
}

// contentType is blob id's content type.
func (t *blobTable) contentType(id uint32) string {
	if len(t.types) == 0 {
		return ""
	}
	n := uint32(*t.at(id)>>blobSizeBits) & blobTypeMask
	if n == blobTypeMask {
		n = t.wideType[id]
	}
	return t.types[n]
}

// sha256Key returns the 32 bytes of a canonical sha256 digest (lowercase
// hex, as go-digest spells it).
func sha256Key(d digest.Digest) (k [32]byte, ok bool) {
	if !regpath.IsSHA256(d) {
		return k, false
	}
	_, err := hex.Decode(k[:], []byte(d[len("sha256:"):]))
	return k, err == nil
}

// digest returns the digest of blob id (a new string each call).
func (t *blobTable) digest(id uint32) digest.Digest {
	if d, ok := t.otherOf[id]; ok {
		return d
	}
	return sumDigest([32]byte(*t.key(id)))
}

// find returns the id of d's blob.
func (t *blobTable) find(d digest.Digest) (uint32, bool) {
	k, ok := sha256Key(d)
	if !ok {
		id, ok := t.other[d]
		return id, ok
	}
	return t.lookup((*sha256Sum)(&k))
}

// get returns d's id and record, nil when d is no blob of the plan.
func (t *blobTable) get(d digest.Digest) (uint32, *planBlob) {
	if id, ok := t.find(d); ok {
		return id, t.at(id)
	}
	return 0, nil
}

// add returns d's id, adding a record of size size when d is new.
func (t *blobTable) add(d digest.Digest, size int64) (id uint32, created bool) {
	if id, ok := t.find(d); ok {
		return id, false
	}
	k, ok := sha256Key(d)
	id = t.push(sha256Sum(k), 0) // k is zero when !ok: not indexed
	t.setSize(id, size)
	if !ok {
		if t.other == nil {
			t.other, t.otherOf = map[digest.Digest]uint32{}, map[uint32]digest.Digest{}
		}
		t.other[d], t.otherOf[id] = id, d
	}
	return id, true
}

// truncate forgets the blobs added after the first n.
func (t *blobTable) truncate(n int) {
	for id := t.len() - 1; id >= n; id-- {
		if d, odd := t.otherOf[uint32(id)]; odd {
			delete(t.other, d)
			delete(t.otherOf, uint32(id))
		}
		delete(t.wideSize, uint32(id))
		delete(t.wideType, uint32(id))
	}
	t.sumTable.truncate(n)
}
