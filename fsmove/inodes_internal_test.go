package fsmove

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestInodeSet checks inodeSet against a map of counts through random
// adds and drops: 32-bit and larger inode numbers, inodes staged several
// times, drops of inodes never added, Methods a block cannot hold, and
// inode numbers scattered (sparse blocks) or packed (blocks that turn
// dense).
func TestInodeSet(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	scattered := []uint64{1, 2, 3, math.MaxUint32, math.MaxUint32 + 1, 1 << 40, 77}
	for i := range 200 {
		scattered = append(scattered, uint64(rng.Uint32()))
		if i%10 == 0 {
			scattered = append(scattered, rng.Uint64())
		}
	}
	// Packed: most numbers of a few blocks, across the boundaries between them.
	var packed []uint64
	for ino := uint64(5*blockInodes - 3000); ino < 7*blockInodes+3000; ino++ {
		if rng.IntN(5) != 0 {
			packed = append(packed, ino)
		}
	}
	packed = append(packed, 1<<40, math.MaxUint32)
	for _, tc := range []struct {
		name   string
		inos   []uint64
		rounds int
	}{
		{"scattered", scattered, 20000},
		{"packed", packed, 50000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkInodeSet(t, rng, tc.inos, tc.rounds)
		})
	}
}

func checkInodeSet(t *testing.T, rng *rand.Rand, inos []uint64, rounds int) {
	type ref struct {
		how Method
		n   int
	}
	want := map[uint64]ref{}
	var s inodeSet
	check := func(ino uint64) {
		t.Helper()
		how, ok := s.how(ino)
		r, wok := want[ino]
		if ok != wok || ok && how != r.how {
			t.Fatalf("how(%d) = %v %v, want %v %v", ino, how, ok, r.how, wok)
		}
	}
	// First every inode once, in no order, then adds and drops at random.
	for _, i := range rng.Perm(len(inos)) {
		if _, ok := want[inos[i]]; ok {
			continue
		}
		how := Method(rng.IntN(5))
		s.add(inos[i], how)
		want[inos[i]] = ref{how, 1}
	}
	dense := false
	for _, b := range s.blocks {
		dense = dense || b.dense != nil
	}
	if packed := len(inos) > 2*sparseMax; dense != packed {
		t.Errorf("a block turned dense: %v, want %v", dense, packed)
	}
	for _, ino := range inos {
		check(ino)
	}
	for i := range rounds {
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
			how := Method(rng.IntN(5))
			if rng.IntN(100) == 0 {
				how = 15 + Method(rng.IntN(3)) // past what a block holds
			}
			s.add(ino, how)
			want[ino] = ref{how, want[ino].n + 1}
		}
		check(ino)
		for _, ino := range inos[:8] {
			check(ino)
		}
		if i%1000 == 0 && s.len() != len(want) {
			t.Fatalf("len() = %d, want %d", s.len(), len(want))
		}
	}
	for _, ino := range inos {
		check(ino)
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
	if len(s.blocks)+len(s.other) != 0 {
		t.Errorf("left %d blocks and %d other entries", len(s.blocks), len(s.other))
	}
}

// BenchmarkInodeSet adds 350,000 inodes (a 50,000-tag import's staged
// files) and reports the heap the set holds per inode (live-B/inode), for
// inode numbers as a filesystem hands them to files made together (every
// other number: each blob or link file has a directory of its own), the
// same added in no order (as 8 stage workers and a plan's blob order
// can), and numbers scattered over 32 bits.
func BenchmarkInodeSet(b *testing.B) {
	const n = 350_000
	rng := rand.New(rand.NewPCG(1, 2))
	layouts := map[string][]uint64{"packed": make([]uint64, n), "shuffled": make([]uint64, n), "scattered": make([]uint64, n)}
	for i := range n {
		layouts["packed"][i] = 1<<20 + 2*uint64(i)
		layouts["scattered"][i] = uint64(rng.Uint32())
	}
	for i, j := range rng.Perm(n) {
		layouts["shuffled"][i] = layouts["packed"][j]
	}
	for _, name := range []string{"packed", "shuffled", "scattered"} {
		inos := layouts[name]
		b.Run(name, func(b *testing.B) {
			var perInode float64
			for b.Loop() {
				runtime.GC()
				before := heapAlloc()
				var s inodeSet
				for _, ino := range inos {
					s.add(ino, Linked)
				}
				runtime.GC()
				perInode = float64(int64(heapAlloc())-int64(before)) / n
				runtime.KeepAlive(&s)
			}
			b.ReportMetric(perInode, "live-B/inode")
		})
	}
}

func heapAlloc() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
