package corpus

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
)

// Spec says which corpus to make. Zero values mean the documented defaults.
type Spec struct {
	// Tags is the number of tags in the storage. Default 5000.
	Tags int `json:"tags"`
	// Seed draws every name, size and byte. Default 1.
	Seed uint64 `json:"seed"`
}

func (s Spec) withDefaults() Spec {
	if s.Tags <= 0 {
		s.Tags = 5000
	}
	if s.Seed == 0 {
		s.Seed = 1
	}
	return s
}

// Name is the corpus directory's name under the bench directory.
func (s Spec) Name() string {
	s = s.withDefaults()
	return fmt.Sprintf("corpus-%d-seed%d", s.Tags, s.Seed)
}

// Image formats.
type format int

const (
	formatDocker format = iota
	formatOCI
)

var bases = []string{"debian", "alpine", "ubuntu", "centos", "distroless", "busybox"}

var words = []string{"api", "web", "worker", "gateway", "auth", "billing", "search", "etl", "ui", "cron",
	"report", "notify", "cache", "ingest", "export", "admin", "portal", "sync", "media", "ledger"}

var aliasNames = []string{"latest", "stable", "prod", "qa", "dev", "rc", "edge", "lts"}

// layerRef names a shared layer: base b's layer i (team < 0), or team's runtime layer.
type layerRef struct {
	base, index int
	team        int // >= 0: the team's runtime layer
}

// buildPlan is one image (or index) a repository's tags point at.
type buildPlan struct {
	key     string // unique in the corpus: seeds the bytes
	runtime bool   // includes the team's runtime layer
	// unique layer sizes; for an index, per child.
	uniq     []int
	children [][]int
}

// tagPush is one push: tag → build.
type tagPush struct {
	tag   string
	build int
}

// repoPlan is one repository and its pushes, in order.
type repoPlan struct {
	name   string
	format format
	base   int
	team   int // -1: a library repository
	builds []buildPlan
	pushes []tagPush
	// shared is true for base and runtime repositories, pushed first so
	// that the others can mount their layers.
	shared bool
}

// corpusPlan is every repository of a corpus.
type corpusPlan struct {
	spec  Spec
	teams []string
	// baseLayers[b] are base b's layer sizes; runtimeLayers[t] team t's.
	baseLayers    [][]int
	runtimeLayers []int
	repos         []*repoPlan
}

