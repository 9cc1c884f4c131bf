package importer_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/harbor-import/harbor-import/internal/regpath"
	"github.com/harbor-import/harbor-import/testenv"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sirupsen/logrus"
)

// kindArt is one manifest of the kinds fixture.
type kindArt struct {
	Repo   string // source repository ("kinds/app"); the target is the same
	Tag    string // "" when pushed by digest only
	Digest string
	Raw    []byte
	// Subject is the subject's fixture name for referrers.
	Subject string
}

// kindsFx is a registry storage holding every artifact kind Harbor
// distinguishes, made by real pushes into a real registry (distribution
// v3, in process) with go-containerregistry, except the Docker schema 1
// manifest (see pushSchema1).
type kindsFx struct {
	root, tarball string
	art           map[string]kindArt
	// layerSizes are the sizes of blobs pushed, by digest.
	layerSizes map[string]int64
}

var kindsOnce struct {
	once sync.Once
	fx   *kindsFx
	err  error
}

// kinds returns the shared kinds fixture (tests must not modify it).
func kinds(t *testing.T) *kindsFx {
	t.Helper()
	kindsOnce.once.Do(func() {
		kindsOnce.fx, kindsOnce.err = makeKinds(context.Background())
	})
	if kindsOnce.err != nil {
		t.Fatalf("making the kinds fixture: %v", kindsOnce.err)
	}
	return kindsOnce.fx
}

func makeKinds(ctx context.Context) (*kindsFx, error) {
	dir, err := os.MkdirTemp("", "harbor-import-fixture-kinds-")
	if err != nil {
		return nil, err
	}
	root := filepath.Join(dir, "registry")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	host, stop, err := startPushRegistry(ctx, root)
	if err != nil {
		return nil, err
	}
	k := &kindsPusher{ctx: ctx, host: host, root: root, rng: rand.New(rand.NewPCG(7, 11)),
		fx: &kindsFx{root: root, art: map[string]kindArt{}, layerSizes: map[string]int64{}}}
	err = k.pushAll()
	stop()
	if err != nil {
		return nil, err
	}
	k.fx.tarball = filepath.Join(dir, "docker.tar")
	if err := testenv.TarStorage(ctx, root, k.fx.tarball); err != nil {
		return nil, err
	}
	return k.fx, nil
}

// startPushRegistry serves root with a distribution registry configured
// as Harbor configures its own (tmpl registry/config.yml.jinja,
// harbor-facts §4.1): validation disabled, so a manifest may name foreign
// layers by URL. (testenv.StartRegistry keeps distribution's default, which
// refuses every foreign URL.) It returns the host and a stop func.
func startPushRegistry(ctx context.Context, root string) (string, func(), error) {
	cfg := &configuration.Configuration{Storage: configuration.Storage{
		"filesystem":  configuration.Parameters{"rootdirectory": root},
		"delete":      configuration.Parameters{"enabled": true},
		"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
	}}
	cfg.Validation.Disabled = true
	cfg.HTTP.Secret = "harbor-import-kinds"
	logrus.SetOutput(io.Discard)
	var app *handlers.App
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("configuring distribution: %v", p)
			}
		}()
		app = handlers.NewApp(ctx, cfg)
		return nil
	}()
	if err != nil {
		return "", nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		_ = app.Shutdown()
		return "", nil, err
	}
	srv := &http.Server{Handler: app, ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), func() { _ = srv.Close(); _ = app.Shutdown() }, nil
}

type kindsPusher struct {
	ctx  context.Context
	host string
	root string
	rng  *rand.Rand
	fx   *kindsFx
}

func (k *kindsPusher) opts() []remote.Option {
	return []remote.Option{remote.WithContext(k.ctx), remote.WithAuth(authn.Anonymous)}
}

func (k *kindsPusher) repo(r string) (name.Repository, error) {
	return name.NewRepository(k.host+"/"+r, name.Insecure, name.StrictValidation)
}

