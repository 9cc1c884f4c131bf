package regpath

import (
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

const hex = "a8b09f5d29d90cebad797bb9de22402affe656c9211c4881345fb6e944d2fa7a"

var dgst = digest.Digest("sha256:" + hex)

func TestFor(t *testing.T) {
	cases := []struct {
		name string
		spec Spec
		want string
	}{
		{"blob", Spec{Kind: BlobData, Digest: dgst}, "blobs/sha256/a8/" + hex + "/data"},
		{"layer", Spec{Kind: LayerLink, Repo: "library/app", Digest: dgst}, "repositories/library/app/_layers/sha256/" + hex + "/link"},
		{"revision", Spec{Kind: RevisionLink, Repo: "team/a/b", Digest: dgst}, "repositories/team/a/b/_manifests/revisions/sha256/" + hex + "/link"},
		{"tag current", Spec{Kind: TagCurrentLink, Repo: "alpine", Tag: "3.19"}, "repositories/alpine/_manifests/tags/3.19/current/link"},
		{"tag index", Spec{Kind: TagIndexLink, Repo: "alpine", Tag: "v1", Digest: dgst}, "repositories/alpine/_manifests/tags/v1/index/sha256/" + hex + "/link"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := For(tc.spec)
			if err != nil {
				t.Fatalf("For: %v", err)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			back, err := Parse(got)
			if err != nil {
				t.Fatalf("Parse(%q): %v", got, err)
			}
			if back != tc.spec {
				t.Errorf("Parse round trip: got %+v, want %+v", back, tc.spec)
			}
		})
	}
}

func TestForRejects(t *testing.T) {
	cases := []struct {
		name string
		spec Spec
	}{
		{"bad digest", Spec{Kind: BlobData, Digest: "sha256:zz"}},
		{"sha512", Spec{Kind: BlobData, Digest: digest.Digest("sha512:" + hex + hex)}},
		{"dotdot repo", Spec{Kind: LayerLink, Repo: "a/../b", Digest: dgst}},
		{"empty repo", Spec{Kind: LayerLink, Repo: "", Digest: dgst}},
		{"abs repo", Spec{Kind: LayerLink, Repo: "/etc", Digest: dgst}},
		{"underscore repo", Spec{Kind: LayerLink, Repo: "a/_layers", Digest: dgst}},
		{"slash tag", Spec{Kind: TagCurrentLink, Repo: "a", Tag: "x/y"}},
		{"dotdot tag", Spec{Kind: TagCurrentLink, Repo: "a", Tag: ".."}},
		{"no kind", Spec{Digest: dgst, Repo: "a"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if p, err := For(tc.spec); !errors.Is(err, ErrInvalid) {
				t.Errorf("got (%q, %v), want ErrInvalid", p, err)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	for _, p := range []string{
		"", "blobs", "blobs/sha256/zz/" + hex + "/data", "blobs/sha256/a8/" + hex + "/x",
		"repositories/_layers/sha256/" + hex + "/link", "repositories/a/_uploads/x/data",
		"repositories/a/../_layers/sha256/" + hex + "/link", "other/a", "/blobs/sha256/a8/" + hex + "/data",
		"repositories/a/_manifests/tags/v1/current/data",
	} {
		if s, err := Parse(p); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) = %+v, %v; want ErrInvalid", p, s, err)
		}
	}
}

func TestParseLink(t *testing.T) {
	if d, err := ParseLink(LinkContent(dgst)); err != nil || d != dgst {
		t.Errorf("got %q, %v; want %q", d, err, dgst)
	}
	if d, err := ParseLink([]byte(dgst.String() + "\n")); err != nil || d != dgst {
		t.Errorf("trailing newline: got %q, %v", d, err)
	}
	for _, b := range []string{"", "\n", "sha256:", "garbage", "sha256:" + hex[:10], "md5:abc", dgst.String() + "\n\n"} {
		if d, err := ParseLink([]byte(b)); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseLink(%q) = %q, %v; want ErrInvalid", b, d, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"blobs/sha256/a8/" + hex + "/data", "repositories/x/y/_layers/sha256/" + hex + "/link",
		"repositories/x/_manifests/tags/v1/current/link", "repositories/../_layers/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rel string) {
		spec, err := Parse(rel)
		if err != nil {
			return
		}
		back, err := For(spec)
		if err != nil {
			t.Fatalf("Parse(%q) gave %+v which For rejects: %v", rel, spec, err)
		}
		if back != rel {
			t.Fatalf("round trip: %q -> %+v -> %q", rel, spec, back)
		}
	})
}

func FuzzParseLink(f *testing.F) {
	f.Add([]byte(dgst.String()))
	f.Add([]byte("sha256:\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseLink(b)
		if err != nil {
			return
		}
		if string(LinkContent(d)) != string(b) && string(LinkContent(d))+"\n" != string(b) {
			t.Fatalf("ParseLink(%q) = %q does not round trip", b, d)
		}
	})
}

// TestCheckDigestFastPath: the sha256 fast path accepts exactly what
// go-digest's Validate accepts as sha256.
func TestCheckDigestFastPath(t *testing.T) {
	cases := []digest.Digest{dgst, "sha256:" + digest.Digest(strings.ToUpper(hex)), "sha256:" + digest.Digest(hex[:63]),
		"sha256:" + digest.Digest(hex) + "0", "SHA256:" + digest.Digest(hex), "sha256 " + digest.Digest(hex),
		"sha512:" + digest.Digest(hex+hex), "sha256:" + digest.Digest(hex[:63]) + "g", "", "sha256:"}
	for i := range len(hex) {
		for _, c := range []byte{'0', 'f', 'g', 'A', '/', 0} {
			b := []byte(hex)
			b[i] = c
			cases = append(cases, "sha256:"+digest.Digest(b))
		}
	}
	for _, d := range cases {
		want := d.Validate() == nil && d.Algorithm() == digest.SHA256
		if got := checkDigest(d) == nil; got != want {
			t.Errorf("checkDigest(%q) accepts: %v, Validate: %v", d, got, want)
		}
	}
}
