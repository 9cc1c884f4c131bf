package harborschema

import (
	"strconv"
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	const tmpl = `CREATE TABLE t (
    a int,
    b int,  -- @since 40: added by mig 0040
    c int,  -- @before 40
    -- @since 80 @before 110: a block
    d int,
    e int,  -- @since 90
    -- @end
    f int   -- @since 110
);
--   -- @since N: a guard quoted in a comment is text
INSERT INTO v VALUES ({{version}});`
	for version, want := range map[int][]string{
		30:  {"a", "c"},
		40:  {"a", "b"},
		80:  {"a", "b", "d"},
		90:  {"a", "b", "d", "e"},
		110: {"a", "b", "f"},
	} {
		got, err := render(tmpl, version)
		if err != nil {
			t.Fatalf("render(%d): %v", version, err)
		}
		var cols []string
		for _, line := range strings.Split(got, "\n") {
			if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], "int") {
				cols = append(cols, f[0])
			}
		}
		if strings.Join(cols, " ") != strings.Join(want, " ") {
			t.Errorf("render(%d) kept columns %v, want %v\n%s", version, cols, want, got)
		}
		if !strings.Contains(got, "VALUES ("+strconv.Itoa(version)+");") {
			t.Errorf("render(%d) did not replace {{version}}:\n%s", version, got)
		}
		if !strings.Contains(got, "quoted in a comment") {
			t.Errorf("render(%d) dropped a comment line", version)
		}
	}
}

func TestRenderErrors(t *testing.T) {
	for name, tmpl := range map[string]string{
		"unclosed block":  "-- @since 40\nx\n",
		"stray end":       "x\n-- @end\n",
		"text after end":  "-- @since 40\n-- @end now\n",
		"unknown word":    "x -- @from 40\n",
		"missing version": "x -- @since\n",
		"bad version":     "x -- @since forty\n",
		"text without :":  "x -- @since 40 mig 0040\n",
		"since twice":     "x -- @since 40 @since 50\n",
		"empty range":     "x -- @since 50 @before 50\n",
	} {
		if _, err := render(tmpl, 100); err == nil {
			t.Errorf("%s: render accepted %q", name, tmpl)
		}
	}
}

// TestTemplateGuards checks that every guard of schema.sql names a version
// this package creates, so no change is dated between two versions.
func TestTemplateGuards(t *testing.T) {
	for i, line := range strings.Split(schemaTemplate, "\n") {
		code, directive, ok := strings.Cut(line, "-- @")
		if !ok || strings.HasPrefix(strings.TrimSpace(code), "--") || strings.HasPrefix(directive, "end") {
			continue
		}
		g, err := parseGuard(directive)
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		for _, v := range []int{g.since, g.before} {
			if v != 0 && ReleaseOf(v) == "" {
				t.Errorf("line %d: guard names version %d, which Versions does not list", i+1, v)
			}
		}
	}
}
