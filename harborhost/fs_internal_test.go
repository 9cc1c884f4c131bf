package harborhost

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMountID(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"data/registry", "srv/a b", "mnt"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A table where root itself is a mount, data is one inside it, "srv/a b"
	// another (escaped as mountinfo does), and mnt mounted over twice.
	info := strings.Join([]string{
		"21 1 8:1 / / rw - ext4 /dev/sda1 rw",
		"30 21 8:2 / " + root + " rw - ext4 /dev/sdb1 rw",
		"31 30 8:3 / " + root + "/data rw - xfs /dev/sdc1 rw",
		"32 30 8:4 / " + strings.ReplaceAll(root+"/srv/a b", " ", `\040`) + " rw - xfs /dev/sdd1 rw",
		"33 30 0:5 / " + root + "/mnt rw - tmpfs tmpfs rw",
		"34 30 0:6 / " + root + "/mnt rw - tmpfs tmpfs rw",
	}, "\n")
	tests := []struct{ path, want string }{
		{root + "/data/registry", "31"},
		{root + "/data", "31"},
		{root + "/srv/a b", "32"},
		{root + "/srv", "30"},
		{root + "/mnt", "34"},
		{"/", "21"},
	}
	for _, tt := range tests {
		got, err := mountID([]byte(info), tt.path)
		if err != nil {
			t.Fatalf("mountID(%s): %v", tt.path, err)
		}
		if got != tt.want {
			t.Errorf("mountID(%s) = %s, want %s", tt.path, got, tt.want)
		}
	}
}

func TestUnescapeOctal(t *testing.T) {
	for in, want := range map[string]string{
		`/plain`:         "/plain",
		`/a\040b`:        "/a b",
		`/tab\011x\134y`: "/tab\tx\\y",
		`/trailing\04`:   `/trailing\04`,
		`/not\999octal`:  `/not\999octal`,
	} {
		if got := unescapeOctal(in); got != want {
			t.Errorf("unescapeOctal(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMeasureSource(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	write := func(rel string, n int) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	v2 := "storage/docker/registry/v2/"
	write(v2+"blobs/sha256/aa/aa11/data", 100)
	write(v2+"blobs/sha256/bb/bb22/data", 23)
	write(v2+"blobs/sha256/bb/bb22/other", 1000) // not a blob
	write(v2+"repositories/x/_layers/sha256/aa11/link", 71)
	write("plain.tar", 4096)
	if err := os.WriteFile(filepath.Join(root, "c.tar.gz"), []byte{0x1f, 0x8b, 8, 0, 0, 0}, 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		src                 string
		tarball, compressed bool
		bytes               int64
		blobs               int
	}{
		{src: "storage", bytes: 123, blobs: 2},
		{src: "storage/docker/registry/v2", bytes: 123, blobs: 2},
		{src: "plain.tar", tarball: true, bytes: 4096},
		{src: "c.tar.gz", tarball: true, compressed: true, bytes: 6},
	}
	for _, tt := range tests {
		si, err := measureSource(ctx, filepath.Join(root, tt.src))
		if err != nil {
			t.Fatalf("measureSource(%s): %v", tt.src, err)
		}
		if si.tarball != tt.tarball || si.compressed != tt.compressed || si.bytes != tt.bytes || si.blobs != tt.blobs {
			t.Errorf("measureSource(%s) = tarball %v compressed %v %d bytes %d blobs, want %v %v %d %d",
				tt.src, si.tarball, si.compressed, si.bytes, si.blobs, tt.tarball, tt.compressed, tt.bytes, tt.blobs)
		}
	}
	if _, err := measureSource(ctx, t.TempDir()); err == nil {
		t.Error("measureSource of a directory without v2 succeeded, want an error")
	}
}

func TestSameMountTempDir(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	same, err := sameMount(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if !same {
		t.Errorf("sameMount(%s, %s) = false, want true (two temp dirs)", a, b)
	}
	if same, err := sameMount(a, "/proc"); err != nil || same {
		t.Errorf("sameMount(%s, /proc) = %v, %v; want false", a, same, err)
	}
}
