package importer

import (
	"encoding/hex"

	"github.com/opencontainers/go-digest"

	"github.com/harbor-import/harbor-import/internal/regpath"
)

// blobTable holds the plan's blobs in first-use order; a blob's id is its
// position. A sha256 digest is kept as its 32 bytes in a sumTable: a
// 50,000-tag storage has ~170,000 blobs, which a map of digest strings to
// records held in ~30 MB, this in ~10. Digests of other algorithms (or not
// canonically spelled) are kept as strings in a side map.
type blobTable struct {
	sumTable[planBlob]
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
	t.at(id).ctype = n
}

// contentType is blob id's content type.
func (t *blobTable) contentType(id uint32) string {
	if len(t.types) == 0 {
		return ""
	}
	return t.types[t.at(id).ctype]
}

type planBlob struct {
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
	return sumDigest(*t.sum(id))
}

// find returns the id of d's blob.
func (t *blobTable) find(d digest.Digest) (uint32, bool) {
	k, ok := sha256Key(d)
	if !ok {
		id, ok := t.other[d]
		return id, ok
	}
	return t.lookup(&k)
}

// get returns d's record, nil when d is no blob of the plan.
func (t *blobTable) get(d digest.Digest) *planBlob {
	if id, ok := t.find(d); ok {
		return t.at(id)
	}
	return nil
}

// add returns d's id, adding a record of size size when d is new.
func (t *blobTable) add(d digest.Digest, size int64) (id uint32, created bool) {
	if id, ok := t.find(d); ok {
		return id, false
	}
	k, ok := sha256Key(d)
	id = t.push(k, planBlob{size: size}) // k is zero when !ok: not indexed
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
	}
	t.sumTable.truncate(n)
}
