package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/harbor-import/harbor-import/testenv"
)

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"password hidden", "postgres://postgres:secret@127.0.0.1:5432/registry?sslmode=disable", "postgres://postgres:xxxxx@127.0.0.1:5432/registry?sslmode=disable"},
		{"no password", "postgres://postgres@127.0.0.1:5432/registry", "postgres://postgres@127.0.0.1:5432/registry"},
		{"not a DSN", "/tmp/docker.tar", "/tmp/docker.tar"},
		{"flag", "--db", "--db"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := redact(tc.in); got != tc.want {
				t.Errorf("redact(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestCheckAgainstFixture(t *testing.T) {
	fx := &testenv.Fixture{Images: []testenv.FixtureImage{
		{Repo: "alpine", Tag: "3.19", Digest: "sha256:a"},
		{Repo: "team/web", Tag: "stable", Digest: "sha256:b"},
	}}
	good := []tagRow{
		{Repository: "library/alpine", Tag: "3.19", Digest: "sha256:a"},
		{Repository: "team/web", Tag: "stable", Digest: "sha256:b"},
	}
	for _, tc := range []struct {
		name    string
		tags    []tagRow
		wantErr string
	}{
		{"all there", good, ""},
		{"missing tag", good[:1], "pushed team/web:stable has no tag row"},
		{"wrong digest", []tagRow{good[0], {Repository: "team/web", Tag: "stable", Digest: "sha256:c"}}, "is sha256:c in Harbor, pushed as sha256:b"},
		{"extra tag", append(append([]tagRow{}, good...), tagRow{Repository: "team/x", Tag: "v1", Digest: "sha256:d"}), "Harbor has 3 tags, 2 were pushed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkAgainstFixture(tc.tags, fx)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("got error %v, want none", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("got error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestPrepareWorkdir(t *testing.T) {
	base := t.TempDir()
	fresh := filepath.Join(base, "new")
	if dir, temp, err := prepareWorkdir(fresh); err != nil || dir != fresh || temp {
		t.Errorf("new dir: got %q, temp %v, err %v; want %q, false, nil", dir, temp, err, fresh)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("new dir not created: %v", err)
	}
	if err := os.WriteFile(filepath.Join(fresh, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := prepareWorkdir(fresh); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("non-empty dir: got error %v, want one saying it is not empty", err)
	}
	dir, temp, err := prepareWorkdir("")
	if err != nil || !temp {
		t.Fatalf("temporary dir: got %q, temp %v, err %v", dir, temp, err)
	}
	os.RemoveAll(dir)
}

func TestDiffLines(t *testing.T) {
	got := diffLines([]string{"a", "b", "c"}, []string{"a", "c", "d"}, 10)
	want := []string{"- b", "+ d"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("diffLines = %q, want %q", got, want)
	}
}
