// Package regpath maps registry objects to their paths in a distribution
// (Docker Registry v2) filesystem storage, and back.
//
// All paths are relative to the storage's v2 root, which is
// <rootdirectory>/docker/registry/v2 for the filesystem driver
// (for Harbor: <data_volume>/registry/docker/registry/v2, harbor-facts §4.1):
//
//	v2/
//	├── blobs/
//	│   └── sha256/
//	│       └── <hex[0:2]>/
//	│           └── <hex>/
//	│               └── data                      BlobData
//	└── repositories/
//	    └── <name>/                               name may hold '/'
//	        ├── _layers/sha256/<hex>/link         LayerLink
//	        ├── _manifests/
//	        │   ├── revisions/sha256/<hex>/link   RevisionLink
//	        │   └── tags/<tag>/
//	        │       ├── current/link              TagCurrentLink
//	        │       └── index/sha256/<hex>/link   TagIndexLink
//	        └── _uploads/                         (never read or written here)
//
// A link file holds "sha256:<hex>" with no newline (harbor-facts §4.1).
package regpath

import (
	_ "crypto/sha256" // registers sha256 with go-digest
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
)

// Kind says which object a Spec names.
type Kind int

// The objects of the storage layout.
const (
	BlobData Kind = iota + 1
	LayerLink
	RevisionLink
	TagCurrentLink
	TagIndexLink
)

