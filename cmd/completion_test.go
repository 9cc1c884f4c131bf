package cmd_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/harbor-import/harbor-import/cmd"
)

// runHarborImport runs a fresh root command in-process with args and
// returns its standard output, standard error and error.
func runHarborImport(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	c := cmd.NewRootCmd()
	var out, errOut bytes.Buffer
	c.SetOut(&out)
	c.SetErr(&errOut)
	c.SetArgs(args)
	err = c.ExecuteContext(t.Context())
	return out.String(), errOut.String(), err
}

func TestCompletion(t *testing.T) {
	tests := []struct {
		shell   string
		want    []string
		wantErr string
	}{
		{shell: "bash", want: []string{"# bash completion V2 for harbor-import", "__start_harbor-import"}},
		{shell: "zsh", want: []string{"#compdef harbor-import", "_harbor-import"}},
		{shell: "fish", want: []string{"# fish completion for harbor-import", "complete -c harbor-import"}},
		{shell: "powershell", wantErr: `invalid argument "powershell"`},
		{shell: "", wantErr: "accepts 1 arg(s), received 0"},
	}
	for _, tt := range tests {
		t.Run(tt.shell, func(t *testing.T) {
			args := []string{"completion"}
			if tt.shell != "" {
				args = append(args, tt.shell)
			}
			stdout, _, err := runHarborImport(t, args...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("completion %s: error %v, want one containing %q", tt.shell, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("completion %s: %v", tt.shell, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("completion %s output lacks %q", tt.shell, w)
				}
			}
		})
	}
}

func TestMan(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "man1")
	stdout, _, err := runHarborImport(t, "man", dir)
	if err != nil {
		t.Fatalf("man: %v", err)
	}
	if !strings.Contains(stdout, dir) {
		t.Errorf("stdout %q does not name %s", stdout, dir)
	}
	for page, want := range map[string]string{
		"harbor-import.1":            `\fB--harbor-yml\fP`,
		"harbor-import-preflight.1":  "go/no-go",
		"harbor-import-completion.1": "bash",
		"harbor-import-version.1":    "version",
	} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil {
			t.Errorf("page %s: %v", page, err)
			continue
		}
		s := string(b)
		if !strings.Contains(s, `.TH "HARBOR-IMPORT" "1"`) || !strings.Contains(s, want) {
			t.Errorf("page %s: want a .TH HARBOR-IMPORT 1 header and %q; got %.300q", page, want, s)
		}
	}
	if _, _, err := runHarborImport(t, "man"); err == nil {
		t.Error("man without DIR succeeded, want an error")
	}
}

// TestHelpExamples: every command added here documents itself with examples.
func TestHelpExamples(t *testing.T) {
	for _, c := range []string{"preflight", "completion", "man"} {
		t.Run(c, func(t *testing.T) {
			stdout, _, err := runHarborImport(t, c, "--help")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(stdout, "Examples:\n  # ") || !strings.Contains(stdout, "harbor-import "+c) {
				t.Errorf("%s --help lacks examples:\n%s", c, stdout)
			}
		})
	}
	stdout, _, err := runHarborImport(t, "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"--harbor-yml", "preflight", "completion", "man"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("harbor-import --help lacks %q", w)
		}
	}
}

func TestVersionJSON(t *testing.T) {
	c := cmd.NewRootCmd()
	var out bytes.Buffer
	c.SetOut(&out)
	c.SetArgs([]string{"version", "-o", "json"})
	if err := c.Execute(); err != nil {
		t.Fatal(err)
	}
	var v struct {
		Version   string `json:"version"`
		Supported []struct {
			Version  int64  `json:"schema_version"`
			Releases string `json:"harbor_releases"`
		} `json:"supported"`
	}
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	if len(v.Supported) != 30 || v.Supported[0].Version != 30 || v.Supported[0].Releases != "2.0.0–2.0.2" {
		t.Errorf("got %+v, want 30 schemas from 30 (2.0.0–2.0.2)", v.Supported)
	}
}
