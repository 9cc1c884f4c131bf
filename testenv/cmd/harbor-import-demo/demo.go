package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/harbor-import/harbor-import/testenv"
	"github.com/harbor-import/harbor-import/testenv/harborschema"
	"github.com/jackc/pgx/v5"
)

const (
	// schemaVersion is Harbor 2.15's schema_migrations version.
	schemaVersion = 180
	// fixtureSeed makes the example's digests the same on every run.
	fixtureSeed = 1
	// defaultProject receives single-component names, as harbor-import's default.
	defaultProject = "library"
	// totalSteps is the number of numbered steps run prints.
	totalSteps = 7
)

// demo holds what run started, so cleanup can stop it.
type demo struct {
	cfg config
	out io.Writer

	bin      string // absolute path of harbor-import
	work     string
	tempWork bool // work was created by the demo and is removed
	step     int

	pg     *testenv.PostgresContainer
	conn   *pgx.Conn
	dsn    string
	harbor *testenv.Registry // serves the Harbor storage
}

func (d *demo) printf(format string, args ...any) { fmt.Fprintf(d.out, format, args...) }

// header prints the next numbered step.
func (d *demo) header(format string, args ...any) {
	d.step++
	d.printf("\n==> [%d/%d] %s\n", d.step, totalSteps, fmt.Sprintf(format, args...))
}

func (d *demo) run(ctx context.Context) error {
	bin, err := findBinary(d.cfg.bin)
	if err != nil {
		return err
	}
	d.bin = bin
	if err := testenv.DockerAvailable(ctx); err != nil {
		return fmt.Errorf("docker is not available: %w\n\n"+
			"The demo runs a throwaway PostgreSQL 15 in Docker (harbor-import itself does not need Docker).\n"+
			"Install and start Docker (Debian: apt-get install docker.io && systemctl start docker),\n"+
			"make sure this user may use it, then run `make demo` again", err)
	}
	d.work, d.tempWork, err = prepareWorkdir(d.cfg.workdir)
	if err != nil {
		return err
	}
	d.printf("harbor-import-demo: binary %s, work directory %s\n", d.bin, d.work)
	version, err := exec.CommandContext(ctx, d.bin, "version").CombinedOutput()
	if err != nil {
		return fmt.Errorf("running %s version: %w: %s", d.bin, err, version)
	}
	d.printf("%s", version)

	var (
		source  = filepath.Join(d.work, "source")      // the offline registry's rootdirectory
		tarball = filepath.Join(d.work, "docker.tar")  // what the user copies to the Harbor host
		data    = filepath.Join(d.work, "harbor-data") // Harbor's data_volume
	)
	fx, err := d.push(ctx, source, tarball)
	if err != nil {
		return err
	}
	before, err := d.startHarborDB(ctx)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(data, "registry"), 0o755); err != nil {
		return fmt.Errorf("creating the Harbor data volume: %w", err)
	}

	importArgs := []string{"--src", tarball, "--harbor-data", data, "--db", d.dsn}
	if os.Geteuid() != 0 {
		// Only root may give files to Harbor's uid 10000.
		owner := fmt.Sprintf("%d:%d", os.Geteuid(), os.Getegid())
		importArgs = append(importArgs, "--owner", owner)
		d.printf("note: not running as root, so files are owned by %s instead of Harbor's 10000:10000\n", owner)
	}
	d.header("Importing docker.tar into the Harbor data volume and database")
	if err := d.harborImport(ctx, importArgs); err != nil {
		return err
	}

	d.header("Importing again: nothing may change")
	if err := d.importAgain(ctx, importArgs, filepath.Join(data, "registry")); err != nil {
		return err
	}

	d.header("Serving the Harbor storage with a registry and pulling every tag by digest")
	if err := d.pullAll(ctx, filepath.Join(data, "registry"), fx); err != nil {
		return err
	}

	d.header("Summary")
	return d.summary(ctx, before, fx)
}

