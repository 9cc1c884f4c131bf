package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// Target is one goal of the benchmark and whether this run met it.
type Target struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	// Result is PASS, FAIL or n/a (a step it needs did not run).
	Result string `json:"result"`
}

// floors maps an import step to the plain command it is compared with; a
// floor of two steps is their sum.
var floors = map[string][]string{
	stDir:   {stCpAl},
	stDirV:  {stCpAl, stSha},
	stX:     {stCpA},
	stXV:    {stCpA},
	stTar:   {stTarX},
	stTgz:   {stTarXz},
	stPDir:  {stCpAl},
	stPTar:  {stTarX},
	stDry:   {stFind},
	stDryDB: {stFind},
}

// durable maps an import step to its floor followed by sync -f.
var durable = map[string]string{stDir: stCpAlS, stDirV: stCpAlS, stPDir: stCpAlS, stTar: stTarXS, stPTar: stTarXS}

// derive fills floor ratios, speed-ups over skopeo and the DB rows/s of
// the steps that have them.
func (r *runner) derive() {
	sk := r.step(stSkDir)
	for _, m := range r.results.Steps {
		if names, ok := floors[m.Step]; ok {
			var sum float64
			var labels []string
			okAll := true
			for _, n := range names {
				f := r.step(n)
				if f == nil || f.Err != "" || f.Wall == 0 {
					okAll = false
					break
				}
				sum += f.Wall
				labels = append(labels, strings.TrimPrefix(n, "floor: "))
			}
			if okAll && m.Err == "" {
				m.Floor = strings.Join(labels, " + ")
				m.FloorRatio = m.Wall / sum
			}
		}
		if f := r.step(durable[m.Step]); f != nil && f.Err == "" && f.Wall > 0 && m.Err == "" {
			m.DurableRatio = m.Wall / f.Wall
		}
		if sk != nil && sk.Err == "" && m.Err == "" && m.Wall > 0 && (m.Kind == "import" || m.Kind == "dry-run") {
			m.SkopeoX = sk.Wall / m.Wall
		}
	}
}

// targets evaluates the goals.
func (r *runner) targets() {
	r.derive()
	var ts []Target
	add := func(name, want, got string, pass, known bool) {
		res := "n/a"
		if known {
			res = "FAIL"
			if pass {
				res = "PASS"
			}
		}
		ts = append(ts, Target{name, want, got, res})
	}
	ok := func(m *Measure) bool { return m != nil && m.Err == "" && m.Wall > 0 }
	tags := r.c.Info.Tags

	dir, cpal := r.step(stDir), r.step(stCpAl)
	if ok(dir) && ok(cpal) {
		add(fmt.Sprintf("%d tags from a same-filesystem directory", tags), "<= cp -al", fmt.Sprintf("%.2fs vs %.2fs (%.2fx)", dir.Wall, cpal.Wall, dir.Wall/cpal.Wall), dir.Wall <= cpal.Wall, true)
	} else {
		add(fmt.Sprintf("%d tags from a same-filesystem directory", tags), "<= cp -al", "", false, false)
	}
	tar, tarx := r.step(stTar), r.step(stTarX)
	if ok(tar) && ok(tarx) {
		add("from docker.tar (verification always on)", "<= 1.3x tar -xf", fmt.Sprintf("%.2fs vs %.2fs (%.2fx)", tar.Wall, tarx.Wall, tar.Wall/tarx.Wall), tar.Wall <= 1.3*tarx.Wall, true)
	} else {
		add("from docker.tar (verification always on)", "<= 1.3x tar -xf", "", false, false)
	}
	sk := r.step(stSkDir)
	for _, name := range []string{stDir, stTar} {
		m := r.step(name)
		if ok(m) && ok(sk) {
			add(name+" vs skopeo dir+sync", ">= 30x faster", fmt.Sprintf("%.1fx (%.1fs vs %.1fs)", sk.Wall/m.Wall, m.Wall, sk.Wall), sk.Wall/m.Wall >= 30, true)
		} else {
			add(name+" vs skopeo dir+sync", ">= 30x faster", "skopeo not run", false, false)
		}
	}
	var worst *Measure
	for _, m := range r.results.Steps {
		if (m.Kind == "import" || m.Kind == "dry-run") && m.Err == "" && (worst == nil || m.RSSMiB > worst.RSSMiB) {
			worst = m
		}
	}
	if worst != nil {
		add("peak RSS of every harbor-import run", "<= 256 MiB", fmt.Sprintf("max %.0f MiB (%s)", worst.RSSMiB, worst.Step), worst.RSSMiB <= 256, true)
	}
	for _, name := range []string{stDry, stDryDB, stDryHot} {
		m := r.step(name)
		if ok(m) {
			add(fmt.Sprintf("%s, %d tags", name, tags), "<= 3 s", fmt.Sprintf("%.2fs", m.Wall), m.Wall <= 3, true)
		}
	}
	if r.cfg.baseline != "" {
		ts = append(ts, r.scaling()...)
	}
	r.results.Targets = ts
}