// blob uploads data to repo and returns its descriptor.
func (k *kindsPusher) blob(repo, mediaType string, data []byte) (ocispec.Descriptor, error) {
	r, err := k.repo(repo)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := remote.WriteLayer(r, static.NewLayer(data, types.MediaType(mediaType)), k.opts()...); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("uploading a blob to %s: %w", repo, err)
	}
	d := digest.FromBytes(data)
	k.fx.layerSizes[d.String()] = int64(len(data))
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}, nil
}

// random returns n pseudo-random bytes (layer content; the registry does
// not look inside).
func (k *kindsPusher) random(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(k.rng.Uint32())
	}
	return b
}

type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mt, nil }

// put PUTs manifest man (marshalled) to repo, by tag or, when tag is "",
// by digest; fallback also updates the referrers tag schema index as
// clients do on a registry without the referrers API.
func (k *kindsPusher) put(nm, repo, tag, mediaType string, man any, fallback bool) (kindArt, error) {
	raw, err := json.Marshal(man)
	if err != nil {
		return kindArt{}, err
	}
	r, err := k.repo(repo)
	if err != nil {
		return kindArt{}, err
	}
	d := digest.FromBytes(raw).String()
	var ref name.Reference = r.Digest(d)
	if tag != "" {
		ref = r.Tag(tag)
	}
	if fallback {
		// go-containerregistry also maintains the referrers tag schema index
		// on a registry without the referrers API.
		if err := remote.Put(ref, rawManifest{raw, types.MediaType(mediaType)}, append(k.opts(), remote.WithReferrersTagFallback(true))...); err != nil {
			return kindArt{}, fmt.Errorf("pushing %s (%s): %w", nm, ref, err)
		}
	} else if err := k.putRaw(ref, mediaType, raw); err != nil {
		return kindArt{}, fmt.Errorf("pushing %s (%s): %w", nm, ref, err)
	}
	a := kindArt{Repo: repo, Tag: tag, Digest: d, Raw: raw}
	k.fx.art[nm] = a
	return a, nil
}

// putRaw is a plain manifest PUT (what a registry with the referrers API
// gets from a client: nothing else).
func (k *kindsPusher) putRaw(ref name.Reference, mediaType string, raw []byte) error {
	u := "http://" + k.host + "/v2/" + ref.Context().RepositoryStr() + "/manifests/" + ref.Identifier()
	req, err := http.NewRequestWithContext(k.ctx, http.MethodPut, u, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", mediaType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %s", resp.Status, b)
	}
	return nil
}

// image pushes an image manifest whose config is cfg (JSON, of media type
// cfgType) and layers the given descriptors.
func (k *kindsPusher) image(nm, repo, tag, mt, cfgType string, cfg []byte, layers []ocispec.Descriptor, edit func(*ocispec.Manifest)) (kindArt, error) {
	c, err := k.blob(repo, cfgType, cfg)
	if err != nil {
		return kindArt{}, err
	}
	m := ocispec.Manifest{MediaType: mt, Config: c, Layers: layers}
	if m.Layers == nil {
		m.Layers = []ocispec.Descriptor{}
	}
	m.SchemaVersion = 2
	if edit != nil {
		edit(&m)
	}
	return k.put(nm, repo, tag, mt, m, false)
}

func (k *kindsPusher) layer(repo, mt string, n int) (ocispec.Descriptor, error) {
	return k.blob(repo, mt, k.random(n))
}

// onePNG is a 1x1 PNG image.
var onePNG, _ = base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")

const (
	kRepoApp     = "kinds/app"
	kRepoChart   = "kinds/chart"
	kRepoWASM    = "kinds/wasm"
	kRepoBundle  = "kinds/bundle"
	kRepoModels  = "kinds/models"
	kRepoSpecial = "kinds/special"
	kRepoEmpty   = "kinds/emptycfg"
	kRepoLegacy  = "kinds/legacy"

	mtOCIConfig   = "application/vnd.oci.image.config.v1+json"
	mtOCIManifest = "application/vnd.oci.image.manifest.v1+json"
	mtOCIIndex    = "application/vnd.oci.image.index.v1+json"
	mtOCILayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
	mtEmpty       = "application/vnd.oci.empty.v1+json"
)

