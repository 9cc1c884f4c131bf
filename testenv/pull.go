package testenv

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// PullAndVerify pulls repo:ref (ref a tag or a digest) from the registry
// at host over plain HTTP like a client would, and checks that the
// manifest's digest is want. For an index or manifest list it pulls every
// child manifest by digest; for every image it downloads the config and
// every layer in full and checks each one's sha256 and size against the
// manifest's descriptor. Errors name the repository, reference and digest;
// content mismatches wrap ErrVerify.
func PullAndVerify(ctx context.Context, host, repo, ref string, want string) error {
	r, err := name.ParseReference(host+"/"+repo+refSep(ref)+ref, name.Insecure, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("parsing reference %s %s: %w", repo, ref, err)
	}
	// Blobs are fetched through the client's transport (which handles the
	// registry's auth challenge) but read and checked here, so a mismatch is
	// reported as such rather than as a read error of the library.
	tr, err := transport.NewWithContext(ctx, r.Context().Registry, authn.Anonymous, remote.DefaultTransport,
		[]string{r.Context().Scope(transport.PullScope)})
	if err != nil {
		return fmt.Errorf("connecting to %s for %s %s: %w", host, repo, ref, err)
	}
	v := verifier{
		opts:   []remote.Option{remote.WithAuth(authn.Anonymous)},
		client: &http.Client{Transport: tr},
	}
	return v.manifest(ctx, r, repo, ref, want)
}

// refSep returns the separator before ref in a reference: "@" for a digest, ":" for a tag.
func refSep(ref string) string {
	if _, err := v1.NewHash(ref); err == nil {
		return "@"
	}
	return ":"
}

type verifier struct {
	opts   []remote.Option
	client *http.Client
}

// manifest fetches r, checks its digest and descends into it.
func (v verifier) manifest(ctx context.Context, r name.Reference, repo, ref, want string) error {
	desc, err := remote.Get(r, append(v.opts, remote.WithContext(ctx))...)
	if err != nil {
		return fmt.Errorf("pulling manifest %s %s (want %s): %w", repo, ref, want, err)
	}
	got := sha256Digest(desc.Manifest)
	if got != want || desc.Digest.String() != want {
		return fmt.Errorf("%w: manifest %s %s: digest %s (registry says %s), want %s",
			ErrVerify, repo, ref, got, desc.Digest, want)
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return fmt.Errorf("reading index %s %s %s: %w", repo, ref, want, err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return fmt.Errorf("parsing index %s %s %s: %w", repo, ref, want, err)
		}
		for _, c := range im.Manifests {
			cref := r.Context().Digest(c.Digest.String())
			if err := v.manifest(ctx, cref, repo, c.Digest.String(), c.Digest.String()); err != nil {
				return fmt.Errorf("child of %s %s %s: %w", repo, ref, want, err)
			}
		}
		return nil
	}
	if !desc.MediaType.IsImage() {
		return fmt.Errorf("manifest %s %s %s: unexpected media type %s", repo, ref, want, desc.MediaType)
	}
	m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return fmt.Errorf("parsing manifest %s %s %s: %w", repo, ref, want, err)
	}
	blobs := append([]v1.Descriptor{m.Config}, m.Layers...)
	for _, d := range blobs {
		if err := v.blob(ctx, r.Context(), d); err != nil {
			return fmt.Errorf("image %s %s %s: %w", repo, ref, want, err)
		}
	}
	return nil
}

// blob downloads the blob d describes and checks its digest and size
// independently of the client library's own checks.
func (v verifier) blob(ctx context.Context, repo name.Repository, d v1.Descriptor) error {
	u := url.URL{Scheme: repo.Scheme(), Host: repo.RegistryStr(), Path: "/v2/" + repo.RepositoryStr() + "/blobs/" + d.Digest.String()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("fetching blob %s: %w", d.Digest, err)
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return fmt.Errorf("fetching blob %s: %w", d.Digest, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetching blob %s: %s", d.Digest, resp.Status)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil {
		return fmt.Errorf("reading blob %s: %w", d.Digest, err)
	}
	got := "sha256:" + hex.EncodeToString(h.Sum(nil))
	if got != d.Digest.String() || n != d.Size {
		return fmt.Errorf("%w: blob %s (%s): got %s, %d bytes; want %d bytes",
			ErrVerify, d.Digest, d.MediaType, got, n, d.Size)
	}
	return nil
}

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
