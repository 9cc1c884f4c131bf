package smallfile_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/harbor-import/harbor-import/internal/smallfile"
	"golang.org/x/sys/unix"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "link")
	content := "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	if err := os.WriteFile(link, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(link, filepath.Join(dir, "sym")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dfd)

	for _, tc := range []struct {
		name  string
		dirfd int
		path  string
		max   int
		want  string
		err   error
	}{
		{"absolute path", unix.AT_FDCWD, link, 1024, content, nil},
		{"relative to a directory", dfd, "link", 1024, content, nil},
		{"exactly max", dfd, "link", len(content), content, nil},
		{"one byte over max", dfd, "link", len(content) - 1, "", smallfile.ErrTooLarge},
		{"symlink", dfd, "sym", 1024, "", smallfile.ErrNotRegular},
		{"directory", dfd, "sub", 1024, "", smallfile.ErrNotRegular},
		{"fifo (must not block)", dfd, "fifo", 1024, "", smallfile.ErrNotRegular},
		{"missing", dfd, "nothing", 1024, "", fs.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, st, err := smallfile.Read(tc.dirfd, tc.path, tc.max)
			if tc.err != nil {
				var pe *fs.PathError
				if !errors.Is(err, tc.err) || !errors.As(err, &pe) || pe.Path != tc.path {
					t.Fatalf("got %q, %v; want a *fs.PathError for %s wrapping %v", b, err, tc.path, tc.err)
				}
				return
			}
			if err != nil || string(b) != tc.want {
				t.Fatalf("got %q, %v; want %q", b, err, tc.want)
			}
			if st.Size != int64(len(tc.want)) || st.Mode&unix.S_IFMT != unix.S_IFREG {
				t.Errorf("stat: size %d mode %o, want a regular file of %d bytes", st.Size, st.Mode, len(tc.want))
			}
		})
	}
}

func TestReadBeneath(t *testing.T) {
	dir := t.TempDir()
	content := "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	mk := func(rel string) string {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if err := os.WriteFile(mk("t/current/link"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	// Symlinks at each level, pointing at the real file or its directories,
	// relative (staying beneath dir) and absolute.
	for rel, target := range map[string]string{
		"symtag":          "t",
		"u/current":       filepath.Join("..", "t", "current"),
		"abs/current":     filepath.Join(dir, "t", "current"),
		"v/current/link":  filepath.Join(dir, "t", "current", "link"),
		"w/current/stale": filepath.Join(dir, "nothing"),
	} {
		if err := os.Symlink(target, mk(rel)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(mk("d/current/link/x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(mk("f/current/link"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mk("file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dfd)

	for _, openat2 := range []bool{true, false} {
		was := smallfile.UseOpenat2(openat2)
		for _, tc := range []struct {
			name, rel string
			want      string
			err       error
			dir       bool // st says a directory
		}{
			{"regular file", "t/current/link", content, nil, false},
			{"symlinked first directory", "symtag/current/link", "", fs.ErrNotExist, false},
			{"symlinked last directory", "u/current/link", "", fs.ErrNotExist, false},
			{"absolute symlink", "abs/current/link", "", fs.ErrNotExist, false},
			{"symlink as the file", "v/current/link", "", smallfile.ErrNotRegular, false},
			{"directory as the file", "d/current/link", "", smallfile.ErrNotRegular, true},
			{"fifo as the file (must not block)", "f/current/link", "", smallfile.ErrNotRegular, false},
			{"missing file", "w/current/link", "", fs.ErrNotExist, false},
			{"missing directory", "x/current/link", "", fs.ErrNotExist, false},
			{"file as a directory", "file/current/link", "", fs.ErrNotExist, false},
			{"climbing out", "../" + filepath.Base(dir) + "/t/current/link", "", fs.ErrInvalid, false},
		} {
			t.Run(fmt.Sprintf("%s/openat2=%v", tc.name, openat2), func(t *testing.T) {
				b, st, err := smallfile.ReadBeneath(dfd, tc.rel, 1024)
				if tc.err != nil {
					var pe *fs.PathError
					if !errors.Is(err, tc.err) || !errors.As(err, &pe) || pe.Path != tc.rel {
						t.Fatalf("got %q, %v; want a *fs.PathError for %s wrapping %v", b, err, tc.rel, tc.err)
					}
					if isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR; isDir != tc.dir {
						t.Errorf("stat says directory: %v, want %v", isDir, tc.dir)
					}
					return
				}
				if err != nil || string(b) != tc.want {
					t.Fatalf("got %q, %v; want %q", b, err, tc.want)
				}
			})
		}
		smallfile.UseOpenat2(was)
	}
}
