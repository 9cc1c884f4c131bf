package importer

// idSet is a set of blob ids, kept as 64-bit words keyed by id/64: a
// project's blobs are mostly planned together, so their ids (first-use
// order) cluster and a word holds many. A 50,000-tag plan's project_blob
// sets took 2.7 MB as maps of ids, this a few hundred KB.
type idSet struct {
	words map[uint32]uint64
}

// add puts id in the set and reports whether it was new.
func (s *idSet) add(id uint32) bool {
	if s.words == nil {
		s.words = map[uint32]uint64{}
	}
	w, bit := s.words[id/64], uint64(1)<<(id%64)
	if w&bit != 0 {
		return false
	}
	s.words[id/64] = w | bit
	return true
}
