package importer

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/opencontainers/go-digest"
)

// TestPrefetched checks what the directory prefetcher hands the planner:
// each size and content once, content within the budget, and what nobody
// asked for gone two rotations later (and only then).
func TestPrefetched(t *testing.T) {
	d := func(i int) digest.Digest { return digest.FromString(fmt.Sprint("blob ", i)) }
	var p prefetched

	p.setSize(d(1), 11)
	p.keep(d(1), []byte("one"))
	if !p.firstVisit(d(1)) || p.firstVisit(d(1)) {
		t.Errorf("firstVisit: want true once, then false")
	}
	if size, ok := p.size(d(1)); !ok || size != 11 {
		t.Errorf("size: got %d, %v; want 11, true", size, ok)
	}
	if _, ok := p.size(d(1)); ok {
		t.Errorf("size handed out twice")
	}
	if b := p.take(d(1)); !bytes.Equal(b, []byte("one")) {
		t.Errorf("take: got %q, want %q", b, "one")
	}
	if b := p.take(d(1)); b != nil {
		t.Errorf("content handed out twice: %q", b)
	}
	if p.held != 0 {
		t.Errorf("held after take: %d, want 0", p.held)
	}
	if _, ok := p.size(digest.Digest("sha512:" + string(bytes.Repeat([]byte("a"), 128)))); ok {
		t.Errorf("size of a digest never set")
	}

	t.Run("budget", func(t *testing.T) {
		var p prefetched
		big := make([]byte, prefetchBudget/2+1)
		p.keep(d(1), big)
		p.keep(d(2), big) // over the budget: not kept
		if p.take(d(2)) != nil {
			t.Errorf("content past the budget kept")
		}
		if p.take(d(1)) == nil {
			t.Errorf("content within the budget not kept")
		}
		p.keep(d(2), big) // room again
		if p.take(d(2)) == nil {
			t.Errorf("content not kept once the budget had room again")
		}
	})

	t.Run("rotation", func(t *testing.T) {
		var p prefetched
		p.moved(1) // the planner starts the first repository
		p.setSize(d(1), 1)
		p.keep(d(1), []byte("kept"))
		p.firstVisit(d(1))
		// The planner moves a rotation on: one rotation, d(1) still there.
		p.moved(prefetchRotation)
		p.moved(1)
		if _, ok := p.size(d(1)); !ok {
			t.Errorf("size dropped after one rotation")
		}
		if p.firstVisit(d(1)) {
			t.Errorf("visit forgotten after one rotation")
		}
		p.setSize(d(2), 2)
		p.keep(d(2), []byte("dropped"))
		p.moved(prefetchRotation)
		p.moved(1) // second rotation: d(2) is one rotation old
		p.moved(prefetchRotation)
		p.moved(1) // third: gone
		if _, ok := p.size(d(2)); ok {
			t.Errorf("size kept after two rotations")
		}
		if b := p.take(d(2)); b != nil {
			t.Errorf("content kept after two rotations: %q", b)
		}
		if p.held != 0 {
			t.Errorf("held after dropping everything: %d, want 0", p.held)
		}
		if b := p.take(d(1)); b != nil {
			t.Errorf("content kept after three rotations: %q", b)
		}
		if !p.firstVisit(d(1)) {
			t.Errorf("visit remembered after three rotations")
		}
	})
}
