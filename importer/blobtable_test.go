package importer

import (
	"crypto/sha256"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/opencontainers/go-digest"
)

// TestBlobTable checks the table against a map through adds, lookups and
// rollbacks, with sha256 digests (including ones forced to collide in the
// index) and digests of other spellings.
func TestBlobTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var tab blobTable
	var order []digest.Digest
	want := map[digest.Digest]int64{}
	mk := func(i int) digest.Digest {
		switch i % 7 {
		case 0:
			return digest.Digest(fmt.Sprintf("sha512:%0128x", i)) // not sha256: side map
		case 1:
			// Same first 8 bytes as another: one home slot, probing.
			sum := sha256.Sum256([]byte(fmt.Sprint(i)))
			copy(sum[:8], []byte("collide!"))
			return digest.NewDigestFromBytes(digest.SHA256, sum[:])
		}
		return digest.FromString(fmt.Sprint(i))
	}
	for round := 0; round < 200; round++ {
		for range rng.IntN(50) {
			d := mk(rng.IntN(5000))
			id, created := tab.add(d, int64(len(d)))
			if _, ok := want[d]; ok == created {
				t.Fatalf("add(%s): created %v, but known %v", d, created, ok)
			}
			if created {
				want[d] = int64(len(d))
				order = append(order, d)
			}
			if got := tab.digest(id); got != d {
				t.Fatalf("digest(%d) = %s, want %s", id, got, d)
			}
		}
		if rng.IntN(3) == 0 && len(order) > 0 {
			n := rng.IntN(len(order))
			tab.truncate(n)
			for _, d := range order[n:] {
				delete(want, d)
			}
			order = order[:n]
		}
		if tab.len() != len(order) {
			t.Fatalf("len %d, want %d", tab.len(), len(order))
		}
		for i := 0; i < 5000; i += 3 {
			d := mk(i)
			id, b := tab.get(d)
			size, ok := want[d]
			if (b != nil) != ok || ok && tab.size(id) != size {
				t.Fatalf("get(%s) = %v, want present %v size %d", d, b, ok, size)
			}
		}
		for id, d := range order {
			if got, ok := tab.find(d); !ok || got != uint32(id) {
				t.Fatalf("find(%s) = %d %v, want %d", d, got, ok, id)
			}
		}
	}
	if _, ok := sha256Key(digest.Digest("sha256:" + "AB" + fmt.Sprintf("%062x", 0))); ok {
		t.Error("an uppercase digest has a 32-byte key: it would come back lowercase")
	}
}

// TestBlobTableWide: sizes and content type indexes past a planBlob's
// fields come back as given, beside the flags, after types change and
// after a rollback.
func TestBlobTableWide(t *testing.T) {
	var tab blobTable
	sizes := []int64{0, 1, -1, blobSizeMask - 1, blobSizeMask, blobSizeMask + 1, 1 << 62, math.MaxInt64, math.MinInt64, 512}
	const types = blobTypeMask + 300
	n := types + len(sizes)
	for i := range n {
		d := digest.FromString(fmt.Sprint(i))
		id, created := tab.add(d, sizes[i%len(sizes)])
		if !created || id != uint32(i) {
			t.Fatalf("add %d: id %d created %v", i, id, created)
		}
		tab.setType(id, fmt.Sprint("type/", i%types))
		tab.at(id).mark(i%3 == 0, i%5 == 0)
	}
	check := func(n int, retyped func(i int) bool) {
		t.Helper()
		if tab.len() != n {
			t.Fatalf("len %d, want %d", tab.len(), n)
		}
		for i := range n {
			id := uint32(i)
			if got, want := tab.size(id), sizes[i%len(sizes)]; got != want {
				t.Fatalf("size(%d) = %d, want %d", i, got, want)
			}
			want := fmt.Sprint("type/", i%types)
			if retyped(i) {
				want = "type/1"
			}
			if got := tab.contentType(id); got != want {
				t.Fatalf("contentType(%d) = %q, want %q", i, got, want)
			}
			if b := *tab.at(id); b.file() != (i%3 == 0) || b.fromHarbor() != (i%5 == 0) {
				t.Fatalf("blob %d: file %v fromHarbor %v", i, b.file(), b.fromHarbor())
			}
		}
	}
	check(n, func(int) bool { return false })
	if len(tab.wideSize) == 0 || len(tab.wideType) == 0 {
		t.Fatalf("nothing kept wide: %d sizes, %d types", len(tab.wideSize), len(tab.wideType))
	}
	// A blob whose type moves back under the limit leaves the side map.
	retyped := func(i int) bool { return i >= types-10 && i < types }
	for i := types - 10; i < types; i++ {
		tab.setType(uint32(i), "type/1")
	}
	check(n, retyped)
	tab.truncate(blobTypeMask - 5)
	check(blobTypeMask-5, retyped)
	if len(tab.wideType) != 0 {
		t.Errorf("%d wide types left after the rollback", len(tab.wideType))
	}
	for id := range tab.wideSize {
		if id >= blobTypeMask-5 {
			t.Errorf("wide size of rolled back blob %d left", id)
		}
	}
}

// TestIDSet: add reports each id new exactly once, against a map, for ids
// clustered and scattered across words.
func TestIDSet(t *testing.T) {
	var s idSet
	want := map[uint32]bool{}
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range 20000 {
		id := uint32(i % 700) // clustered, each met many times
		if i%3 == 0 {
			id = rng.Uint32() % 1_000_000 // scattered
		}
		if got := s.add(id); got != !want[id] {
			t.Fatalf("add(%d) = %v after %d adds, want %v", id, got, i, !want[id])
		}
		want[id] = true
	}
	if len(s.words) >= len(want) {
		t.Errorf("%d words for %d ids: clustered ids should share words", len(s.words), len(want))
	}
}
