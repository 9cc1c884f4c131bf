package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// skopeo measures the published method: hardlink every tag into a skopeo
// dir: layout and `skopeo sync --src dir --dest docker` into a registry,
// and registry to registry with `skopeo sync --src docker --dest docker`
// (one --src yaml file per destination namespace, since skopeo sync keeps
// only an image's last path component). Registries are bench/cmd/registry
// processes on 127.0.0.1; their own CPU and memory are not counted.
func (r *runner) skopeo(ctx context.Context) []*Measure {
	var out []*Measure
	if _, err := exec.LookPath("skopeo"); err != nil {
		return []*Measure{{Step: stSkSync, Kind: "skopeo", Err: "skopeo not installed (apt-get install -y skopeo)"}}
	}
	version, _ := exec.Command("skopeo", "--version").Output()
	tools := func(name string) string { return filepath.Join(r.cfg.tools, name) }

	// 1. dir: layout by hardlinks.
	layout := filepath.Join(r.work, "skopeo-dir")
	lay := r.floorLike(ctx, stSkLay, tools("skopeodir"), "-storage", r.c.Storage, "-out", layout)
	out = append(out, lay)
	if lay.Err != "" {
		return out
	}

	// 2. sync into an empty registry.
	regDir := filepath.Join(r.work, "skopeo-registry")
	host, stop, err := r.startRegistry(ctx, regDir)
	if err != nil {
		return append(out, &Measure{Step: stSkSync, Kind: "skopeo", Err: err.Error()})
	}
	sync := r.floorLike(ctx, stSkSync, "skopeo", "sync", "--insecure-policy", "--all", "--scoped",
		"--src", "dir", "--dest", "docker", "--dest-tls-verify=false", layout, host)
	stop()
	sync.Kind = "skopeo"
	sync.note("%s; destination holds %d tags", strings.TrimSpace(string(version)), countTags(regDir))
	out = append(out, sync)
	sum := &Measure{Step: stSkDir, Kind: "skopeo", Wall: lay.Wall + sync.Wall, RSSMiB: max(lay.RSSMiB, sync.RSSMiB),
		User: lay.User + sync.User, Sys: lay.Sys + sync.Sys, Load1: sync.Load1, Cold: sync.Cold, Err: sync.Err}
	sum.note("sum of the two steps above: the published offline method")
	out = append(out, sum)
	r.cleanWork()

	// 3. registry to registry.
	srcHost, stopSrc, err := r.startRegistry(ctx, r.c.Storage)
	if err != nil {
		return append(out, &Measure{Step: stSkReg, Kind: "skopeo", Err: err.Error()})
	}
	defer stopSrc()
	regDir = filepath.Join(r.work, "skopeo-registry2")
	dstHost, stopDst, err := r.startRegistry(ctx, regDir)
	if err != nil {
		return append(out, &Measure{Step: stSkReg, Kind: "skopeo", Err: err.Error()})
	}
	script, n, err := r.yamlScript(srcHost, dstHost)
	if err != nil {
		stopDst()
		return append(out, &Measure{Step: stSkReg, Kind: "skopeo", Err: err.Error()})
	}
	reg := r.floorLike(ctx, stSkReg, "sh", "-e", script)
	stopDst()
	reg.Kind = "skopeo"
	reg.note("%d skopeo sync --src yaml runs (one per destination namespace); destination holds %d tags", n, countTags(regDir))
	out = append(out, reg)
	r.cleanWork()
	return out
}

// floorLike times a command with a cold cache, logging to the results directory.
func (r *runner) floorLike(ctx context.Context, step, name string, args ...string) *Measure {
	logf, err := os.Create(filepath.Join(r.out, slug(step)+".log"))
	if err != nil {
		return &Measure{Step: step, Kind: "skopeo", Err: err.Error()}
	}
	defer logf.Close()
	m := r.timed(ctx, step, "skopeo", runOpts{cold: true, stdout: logf, stderr: logf}, name, args...)
	return m
}

// startRegistry runs bench/cmd/registry on dir and returns its address and
// a function that stops it.
func (r *runner) startRegistry(ctx context.Context, dir string) (string, func(), error) {
	cmd := exec.CommandContext(ctx, filepath.Join(r.cfg.tools, "registry"), "-dir", dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("starting registry on %s: %w", dir, err)
	}
	return strings.TrimSpace(line), stop, nil
}

// yamlScript writes one skopeo sync YAML per destination namespace (the
// repository's parent path) and a shell script running them all.
func (r *runner) yamlScript(srcHost, dstHost string) (string, int, error) {
	repos, err := listRepos(r.c.V2())
	if err != nil {
		return "", 0, err
	}
	byParent := map[string][]string{}
	for _, repo := range repos {
		parent := path.Dir(repo)
		if parent == "." {
			parent = ""
		}
		byParent[parent] = append(byParent[parent], repo)
	}
	parents := make([]string, 0, len(byParent))
	for p := range byParent {
		parents = append(parents, p)
	}
	sort.Strings(parents)
	dir := filepath.Join(r.work, "skopeo-yaml")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", 0, err
	}
	var sh strings.Builder
	for i, p := range parents {
		var y strings.Builder
		fmt.Fprintf(&y, "%q:\n  tls-verify: false\n  images:\n", srcHost)
		for _, repo := range byParent[p] {
			fmt.Fprintf(&y, "    %q: []\n", repo)
		}
		file := filepath.Join(dir, fmt.Sprintf("%03d.yaml", i))
		if err := os.WriteFile(file, []byte(y.String()), 0o644); err != nil {
			return "", 0, err
		}
		dest := dstHost
		if p != "" {
			dest += "/" + p
		}
		fmt.Fprintf(&sh, "skopeo sync --insecure-policy --all --src yaml --dest docker --dest-tls-verify=false %s %s\n", file, dest)
	}
	script := filepath.Join(dir, "sync.sh")
	return script, len(parents), os.WriteFile(script, []byte(sh.String()), 0o644)
}

// listRepos returns the repository names of a v2 tree.
func listRepos(v2 string) ([]string, error) {
	root := filepath.Join(v2, "repositories")
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if d.Name() == "_manifests" {
			rel, _ := filepath.Rel(root, filepath.Dir(p))
			out = append(out, filepath.ToSlash(rel))
			return filepath.SkipDir
		}
		if strings.HasPrefix(d.Name(), "_") {
			return filepath.SkipDir
		}
		return nil
	})
	return out, err
}

// countTags counts the current tag links under a registry rootdirectory.
func countTags(rootdir string) int {
	n := 0
	err := filepath.WalkDir(filepath.Join(rootdir, "docker", "registry", "v2", "repositories"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "_layers" || d.Name() == "_uploads" || d.Name() == "revisions" || d.Name() == "index") {
			return filepath.SkipDir
		}
		if !d.IsDir() && d.Name() == "link" && filepath.Base(filepath.Dir(p)) == "current" {
			n++
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return -1
	}
	return n
}
