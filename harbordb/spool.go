package harbordb

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/harbor-import/harbor-import/internal/unlinked"
)

// Rows is what Load, WriteScript and Inspect read: a *Batch held in memory,
// or a *Spool whose large tables wait in temporary files.
type Rows interface {
	// small returns the in-memory part: settings, projects, repositories,
	// and (for a Spool) the rows not spooled yet.
	small() *Batch
	// count is the number of rows of t; cursor reads them in order.
	count(t staging) int
	cursor(t staging) *cursor
}

// cursor reads one table's rows: first those on disk (a Spool's), then
// those in memory. Every row is produced into the same slice r.
type cursor struct {
	t   staging
	r   []any
	err error
	// Spooled rows: disk of them, i read so far.
	br      *bufio.Reader
	disk, i int
	// Rows in b: n of them, j produced so far; ord columns continue the
	// spooled numbering.
	b    *Batch
	n, j int
	ord  bool
}

func newCursor(t staging, b *Batch) *cursor {
	c := &cursor{t: t, r: make([]any, len(t.columns)), b: b, ord: t.columns[0].name == "ord"}
	if t.n != nil {
		c.n = t.n(b)
	}
	return c
}

func (c *cursor) next() bool {
	switch {
	case c.err != nil:
		return false
	case c.i < c.disk:
		if err := decodeRow(c.br, c.r); err != nil {
			c.err = fmt.Errorf("reading spooled %s rows: %w", c.t.table, err)
			return false
		}
		c.i++
		return true
	case c.j < c.n:
		c.t.row(c.b, c.j, c.r)
		if c.ord {
			c.r[0] = int32(c.disk + c.j)
		}
		c.j++
		return true
	}
	return false
}

// each calls fn with every row of t in rows, in order; fn must not keep r.
func each(rows Rows, t staging, fn func(i int, r []any) error) error {
	c := rows.cursor(t)
	for i := 0; c.next(); i++ {
		if err := fn(i, c.r); err != nil {
			return err
		}
	}
	return c.err
}

func (b *Batch) small() *Batch            { return b }
func (b *Batch) count(t staging) int      { return newCursor(t, b).n }
func (b *Batch) cursor(t staging) *cursor { return newCursor(t, b) }

// Spool is a Batch whose large tables (every table but settings, projects
// and repositories) are moved to unlinked temporary files by Flush, so a
// plan of 50,000 tags keeps a few megabytes of rows in memory instead of
// a hundred. Rows keep their order: Flush appends, and reading returns the
// spooled rows first, then those still in the Batch. Values are checked
// (validate) as they are spooled.
//
// The planner appends to the embedded Batch and calls Flush when a
// repository is complete; nothing else changes for Load or WriteScript.
type Spool struct {
	Batch
	files []*spoolFile // per stagingTables entry; nil for tables kept in memory
	enc   []byte
}

type spoolFile struct {
	f    *os.File
	w    *bufio.Writer
	n    int   // rows written
	size int64 // bytes written
}

// spooled tells which staging tables a Spool moves to disk.
func spooled(t staging) bool {
	switch t.table {
	case "harbor_import_settings", "harbor_import_project", "harbor_import_repository":
		return false
	}
	return true
}

// NewSpool returns an empty Spool whose files are created in dir (the
// system's temporary directory when dir is "") and unlinked at once: they
// vanish when the Spool is closed or the process ends, however it ends.
func NewSpool(dir string) (*Spool, error) {
	s := &Spool{files: make([]*spoolFile, len(stagingTables))}
	for i, t := range stagingTables {
		if !spooled(t) {
			continue
		}
		f, err := unlinked.Create(dir, "harbor-import-rows-*")
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("creating a temporary file for %s rows: %w", t.table, err)
		}
		s.files[i] = &spoolFile{f: f, w: bufio.NewWriterSize(f, 32<<10)}
	}
	return s, nil
}

// Close releases the Spool's files; the spooled rows are gone (a second
// Close does nothing).
func (s *Spool) Close() error {
	var errs []error
	for i, sf := range s.files {
		if sf != nil {
			errs = append(errs, sf.f.Close())
			s.files[i] = nil
		}
	}
	return errors.Join(errs...)
}