// pushAll pushes, in this order:
//
//	kinds/app:v1                OCI image (annotations; author only in the
//	                            org.opencontainers.image.authors label; ArgsEscaped)
//	  spdx                      SPDX SBOM referrer of app (testenv.PushReferrer, with the
//	                            referrers tag fallback: tag sha256-<app hex>, "fallback-app";
//	                            its first version, "fallback-app-1", stays untagged)
//	  notation                  notation signature of app (artifactType), fallback index updated
//	  notation-cfg              notation signature of app typed by its config media type, by digest
//	  hsbom                     Harbor SBOM (application/vnd.goharbor.harbor.sbom.v1) of app, by digest
//	  nydus                     nydus image of app (bootstrap annotation on its last layer), by digest
//	  cosign11                  cosign OCI 1.1 signature of spdx (a referrer of a referrer), by digest
//	  sig                       legacy cosign signature of app: tag sha256-<app hex>.sig
//	kinds/chart:0.1.0           Helm chart
//	kinds/wasm:v1               wasm-to-oci module (config application/vnd.wasm.config.v1+json)
//	kinds/wasm:compat           image marked WASM by the module.wasm.image/variant annotation
//	kinds/bundle:v1             CNAB bundle: index with org.opencontainers.artifactType,
//	                            children "cnab-config" (config) and "cnab-inv" (invocation image)
//	kinds/models:caicloud       application/vnd.caicloud.model.config.v1alpha1+json, skip-list
//	                            on the config, PNG icon layer
//	kinds/models:cnai           CNAI model (artifactType application/vnd.cnai.model.manifest.v1+json)
//	kinds/models:modelpack      ModelPack model (artifactType application/vnd.cncf.model.manifest.v1+json)
//	kinds/models:unknown        config application/vnd.example.thing.v1+json: UNKNOWN
//	kinds/special:foreign       Docker schema 2 with a foreign layer (no data anywhere)
//	kinds/special:foreign-oci   OCI image with a non-distributable layer (no data anywhere)
//	kinds/special:nolayers      OCI image without layers
//	kinds/special:tmp           pushed twice: "tmp-old" stays an untagged revision
//	kinds/emptycfg:v1           OCI image whose config has size 0
//	kinds/legacy:v1             Docker schema 1 (pushSchema1)
func (k *kindsPusher) pushAll() error {
	steps := []func() error{k.pushApp, k.pushReferrers, k.pushKinds, k.pushSpecial, k.pushSchema1}
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	return nil
}

func (k *kindsPusher) pushApp() error {
	l, err := k.layer(kRepoApp, mtOCILayer, 700)
	if err != nil {
		return err
	}
	cfg := []byte(`{"architecture":"amd64","os":"linux","created":"2024-01-01T00:00:00Z","config":{"Env":["PATH=/bin"],"Cmd":["/app"],"Labels":{"org.opencontainers.image.authors":"team@example.com"},"ArgsEscaped":true},"rootfs":{"type":"layers","diff_ids":["` + l.Digest.String() + `"]}}`)
	_, err = k.image("app", kRepoApp, "v1", mtOCIManifest, mtOCIConfig, cfg, []ocispec.Descriptor{l}, func(m *ocispec.Manifest) {
		m.Annotations = map[string]string{"org.opencontainers.image.title": "app"}
	})
	return err
}

// referrer pushes an OCI 1.1 artifact referring to subject.
func (k *kindsPusher) referrer(nm, subject, artifactType, cfgType string, cfg []byte, layerType string, layerAnn map[string]string, fallback bool) error {
	s := k.fx.art[subject]
	c, err := k.blob(s.Repo, cfgType, cfg)
	if err != nil {
		return err
	}
	l, err := k.blob(s.Repo, layerType, []byte(fmt.Sprintf(`{"referrer":%q}`, nm)))
	if err != nil {
		return err
	}
	l.Annotations = layerAnn
	m := ocispec.Manifest{MediaType: mtOCIManifest, ArtifactType: artifactType, Config: c, Layers: []ocispec.Descriptor{l},
		Subject: &ocispec.Descriptor{MediaType: mtOCIManifest, Digest: digest.Digest(s.Digest), Size: int64(len(s.Raw))}}
	m.SchemaVersion = 2
	a, err := k.put(nm, s.Repo, "", mtOCIManifest, m, fallback)
	if err != nil {
		return err
	}
	a.Subject = subject
	k.fx.art[nm] = a
	return nil
}

