package corpus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/harbor-import/harbor-import/testenv"
	"github.com/harbor-import/harbor-import/testenv/rawimage"
)

// ErrNotGenerated is returned by Open for a corpus not (completely) made yet.
var ErrNotGenerated = errors.New("corpus not generated")

// infoFile marks a complete corpus.
const infoFile = "corpus.json"

// Corpus is a corpus on disk.
type Corpus struct {
	// Dir is the corpus directory, <bench dir>/corpus-<tags>-seed<seed>.
	Dir string
	// Storage is the registry's rootdirectory: it holds docker/registry/v2.
	Storage string
	// Tar and TarGz are `tar -cpf docker.tar docker` run in Storage, plain and gzip'd.
	Tar, TarGz string
	Info       Info
}

// V2 is the storage's v2 root.
func (c *Corpus) V2() string { return filepath.Join(c.Storage, "docker", "registry", "v2") }

// Info describes a corpus; it is stored as corpus.json.
type Info struct {
	Spec         Spec  `json:"spec"`
	Repositories int   `json:"repositories"`
	Tags         int   `json:"tags"`
	Builds       int   `json:"builds"` // images and indexes tags point at, plus moved tags' old builds
	Indexes      int   `json:"indexes"`
	Untagged     int   `json:"untagged"`
	Blobs        int   `json:"blobs"`
	BlobBytes    int64 `json:"blob_bytes"`
	LinkFiles    int   `json:"link_files"`
	TarBytes     int64 `json:"tar_bytes"`
	TarGzBytes   int64 `json:"tar_gz_bytes"`
	// Generation times.
	Workers      int       `json:"workers"`
	PushSeconds  float64   `json:"push_seconds"`
	TarSeconds   float64   `json:"tar_seconds"`
	TarGzSeconds float64   `json:"tar_gz_seconds"`
	Created      time.Time `json:"created"`
}

// Options configure Ensure. Zero values mean the documented defaults.
type Options struct {
	// Workers is the number of goroutines pushing repositories. Default 4.
	Workers int
	// Logger receives progress. Default (nil) discards.
	Logger *slog.Logger
}

// Open returns the complete corpus spec under benchDir, or ErrNotGenerated.
func Open(benchDir string, spec Spec) (*Corpus, error) {
	c := layout(benchDir, spec)
	b, err := os.ReadFile(filepath.Join(c.Dir, infoFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s has no %s", ErrNotGenerated, c.Dir, infoFile)
	}
	if err != nil {
		return nil, fmt.Errorf("reading corpus info: %w", err)
	}
	if err := json.Unmarshal(b, &c.Info); err != nil {
		return nil, fmt.Errorf("reading corpus info %s: %w", filepath.Join(c.Dir, infoFile), err)
	}
	return c, nil
}

// Ensure returns the corpus spec under benchDir, generating it first when
// it is missing or incomplete.
func Ensure(ctx context.Context, benchDir string, spec Spec, opts Options) (*Corpus, error) {
	c, err := Open(benchDir, spec)
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, ErrNotGenerated) {
		return nil, err
	}
	return Generate(ctx, benchDir, spec, opts)
}

func layout(benchDir string, spec Spec) *Corpus {
	dir := filepath.Join(benchDir, spec.Name())
	return &Corpus{
		Dir:     dir,
		Storage: filepath.Join(dir, "storage"),
		Tar:     filepath.Join(dir, "docker.tar"),
		TarGz:   filepath.Join(dir, "docker.tar.gz"),
	}
}

// Generate makes the corpus spec under benchDir, replacing whatever is there.
func Generate(ctx context.Context, benchDir string, spec Spec, opts Options) (*Corpus, error) {
	c, p, log := begin(benchDir, spec, opts)
	workers := opts.Workers
	if workers <= 0 {
		workers = 4
	}
	if err := os.RemoveAll(c.Dir); err != nil {
		return nil, fmt.Errorf("removing incomplete corpus: %w", err)
	}
	if err := os.MkdirAll(c.Storage, 0o755); err != nil {
		return nil, fmt.Errorf("creating corpus directory: %w", err)
	}
	c.Info.Workers = workers
	log.Info("generating corpus", "dir", c.Dir, "repositories", c.Info.Repositories, "tags", c.Info.Tags, "builds", c.Info.Builds, "workers", workers)

	start := time.Now()
	if err := push(ctx, c.Storage, p, workers, log); err != nil {
		return nil, err
	}
	c.Info.PushSeconds = time.Since(start).Seconds()
	if err := c.pack(ctx, log); err != nil {
		return nil, err
	}
	return c, nil
}