// Flush validates the rows of the spooled tables held in the Batch, appends
// them to the files and empties those slices (keeping their capacity).
func (s *Spool) Flush() error {
	for i, t := range stagingTables {
		sf := s.files[i]
		if sf == nil {
			continue
		}
		err := t.each(&s.Batch, func(_ int, r []any) error {
			if err := validRow(t, r); err != nil {
				return err
			}
			if t.columns[0].name == "ord" {
				r[0] = int32(sf.n)
			}
			s.enc = encodeRow(s.enc[:0], r)
			if _, err := sf.w.Write(s.enc); err != nil {
				return fmt.Errorf("spooling %s rows: %w", t.table, err)
			}
			sf.n++
			sf.size += int64(len(s.enc))
			return nil
		})
		if err != nil {
			return err
		}
	}
	s.Discard()
	return nil
}

// Discard drops the rows of the spooled tables not flushed yet.
func (s *Spool) Discard() {
	b := &s.Batch
	b.Artifacts, b.References, b.Tags, b.Blobs = emptied(b.Artifacts), emptied(b.References), emptied(b.Tags), emptied(b.Blobs)
	b.ArtifactBlobs, b.ProjectBlobs, b.Accessories = emptied(b.ArtifactBlobs), emptied(b.ProjectBlobs), emptied(b.Accessories)
}

// emptied returns rows emptied for reuse: cleared first, so the strings of
// rows already spooled do not stay in memory with the spare capacity.
func emptied[T any](rows []T) []T {
	clear(rows)
	return rows[:0]
}

// SpooledBytes is the size of the spool's files.
func (s *Spool) SpooledBytes() int64 {
	var n int64
	for _, sf := range s.files {
		if sf != nil {
			n += sf.size
		}
	}
	return n
}

func (s *Spool) small() *Batch { return &s.Batch }

func (s *Spool) file(t staging) *spoolFile {
	for i := range stagingTables {
		if stagingTables[i].table == t.table {
			return s.files[i]
		}
	}
	return nil
}

func (s *Spool) count(t staging) int {
	n := s.Batch.count(t)
	if sf := s.file(t); sf != nil {
		n += sf.n
	}
	return n
}

func (s *Spool) cursor(t staging) *cursor {
	c := newCursor(t, &s.Batch)
	if sf := s.file(t); sf != nil && sf.n > 0 {
		if err := sf.w.Flush(); err != nil {
			c.err = fmt.Errorf("spooling %s rows: %w", t.table, err)
		}
		c.br = bufio.NewReaderSize(io.NewSectionReader(sf.f, 0, sf.size), 32<<10)
		c.disk = sf.n
	}
	return c
}

// Row encoding: one tag byte per value, then its data.
const (
	vNull byte = iota
	vString
	vFalse
	vTrue
	vInt32
	vInt64
	vSHA256 // "sha256:" + 64 lowercase hex digits, stored as 32 bytes
)

func encodeRow(buf []byte, r []any) []byte {
	for _, v := range r {
		switch x := v.(type) {
		case nil:
			buf = append(buf, vNull)
		case string:
			if sum, ok := sha256Hex(x); ok {
				buf = append(append(buf, vSHA256), sum...)
				continue
			}
			buf = append(buf, vString)
			buf = binary.AppendUvarint(buf, uint64(len(x)))
			buf = append(buf, x...)
		case bool:
			if x {
				buf = append(buf, vTrue)
			} else {
				buf = append(buf, vFalse)
			}
		case int32:
			buf = binary.AppendVarint(append(buf, vInt32), int64(x))
		case int64:
			buf = binary.AppendVarint(append(buf, vInt64), x)
		default:
			panic(fmt.Sprintf("harbordb: cannot spool a %T", v))
		}
	}
	return buf
}

// sha256Hex returns the 32 bytes of a canonical sha256 digest string.
func sha256Hex(s string) ([]byte, bool) {
	const prefix = "sha256:"
	if len(s) != len(prefix)+64 || !strings.HasPrefix(s, prefix) {
		return nil, false
	}
	for i := len(prefix); i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return nil, false
		}
	}
	sum, err := hex.DecodeString(s[len(prefix):])
	return sum, err == nil
}