// scaling compares this run with a smaller one: at most 2x the memory and
// 12x the time.
func (r *runner) scaling() []Target {
	b, err := os.ReadFile(r.cfg.baseline)
	if err != nil {
		return []Target{{Name: "scaling", Want: "baseline", Got: err.Error(), Result: "n/a"}}
	}
	var base Results
	if err := json.Unmarshal(b, &base); err != nil {
		return []Target{{Name: "scaling", Want: "baseline", Got: err.Error(), Result: "n/a"}}
	}
	baseStep := func(name string) *Measure {
		var bm *Measure
		for _, s := range base.Steps {
			if s.Step == name && s.Err == "" && s.Wall > 0 {
				bm = s
			}
		}
		return bm
	}
	var out []Target
	for _, m := range r.results.Steps {
		if m.Kind != "import" && m.Kind != "dry-run" || m.Err != "" {
			continue
		}
		bm := baseStep(m.Step)
		if bm == nil || bm.RSSMiB == 0 {
			continue
		}
		tr, mr := m.Wall/bm.Wall, m.RSSMiB/bm.RSSMiB
		res := "FAIL"
		if tr <= 12 && mr <= 2 {
			res = "PASS"
		}
		got := fmt.Sprintf("%.1fx time (%.1fs vs %.1fs), %.2fx memory (%.0f vs %.0f MiB)", tr, m.Wall, bm.Wall, mr, m.RSSMiB, bm.RSSMiB)
		got += scaledAlongside(m, bm, r.step, baseStep)
		out = append(out, Target{
			Name:   fmt.Sprintf("%s: %d vs %d tags", m.Step, r.c.Info.Tags, base.Corpus.Tags),
			Want:   "<= 12x time, <= 2x memory",
			Got:    got,
			Result: res,
		})
	}
	return out
}

// scaledAlongside says how the step's CPU time grew between the two runs,
// and how its floors' wall times grew when both runs measured them. Wall
// time alone mixes the work done with where the bytes came from: a small
// corpus is read partly from the host's cache, a large one from the disk,
// so the floors (plain tar, cp, sha256sum on the same data) show how much
// of the growth the hardware sets. CPU time grows with the work alone.
func scaledAlongside(m, bm *Measure, now, before func(string) *Measure) string {
	var parts []string
	if c, bc := m.User+m.Sys, bm.User+bm.Sys; c > 0 && bc > 0 {
		parts = append(parts, fmt.Sprintf("CPU %.1fx (%.1fs vs %.1fs)", c/bc, c, bc))
	}
	for _, n := range floors[m.Step] {
		f, bf := now(n), before(n)
		if f == nil || f.Err != "" || f.Wall == 0 || bf == nil || bf.Err != "" || bf.Wall == 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %.1fx (%.1fs vs %.1fs)", strings.TrimPrefix(n, "floor: "), f.Wall/bf.Wall, f.Wall, bf.Wall))
	}
	if len(parts) == 0 {
		return ""
	}
	return "; alongside: " + strings.Join(parts, ", ")
}