// Repack counts and packs again the storage that Generate pushed under
// benchDir, and marks the corpus complete: for a generation that stopped
// after its pushes (tar refuses a file whose inode changed while it read
// it, as a hardlinking import changes its link count and owner). The push
// time is unknown (0).
func Repack(ctx context.Context, benchDir string, spec Spec, opts Options) (*Corpus, error) {
	c, _, log := begin(benchDir, spec, opts)
	if !isDir(c.V2()) {
		return nil, fmt.Errorf("%w: %s has no pushed storage to pack", ErrNotGenerated, c.Dir)
	}
	if err := c.pack(ctx, log); err != nil {
		return nil, err
	}
	return c, nil
}

// begin lays out the corpus spec under benchDir with the counts its plan
// gives, and returns the plan and the logger opts ask for.
func begin(benchDir string, spec Spec, opts Options) (*Corpus, *corpusPlan, *slog.Logger) {
	spec = spec.withDefaults()
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := layout(benchDir, spec)
	p := newPlan(spec)
	tags, builds, indexes, untagged := p.counts()
	c.Info = Info{Spec: spec, Repositories: len(p.repos), Tags: tags, Builds: builds, Indexes: indexes, Untagged: untagged}
	return c, p, log
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// pack counts the pushed storage, writes docker.tar and docker.tar.gz of
// it, then corpus.json.
func (c *Corpus) pack(ctx context.Context, log *slog.Logger) error {
	if err := c.count(); err != nil {
		return err
	}
	log.Info("pushed", "seconds", c.Info.PushSeconds, "blobs", c.Info.Blobs, "bytes", c.Info.BlobBytes, "link_files", c.Info.LinkFiles)

	start := time.Now()
	if err := testenv.TarStorage(ctx, c.Storage, c.Tar); err != nil {
		return err
	}
	c.Info.TarSeconds = time.Since(start).Seconds()
	start = time.Now()
	if err := testenv.TarStorage(ctx, c.Storage, c.TarGz); err != nil {
		return err
	}
	c.Info.TarGzSeconds = time.Since(start).Seconds()
	for _, f := range []struct {
		path string
		n    *int64
	}{{c.Tar, &c.Info.TarBytes}, {c.TarGz, &c.Info.TarGzBytes}} {
		fi, err := os.Stat(f.path)
		if err != nil {
			return err
		}
		*f.n = fi.Size()
	}
	log.Info("packed", "tar_seconds", c.Info.TarSeconds, "tar_gz_seconds", c.Info.TarGzSeconds)

	c.Info.Created = time.Now().UTC()
	b, err := json.MarshalIndent(c.Info, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.Dir, infoFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing corpus info: %w", err)
	}
	return nil
}

// count fills the storage's blob and link file counts.
func (c *Corpus) count() error {
	return filepath.WalkDir(c.V2(), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		switch d.Name() {
		case "data":
			fi, err := d.Info()
			if err != nil {
				return err
			}
			c.Info.Blobs++
			c.Info.BlobBytes += fi.Size()
		case "link":
			c.Info.LinkFiles++
		}
		return nil
	})
}

// pusher pushes a plan's repositories into one registry.
type pusher struct {
	host   string
	seed   uint64
	plan   *corpusPlan
	opts   []remote.Option
	base   [][]*layer // base b's layers
	rt     []*layer   // team t's runtime layer
	pushed atomic.Int64
}