func decodeRow(br *bufio.Reader, r []any) error {
	for i := range r {
		tag, err := br.ReadByte()
		if err != nil {
			return err
		}
		switch tag {
		case vNull:
			r[i] = nil
		case vString:
			n, err := binary.ReadUvarint(br)
			if err != nil {
				return err
			}
			b := make([]byte, n)
			if _, err := io.ReadFull(br, b); err != nil {
				return err
			}
			r[i] = string(b)
		case vFalse, vTrue:
			r[i] = tag == vTrue
		case vInt32, vInt64:
			n, err := binary.ReadVarint(br)
			if err != nil {
				return err
			}
			if tag == vInt32 {
				r[i] = int32(n)
			} else {
				r[i] = n
			}
		case vSHA256:
			var sum [32]byte
			if _, err := io.ReadFull(br, sum[:]); err != nil {
				return err
			}
			r[i] = "sha256:" + hex.EncodeToString(sum[:])
		default:
			return fmt.Errorf("corrupt row (value tag %d)", tag)
		}
	}
	return nil
}

// validate refuses values PostgreSQL text cannot hold (NUL bytes, invalid
// UTF-8), naming the table, column and row. A Spool checked the rows it
// holds on disk when it spooled them: only its in-memory part is read.
func validate(rows Rows) error {
	b := rows.small()
	for _, t := range stagingTables {
		if err := t.each(b, func(_ int, r []any) error { return validRow(t, r) }); err != nil {
			return err
		}
	}
	return nil
}

func validRow(t staging, row []any) error {
	for i, v := range row {
		s, ok := v.(string)
		if !ok {
			continue
		}
		var why string
		switch {
		case strings.IndexByte(s, 0) >= 0:
			why = "a NUL byte"
		case !utf8.ValidString(s):
			why = "invalid UTF-8"
		default:
			continue
		}
		return fmt.Errorf("%w: %s.%s holds %s (row %q)", ErrInvalidValue, t.table, t.columns[i].name, why, fmt.Sprint(row[:min(3, len(row))]...))
	}
	return nil
}

// Row is a row type of a Batch's large tables.
type Row interface {
	Artifact | ArtifactReference | Tag | Blob | ArtifactBlob | ProjectBlob | Accessory
}

// Each calls fn with every row of type T in rows, spooled or in memory, in
// the order they were added.
func Each[T Row](rows Rows, fn func(T) error) error {
	t, conv := rowTable[T]()
	return each(rows, t, func(_ int, r []any) error { return fn(conv(r)) })
}

// Count is the number of rows of type T in rows.
func Count[T Row](rows Rows) int {
	t, _ := rowTable[T]()
	return rows.count(t)
}

// rowTable returns T's staging table and how one of its rows becomes a T.
func rowTable[T Row]() (staging, func([]any) T) {
	str := func(v any) string { s, _ := v.(string); return s }
	i64 := func(v any) int64 { n, _ := v.(int64); return n }
	var zero T
	var t staging
	var conv func(r []any) any
	switch any(zero).(type) {
	case Artifact:
		t, conv = tableArtifact, func(r []any) any {
			fills, _ := r[11].(bool)
			return Artifact{Repository: str(r[1]), Digest: str(r[2]), Type: str(r[3]), MediaType: str(r[4]),
				ManifestMediaType: str(r[5]), ArtifactType: str(r[6]), Size: i64(r[7]), ExtraAttrs: str(r[8]),
				Annotations: str(r[9]), Icon: str(r[10]), FillsSubjects: fills}
		}
	case ArtifactReference:
		t, conv = tableReference, func(r []any) any {
			return ArtifactReference{Repository: str(r[1]), ParentDigest: str(r[2]), ChildDigest: str(r[3]),
				Platform: str(r[4]), URLs: str(r[5]), Annotations: str(r[6])}
		}
	case Tag:
		t, conv = tableTag, func(r []any) any { return Tag{Repository: str(r[1]), Name: str(r[2]), Digest: str(r[3])} }
	case Blob:
		t, conv = tableBlob, func(r []any) any { return Blob{Digest: str(r[0]), ContentType: str(r[1]), Size: i64(r[2])} }
	case ArtifactBlob:
		t, conv = tableArtifactBlob, func(r []any) any { return ArtifactBlob{ArtifactDigest: str(r[1]), BlobDigest: str(r[2])} }
	case ProjectBlob:
		t, conv = tableProjectBlob, func(r []any) any { return ProjectBlob{Project: str(r[0]), BlobDigest: str(r[1])} }
	case Accessory:
		t, conv = tableAccessory, func(r []any) any {
			return Accessory{Repository: str(r[1]), Digest: str(r[2]), SubjectDigest: str(r[3]), Type: str(r[4]),
				ManifestSize: i64(r[5]), Source: str(r[6])}
		}
	}
	return t, func(r []any) T { return conv(r).(T) }
}
