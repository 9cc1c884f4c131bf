package fsmove

import (
	"math"
	"slices"
)

// inodeSet maps staged inodes to how they were made and how many staged
// files are that inode (a source hardlinked twice).
//
// A 50,000-tag import stages ~350,000 files. A filesystem hands out the
// inode numbers of files made together close to each other (ext4 in the
// block group of their directory, XFS in chunks, btrfs one after the
// other), so the set is kept much as roaring bitmaps are: 32-bit inode
// numbers staged once go to a block per 65,536 numbers, which is a sorted
// list of 4 bytes an inode while it holds few and a table of 4 bits an
// inode number (32 KiB) once that is smaller. A map of 32-bit inodes held
// ~14 bytes an inode; a 5,000-tag import's 35,576 files fell into 57 to
// 83 such ranges here, ~5 bytes an inode in blocks, and a file for every
// other number takes ~1 (BenchmarkInodeSet). Numbers scattered at random
// over 32 bits, which no filesystem hands out, cost a block's ~100 bytes
// for every few inodes: ~20 bytes an inode. Larger inode numbers and
// inodes staged more than once are in a map of their own.
type inodeSet struct {
	blocks map[uint32]*inodeBlock // ino>>16 -> the inodes staged once under it
	other  map[uint64]fileRef     // larger inode numbers, and inodes staged more than once
}

// fileRef is how an inode of inodeSet.other was made, and how many staged
// files are that inode.
type fileRef struct {
	how uint8 // a Method
	n   uint32
}

// An inodeBlock holds the inodes staged once among 65,536 inode numbers,
// by their low 16 bits: sparse, sorted, an entry low<<8|how each, until
// it has more than sparseMax of them; then dense, a nibble per inode
// number (0: not staged, else how+1), for good.
type inodeBlock struct {
	sparse []uint32
	dense  *[blockInodes / 2]byte
	n      int // inodes held
}

const (
	blockInodes = 1 << 16
	// sparseMax is where a sparse block would outgrow a dense one.
	sparseMax = blockInodes / 2 / 4
)

// maxCompactHow is the largest Method a block can hold (a nibble holds how+1).
const maxCompactHow = 14

func splitIno(ino uint64) (hi uint32, lo uint16) {
	return uint32(ino >> 16), uint16(ino)
}

// find returns the sparse index of lo, or where it would go.
func (b *inodeBlock) find(lo uint16) (int, bool) {
	return slices.BinarySearchFunc(b.sparse, lo, func(e uint32, lo uint16) int {
		return int(e>>8) - int(lo)
	})
}

func (b *inodeBlock) get(lo uint16) (Method, bool) {
	if b.dense != nil {
		v := b.nibble(lo)
		return Method(v) - 1, v != 0
	}
	i, ok := b.find(lo)
	if !ok {
		return 0, false
	}
	return Method(b.sparse[i] & 0xff), true
}

// set adds lo, which the block does not hold, made how (0..maxCompactHow).
func (b *inodeBlock) set(lo uint16, how Method) {
	b.n++
	if b.dense == nil && b.n > sparseMax {
		b.dense = new([blockInodes / 2]byte)
		for _, e := range b.sparse {
			b.setNibble(uint16(e>>8), byte(e&0xff)+1)
		}
		b.sparse = nil
	}
	if b.dense != nil {
		b.setNibble(lo, byte(how)+1)
		return
	}
	i, _ := b.find(lo)
	b.sparse = slices.Insert(b.sparse, i, uint32(lo)<<8|uint32(how))
}

// nibble returns lo's nibble of a dense block.
func (b *inodeBlock) nibble(lo uint16) byte { return b.dense[lo/2] >> (4 * (lo % 2)) & 0xf }

func (b *inodeBlock) setNibble(lo uint16, v byte) {
	shift := 4 * (lo % 2)
	b.dense[lo/2] = b.dense[lo/2]&^(0xf<<shift) | v<<shift
}

// del removes lo, and says whether the block held it.
func (b *inodeBlock) del(lo uint16) bool {
	if b.dense != nil {
		if b.nibble(lo) == 0 {
			return false
		}
		b.setNibble(lo, 0)
	} else {
		i, ok := b.find(lo)
		if !ok {
			return false
		}
		b.sparse = slices.Delete(b.sparse, i, i+1)
	}
	b.n--
	return true
}

// once returns how the inode staged once ino was made.
func (s *inodeSet) once(ino uint64) (Method, bool) {
	if ino > math.MaxUint32 {
		return 0, false
	}
	hi, lo := splitIno(ino)
	if b := s.blocks[hi]; b != nil {
		return b.get(lo)
	}
	return 0, false
}

// dropOnce removes ino from the blocks, and says whether they held it.
func (s *inodeSet) dropOnce(ino uint64) bool {
	if ino > math.MaxUint32 {
		return false
	}
	hi, lo := splitIno(ino)
	b := s.blocks[hi]
	if b == nil || !b.del(lo) {
		return false
	}
	if b.n == 0 {
		delete(s.blocks, hi)
	}
	return true
}

// add records one more staged file of inode ino, made how.
func (s *inodeSet) add(ino uint64, how Method) {
	if r, ok := s.other[ino]; ok {
		r.how, r.n = uint8(how), r.n+1
		s.other[ino] = r
		return
	}
	if s.dropOnce(ino) {
		s.setOther(ino, fileRef{how: uint8(how), n: 2})
		return
	}
	if ino > math.MaxUint32 || how < 0 || how > maxCompactHow {
		s.setOther(ino, fileRef{how: uint8(how), n: 1})
		return
	}
	hi, lo := splitIno(ino)
	b := s.blocks[hi]
	if b == nil {
		if s.blocks == nil {
			s.blocks = map[uint32]*inodeBlock{}
		}
		b = &inodeBlock{}
		s.blocks[hi] = b
	}
	b.set(lo, how)
}

func (s *inodeSet) setOther(ino uint64, r fileRef) {
	if s.other == nil {
		s.other = map[uint64]fileRef{}
	}
	s.other[ino] = r
}

// drop forgets one staged file of inode ino.
func (s *inodeSet) drop(ino uint64) {
	if r, ok := s.other[ino]; ok {
		if r.n <= 1 {
			delete(s.other, ino)
		} else {
			r.n--
			s.other[ino] = r
		}
		return
	}
	s.dropOnce(ino)
}

// how returns how the staged inode ino was made.
func (s *inodeSet) how(ino uint64) (Method, bool) {
	if r, ok := s.other[ino]; ok {
		return Method(r.how), true
	}
	return s.once(ino)
}

// len returns the number of inodes in s.
func (s *inodeSet) len() int {
	n := len(s.other)
	for _, b := range s.blocks {
		n += b.n
	}
	return n
}
