package fsmove

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestInodeSet checks inodeSet against a map of counts through random
// adds and drops: 32-bit and larger inode numbers, inodes staged several
// times, drops of inodes never added.
func TestInodeSet(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	type ref struct {
		how Method
		n   int
	}
	want := map[uint64]ref{}
	var s inodeSet
	inos := []uint64{1, 2, 3, math.MaxUint32, math.MaxUint32 + 1, 1 << 40, 77}
	for i := range 200 {
		inos = append(inos, uint64(rng.Uint32()))
		if i%10 == 0 {
			inos = append(inos, rng.Uint64())
		}
	}
	for range 20000 {
		ino := inos[rng.IntN(len(inos))]
		if rng.IntN(3) == 0 {
			s.drop(ino)
			switch r := want[ino]; {
			case r.n > 1:
				want[ino] = ref{r.how, r.n - 1}
			default:
				delete(want, ino)
			}
		} else {
			how := Method(rng.IntN(4))
			s.add(ino, how)
			want[ino] = ref{how, want[ino].n + 1}
		}
		for _, ino := range inos[:8] {
			how, ok := s.how(ino)
			r, wok := want[ino]
			if ok != wok || ok && how != r.how {
				t.Fatalf("how(%d) = %v %v, want %v %v", ino, how, ok, r.how, wok)
			}
		}
	}
	for _, ino := range inos {
		how, ok := s.how(ino)
		r, wok := want[ino]
		if ok != wok || ok && how != r.how {
			t.Fatalf("how(%d) = %v %v, want %v %v", ino, how, ok, r.how, wok)
		}
	}
	// Every count drops to zero.
	for ino, r := range want {
		for range r.n {
			if _, ok := s.how(ino); !ok {
				t.Fatalf("inode %d gone before its last drop", ino)
			}
			s.drop(ino)
		}
		if _, ok := s.how(ino); ok {
			t.Fatalf("inode %d still there after %d drops", ino, r.n)
		}
	}
	if len(s.once)+len(s.other) != 0 {
		t.Errorf("left %d + %d entries", len(s.once), len(s.other))
	}
}