func (k Kind) String() string {
	switch k {
	case BlobData:
		return "blob data"
	case LayerLink:
		return "layer link"
	case RevisionLink:
		return "manifest revision link"
	case TagCurrentLink:
		return "tag current link"
	case TagIndexLink:
		return "tag index link"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Spec names one object of the layout. Repo is used by every kind but
// BlobData, Tag only by the tag kinds, Digest by every kind but TagCurrentLink.
type Spec struct {
	Kind   Kind
	Repo   string
	Tag    string
	Digest digest.Digest
}

// ErrInvalid is returned for a Spec or path that does not name an object.
var ErrInvalid = errors.New("invalid storage path")

// For returns the path of spec relative to the v2 root, using '/' as the
// separator. It validates the digest (sha256 only: the storage names the
// algorithm in its paths and Harbor uses no other) and the path components.
func For(spec Spec) (string, error) {
	needDigest := spec.Kind != TagCurrentLink
	if needDigest {
		if err := checkDigest(spec.Digest); err != nil {
			return "", err
		}
	}
	if spec.Kind != BlobData {
		if err := checkRepo(spec.Repo); err != nil {
			return "", err
		}
	}
	if spec.Kind == TagCurrentLink || spec.Kind == TagIndexLink {
		if err := checkComponent(spec.Tag); err != nil {
			return "", fmt.Errorf("%w: tag %q: %v", ErrInvalid, spec.Tag, err)
		}
	}
	repo := "repositories/" + spec.Repo
	if spec.Kind == TagCurrentLink {
		return repo + "/_manifests/tags/" + spec.Tag + "/current/link", nil
	}
	alg, hex := string(spec.Digest.Algorithm()), spec.Digest.Encoded()
	switch spec.Kind {
	case BlobData:
		return "blobs/" + alg + "/" + hex[:2] + "/" + hex + "/data", nil
	case LayerLink:
		return repo + "/_layers/" + alg + "/" + hex + "/link", nil
	case RevisionLink:
		return repo + "/_manifests/revisions/" + alg + "/" + hex + "/link", nil
	case TagIndexLink:
		return repo + "/_manifests/tags/" + spec.Tag + "/index/" + alg + "/" + hex + "/link", nil
	}
	return "", fmt.Errorf("%w: unknown kind %v", ErrInvalid, spec.Kind)
}

// Parse is the inverse of For: it names the object at rel, a '/'-separated
// path relative to the v2 root. Paths of other files (directories, uploads,
// unknown files) return ErrInvalid.
func Parse(rel string) (Spec, error) {
	bad := func(why string) (Spec, error) {
		return Spec{}, fmt.Errorf("%w: %q: %s", ErrInvalid, rel, why)
	}
	parts := strings.Split(rel, "/")
	for _, p := range parts {
		if err := checkComponent(p); err != nil {
			return bad(err.Error())
		}
	}
	switch parts[0] {
	case "blobs":
		// blobs/<alg>/<xx>/<hex>/data
		if len(parts) != 5 || parts[4] != "data" {
			return bad("not a blob data path")
		}
		d := digest.Digest(parts[1] + ":" + parts[3])
		if err := checkDigest(d); err != nil {
			return bad(err.Error())
		}
		if parts[2] != parts[3][:2] {
			return bad("blob directory prefix does not match digest")
		}
		return Spec{Kind: BlobData, Digest: d}, nil
	case "repositories":
	default:
		return bad("not under blobs/ or repositories/")
	}
	// repositories/<name...>/<_layers|_manifests>/...
	i := 1
	for i < len(parts) && !strings.HasPrefix(parts[i], "_") {
		i++
	}
	if i == 1 || i >= len(parts) {
		return bad("no repository name")
	}
	repo := strings.Join(parts[1:i], "/")
	rest := parts[i:]
	linkDigest := func(alg, hex string) (digest.Digest, error) {
		d := digest.Digest(alg + ":" + hex)
		return d, checkDigest(d)
	}
	switch {
	case len(rest) == 4 && rest[0] == "_layers" && rest[3] == "link":
		d, err := linkDigest(rest[1], rest[2])
		if err != nil {
			return bad(err.Error())
		}
		return Spec{Kind: LayerLink, Repo: repo, Digest: d}, nil
	case len(rest) == 5 && rest[0] == "_manifests" && rest[1] == "revisions" && rest[4] == "link":
		d, err := linkDigest(rest[2], rest[3])
		if err != nil {
			return bad(err.Error())
		}
		return Spec{Kind: RevisionLink, Repo: repo, Digest: d}, nil
	case len(rest) == 5 && rest[0] == "_manifests" && rest[1] == "tags" && rest[3] == "current" && rest[4] == "link":
		return Spec{Kind: TagCurrentLink, Repo: repo, Tag: rest[2]}, nil
	case len(rest) == 7 && rest[0] == "_manifests" && rest[1] == "tags" && rest[3] == "index" && rest[6] == "link":
		d, err := linkDigest(rest[4], rest[5])
		if err != nil {
			return bad(err.Error())
		}
		return Spec{Kind: TagIndexLink, Repo: repo, Tag: rest[2], Digest: d}, nil
	}
	return bad("not a link path")
}

// ParseLink parses the content of a link file: "sha256:<64 hex>". The
// registry writes no newline; one trailing newline is tolerated because
// hand-made storages have them.
func ParseLink(b []byte) (digest.Digest, error) {
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return "", fmt.Errorf("%w: empty link file", ErrInvalid)
	}
	if len(s) > 200 {
		return "", fmt.Errorf("%w: link file too long (%d bytes)", ErrInvalid, len(b))
	}
	d := digest.Digest(s)
	if err := checkDigest(d); err != nil {
		return "", fmt.Errorf("%w: link file content %q: %v", ErrInvalid, s, err)
	}
	return d, nil
}

// LinkContent is what a link file pointing at d holds.
func LinkContent(d digest.Digest) []byte { return []byte(d.String()) }

func checkDigest(d digest.Digest) error {
	if IsSHA256(d) {
		return nil // what Validate accepts for sha256, without its regexp
	}
	if err := d.Validate(); err != nil {
		return fmt.Errorf("%w: digest %q: %v", ErrInvalid, d, err)
	}
	if d.Algorithm() != digest.SHA256 {
		return fmt.Errorf("%w: digest %q: only sha256 is supported", ErrInvalid, d)
	}
	return nil
}

// IsSHA256 reports whether d is "sha256:" and 64 lowercase hex digits: a
// valid sha256 digest as go-digest spells it (checked without a regexp).
func IsSHA256(d digest.Digest) bool {
	const prefix = "sha256:"
	s := string(d)
	if len(s) != len(prefix)+64 || s[:len(prefix)] != prefix {
		return false
	}
	for i := len(prefix); i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func checkRepo(repo string) error {
	if repo == "" {
		return fmt.Errorf("%w: empty repository name", ErrInvalid)
	}
	for _, c := range strings.Split(repo, "/") {
		if err := checkComponent(c); err != nil {
			return fmt.Errorf("%w: repository %q: %v", ErrInvalid, repo, err)
		}
		if strings.HasPrefix(c, "_") {
			return fmt.Errorf("%w: repository %q: component starts with '_'", ErrInvalid, repo)
		}
	}
	return nil
}

// checkComponent refuses what could escape or confuse a path: empty, ".",
// "..", separators and NUL.
func checkComponent(c string) error {
	switch {
	case c == "":
		return errors.New("empty path component")
	case c == "." || c == "..":
		return fmt.Errorf("path component %q", c)
	case strings.ContainsAny(c, "/\\\x00"):
		return fmt.Errorf("path component %q holds a separator or NUL", c)
	}
	return nil
}