func (k *kindsPusher) pushReferrers() error {
	app := k.fx.art["app"]
	spdx, err := testenv.PushReferrer(k.ctx, k.host, kRepoApp, app.Digest, testenv.ReferrerOptions{FallbackTag: true})
	if err != nil {
		return err
	}
	raw, err := k.manifest(kRepoApp, spdx.Digest)
	if err != nil {
		return err
	}
	k.fx.art["spdx"] = kindArt{Repo: kRepoApp, Digest: spdx.Digest, Raw: raw, Subject: "app"}
	// The first version of the fallback index; the next referrer replaces
	// it, leaving it an untagged revision.
	raw, err = k.manifest(kRepoApp, spdx.FallbackDigest)
	if err != nil {
		return err
	}
	k.fx.art["fallback-app-1"] = kindArt{Repo: kRepoApp, Digest: spdx.FallbackDigest, Raw: raw}
	empty := []byte("{}")
	sigAnn := map[string]string{"dev.cosignproject.cosign/signature": "MEUCIQ-not-a-real-signature"}
	for _, r := range []struct {
		nm, subject, artifactType, cfgType, layerType string
		ann                                           map[string]string
		fallback                                      bool
	}{
		{"notation", "app", "application/vnd.cncf.notary.signature", mtEmpty, "application/jose+json", nil, true},
		{"notation-cfg", "app", "", "application/vnd.cncf.notary.signature", "application/jose+json", nil, false},
		{"hsbom", "app", "application/vnd.goharbor.harbor.sbom.v1", mtEmpty, "application/spdx+json", nil, false},
		{"cosign11", "spdx", "", "application/vnd.dev.cosign.artifact.sig.v1+json", "application/vnd.dev.cosign.simplesigning.v1+json", sigAnn, false},
	} {
		if err := k.referrer(r.nm, r.subject, r.artifactType, r.cfgType, empty, r.layerType, r.ann, r.fallback); err != nil {
			return err
		}
	}
	// A nydus image refers to the image it accelerates.
	boot, err := k.layer(kRepoApp, mtOCILayer, 300)
	if err != nil {
		return err
	}
	boot.Annotations = map[string]string{"containerd.io/snapshot/nydus-bootstrap": "true"}
	if _, err := k.image("nydus", kRepoApp, "", mtOCIManifest, mtOCIConfig, []byte(`{"architecture":"amd64","os":"linux"}`), []ocispec.Descriptor{boot}, func(m *ocispec.Manifest) {
		m.Subject = &ocispec.Descriptor{MediaType: mtOCIManifest, Digest: digest.Digest(app.Digest), Size: int64(len(app.Raw))}
	}); err != nil {
		return err
	}
	n := k.fx.art["nydus"]
	n.Subject = "app"
	k.fx.art["nydus"] = n

	// The referrers tag schema index the fallback pushes maintained.
	fb := strings.Replace(app.Digest, ":", "-", 1)
	r, err := k.repo(kRepoApp)
	if err != nil {
		return err
	}
	desc, err := remote.Get(r.Tag(fb), k.opts()...)
	if err != nil {
		return fmt.Errorf("reading the fallback tag %s: %w", fb, err)
	}
	k.fx.art["fallback-app"] = kindArt{Repo: kRepoApp, Tag: fb, Digest: desc.Digest.String(), Raw: desc.Manifest}

	// Legacy cosign: a signature image tagged sha256-<subject hex>.sig.
	payload, err := k.blob(kRepoApp, "application/vnd.dev.cosign.simplesigning.v1+json",
		[]byte(`{"critical":{"identity":{"docker-reference":"kinds/app"},"image":{"docker-manifest-digest":"`+app.Digest+`"},"type":"cosign container image signature"},"optional":null}`))
	if err != nil {
		return err
	}
	payload.Annotations = sigAnn
	sigCfg := []byte(`{"architecture":"","config":{},"created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["` + payload.Digest.String() + `"]}}`)
	_, err = k.image("sig", kRepoApp, fb+".sig", mtOCIManifest, mtOCIConfig, sigCfg, []ocispec.Descriptor{payload}, nil)
	return err
}

