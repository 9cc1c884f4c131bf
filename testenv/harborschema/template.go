package harborschema

import (
	"fmt"
	"strconv"
	"strings"
)

// A guard keeps template lines for the versions v with since <= v < before
// (before 0: no upper bound).
type guard struct {
	since, before int
}

func (g guard) keeps(version int) bool {
	return version >= g.since && (g.before == 0 || version < g.before)
}

// render returns the lines of the template tmpl that version keeps, with
// {{version}} replaced by version.
//
// A guard is an SQL comment starting with "-- @": one or both of
// "@since N" and "@before N", then optionally ":" and free text. On a line
// that also holds SQL, the guard applies to that line only. On a line of its
// own it opens a block, closed by a line "-- @end"; blocks nest. A guard
// inside another comment ("--   -- @since 40") is plain text. Lines
// without a guard are kept whenever the blocks around them are. Kept lines
// are copied unchanged, guards included (they are comments).
func render(tmpl string, version int) (string, error) {
	var (
		out   strings.Builder
		open  []guard // enclosing blocks, innermost last
		lines = strings.Split(tmpl, "\n")
	)
	for i, line := range lines {
		lineNo := i + 1
		code, directive, hasDirective := strings.Cut(line, "-- @")
		if strings.HasPrefix(strings.TrimSpace(code), "--") {
			hasDirective = false // a guard quoted inside a comment
		}
		if hasDirective && strings.TrimSpace(code) == "" && strings.HasPrefix(directive, "end") {
			if strings.TrimSpace(directive) != "end" {
				return "", fmt.Errorf("schema template line %d: text after @end", lineNo)
			}
			if len(open) == 0 {
				return "", fmt.Errorf("schema template line %d: @end without an open block", lineNo)
			}
			open = open[:len(open)-1]
			continue
		}
		var g guard
		if hasDirective {
			var err error
			if g, err = parseGuard(directive); err != nil {
				return "", fmt.Errorf("schema template line %d: %w", lineNo, err)
			}
		}
		kept := true
		for _, b := range open {
			kept = kept && b.keeps(version)
		}
		if hasDirective && strings.TrimSpace(code) == "" {
			open = append(open, g)
			kept = kept && g.keeps(version)
		} else if hasDirective {
			kept = kept && g.keeps(version)
		}
		if kept {
			out.WriteString(strings.ReplaceAll(line, "{{version}}", strconv.Itoa(version)))
			if i < len(lines)-1 {
				out.WriteByte('\n')
			}
		}
	}
	if len(open) != 0 {
		return "", fmt.Errorf("schema template: %d block(s) without @end", len(open))
	}
	return out.String(), nil
}

// parseGuard parses what follows "-- @": "since N", "before N" or both
// (each but the first with its own "@"), then nothing or ":" and free text.
func parseGuard(directive string) (guard, error) {
	var g guard
	rest := "@" + directive
	for {
		rest = strings.TrimLeft(rest, " ")
		if rest == "" || rest[0] == ':' {
			break
		}
		word, tail, _ := strings.Cut(rest, " ")
		tail = strings.TrimLeft(tail, " ")
		numText, after, _ := strings.Cut(tail, " ")
		numText, colon := strings.CutSuffix(numText, ":")
		n, err := strconv.Atoi(numText)
		if err != nil || n <= 0 {
			return guard{}, fmt.Errorf("guard %q: want a version after %s", "@"+directive, word)
		}
		switch word {
		case "@since":
			if g.since != 0 {
				return guard{}, fmt.Errorf("guard %q: @since twice", "@"+directive)
			}
			g.since = n
		case "@before":
			if g.before != 0 {
				return guard{}, fmt.Errorf("guard %q: @before twice", "@"+directive)
			}
			g.before = n
		default:
			return guard{}, fmt.Errorf("guard %q: unknown word %q (want @since, @before or @end)", "@"+directive, word)
		}
		rest = after
		if colon {
			break
		}
	}
	if g.before != 0 && g.before <= g.since {
		return guard{}, fmt.Errorf("guard %q keeps no version", "@"+directive)
	}
	return g, nil
}
