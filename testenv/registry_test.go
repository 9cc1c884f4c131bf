package testenv_test

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/harbor-import/harbor-import/testenv"
)

// startRegistry serves a fresh storage directory for the test.
func startRegistry(t *testing.T, rootdir string) *testenv.Registry {
	t.Helper()
	reg, err := testenv.StartRegistry(t.Context(), rootdir)
	if err != nil {
		t.Fatalf("StartRegistry: %v", err)
	}
	t.Cleanup(func() {
		if err := reg.Close(); err != nil {
			t.Errorf("closing registry: %v", err)
		}
	})
	return reg
}

const (
	dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	dockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	ociManifest    = "application/vnd.oci.image.manifest.v1+json"
	ociIndex       = "application/vnd.oci.image.index.v1+json"
)

func TestPushClassic(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	reg := startRegistry(t, root)

	fx, err := testenv.PushClassic(ctx, reg.Host(), 42)
	if err != nil {
		t.Fatalf("PushClassic: %v", err)
	}

	want := []struct {
		repo, tag, mediaType string
		children             int
	}{
		{"alpine", "3.19", dockerManifest, 0},
		{"alpine", "latest", dockerManifest, 0},
		{"team/base", "3.19", dockerManifest, 0},
		{"busybox", "latest", ociManifest, 0},
		{"busybox", "multi", dockerList, 2},
		{"team/app/api", "v1", ociManifest, 0},
		{"team/web", "stable", dockerManifest, 0},
		{"team/multi", "v1", ociIndex, 2},
	}
	if len(fx.Images) != len(want) {
		t.Errorf("got %d tags, want %d: %+v", len(fx.Images), len(want), fx.Images)
	}
	for _, w := range want {
		im, ok := fx.Image(w.repo, w.tag)
		if !ok {
			t.Errorf("%s:%s missing from fixture", w.repo, w.tag)
			continue
		}
		if im.MediaType != w.mediaType || len(im.Children) != w.children {
			t.Errorf("%s:%s: got %s with %d children, want %s with %d", w.repo, w.tag, im.MediaType, len(im.Children), w.mediaType, w.children)
		}
	}
	a319, _ := fx.Image("alpine", "3.19")
	aLatest, _ := fx.Image("alpine", "latest")
	base, _ := fx.Image("team/base", "3.19")
	if a319.Digest != aLatest.Digest || a319.Digest != base.Digest {
		t.Errorf("alpine:3.19 %s, alpine:latest %s, team/base:3.19 %s: want one digest", a319.Digest, aLatest.Digest, base.Digest)
	}
	if len(fx.Untagged) != 1 || !strings.HasPrefix(fx.Untagged[0], "team/web@sha256:") {
		t.Fatalf("Untagged = %v, want [team/web@<first stable>]", fx.Untagged)
	}

	// Every tag, by tag and by digest, and every untagged manifest.
	for _, im := range fx.Images {
		if err := testenv.PullAndVerify(ctx, reg.Host(), im.Repo, im.Tag, im.Digest); err != nil {
			t.Errorf("pull by tag: %v", err)
		}
		if err := testenv.PullAndVerify(ctx, reg.Host(), im.Repo, im.Digest, im.Digest); err != nil {
			t.Errorf("pull by digest: %v", err)
		}
	}
	for _, u := range fx.Untagged {
		repo, dgst, _ := strings.Cut(u, "@")
		if err := testenv.PullAndVerify(ctx, reg.Host(), repo, dgst, dgst); err != nil {
			t.Errorf("pull untagged: %v", err)
		}
	}

	// The storage is laid out as distribution does it.
	v2 := filepath.Join(root, "docker", "registry", "v2")
	if reg.V2Dir() != v2 {
		t.Errorf("V2Dir() = %s, want %s", reg.V2Dir(), v2)
	}
	readLink := func(rel string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(v2, rel))
		if err != nil {
			t.Errorf("reading link: %v", err)
		}
		return string(b)
	}
	if got := readLink("repositories/alpine/_manifests/tags/latest/current/link"); got != aLatest.Digest {
		t.Errorf("alpine latest current link = %q, want %q", got, aLatest.Digest)
	}
	web, _ := fx.Image("team/web", "stable")
	_, old, _ := strings.Cut(fx.Untagged[0], "@")
	for _, d := range []string{web.Digest, old} {
		hex := strings.TrimPrefix(d, "sha256:")
		readLink("repositories/team/web/_manifests/revisions/sha256/" + hex + "/link")
		readLink("repositories/team/web/_manifests/tags/stable/index/sha256/" + hex + "/link")
	}
	multi, _ := fx.Image("team/multi", "v1")
	for _, c := range multi.Children {
		hex := strings.TrimPrefix(c, "sha256:")
		if got := readLink("repositories/team/multi/_manifests/revisions/sha256/" + hex + "/link"); got != c {
			t.Errorf("child revision link = %q, want %q", got, c)
		}
		if _, err := os.Stat(filepath.Join(v2, "repositories/team/multi/_manifests/tags", hex)); err == nil {
			t.Errorf("index child %s has a tag", c)
		}
	}

	// Equal seeds give equal digests, in a second storage.
	reg2 := startRegistry(t, t.TempDir())
	fx2, err := testenv.PushClassic(ctx, reg2.Host(), 42)
	if err != nil {
		t.Fatalf("PushClassic again: %v", err)
	}
	if !reflect.DeepEqual(fx, fx2) {
		t.Errorf("PushClassic(42) twice differs:\n%+v\n%+v", fx, fx2)
	}
}

