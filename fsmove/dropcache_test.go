package fsmove_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/harbor-import/harbor-import/fsmove"
	"github.com/harbor-import/harbor-import/internal/pagecache"
)

// TestStageFileDropsSourcePages: a source blob that StageFile reads
// through (hashed with verify, or copied) leaves the page cache once it is
// staged; the import reads each blob once.
func TestStageFileDropsSourcePages(t *testing.T) {
	for _, tc := range []struct {
		st     fsmove.Strategy
		verify bool
	}{{fsmove.Link, true}, {fsmove.Copy, true}, {fsmove.Copy, false}} {
		t.Run(fmt.Sprintf("%v verify=%v", tc.st, tc.verify), func(t *testing.T) {
			dir := t.TempDir()
			if why := pagecache.Droppable(dir); why != "" {
				t.Skip(why)
			}
			data, d := blob(7, 4<<20+123)
			src := writeFile(t, dir, data)
			f, err := os.Open(src)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Sync(); err != nil { // clean pages can be dropped
				t.Fatal(err)
			}
			if _, err := f.ReadAt(make([]byte, len(data)), 0); err != nil {
				t.Fatal(err)
			}
			in, err := pagecache.Resident(f, len(data))
			if err != nil {
				t.Fatal(err)
			}
			if n := pagecache.Count(in); n < len(in)/2 {
				t.Skipf("only %d of %d pages of a file just read are cached: cannot tell", n, len(in))
			}
			p := newPlacer(t, tc.st)
			if _, err := p.StageFile(t.Context(), d, int64(len(data)), src, tc.verify); err != nil {
				t.Fatal(err)
			}
			if in, err = pagecache.Resident(f, len(data)); err != nil {
				t.Fatal(err)
			}
			if n := pagecache.Count(in); n > 0 {
				t.Errorf("%d of the source's %d pages stay cached after staging; want none", n, len(in))
			}
		})
	}
}