func (k *kindsPusher) manifest(repo, dgst string) ([]byte, error) {
	r, err := k.repo(repo)
	if err != nil {
		return nil, err
	}
	desc, err := remote.Get(r.Digest(dgst), k.opts()...)
	if err != nil {
		return nil, err
	}
	return desc.Manifest, nil
}

func (k *kindsPusher) pushKinds() error {
	// Helm chart.
	chart, err := k.layer(kRepoChart, "application/vnd.cncf.helm.chart.content.v1.tar+gzip", 900)
	if err != nil {
		return err
	}
	if _, err := k.image("chart", kRepoChart, "0.1.0", mtOCIManifest, "application/vnd.cncf.helm.config.v1+json",
		[]byte(`{"apiVersion":"v2","name":"demo","version":"0.1.0","description":"demo chart","type":"application"}`), []ocispec.Descriptor{chart}, nil); err != nil {
		return err
	}
	// WASM, both ways.
	mod, err := k.layer(kRepoWASM, "application/vnd.wasm.content.layer.v1+wasm", 400)
	if err != nil {
		return err
	}
	mod.Annotations = map[string]string{"org.opencontainers.image.title": "module.wasm"}
	if _, err := k.image("wasm-oci", kRepoWASM, "v1", mtOCIManifest, "application/vnd.wasm.config.v1+json", []byte("{}"), []ocispec.Descriptor{mod}, nil); err != nil {
		return err
	}
	wl, err := k.layer(kRepoWASM, mtOCILayer, 500)
	if err != nil {
		return err
	}
	if _, err := k.image("wasm-compat", kRepoWASM, "compat", mtOCIManifest, mtOCIConfig,
		[]byte(`{"architecture":"wasm","os":"wasip1","created":"2024-01-01T00:00:00Z","config":{"Entrypoint":["/module.wasm"],"Labels":{"maintainer":"wasm@example.com"}},"rootfs":{"type":"layers","diff_ids":["`+wl.Digest.String()+`"]}}`),
		[]ocispec.Descriptor{wl}, func(m *ocispec.Manifest) { m.Annotations = map[string]string{"module.wasm.image/variant": "compat"} }); err != nil {
		return err
	}
	// CNAB bundle (as cnab-to-oci lays it out).
	cc, err := k.image("cnab-config", kRepoBundle, "", mtOCIManifest, "application/vnd.cnab.config.v1+json",
		[]byte(`{"schemaVersion":"v1.0.0","name":"demo","version":"0.1.0","invocationImages":[{"imageType":"docker","image":"demo:inv"}]}`), nil, nil)
	if err != nil {
		return err
	}
	il, err := k.layer(kRepoBundle, mtOCILayer, 600)
	if err != nil {
		return err
	}
	ci, err := k.image("cnab-inv", kRepoBundle, "", mtOCIManifest, mtOCIConfig, []byte(`{"architecture":"amd64","os":"linux"}`), []ocispec.Descriptor{il}, nil)
	if err != nil {
		return err
	}
	idx := ocispec.Index{MediaType: mtOCIIndex, Manifests: []ocispec.Descriptor{
		{MediaType: mtOCIManifest, Digest: digest.Digest(cc.Digest), Size: int64(len(cc.Raw)), Annotations: map[string]string{"io.cnab.manifest.type": "config"}},
		{MediaType: mtOCIManifest, Digest: digest.Digest(ci.Digest), Size: int64(len(ci.Raw)), Annotations: map[string]string{"io.cnab.manifest.type": "invocation"}},
	}, Annotations: map[string]string{"io.cnab.keywords": `["demo"]`, "io.cnab.runtime_version": "v1.0.0",
		"org.opencontainers.artifactType": "application/vnd.cnab.manifest.v1", "org.opencontainers.image.title": "demo"}}
	idx.SchemaVersion = 2
	if _, err := k.put("cnab", kRepoBundle, "v1", mtOCIIndex, idx, false); err != nil {
		return err
	}
	// Models.
	icon, err := k.blob(kRepoModels, "image/png", onePNG)
	if err != nil {
		return err
	}
	icon.Annotations = map[string]string{"io.goharbor.artifact.v1alpha1.icon": ""}
	weights, err := k.layer(kRepoModels, "application/tar+gzip", 800)
	if err != nil {
		return err
	}
	if _, err := k.image("caicloud", kRepoModels, "caicloud", mtOCIManifest, "application/vnd.caicloud.model.config.v1alpha1+json",
		[]byte(`{"framework":"tensorflow","format":"SavedModel","metrics":[{"name":"acc","value":0.9}],"git":{"repo":"https://example.invalid/m.git"}}`),
		[]ocispec.Descriptor{icon, weights}, func(m *ocispec.Manifest) {
			m.Config.Annotations = map[string]string{"io.goharbor.artifact.v1alpha1.skip-list": "metrics,git"}
		}); err != nil {
		return err
	}
	modelCfg := []byte(`{"descriptor":{"name":"m"},"config":{"format":"safetensors"},"modelfs":{"type":"layers","diffIds":[]}}`)
	for _, mm := range []struct{ nm, at, cfgType, layerType string }{
		{"cnai", "application/vnd.cnai.model.manifest.v1+json", "application/vnd.cnai.model.config.v1+json", "application/vnd.cnai.model.weight.v1.tar"},
		{"modelpack", "application/vnd.cncf.model.manifest.v1+json", "application/vnd.cncf.model.config.v1+json", "application/vnd.cncf.model.weight.v1.tar"},
	} {
		w, err := k.layer(kRepoModels, mm.layerType, 300)
		if err != nil {
			return err
		}
		at := mm.at
		if _, err := k.image(mm.nm, kRepoModels, mm.nm, mtOCIManifest, mm.cfgType, modelCfg, []ocispec.Descriptor{w},
			func(m *ocispec.Manifest) { m.ArtifactType = at }); err != nil {
			return err
		}
	}
	u, err := k.layer(kRepoModels, "application/octet-stream", 200)
	if err != nil {
		return err
	}
	_, err = k.image("unknown", kRepoModels, "unknown", mtOCIManifest, "application/vnd.example.thing.v1+json", []byte(`{"k":"v"}`), []ocispec.Descriptor{u}, nil)
	return err
}

