package importer

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/distribution/reference"
)

// Harbor's name rules (harbor-facts §8).
var (
	projectRe = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)
	repoRe    = regexp.MustCompile(`^` + reference.NameRegexp.String() + `$`)
	// Since Harbor 2.8 (src/controller/tag/controller.go:40).
	tagRe = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
)

// maxRepoLen: Harbor's registry cannot serve longer names (its Redis
// descriptor cache prefixes "docker.io/" and exceeds 255; harbor-facts §8).
const maxRepoLen = 245

// targetName maps a source repository to Harbor: "team/app/api" stays as it
// is in project "team"; a single-component "alpine" goes to defaultProject.
func targetName(src, defaultProject string) (repo, project string) {
	if i := strings.IndexByte(src, '/'); i >= 0 {
		return src, src[:i]
	}
	return defaultProject + "/" + src, defaultProject
}

func checkProjectName(p string) error {
	if len(p) < 1 || len(p) > 255 || !projectRe.MatchString(p) {
		return fmt.Errorf("project name %q is not valid in Harbor (lowercase letters and digits, separated by single '.', '_' or '-')", p)
	}
	return nil
}

func checkRepoName(r string) error {
	if !repoRe.MatchString(r) {
		return fmt.Errorf("repository name %q is not a valid distribution repository name", r)
	}
	if len(r) > maxRepoLen {
		return fmt.Errorf("repository name %q is %d characters; Harbor's registry cannot serve names longer than %d", r, len(r), maxRepoLen)
	}
	return nil
}

func checkTagName(t string) error {
	if !tagRe.MatchString(t) {
		return fmt.Errorf("tag %q is not valid in Harbor (at most 128 of [A-Za-z0-9_.-], not starting with '.' or '-')", t)
	}
	return nil
}

// matchGlob reports whether name matches pattern, where pattern components
// are path.Match patterns and "**" matches any number of components
// (including none): "team/**" matches "team/app" and "team/a/b".
func matchGlob(pattern, name string) (bool, error) {
	return matchParts(strings.Split(pattern, "/"), strings.Split(name, "/"))
}

func matchParts(pat, name []string) (bool, error) {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(name); i++ {
				ok, err := matchParts(pat[1:], name[i:])
				if ok || err != nil {
					return ok, err
				}
			}
			return false, nil
		}
		if len(name) == 0 {
			return false, nil
		}
		ok, err := path.Match(pat[0], name[0])
		if err != nil {
			return false, fmt.Errorf("bad pattern %q: %w", strings.Join(pat, "/"), err)
		}
		if !ok {
			return false, nil
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0, nil
}

// selector applies --include and --exclude to source repository names.
type selector struct{ include, exclude []string }

func (s selector) validate() error {
	for _, p := range append(append([]string{}, s.include...), s.exclude...) {
		// Every component: matching stops at the first that fails.
		for _, c := range strings.Split(p, "/") {
			if _, err := path.Match(c, ""); err != nil {
				return fmt.Errorf("bad pattern %q: %w", p, err)
			}
		}
	}
	return nil
}

func (s selector) selected(name string) bool {
	in := len(s.include) == 0
	for _, p := range s.include {
		if ok, _ := matchGlob(p, name); ok {
			in = true
			break
		}
	}
	for _, p := range s.exclude {
		if ok, _ := matchGlob(p, name); ok {
			return false
		}
	}
	return in
}
