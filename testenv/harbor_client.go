package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// auth is how clients authenticate to h.RegistryHost: anonymously to the
// stand-in's registry, as admin to Harbor.
func (h *Harbor) auth() authn.Authenticator {
	if h.Mode == ModeStandin || h.AdminPassword == "" {
		return authn.Anonymous
	}
	return &authn.Basic{Username: "admin", Password: h.AdminPassword}
}

func (h *Harbor) nameOptions() []name.Option {
	opts := []name.Option{name.StrictValidation}
	if h.Insecure {
		opts = append(opts, name.Insecure)
	}
	return opts
}

// PullAndVerify pulls repo:ref (ref a tag or a digest) from h.RegistryHost
// as a client would (as admin from Harbor, anonymously from the stand-in's
// registry) and checks it as the package-level PullAndVerify does: the
// manifest's digest is want, every child of an index and every config and
// layer is fetched in full and its sha256 and size checked. repo is the
// name in Harbor, e.g. library/alpine.
//
// The stand-in's registry has no tags (harbor-import writes none, as
// Harbor 2.15 does not): resolve tags to digests in the database first.
func (h *Harbor) PullAndVerify(ctx context.Context, repo, ref, want string) error {
	r, err := name.ParseReference(h.RegistryHost+"/"+repo+refSep(ref)+ref, h.nameOptions()...)
	if err != nil {
		return fmt.Errorf("parsing reference %s %s: %w", repo, ref, err)
	}
	tr, err := transport.NewWithContext(ctx, r.Context().Registry, h.auth(), remote.DefaultTransport,
		[]string{r.Context().Scope(transport.PullScope)})
	if err != nil {
		return fmt.Errorf("connecting to %s for %s %s: %w", h.RegistryHost, repo, ref, err)
	}
	v := verifier{
		opts:   []remote.Option{remote.WithAuth(h.auth())},
		client: &http.Client{Transport: tr},
	}
	return v.manifest(ctx, r, repo, ref, want)
}

// PushImage pushes a new single-layer OCI image, drawn from seed, to
// h.RegistryHost as repo:tag (through Harbor's core, or straight into the
// stand-in's registry) and returns what was pushed.
func (h *Harbor) PushImage(ctx context.Context, repo, tag string, seed int64) (FixtureImage, error) {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6861726231))
	l, err := makeLayer(rng, "pushed")
	if err != nil {
		return FixtureImage{}, err
	}
	img, err := imageSpec{format: formatOCI, os: "linux", arch: "amd64", oracle: fmt.Sprintf("pushed-%d", seed), layers: []layerContent{l}}.build()
	if err != nil {
		return FixtureImage{}, err
	}
	v1img, err := img.Image()
	if err != nil {
		return FixtureImage{}, err
	}
	ref, err := name.NewTag(h.RegistryHost+"/"+repo+":"+tag, h.nameOptions()...)
	if err != nil {
		return FixtureImage{}, fmt.Errorf("parsing reference %s:%s: %w", repo, tag, err)
	}
	if err := remote.Write(ref, v1img, remote.WithContext(ctx), remote.WithAuth(h.auth())); err != nil {
		return FixtureImage{}, fmt.Errorf("pushing %s:%s to %s: %w", repo, tag, h.RegistryHost, err)
	}
	d := img.Descriptor()
	return FixtureImage{Repo: repo, Tag: tag, Digest: d.Digest.String(), MediaType: string(d.MediaType)}, nil
}

// Referrer is an OCI 1.1 artifact pushed by PushReferrer.
type Referrer struct {
	Repo         string
	Digest       string // manifest digest
	Subject      string // digest of the manifest it refers to
	ArtifactType string
	// FallbackTag is the referrers tag schema tag ("sha256-<subject hex>")
	// whose index lists the referrer, and FallbackDigest that index's
	// digest; both empty without ReferrerOptions.FallbackTag.
	FallbackTag, FallbackDigest string
}

// ReferrerArtifactType is the artifactType PushReferrer gives its artifact
// by default.
const ReferrerArtifactType = "application/spdx+json"

// ReferrerOptions configures PushReferrer; the zero value pushes an SPDX
// SBOM by digest only.
type ReferrerOptions struct {
	// ArtifactType is the manifest's artifactType and its layer's media
	// type (default ReferrerArtifactType).
	ArtifactType string
	// FallbackTag pushes the way OCI 1.1 clients (go-containerregistry,
	// oras, cosign) push to a registry without the referrers API, which
	// distribution is: they also create or update the index tagged
	// "sha256-<subject hex>" (the referrers tag schema) listing the
	// referrer. Without it the manifest is PUT by digest and nothing else
	// refers to it, as on a registry with the referrers API.
	FallbackTag bool
}