// push serves storage with an in-process registry and pushes every
// repository of p: base and runtime repositories first, in order, then the
// others by workers goroutines, each repository's pushes in order.
func push(ctx context.Context, storage string, p *corpusPlan, workers int, log *slog.Logger) (rerr error) {
	reg, err := testenv.StartRegistry(ctx, storage)
	if err != nil {
		return err
	}
	defer func() { rerr = errors.Join(rerr, reg.Close()) }()

	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}
	defer tr.CloseIdleConnections()
	ps := &pusher{host: reg.Host(), seed: p.spec.Seed, plan: p,
		opts: []remote.Option{remote.WithContext(ctx), remote.WithAuth(authn.Anonymous), remote.WithTransport(tr), remote.WithJobs(2)}}
	for b, sizes := range p.baseLayers {
		for i, size := range sizes {
			l, err := makeLayer(p.spec.Seed, fmt.Sprintf("base/%s/%d", bases[b], i), size)
			if err != nil {
				return err
			}
			if i == 0 {
				ps.base = append(ps.base, nil)
			}
			ps.base[b] = append(ps.base[b], l)
		}
	}
	for t, size := range p.runtimeLayers {
		l, err := makeLayer(p.spec.Seed, p.teams[t]+"/runtime", size)
		if err != nil {
			return err
		}
		ps.rt = append(ps.rt, l)
	}

	var shared, apps []*repoPlan
	for _, rp := range p.repos {
		if rp.shared {
			shared = append(shared, rp)
		} else {
			apps = append(apps, rp)
		}
	}
	start := time.Now()
	for _, rp := range shared {
		if err := ps.pushRepo(ctx, rp); err != nil {
			return err
		}
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan *repoPlan)
	var wg sync.WaitGroup
	total := 0
	for _, rp := range apps {
		total += len(rp.pushes)
	}
	for range workers {
		wg.Go(func() {
			for rp := range work {
				if err := ps.pushRepo(ctx, rp); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				n := ps.pushed.Load()
				log.Info("pushing", "pushes", n, "rate_per_s", float64(n)/time.Since(start).Seconds())
			}
		}
	}()
feed:
	for _, rp := range apps {
		select {
		case work <- rp:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

// pushRepo pushes one repository's tags in order.
func (ps *pusher) pushRepo(ctx context.Context, rp *repoPlan) error {
	images := map[int]*rawimage.Image{}
	indexes := map[int]*rawimage.Index{}
	for _, tp := range rp.pushes {
		if err := ctx.Err(); err != nil {
			return err
		}
		ref, err := name.NewTag(ps.host+"/"+rp.name+":"+tp.tag, name.Insecure, name.StrictValidation)
		if err != nil {
			return fmt.Errorf("parsing reference %s:%s: %w", rp.name, tp.tag, err)
		}
		bp := rp.builds[tp.build]
		if len(bp.children) > 0 {
			x := indexes[tp.build]
			if x == nil {
				if x, err = ps.buildIndex(rp, bp); err != nil {
					return err
				}
				indexes[tp.build] = x
			}
			if err := remote.WriteIndex(ref, x, ps.opts...); err != nil {
				return fmt.Errorf("pushing %s: %w", ref, err)
			}
		} else {
			ri := images[tp.build]
			if ri == nil {
				if ri, err = ps.buildImage(rp, bp, "amd64", bp.uniq, bp.key); err != nil {
					return err
				}
				images[tp.build] = ri
			}
			img, err := ri.Image()
			if err != nil {
				return err
			}
			if err := remote.Write(ref, img, ps.opts...); err != nil {
				return fmt.Errorf("pushing %s: %w", ref, err)
			}
		}
		ps.pushed.Add(1)
	}
	return nil
}

// sharedLayers are the base's layers and, when asked, the team's runtime
// layer, each with the repository to mount it from.
func (ps *pusher) sharedLayers(rp *repoPlan, runtime bool) ([]imageLayer, error) {
	var out []imageLayer
	var baseRef name.Reference
	if rp.name != "base/"+bases[rp.base] {
		r, err := name.NewTag(ps.host+"/base/"+bases[rp.base]+":latest", name.Insecure)
		if err != nil {
			return nil, err
		}
		baseRef = r
	}
	for _, l := range ps.base[rp.base] {
		out = append(out, imageLayer{layer: l, from: baseRef})
	}
	if runtime && rp.team >= 0 {
		var rtRef name.Reference
		if rp.name != ps.plan.teams[rp.team]+"/runtime" {
			r, err := name.NewTag(ps.host+"/"+ps.plan.teams[rp.team]+"/runtime:latest", name.Insecure)
			if err != nil {
				return nil, err
			}
			rtRef = r
		}
		out = append(out, imageLayer{layer: ps.rt[rp.team], from: rtRef})
	}
	return out, nil
}

func (ps *pusher) buildImage(rp *repoPlan, bp buildPlan, arch string, uniq []int, key string) (*rawimage.Image, error) {
	ls, err := ps.sharedLayers(rp, bp.runtime)
	if err != nil {
		return nil, err
	}
	for i, size := range uniq {
		l, err := makeLayer(ps.seed, fmt.Sprintf("%s/%d", key, i), size)
		if err != nil {
			return nil, err
		}
		ls = append(ls, imageLayer{layer: l})
	}
	r := rngFor(ps.seed, "created/"+key)
	created := epoch.Add(time.Duration(r.IntN(365*24*3600)) * time.Second)
	return buildImage(rp.format, arch, key, created, ls)
}

func (ps *pusher) buildIndex(rp *repoPlan, bp buildPlan) (*rawimage.Index, error) {
	arches := []string{"amd64", "arm64"}
	var children []*rawimage.Image
	for i, uniq := range bp.children {
		c, err := ps.buildImage(rp, bp, arches[i], uniq, fmt.Sprintf("%s/%s", bp.key, arches[i]))
		if err != nil {
			return nil, err
		}
		children = append(children, c)
	}
	return buildIndex(rp.format, children, arches[:len(children)])
}
