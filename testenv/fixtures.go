package testenv

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/harbor-import/harbor-import/testenv/rawimage"
)

// FixtureImage is one tag of a pushed fixture and what it points at.
type FixtureImage struct {
	Repo      string   // repository name in the source registry, e.g. "team/app/api"
	Tag       string   // tag, e.g. "v1"
	Digest    string   // manifest digest the tag currently points at
	MediaType string   // manifest media type
	Children  []string // for an index or manifest list: the child manifest digests, in order
}

// Fixture is what a push left in a registry's storage.
type Fixture struct {
	// Images lists every tag the storage has, with its current value, in
	// push order.
	Images []FixtureImage
	// Untagged lists "repo@digest" of manifests that are stored but no
	// longer tagged, e.g. the old value of a moved tag. Index children are
	// not listed here: they are reachable through their index.
	Untagged []string
}

// Image returns the image tagged repo:tag, or false.
func (f *Fixture) Image(repo, tag string) (FixtureImage, bool) {
	for _, im := range f.Images {
		if im.Repo == repo && im.Tag == tag {
			return im, true
		}
	}
	return FixtureImage{}, false
}

// pusher pushes built images to one registry and records the fixture.
type pusher struct {
	host string
	opts []remote.Option
	fx   Fixture
}

func newPusher(ctx context.Context, host string) *pusher {
	return &pusher{host: host, opts: []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuth(authn.Anonymous),
	}}
}

func (p *pusher) tag(repo, tag string) (name.Tag, error) {
	ref, err := name.NewTag(p.host+"/"+repo+":"+tag, name.Insecure, name.StrictValidation)
	if err != nil {
		return name.Tag{}, fmt.Errorf("parsing reference %s:%s: %w", repo, tag, err)
	}
	return ref, nil
}

// pushImage pushes img as repo:tag (blobs first, then the manifest by tag).
func (p *pusher) pushImage(repo, tag string, img *rawimage.Image) error {
	ref, err := p.tag(repo, tag)
	if err != nil {
		return err
	}
	v1img, err := img.Image()
	if err != nil {
		return err
	}
	if err := remote.Write(ref, v1img, p.opts...); err != nil {
		return fmt.Errorf("pushing %s:%s: %w", repo, tag, err)
	}
	d := img.Descriptor()
	p.record(FixtureImage{Repo: repo, Tag: tag, Digest: d.Digest.String(), MediaType: string(d.MediaType)})
	return nil
}

// pushIndex pushes idx as repo:tag (children by digest, then the index by tag).
func (p *pusher) pushIndex(repo, tag string, idx *rawimage.Index) error {
	ref, err := p.tag(repo, tag)
	if err != nil {
		return err
	}
	if err := remote.WriteIndex(ref, idx, p.opts...); err != nil {
		return fmt.Errorf("pushing %s:%s: %w", repo, tag, err)
	}
	children, err := childDigests(idx)
	if err != nil {
		return err
	}
	d := idx.Descriptor()
	p.record(FixtureImage{Repo: repo, Tag: tag, Digest: d.Digest.String(), MediaType: string(d.MediaType), Children: children})
	return nil
}

// record notes im as the current value of its tag; a previous value no
// longer tagged anywhere in the repository becomes untagged.
func (p *pusher) record(im FixtureImage) {
	for i, old := range p.fx.Images {
		if old.Repo != im.Repo || old.Tag != im.Tag {
			continue
		}
		p.fx.Images = append(p.fx.Images[:i], p.fx.Images[i+1:]...)
		if old.Digest != im.Digest && !p.tagged(old.Repo, old.Digest) {
			p.fx.Untagged = append(p.fx.Untagged, old.Repo+"@"+old.Digest)
		}
		break
	}
	p.fx.Images = append(p.fx.Images, im)
	p.fx.Untagged = slices.DeleteFunc(p.fx.Untagged, func(u string) bool { return u == im.Repo+"@"+im.Digest })
}