func (k *kindsPusher) pushSpecial() error {
	// A foreign layer: its data is never uploaded (clients fetch its URL).
	fdata := k.random(1500)
	foreign := ocispec.Descriptor{MediaType: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
		Digest: digest.FromBytes(fdata), Size: int64(len(fdata)), URLs: []string{"https://example.invalid/base-layer.tar.gz"}}
	l, err := k.layer(kRepoSpecial, "application/vnd.docker.image.rootfs.diff.tar.gzip", 450)
	if err != nil {
		return err
	}
	if _, err := k.image("foreign", kRepoSpecial, "foreign", "application/vnd.docker.distribution.manifest.v2+json",
		"application/vnd.docker.container.image.v1+json", []byte(`{"architecture":"amd64","os":"windows","config":{"Cmd":["cmd"]}}`),
		[]ocispec.Descriptor{foreign, l}, nil); err != nil {
		return err
	}
	// An OCI non-distributable layer, also never uploaded.
	ndata := k.random(1200)
	nondist := ocispec.Descriptor{MediaType: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
		Digest: digest.FromBytes(ndata), Size: int64(len(ndata)), URLs: []string{"https://example.invalid/nondist.tar.gz"}}
	ol, err := k.layer(kRepoSpecial, mtOCILayer, 420)
	if err != nil {
		return err
	}
	if _, err := k.image("foreign-oci", kRepoSpecial, "foreign-oci", mtOCIManifest, mtOCIConfig,
		[]byte(`{"architecture":"amd64","os":"linux"}`), []ocispec.Descriptor{nondist, ol}, nil); err != nil {
		return err
	}
	if _, err := k.image("nolayers", kRepoSpecial, "nolayers", mtOCIManifest, mtOCIConfig, []byte(`{"architecture":"amd64","os":"linux"}`), nil, nil); err != nil {
		return err
	}
	for _, nm := range []string{"tmp-old", "tmp"} {
		l, err := k.layer(kRepoSpecial, mtOCILayer, 250)
		if err != nil {
			return err
		}
		if _, err := k.image(nm, kRepoSpecial, "tmp", mtOCIManifest, mtOCIConfig, []byte(`{"architecture":"amd64","os":"linux","config":{"Labels":{"name":"`+nm+`"}}}`), []ocispec.Descriptor{l}, nil); err != nil {
			return err
		}
	}
	old := k.fx.art["tmp-old"]
	old.Tag = ""
	k.fx.art["tmp-old"] = old
	// A config of size 0 (its empty blob uploaded).
	el, err := k.layer(kRepoEmpty, mtOCILayer, 350)
	if err != nil {
		return err
	}
	_, err = k.image("emptycfg", kRepoEmpty, "v1", mtOCIManifest, mtOCIConfig, []byte{}, []ocispec.Descriptor{el}, nil)
	return err
}