// markdown renders the results.
func (r *runner) markdown() string {
	var b strings.Builder
	ci := r.c.Info
	fmt.Fprintf(&b, "## harbor-import benchmark: %d tags, %d repositories\n\n", ci.Tags, ci.Repositories)
	fmt.Fprintf(&b, "Corpus %s: %d builds (%d multi-arch), %d untagged, %d blobs (%.0f MiB), %d link files; docker.tar %.0f MiB, docker.tar.gz %.0f MiB; generated by real pushes in %.0fs (%d workers), tar %.0fs, tar.gz %.0fs.\n\n",
		r.c.Dir, ci.Builds, ci.Indexes, ci.Untagged, ci.Blobs, float64(ci.BlobBytes)/(1<<20), ci.LinkFiles,
		float64(ci.TarBytes)/(1<<20), float64(ci.TarGzBytes)/(1<<20), ci.PushSeconds, ci.Workers, ci.TarSeconds, ci.TarGzSeconds)
	fmt.Fprintf(&b, "Cold cache: %s. Other filesystem: %s.\n\n", r.results.Cold, orDash(r.results.CrossFS))
	b.WriteString("| step | wall s | peak RSS MiB | CPU s (user+sys) | load1 | floor | x floor | x durable floor | x faster than skopeo dir+sync | rows | DB rows/s | phases (s) | notes |\n")
	b.WriteString("|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|---|\n")
	for _, m := range r.results.Steps {
		status := ""
		if len(m.Runs) > 1 {
			var rs []string
			for _, w := range m.Runs {
				rs = append(rs, fmt.Sprintf("%.2f", w))
			}
			status = fmt.Sprintf(" (fastest of %d runs: %s)", len(m.Runs), strings.Join(rs, ", "))
		}
		if m.Err != "" {
			status += " **FAILED: " + strings.ReplaceAll(m.Err, "|", "/") + "**"
		}
		fmt.Fprintf(&b, "| %s | %.2f | %s | %.2f | %.1f | %s | %s | %s | %s | %s | %s | %s | %s%s |\n",
			m.Step, m.Wall, num(m.RSSMiB, "%.0f"), m.User+m.Sys, m.Load1, orDash(m.Floor), num(m.FloorRatio, "%.2f"), num(m.DurableRatio, "%.2f"),
			num(m.SkopeoX, "%.1f"), num(float64(m.Rows), "%.0f"), num(m.RowsPerS, "%.0f"), phases(m.Phases), strings.ReplaceAll(m.Notes, "|", "/"), status)
	}
	b.WriteString("\nDB rows/s: rows the import wrote / the duration of harbordb.Load, measured in the in-process (profile) runs from the start of the database phase to Load's last statement (it runs while the files are placed). CLI runs have only -v log timestamps: scan, plan+files (until the files are committed), db+verify (the rest: what is left of the row load, COMMIT, the post-import check).\n\n")
	b.WriteString("| target | want | got | result |\n|---|---|---|---|\n")
	for _, t := range r.results.Targets {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", t.Name, t.Want, orDash(t.Got), t.Result)
	}
	if len(r.results.Profiles) > 0 {
		b.WriteString("\nProfiles (go tool pprof -top):\n\n")
		for _, p := range r.results.Profiles {
			fmt.Fprintf(&b, "- %s\n", p)
		}
	}
	return b.String()
}

func num(v float64, format string) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func phases(ps []Phase) string {
	var parts []string
	for _, p := range ps {
		if p.Seconds > 0 {
			parts = append(parts, fmt.Sprintf("%s %.2f", p.Name, p.Seconds))
		}
	}
	return orDash(strings.Join(parts, ", "))
}