func TestPullAndVerifyDetectsDamage(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	reg := startRegistry(t, root)
	fx, err := testenv.PushReferenceCases(ctx, reg.Host())
	if err != nil {
		t.Fatal(err)
	}
	im, _ := fx.Image("single-oci", "v1")

	other, _ := fx.Image("single-v2s2", "v1")
	if err := testenv.PullAndVerify(ctx, reg.Host(), im.Repo, im.Tag, other.Digest); !errors.Is(err, testenv.ErrVerify) {
		t.Errorf("wrong want digest: got %v, want ErrVerify", err)
	} else if !strings.Contains(err.Error(), "single-oci") || !strings.Contains(err.Error(), other.Digest) {
		t.Errorf("error %q does not name repo and digest", err)
	}

	// Flip a byte of every layer blob of single-oci (same size).
	blobs, err := filepath.Glob(filepath.Join(reg.V2Dir(), "repositories/single-oci/_layers/sha256/*"))
	if err != nil || len(blobs) == 0 {
		t.Fatalf("finding layer links: %v %v", blobs, err)
	}
	for _, l := range blobs {
		hex := filepath.Base(l)
		data := filepath.Join(reg.V2Dir(), "blobs/sha256", hex[:2], hex, "data")
		b, err := os.ReadFile(data)
		if err != nil {
			t.Fatal(err)
		}
		if b[0] == '{' { // leave the config alone: the layer is enough
			continue
		}
		b[len(b)/2] ^= 0xff
		if err := os.WriteFile(data, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := testenv.PullAndVerify(ctx, reg.Host(), im.Repo, im.Tag, im.Digest); !errors.Is(err, testenv.ErrVerify) {
		t.Errorf("damaged layer: got %v, want ErrVerify", err)
	}
}

// TestRegistryServesLaterWrites checks the registry caches no "not found":
// storage copied in after start, and after a failed pull, is served.
func TestRegistryServesLaterWrites(t *testing.T) {
	ctx := t.Context()
	src := startRegistry(t, t.TempDir())
	fx, err := testenv.PushReferenceCases(ctx, src.Host())
	if err != nil {
		t.Fatal(err)
	}

	dstRoot := t.TempDir()
	dst := startRegistry(t, dstRoot)
	im, _ := fx.Image("multi-index", "v1")
	if err := testenv.PullAndVerify(ctx, dst.Host(), im.Repo, im.Tag, im.Digest); err == nil {
		t.Fatal("pull from empty storage succeeded")
	}
	if err := os.CopyFS(dstRoot, os.DirFS(src.RootDir())); err != nil {
		t.Fatal(err)
	}
	for _, im := range fx.Images {
		if err := testenv.PullAndVerify(ctx, dst.Host(), im.Repo, im.Tag, im.Digest); err != nil {
			t.Errorf("after copying storage in: %v", err)
		}
	}
}

func TestPushReferenceCases(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	reg := startRegistry(t, root)
	fx, err := testenv.PushReferenceCases(ctx, reg.Host())
	if err != nil {
		t.Fatalf("PushReferenceCases: %v", err)
	}

	// artifact.extra_attrs as Harbor v2.15.2 recorded them
	// (reference/real-push/*/artifact.sql), by manifest.
	const attrs = `{"architecture":"%s","author":"","config":{"Env":["PATH=/usr/bin:/bin"],"Cmd":["/bin/sh"],"Labels":{"oracle":"%s"}},"created":"2024-01-01T00:00:00Z","os":"linux"}`
	tests := []struct {
		repo, mediaType string
		configs         []string // extra_attrs of the image, or of each child of an index
	}{
		{"single-v2s2", dockerManifest, []string{fmt.Sprintf(attrs, "amd64", "single-1795336861075088009")}},
		{"single-oci", ociManifest, []string{fmt.Sprintf(attrs, "amd64", "single-1795336872141899985")}},
		{"multi-index", ociIndex, []string{
			fmt.Sprintf(attrs, "amd64", "multi-amd64-1795336877843367015"),
			fmt.Sprintf(attrs, "arm64", "multi-arm64-1795336877843367015"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.repo, func(t *testing.T) {
			im, ok := fx.Image(tt.repo, "v1")
			if !ok {
				t.Fatalf("%s:v1 not pushed; fixture %+v", tt.repo, fx.Images)
			}
			if im.MediaType != tt.mediaType {
				t.Errorf("media type %s, want %s", im.MediaType, tt.mediaType)
			}
			if err := testenv.PullAndVerify(ctx, reg.Host(), im.Repo, im.Tag, im.Digest); err != nil {
				t.Fatal(err)
			}
			manifests := []string{im.Digest}
			if len(im.Children) > 0 {
				manifests = im.Children
			}
			if len(manifests) != len(tt.configs) {
				t.Fatalf("got %d images, want %d", len(manifests), len(tt.configs))
			}
			for i, m := range manifests {
				got := extraAttrs(t, reg.V2Dir(), m)
				var gotV, wantV any
				if err := json.Unmarshal([]byte(got), &gotV); err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal([]byte(tt.configs[i]), &wantV); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(gotV, wantV) {
					t.Errorf("extra_attrs of %s:\ngot  %s\nwant %s", m, got, tt.configs[i])
				}
			}
		})
	}
}

// extraAttrs reads manifest dgst's config from storage and returns the
// fields Harbor copies into artifact.extra_attrs.
func extraAttrs(t *testing.T, v2, dgst string) string {
	t.Helper()
	blob := func(d string) []byte {
		hex := strings.TrimPrefix(d, "sha256:")
		b, err := os.ReadFile(filepath.Join(v2, "blobs/sha256", hex[:2], hex, "data"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var m struct {
		Config struct{ Digest string } `json:"config"`
	}
	if err := json.Unmarshal(blob(dgst), &m); err != nil {
		t.Fatal(err)
	}
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(blob(m.Config.Digest), &cfg); err != nil {
		t.Fatal(err)
	}
	out := map[string]json.RawMessage{"author": json.RawMessage(`""`)}
	for _, k := range []string{"architecture", "author", "config", "created", "os"} {
		if v, ok := cfg[k]; ok {
			out[k] = v
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTarStorage(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	reg := startRegistry(t, root)
	if _, err := testenv.PushClassic(ctx, reg.Host(), 7); err != nil {
		t.Fatal(err)
	}

	for _, name := range []string{"storage.tar", "storage.tar.gz", "storage.tgz", "storage.tar.zst"} {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), name)
			if err := testenv.TarStorage(ctx, root, out); err != nil {
				t.Fatalf("TarStorage: %v", err)
			}
			names := tarNames(t, out)
			for _, want := range []string{
				"docker/registry/v2/blobs/",
				"docker/registry/v2/repositories/alpine/_manifests/tags/latest/current/link",
				"docker/registry/v2/repositories/team/app/api/_layers/",
			} {
				if !slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, want) }) {
					t.Errorf("%s has no entry %s*; first entries: %v", name, want, names[:min(5, len(names))])
				}
			}
			for _, n := range names {
				if !strings.HasPrefix(n, "docker/") {
					t.Errorf("entry %q outside docker/", n)
				}
			}
		})
	}
}

// tarNames lists a tarball's entries, decompressing by magic number.
func tarNames(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	magic := make([]byte, 4)
	if _, err := io.ReadFull(f, magic); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var r io.Reader = f
	switch {
	case magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case string(magic) == "\x28\xb5\x2f\xfd":
		zr, err := zstd.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	}
	var names []string
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names
		}
		if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		names = append(names, h.Name)
	}
}