// PushReferrer pushes, by digest as SBOM and signature tools do, an OCI
// 1.1 image manifest to repo at the registry at host (plain HTTP,
// anonymous, as StartRegistry serves): artifactType o.ArtifactType, the
// empty config (application/vnd.oci.empty.v1+json, "{}"), one layer holding
// a small SPDX document, and subject the manifest repo@subject, which must
// exist.
func PushReferrer(ctx context.Context, host, repo, subject string, o ReferrerOptions) (Referrer, error) {
	if o.ArtifactType == "" {
		o.ArtifactType = ReferrerArtifactType
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(authn.Anonymous)}
	repository, err := name.NewRepository(host+"/"+repo, name.Insecure, name.StrictValidation)
	if err != nil {
		return Referrer{}, fmt.Errorf("parsing repository %s: %w", repo, err)
	}
	subj, err := remote.Head(repository.Digest(subject), opts...)
	if err != nil {
		return Referrer{}, fmt.Errorf("reading subject %s@%s: %w", repo, subject, err)
	}

	empty := []byte("{}")
	sbom, err := json.Marshal(map[string]any{
		"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
		"name": repo + "@" + subject, "documentNamespace": "https://example.invalid/harbor-import/" + subject,
		"creationInfo": map[string]any{"created": fixtureTime.Format(time.RFC3339), "creators": []string{"Tool: harbor-import-testenv"}},
	})
	if err != nil {
		return Referrer{}, err
	}
	for _, b := range []struct {
		data []byte
		mt   types.MediaType
	}{{empty, types.MediaType(ocispec.MediaTypeEmptyJSON)}, {sbom, types.MediaType(o.ArtifactType)}} {
		if err := remote.WriteLayer(repository, static.NewLayer(b.data, b.mt), opts...); err != nil {
			return Referrer{}, fmt.Errorf("pushing referrer blob to %s: %w", repo, err)
		}
	}
	man := ocispec.Manifest{
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: o.ArtifactType,
		Config: ocispec.Descriptor{
			MediaType: ocispec.MediaTypeEmptyJSON, Digest: digest.FromBytes(empty), Size: int64(len(empty)), Data: empty,
		},
		Layers: []ocispec.Descriptor{{MediaType: o.ArtifactType, Digest: digest.FromBytes(sbom), Size: int64(len(sbom))}},
		Subject: &ocispec.Descriptor{
			MediaType: string(subj.MediaType), Digest: digest.Digest(subj.Digest.String()), Size: subj.Size,
		},
		Annotations: map[string]string{ocispec.AnnotationCreated: fixtureTime.Format(time.RFC3339)},
	}
	man.SchemaVersion = 2
	raw, err := json.Marshal(man)
	if err != nil {
		return Referrer{}, err
	}
	ref := Referrer{Repo: repo, Digest: digest.FromBytes(raw).String(), Subject: subject, ArtifactType: o.ArtifactType}
	if !o.FallbackTag {
		return ref, putManifest(ctx, repository, ref.Digest, ocispec.MediaTypeImageManifest, raw)
	}
	if err := remote.Put(repository.Digest(ref.Digest), rawManifest{raw: raw, mediaType: types.OCIManifestSchema1},
		append(opts, remote.WithReferrersTagFallback(true))...); err != nil {
		return Referrer{}, fmt.Errorf("pushing referrer manifest to %s: %w", repo, err)
	}
	ref.FallbackTag = strings.Replace(subject, ":", "-", 1)
	desc, err := remote.Head(repository.Tag(ref.FallbackTag), opts...)
	if err != nil {
		return Referrer{}, fmt.Errorf("reading the referrers fallback tag %s:%s: %w", repo, ref.FallbackTag, err)
	}
	ref.FallbackDigest = desc.Digest.String()
	return ref, nil
}

// putManifest PUTs raw as repository's manifest dgst over plain HTTP,
// without any of a client library's extra requests.
func putManifest(ctx context.Context, repository name.Repository, dgst, mediaType string, raw []byte) error {
	u := url.URL{Scheme: repository.Scheme(), Host: repository.RegistryStr(), Path: "/v2/" + repository.RepositoryStr() + "/manifests/" + dgst}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.String(), bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", mediaType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("pushing manifest %s@%s: %w", repository.RepositoryStr(), dgst, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("pushing manifest %s@%s: %s: %s", repository.RepositoryStr(), dgst, resp.Status, b)
	}
	return nil
}

// rawManifest is manifest bytes with their media type, for remote.Put.
type rawManifest struct {
	raw       []byte
	mediaType types.MediaType
}

var _ remote.Taggable = rawManifest{}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mediaType, nil }
