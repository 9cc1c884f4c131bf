package testenv

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestMirrorFromApt(t *testing.T) {
	const deb822 = `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.example.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.example.org/debian-security
Suites: bookworm-security
Components: main
`
	tests := []struct {
		name  string
		files map[string]string // relative to the apt dir
		want  string            // "" means ErrNoMirror
	}{
		{"deb822", map[string]string{"sources.list.d/debian.sources": deb822}, "http://deb.example.org/debian"},
		{"deb822 security only", map[string]string{"sources.list.d/sec.sources": "Types: deb\nURIs: http://sec.example.org/\nSuites: bookworm-security\n"}, ""},
		{"deb822 disabled", map[string]string{"sources.list.d/d.sources": "Enabled: no\nTypes: deb\nURIs: http://off.example.org/\nSuites: bookworm\n"}, ""},
		{"deb822 deb-src only", map[string]string{"sources.list.d/d.sources": "Types: deb-src\nURIs: http://src.example.org/\nSuites: bookworm\n"}, ""},
		{"deb822 continuation", map[string]string{"sources.list.d/d.sources": "Types: deb\nURIs:\n http://a.example.org/debian\n http://b.example.org/debian\nSuites: bookworm\n"}, "http://a.example.org/debian"},
		{"one-line", map[string]string{"sources.list": "# comment\ndeb http://one.example.org/debian bookworm main\n"}, "http://one.example.org/debian"},
		{"one-line options", map[string]string{"sources.list": "deb [arch=amd64 signed-by=/k.gpg] http://opt.example.org/debian bookworm main\n"}, "http://opt.example.org/debian"},
		{"one-line other suite", map[string]string{"sources.list": "deb https://packages.example.com/apt cloud-sdk-bookworm main\n"}, ""},
		{"list file", map[string]string{"sources.list.d/x.list": "deb http://list.example.org/debian bookworm main\n"}, "http://list.example.org/debian"},
		{"disabled list file ignored", map[string]string{"sources.list.d/x.list.disabled": "deb http://no.example.org/debian bookworm main\n"}, ""},
		{"deb822 before one-line", map[string]string{
			"sources.list":                  "deb http://one.example.org/debian bookworm main\n",
			"sources.list.d/debian.sources": deb822,
		}, "http://deb.example.org/debian"},
		{"nothing", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "sources.list.d"), 0o755); err != nil {
				t.Fatal(err)
			}
			for name, text := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := mirrorFromApt(dir)
			if tt.want == "" {
				if !errors.Is(err, ErrNoMirror) {
					t.Errorf("got %q, %v; want ErrNoMirror", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