// seedFor derives a 32-byte seed for key from the corpus seed.
func seedFor(seed uint64, key string) [32]byte {
	h := sha256.New()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	h.Write([]byte(key))
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func rngFor(seed uint64, key string) *rand.Rand {
	s := seedFor(seed, key)
	return rand.New(rand.NewPCG(binary.LittleEndian.Uint64(s[:8]), binary.LittleEndian.Uint64(s[8:16])))
}

// logUniform draws an int in [lo, hi] with a log-uniform distribution.
func logUniform(r *rand.Rand, lo, hi int) int {
	return int(math.Exp(math.Log(float64(lo)) + r.Float64()*(math.Log(float64(hi))-math.Log(float64(lo)))))
}

// newPlan lays out the whole corpus from spec, deterministically.
func newPlan(spec Spec) *corpusPlan {
	spec = spec.withDefaults()
	r := rngFor(spec.Seed, "plan")
	p := &corpusPlan{spec: spec}

	nTeams := min(max(3, spec.Tags/250), 80)
	for i := range nTeams {
		p.teams = append(p.teams, fmt.Sprintf("team-%02d", i+1))
	}
	for range bases {
		n := 1 + r.IntN(2)
		var sizes []int
		for range n {
			sizes = append(sizes, 2<<20+r.IntN(4<<20))
		}
		p.baseLayers = append(p.baseLayers, sizes)
	}
	for range p.teams {
		p.runtimeLayers = append(p.runtimeLayers, 512<<10+r.IntN(1536<<10))
	}

	// Base and runtime repositories: two tags on one digest each.
	for b, name := range bases {
		p.repos = append(p.repos, &repoPlan{
			name: "base/" + name, format: formatDocker, base: b, team: -1, shared: true,
			builds: []buildPlan{{key: "base/" + name}},
			pushes: []tagPush{{"latest", 0}, {"stable", 0}},
		})
	}
	for t, team := range p.teams {
		p.repos = append(p.repos, &repoPlan{
			name: team + "/runtime", format: formatDocker, base: t % len(bases), team: t, shared: true,
			builds: []buildPlan{{key: team + "/runtime", runtime: true}},
			pushes: []tagPush{{"latest", 0}, {"1", 0}},
		})
	}
	special := 2 * (len(bases) + nTeams)
	appTags := spec.Tags - special
	nRepos := max(1, spec.Tags*12/100-len(bases)-nTeams)
	nRepos = min(nRepos, max(1, appTags))

	// Names: unique per corpus.
	seen := map[string]bool{}
	apps := make([]*repoPlan, 0, nRepos)
	for i := 0; len(apps) < nRepos; i++ {
		word := words[r.IntN(len(words))]
		leaf := fmt.Sprintf("%s-%04d", word, i)
		team := r.IntN(nTeams)
		var name string
		switch u := r.Float64(); {
		case u < 0.25:
			name, team = leaf, -1
		case u < 0.80:
			name = p.teams[team] + "/" + leaf
		default:
			name = fmt.Sprintf("%s/group-%d/%s", p.teams[team], r.IntN(8), leaf)
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		f := formatDocker
		if r.Float64() < 0.2 {
			f = formatOCI
		}
		apps = append(apps, &repoPlan{name: name, format: f, base: r.IntN(len(bases)), team: team})
	}

	// Tags per repository: one each, the rest skewed towards a few repositories.
	counts := make([]int, len(apps))
	for i := range counts {
		counts[i] = 1
	}
	for range appTags - len(apps) {
		u := r.Float64()
		counts[int(float64(len(apps))*u*u*u)]++
	}

	for i, rp := range apps {
		rr := rngFor(spec.Seed, "repo/"+rp.name)
		k := counts[i]
		aliases := 0
		if k >= 2 {
			aliases = int(math.Round(float64(k) * 0.12))
			aliases = max(aliases, 1)
		}
		nBuilds := k - aliases
		for b := range nBuilds {
			bp := buildPlan{key: fmt.Sprintf("%s@%d", rp.name, b), runtime: rp.team >= 0 && rr.Float64() < 0.5}
			if rr.Float64() < 0.03 {
				for range 2 {
					bp.children = append(bp.children, []int{logUniform(rr, 4<<10, 512<<10)})
				}
			} else {
				for range 1 + rr.IntN(3) {
					bp.uniq = append(bp.uniq, logUniform(rr, 4<<10, 512<<10))
				}
			}
			rp.builds = append(rp.builds, bp)
		}
		// 2% of repositories: the first tag is first pushed on an older
		// build, then moved: an untagged revision stays behind.
		if rr.Float64() < 0.02 && nBuilds > 0 {
			old := buildPlan{key: rp.name + "@old", uniq: []int{logUniform(rr, 4<<10, 64<<10)}}
			rp.builds = append(rp.builds, old)
			rp.pushes = append(rp.pushes, tagPush{version(0), len(rp.builds) - 1})
		}
		for b := range nBuilds {
			rp.pushes = append(rp.pushes, tagPush{version(b), b})
		}
		for a := range aliases {
			name := fmt.Sprintf("alias-%d", a)
			if a < len(aliasNames) {
				name = aliasNames[a]
			}
			target := nBuilds - 1
			if a > 0 {
				target = rr.IntN(nBuilds)
			}
			rp.pushes = append(rp.pushes, tagPush{name, target})
		}
	}
	p.repos = append(p.repos, apps...)
	return p
}

// version is build b's version tag: 1.0.0, 1.0.1, ... 1.0.9, 1.1.0, ...
func version(b int) string {
	return fmt.Sprintf("%d.%d.%d", 1+b/100, (b/10)%10, b%10)
}

// counts returns the plan's tags, builds and indexes.
func (p *corpusPlan) counts() (tags, builds, indexes, untagged int) {
	for _, rp := range p.repos {
		ts := map[string]bool{}
		for _, ps := range rp.pushes {
			ts[ps.tag] = true
		}
		tags += len(ts)
		builds += len(rp.builds)
		for _, b := range rp.builds {
			if len(b.children) > 0 {
				indexes++
			}
		}
		untagged += len(rp.pushes) - len(ts)
	}
	return
}