// findBinary resolves the harbor-import binary to an absolute path.
func findBinary(bin string) (string, error) {
	p := bin
	if !strings.ContainsRune(bin, filepath.Separator) {
		lp, err := exec.LookPath(bin)
		if err != nil {
			return "", fmt.Errorf("no harbor-import binary %q: run `make build` first (make demo does): %w", bin, err)
		}
		p = lp
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("no harbor-import binary at %s: run `make build` first (make demo does)", bin)
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("%s is not an executable file", abs)
	}
	return abs, nil
}

// push fills a registry storage by real pushes and packs it as a user would.
func (d *demo) push(ctx context.Context, source, tarball string) (*testenv.Fixture, error) {
	d.header("Pushing the example images into an offline Docker Registry (storage %s)", source)
	if err := os.MkdirAll(source, 0o755); err != nil {
		return nil, err
	}
	reg, err := testenv.StartRegistry(ctx, source)
	if err != nil {
		return nil, err
	}
	fx, err := testenv.PushClassic(ctx, reg.Host(), fixtureSeed)
	if cerr := reg.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("stopping the source registry: %w", cerr)
	}
	if err != nil {
		return nil, err
	}
	for _, im := range fx.Images {
		kind := mediaKind(im.MediaType)
		if len(im.Children) > 0 {
			kind += fmt.Sprintf(", %d children", len(im.Children))
		}
		d.printf("  pushed %-22s %s  %s\n", im.Repo+":"+im.Tag, short(im.Digest), kind)
	}
	for _, u := range fx.Untagged {
		d.printf("  untagged %s (its tag was pushed again with other content)\n", shortRef(u))
	}

	d.header("Packing the storage as a user would: (cd %s && tar -cpf %s docker)", source, tarball)
	if err := testenv.TarStorage(ctx, source, tarball); err != nil {
		return nil, err
	}
	fi, err := os.Stat(tarball)
	if err != nil {
		return nil, err
	}
	d.printf("  %s: %d bytes\n", tarball, fi.Size())
	return fx, nil
}

// startHarborDB starts PostgreSQL, creates database "registry" with Harbor's
// schema, and returns its row counts before the import.
func (d *demo) startHarborDB(ctx context.Context) (map[string]int64, error) {
	d.header("Starting a throwaway PostgreSQL 15 with a fresh Harbor 2.15 database (schema %d)", schemaVersion)
	logf := func(format string, args ...any) { d.printf("  "+format+"\n", args...) }
	if err := testenv.EnsurePostgresImage(ctx, logf); err != nil {
		if errors.Is(err, testenv.ErrDebootstrapMissing) {
			return nil, fmt.Errorf("%w (or `make deps`): the first run builds the PostgreSQL image with debootstrap", err)
		}
		return nil, fmt.Errorf("building the PostgreSQL image %s: %w", testenv.PostgresImage, err)
	}
	pg, err := testenv.RunPostgres(ctx)
	d.pg = pg
	if err != nil {
		return nil, err
	}
	d.printf("  container %s from %s\n", short(pg.GetContainerID()), testenv.PostgresImage)
	d.dsn, err = pg.CreateDatabase(ctx, "registry", "")
	if err != nil {
		return nil, err
	}
	d.conn, err = pgx.Connect(ctx, d.dsn)
	if err != nil {
		return nil, fmt.Errorf("connecting to the test database: %w", err)
	}
	if err := harborschema.Apply(ctx, d.conn, schemaVersion); err != nil {
		return nil, err
	}
	d.printf("  database %s: Harbor schema %d with project library, as a fresh install has it\n", redact(d.dsn), schemaVersion)
	return rowCounts(ctx, d.conn)
}

