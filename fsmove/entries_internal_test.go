package fsmove

import (
	"fmt"
	"slices"
	"testing"
)

// TestEntries: a node's entry list behaves as a map on both sides of the
// switch from slice to map, and rel rebuilds paths from the names.
func TestEntries(t *testing.T) {
	for _, n := range []int{0, 1, smallEntries, smallEntries + 1, 3 * smallEntries} {
		var e entries[int]
		want := map[string]int{}
		for i := range n {
			name := fmt.Sprintf("e%03d", (i*7)%n)
			e.set(name, i)
			want[name] = i
		}
		e.set("e000", -1) // overwrite
		want["e000"] = -1
		if n == 0 {
			delete(want, "e000")
			e.del("e000")
		}
		for i := 0; i < n; i += 3 {
			name := fmt.Sprintf("e%03d", i)
			e.del(name)
			delete(want, name)
		}
		if e.len() != len(want) {
			t.Fatalf("n=%d: len %d, want %d", n, e.len(), len(want))
		}
		for k, v := range want {
			if got, ok := e.get(k); !ok || got != v {
				t.Errorf("n=%d: get(%q) = %d, %v; want %d", n, k, got, ok, v)
			}
		}
		if _, ok := e.get("absent"); ok {
			t.Errorf("n=%d: get(absent) found something", n)
		}
		var names []string
		for k := range want {
			names = append(names, k)
		}
		slices.Sort(names)
		if got := e.sortedNames(); !slices.Equal(got, names) {
			t.Errorf("n=%d: sortedNames = %v, want %v", n, got, names)
		}
		e.each(func(name string, _ int) { e.del(name) }) // deleting while iterating
		if e.len() != 0 {
			t.Errorf("n=%d: %d entries left after deleting each", n, e.len())
		}
	}
	root := newNode(nil, "")
	a := newNode(root, "repositories")
	b := newNode(newNode(a, "team"), "app")
	for n, want := range map[*tnode]string{root: "", a: "repositories", b: "repositories/team/app"} {
		if got := n.rel(); got != want {
			t.Errorf("rel() = %q, want %q", got, want)
		}
	}
}