func (p *pusher) tagged(repo, dgst string) bool {
	for _, im := range p.fx.Images {
		if im.Repo == repo && im.Digest == dgst {
			return true
		}
	}
	return false
}

// layers draws n named layers from rng.
func layers(rng *rand.Rand, names ...string) ([]layerContent, error) {
	out := make([]layerContent, 0, len(names))
	for _, n := range names {
		l, err := makeLayer(rng, n)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// PushClassic pushes a small but complete set of images to the registry
// at host, all content drawn deterministically from seed (equal seeds give
// equal digests), and returns what the storage then holds:
//
//	alpine:3.19, alpine:latest   one Docker schema2 image (base + alpine layers), two tags
//	team/base:3.19               the same manifest again, in another repository
//	busybox:latest               OCI image (base + busybox)
//	busybox:multi                Docker manifest list: linux/amd64, linux/arm/v7
//	team/app/api:v1              OCI image (base + api)
//	team/web:stable              Docker schema2, pushed twice: image A, then B;
//	                             A stays as an untagged revision (Fixture.Untagged)
//	team/multi:v1                OCI index: linux/amd64, linux/arm64/v8
//
// The base layer is shared by alpine, team/base, busybox, team/app/api and
// team/web. Every config has created 2024-01-01T00:00:00Z, Env
// ["PATH=/usr/bin:/bin"], Cmd ["/bin/sh"] and a Labels "oracle" naming the
// image and seed.
func PushClassic(ctx context.Context, host string, seed int64) (*Fixture, error) {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6861726230))
	l, err := layers(rng, "base", "alpine", "busybox", "api", "web-a", "web-b",
		"bb-amd64", "bb-arm", "multi-amd64", "multi-arm64")
	if err != nil {
		return nil, err
	}
	base, alpineL, busyboxL, apiL, webA, webB, bbAmd64, bbArm, multiAmd64, multiArm64 :=
		l[0], l[1], l[2], l[3], l[4], l[5], l[6], l[7], l[8], l[9]
	oracle := func(what string) string { return fmt.Sprintf("%s-%d", what, seed) }
	linux := func(f format, arch, variant, what string, ls ...layerContent) imageSpec {
		return imageSpec{format: f, os: "linux", arch: arch, variant: variant, oracle: oracle(what), layers: ls}
	}

	p := newPusher(ctx, host)
	steps := []struct {
		repo, tag string
		image     *imageSpec
		index     *indexSpec
	}{
		{repo: "alpine", tag: "3.19", image: new(linux(formatDocker, "amd64", "", "alpine", base, alpineL))},
		{repo: "alpine", tag: "latest", image: new(linux(formatDocker, "amd64", "", "alpine", base, alpineL))},
		{repo: "team/base", tag: "3.19", image: new(linux(formatDocker, "amd64", "", "alpine", base, alpineL))},
		{repo: "busybox", tag: "latest", image: new(linux(formatOCI, "amd64", "", "busybox", base, busyboxL))},
		{repo: "busybox", tag: "multi", index: &indexSpec{format: formatDocker, children: []imageSpec{
			linux(formatDocker, "amd64", "", "busybox-multi-amd64", bbAmd64),
			linux(formatDocker, "arm", "v7", "busybox-multi-armv7", bbArm),
		}}},
		{repo: "team/app/api", tag: "v1", image: new(linux(formatOCI, "amd64", "", "api", base, apiL))},
		{repo: "team/web", tag: "stable", image: new(linux(formatDocker, "amd64", "", "web-a", base, webA))},
		{repo: "team/web", tag: "stable", image: new(linux(formatDocker, "amd64", "", "web-b", base, webB))},
		{repo: "team/multi", tag: "v1", index: &indexSpec{format: formatOCI, children: []imageSpec{
			linux(formatOCI, "amd64", "", "multi-amd64", multiAmd64),
			linux(formatOCI, "arm64", "v8", "multi-arm64", multiArm64),
		}}},
	}
	for _, s := range steps {
		if err := p.push(s.repo, s.tag, s.image, s.index); err != nil {
			return nil, err
		}
	}
	return &p.fx, nil
}

