// Command skopeodir lays a registry storage out as skopeo `dir:` images,
// one directory per tag, hardlinking every blob (the published way to feed
// `skopeo sync --src dir` from an offline registry's files):
//
//	OUT/<repository>:<tag>/version              "Directory Transport Version: 1.1\n"
//	OUT/<repository>:<tag>/manifest.json        the tag's manifest
//	OUT/<repository>:<tag>/<hex>                config and layers
//	OUT/<repository>:<tag>/<hex>.manifest.json  an index's child manifests (and their blobs)
//
//	skopeodir -storage /var/lib/registry -out /var/tmp/skopeo-dir
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/harbor-import/harbor-import/internal/regpath"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "skopeodir:", err)
		os.Exit(1)
	}
}

func run() error {
	storage := flag.String("storage", "", "the registry's rootdirectory (holds docker/registry/v2)")
	out := flag.String("out", "", "output directory (created; must not exist)")
	flag.Parse()
	if *storage == "" || *out == "" {
		return errors.New("-storage and -out are required")
	}
	v2 := filepath.Join(*storage, "docker", "registry", "v2")
	if err := os.Mkdir(*out, 0o755); err != nil {
		return err
	}
	l := &layouter{v2: v2}
	repos := filepath.Join(v2, "repositories")
	n := 0
	err := filepath.WalkDir(repos, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "_layers", "_uploads", "index", "revisions":
				return filepath.SkipDir
			}
			return nil
		}
		if d.Name() != "link" {
			return nil
		}
		spec, err := regpath.Parse(filepath.ToSlash(p[len(v2)+1:]))
		if err != nil || spec.Kind != regpath.TagCurrentLink {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		dg, err := regpath.ParseLink(b)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		n++
		return l.image(filepath.Join(*out, filepath.FromSlash(spec.Repo)+":"+spec.Tag), dg)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "skopeodir: %d images, %d hardlinks\n", n, l.links)
	return nil
}

type layouter struct {
	v2    string
	links int
}

func (l *layouter) blob(d digest.Digest) (string, error) {
	rel, err := regpath.For(regpath.Spec{Kind: regpath.BlobData, Digest: d})
	return filepath.Join(l.v2, filepath.FromSlash(rel)), err
}

func (l *layouter) link(d digest.Digest, dst string) error {
	src, err := l.blob(d)
	if err != nil {
		return err
	}
	if err := os.Link(src, dst); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	l.links++
	return nil
}

type manifest struct {
	MediaType string `json:"mediaType"`
	Config    struct {
		Digest digest.Digest `json:"digest"`
	} `json:"config"`
	Layers []struct {
		Digest    digest.Digest `json:"digest"`
		MediaType string        `json:"mediaType"`
	} `json:"layers"`
	Manifests []struct {
		Digest digest.Digest `json:"digest"`
	} `json:"manifests"`
}

// image writes one tag's directory.
func (l *layouter) image(dir string, d digest.Digest) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "version"), []byte("Directory Transport Version: 1.1\n"), 0o644); err != nil {
		return err
	}
	if err := l.link(d, filepath.Join(dir, "manifest.json")); err != nil {
		return err
	}
	m, err := l.read(d)
	if err != nil {
		return err
	}
	if len(m.Manifests) > 0 {
		for _, c := range m.Manifests {
			if err := l.link(c.Digest, filepath.Join(dir, c.Digest.Encoded()+".manifest.json")); err != nil {
				return err
			}
			cm, err := l.read(c.Digest)
			if err != nil {
				return err
			}
			if err := l.blobs(dir, cm); err != nil {
				return err
			}
		}
		return nil
	}
	return l.blobs(dir, m)
}

func (l *layouter) blobs(dir string, m *manifest) error {
	if err := l.link(m.Config.Digest, filepath.Join(dir, m.Config.Digest.Encoded())); err != nil {
		return err
	}
	for _, ly := range m.Layers {
		if strings.Contains(ly.MediaType, "foreign") {
			continue
		}
		if err := l.link(ly.Digest, filepath.Join(dir, ly.Digest.Encoded())); err != nil {
			return err
		}
	}
	return nil
}

func (l *layouter) read(d digest.Digest) (*manifest, error) {
	p, err := l.blob(d)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", d, err)
	}
	return &m, nil
}