// harborImport runs the binary with args, its output going to ours.
func (d *demo) harborImport(ctx context.Context, args []string) error {
	shown := make([]string, len(args))
	for i, a := range args {
		shown[i] = redact(a)
	}
	d.printf("$ %s %s\n", d.bin, strings.Join(shown, " "))
	cmd := exec.CommandContext(ctx, d.bin, args...)
	cmd.Stdout, cmd.Stderr = d.out, os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("harbor-import failed: %w", err)
	}
	d.printf("(harbor-import exited 0 in %s)\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// importAgain runs the same import and checks that neither the database
// nor the storage changed.
func (d *demo) importAgain(ctx context.Context, args []string, registryRoot string) error {
	dbBefore, err := dumpTables(ctx, d.conn)
	if err != nil {
		return err
	}
	filesBefore, err := treeState(registryRoot)
	if err != nil {
		return err
	}
	if err := d.harborImport(ctx, args); err != nil {
		return err
	}
	dbAfter, err := dumpTables(ctx, d.conn)
	if err != nil {
		return err
	}
	filesAfter, err := treeState(registryRoot)
	if err != nil {
		return err
	}
	var changed []string
	rows := 0
	for _, t := range dumpedTables {
		rows += len(dbBefore[t])
		if !slices.Equal(dbBefore[t], dbAfter[t]) {
			changed = append(changed, fmt.Sprintf("table %s (%d rows before, %d after)", t, len(dbBefore[t]), len(dbAfter[t])))
		}
	}
	if !slices.Equal(filesBefore, filesAfter) {
		changed = append(changed, fmt.Sprintf("files under %s:\n    %s", registryRoot, strings.Join(diffLines(filesBefore, filesAfter, 10), "\n    ")))
	}
	left, err := leftovers(registryRoot)
	if err != nil {
		return err
	}
	if len(left) > 0 {
		changed = append(changed, fmt.Sprintf("temporary files left in staging: %s", strings.Join(left, ", ")))
	}
	if len(changed) > 0 {
		return fmt.Errorf("the second import changed:\n  %s", strings.Join(changed, "\n  "))
	}
	d.printf("  unchanged: %d rows in %d tables; %d files and directories of the storage (path, size, mode, owner, inode, mtime)\n",
		rows, len(dumpedTables), len(filesBefore))
	return nil
}

// diffLines returns up to max lines that are only in a ("- ") or only in b ("+ ").
func diffLines(a, b []string, max int) []string {
	inA, inB := map[string]bool{}, map[string]bool{}
	for _, l := range a {
		inA[l] = true
	}
	for _, l := range b {
		inB[l] = true
	}
	var out []string
	for _, l := range a {
		if !inB[l] {
			out = append(out, "- "+l)
		}
	}
	for _, l := range b {
		if !inA[l] {
			out = append(out, "+ "+l)
		}
	}
	if len(out) > max {
		out = append(out[:max], fmt.Sprintf("... and %d more", len(out)-max))
	}
	return out
}

// pullAll serves the Harbor storage and pulls every tag row by digest.
func (d *demo) pullAll(ctx context.Context, registryRoot string, fx *testenv.Fixture) error {
	reg, err := testenv.StartRegistry(ctx, registryRoot)
	if err != nil {
		return err
	}
	d.harbor = reg
	tags, err := tagRows(ctx, d.conn)
	if err != nil {
		return err
	}
	d.printf("  registry on %s over %s\n", reg.Host(), reg.V2Dir())
	for _, t := range tags {
		if err := testenv.PullAndVerify(ctx, reg.Host(), t.Repository, t.Digest, t.Digest); err != nil {
			return fmt.Errorf("pulling %s:%s by digest: %w", t.Repository, t.Tag, err)
		}
		kind := mediaKind(t.MediaType)
		if t.Children > 0 {
			kind += fmt.Sprintf(", %d children pulled too", t.Children)
		}
		d.printf("  OK %-30s %s  %s\n", t.Repository+":"+t.Tag, short(t.Digest), kind)
	}
	return checkAgainstFixture(tags, fx)
}

// checkAgainstFixture compares Harbor's tags with what was pushed: every
// pushed tag, under its Harbor name, on the same digest, and nothing else.
func checkAgainstFixture(tags []tagRow, fx *testenv.Fixture) error {
	got := map[string]string{}
	for _, t := range tags {
		got[t.Repository+":"+t.Tag] = t.Digest
	}
	var problems []string
	for _, im := range fx.Images {
		ref := harborRepo(im.Repo) + ":" + im.Tag
		switch dg, ok := got[ref]; {
		case !ok:
			problems = append(problems, "pushed "+ref+" has no tag row in Harbor")
		case dg != im.Digest:
			problems = append(problems, fmt.Sprintf("%s is %s in Harbor, pushed as %s", ref, dg, im.Digest))
		}
	}
	if len(tags) != len(fx.Images) {
		problems = append(problems, fmt.Sprintf("Harbor has %d tags, %d were pushed", len(tags), len(fx.Images)))
	}
	if len(problems) > 0 {
		return fmt.Errorf("Harbor's tags differ from the pushed ones:\n  %s", strings.Join(problems, "\n  "))
	}
	return nil
}

// summary prints rows per table and quota usage, and checks that untagged
// manifests were left out.
func (d *demo) summary(ctx context.Context, before map[string]int64, fx *testenv.Fixture) error {
	after, err := rowCounts(ctx, d.conn)
	if err != nil {
		return err
	}
	d.printf("  %-20s %8s %8s\n", "table", "before", "after")
	for _, t := range countedTables {
		d.printf("  %-20s %8d %8d\n", t, before[t], after[t])
	}
	quotas, err := quotaRows(ctx, d.conn)
	if err != nil {
		return err
	}
	d.printf("\n  %-20s %12s %12s\n", "project", "quota used", "quota limit")
	for _, q := range quotas {
		d.printf("  %-20s %12d %12d\n", q.Project, q.Used, q.Hard)
	}
	for _, u := range fx.Untagged {
		repo, dg, _ := strings.Cut(u, "@")
		n, err := artifactCount(ctx, d.conn, harborRepo(repo), dg)
		if err != nil {
			return err
		}
		if n != 0 {
			return fmt.Errorf("untagged %s was imported as an artifact; untagged manifests must be skipped", u)
		}
		d.printf("\n  untagged %s was not imported (Harbor's garbage collection would delete it)\n", shortRef(u))
	}
	if d.cfg.keep {
		d.printf("\n  --keep: the database stays at %s\n", d.dsn)
		d.printf("  psql %q\n", d.dsn)
		d.printf("  remove it with: docker rm -f %s\n", d.pg.GetContainerID())
		d.printf("  files stay in %s (source/, docker.tar, harbor-data/)\n", d.work)
	}
	return nil
}

// cleanup stops what run started; with --keep it leaves the container and files.
func (d *demo) cleanup() error {
	var errs []error
	if d.harbor != nil {
		errs = append(errs, d.harbor.Close())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if d.conn != nil {
		errs = append(errs, d.conn.Close(ctx))
	}
	if d.cfg.keep {
		if d.pg != nil {
			fmt.Fprintf(os.Stderr, "harbor-import-demo: --keep: container %s left running (docker rm -f %[1]s)\n", d.pg.GetContainerID())
		}
		return errors.Join(errs...)
	}
	if d.pg != nil {
		if err := d.pg.Terminate(ctx); err != nil {
			errs = append(errs, fmt.Errorf("removing the PostgreSQL container: %w", err))
		}
	}
	if d.tempWork && d.work != "" {
		if err := os.RemoveAll(d.work); err != nil {
			errs = append(errs, fmt.Errorf("removing the work directory: %w", err))
		}
	}
	return errors.Join(errs...)
}

// harborRepo is the Harbor repository of a source repository, as
// harbor-import maps it with the default --default-project.
func harborRepo(src string) string {
	if strings.Contains(src, "/") {
		return src
	}
	return defaultProject + "/" + src
}

// redact hides the password of a DSN for display.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// short abbreviates a digest or container id for display.
func short(s string) string {
	if alg, hex, ok := strings.Cut(s, ":"); ok && len(hex) > 12 {
		return alg + ":" + hex[:12]
	}
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func shortRef(repoAtDigest string) string {
	repo, dg, _ := strings.Cut(repoAtDigest, "@")
	return repo + "@" + short(dg)
}

func mediaKind(mt string) string {
	switch mt {
	case "application/vnd.docker.distribution.manifest.v2+json":
		return "Docker image (schema 2)"
	case "application/vnd.docker.distribution.manifest.list.v2+json":
		return "Docker manifest list"
	case "application/vnd.oci.image.manifest.v1+json":
		return "OCI image"
	case "application/vnd.oci.image.index.v1+json":
		return "OCI index"
	}
	return mt
}