// PushReferenceCases pushes the three images a real Harbor v2.15.2
// recorded in /work/shared/reference/real-push (cases 1-3), with configs
// that give the same artifact.extra_attrs as the recorded rows:
//
//	single-v2s2:v1   Docker schema2, one layer, oracle single-1795336861075088009
//	single-oci:v1    OCI, one layer, oracle single-1795336872141899985
//	multi-index:v1   OCI index of linux/amd64 (oracle multi-amd64-1795336877843367015)
//	                 and linux/arm64 (oracle multi-arm64-1795336877843367015), no variant
//
// The names have a single component, so the importer maps them to project
// library (library/single-v2s2 and so on). Layer bytes differ from the
// recording, so digests and sizes do too; they are deterministic.
func PushReferenceCases(ctx context.Context, host string) (*Fixture, error) {
	layer := func(seed uint64, name string) (layerContent, error) {
		return makeLayer(rand.New(rand.NewPCG(seed, 0x6861726230)), name)
	}
	v2s2L, err := layer(1795336861075088009, "single-v2s2")
	if err != nil {
		return nil, err
	}
	ociL, err := layer(1795336872141899985, "single-oci")
	if err != nil {
		return nil, err
	}
	amd64L, err := layer(1795336877843367015, "multi-amd64")
	if err != nil {
		return nil, err
	}
	arm64L, err := layer(1795336877843367016, "multi-arm64")
	if err != nil {
		return nil, err
	}
	single := func(f format, oracle string, l layerContent) *imageSpec {
		return &imageSpec{format: f, os: "linux", arch: "amd64", oracle: oracle, layers: []layerContent{l}}
	}

	p := newPusher(ctx, host)
	if err := p.push("single-v2s2", "v1", single(formatDocker, "single-1795336861075088009", v2s2L), nil); err != nil {
		return nil, err
	}
	if err := p.push("single-oci", "v1", single(formatOCI, "single-1795336872141899985", ociL), nil); err != nil {
		return nil, err
	}
	multi := &indexSpec{format: formatOCI, children: []imageSpec{
		{format: formatOCI, os: "linux", arch: "amd64", oracle: "multi-amd64-1795336877843367015", layers: []layerContent{amd64L}},
		{format: formatOCI, os: "linux", arch: "arm64", oracle: "multi-arm64-1795336877843367015", layers: []layerContent{arm64L}},
	}}
	if err := p.push("multi-index", "v1", nil, multi); err != nil {
		return nil, err
	}
	return &p.fx, nil
}

// indexSpec describes an index or manifest list; each child's platform
// comes from its config.
type indexSpec struct {
	format   format
	children []imageSpec
}

func (s indexSpec) build() (*rawimage.Index, error) {
	children := make([]child, 0, len(s.children))
	for _, cs := range s.children {
		img, err := cs.build()
		if err != nil {
			return nil, err
		}
		children = append(children, child{img: img, platform: ocispec.Platform{
			Architecture: cs.arch, OS: cs.os, Variant: cs.variant,
		}})
	}
	return buildIndex(s.format, children)
}

// push builds and pushes one image or index.
func (p *pusher) push(repo, tag string, image *imageSpec, index *indexSpec) error {
	if index != nil {
		idx, err := index.build()
		if err != nil {
			return fmt.Errorf("building %s:%s: %w", repo, tag, err)
		}
		return p.pushIndex(repo, tag, idx)
	}
	img, err := image.build()
	if err != nil {
		return fmt.Errorf("building %s:%s: %w", repo, tag, err)
	}
	return p.pushImage(repo, tag, img)
}