// pushSchema1 stores a signed Docker schema 1 manifest the way a
// distribution v2 registry stores a schema 1 push: its layers are real
// blob uploads; the manifest itself cannot be PUT, because distribution v3
// (the in-process registry) removed schema 1, so its canonical payload
// (the JWS payload, which a v2 registry keeps as the blob, re-signing on
// every GET) is written as that registry writes it: blob data, revision
// link, tag current and index links (harbor-facts §4.1, §7).
func (k *kindsPusher) pushSchema1() error {
	a, err := k.layer(kRepoLegacy, "application/octet-stream", 640)
	if err != nil {
		return err
	}
	b, err := k.layer(kRepoLegacy, "application/octet-stream", 32) // like the empty layer docker repeats
	if err != nil {
		return err
	}
	type fsLayer struct {
		BlobSum string `json:"blobSum"`
	}
	type history struct {
		V1Compatibility string `json:"v1Compatibility"`
	}
	m := struct {
		SchemaVersion int       `json:"schemaVersion"`
		Name          string    `json:"name"`
		Tag           string    `json:"tag"`
		Architecture  string    `json:"architecture"`
		FSLayers      []fsLayer `json:"fsLayers"`
		History       []history `json:"history"`
	}{1, kRepoLegacy, "v1", "amd64",
		[]fsLayer{{b.Digest.String()}, {a.Digest.String()}, {b.Digest.String()}},
		[]history{
			{`{"id":"c3","parent":"b2","created":"2016-01-01T00:00:02Z","container_config":{"Cmd":["/bin/sh"]}}`},
			{`{"id":"b2","parent":"a1","created":"2016-01-01T00:00:01Z"}`},
			{`{"id":"a1","created":"2016-01-01T00:00:00Z"}`},
		}}
	raw, err := json.MarshalIndent(m, "", "   ")
	if err != nil {
		return err
	}
	d := digest.FromBytes(raw)
	v2 := filepath.Join(k.root, "docker", "registry", "v2")
	write := func(spec regpath.Spec, content []byte) error {
		rel, err := regpath.For(spec)
		if err != nil {
			return err
		}
		p := filepath.Join(v2, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return os.WriteFile(p, content, 0o644)
	}
	for _, w := range []struct {
		spec    regpath.Spec
		content []byte
	}{
		{regpath.Spec{Kind: regpath.BlobData, Digest: d}, raw},
		{regpath.Spec{Kind: regpath.RevisionLink, Repo: kRepoLegacy, Digest: d}, regpath.LinkContent(d)},
		{regpath.Spec{Kind: regpath.TagIndexLink, Repo: kRepoLegacy, Tag: "v1", Digest: d}, regpath.LinkContent(d)},
		{regpath.Spec{Kind: regpath.TagCurrentLink, Repo: kRepoLegacy, Tag: "v1"}, regpath.LinkContent(d)},
	} {
		if err := write(w.spec, w.content); err != nil {
			return fmt.Errorf("placing the schema 1 manifest: %w", err)
		}
	}
	k.fx.art["legacy"] = kindArt{Repo: kRepoLegacy, Tag: "v1", Digest: d.String(), Raw: raw}
	return nil
}
