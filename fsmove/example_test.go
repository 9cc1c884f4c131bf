package fsmove_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/harbor-import/harbor-import/fsmove"
	"github.com/harbor-import/harbor-import/internal/regpath"
)

// Example stages a layer from a stream and its layer link, commits both,
// and rolls back as an importer would when its database transaction fails.
func Example() {
	ctx := context.Background()
	root, err := os.MkdirTemp("", "registry-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)

	// On a Harbor host Root is <data_volume>/registry and Owner is left nil
	// (10000:10000); the example runs unprivileged, so it owns the files itself.
	p, err := fsmove.New(ctx, fsmove.Options{
		Root:  root,
		Owner: &fsmove.Owner{UID: os.Getuid(), GID: os.Getgid()},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	layer := "pretend this is a gzipped tar\n"
	d := digest.FromString(layer)
	if _, err := p.StageReader(ctx, d, int64(len(layer)), strings.NewReader(layer)); err != nil {
		log.Fatal(err)
	}
	rel, err := regpath.For(regpath.Spec{Kind: regpath.LayerLink, Repo: "library/app", Digest: d})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := p.StageLink(ctx, rel, d); err != nil {
		log.Fatal(err)
	}

	// Commit places everything staged.
	res, err := p.Commit(ctx, nil)
	if err != nil {
		p.Rollback(ctx)
		log.Fatal(err)
	}
	fmt.Printf("streamed %d, links %d, bytes %d, dirs %d\n", res.Streamed, res.Links, res.Bytes, res.DirsCreated)
	content, _ := os.ReadFile(p.V2Root() + "/" + rel)
	fmt.Println(string(content) == d.String())

	// The database transaction failed: remove what Commit created.
	if err := p.Rollback(ctx); err != nil {
		log.Fatal(err)
	}
	left, _ := os.ReadDir(p.V2Root())
	fmt.Println("left in v2 tree:", len(left))
	// Output:
	// streamed 1, links 1, bytes 30, dirs 10
	// true
	// left in v2 tree: 0
}
