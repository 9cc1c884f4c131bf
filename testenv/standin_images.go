package testenv

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// RedisImage is the local tag of the Redis image EnsureRedisImage builds.
const RedisImage = "harbor-import-test/redis:bookworm"

// RegistryImageRepo is the repository of the registry images
// EnsureRegistryImage builds; the tag is the binary's content hash.
const RegistryImageRepo = "harbor-import-test/registry"

const (
	redisLockPath    = "/tmp/harbor-import-testenv-redis-image.lock"
	registryLockPath = "/tmp/harbor-import-testenv-registry-image.lock"
	redisEntrypoint  = "/usr/local/bin/harbor-import-redis"
	// registryPackage is testenv/cmd/registry, the stand-in's registry command.
	registryPackage = "github.com/harbor-import/harbor-import/testenv/cmd/registry"
)

// redisStart runs redis-server as the redis user, listening on every
// address without persistence: the stand-in's Redis only holds the
// registry's blob descriptor cache.
const redisStart = `#!/bin/sh
# Written by harbor-import's testenv: a throwaway Redis for the stand-in Harbor.
set -eu
mkdir -p /var/lib/redis
chown redis:redis /var/lib/redis
exec setpriv --reuid=redis --regid=redis --init-groups \
	redis-server --bind 0.0.0.0 --port 6379 --protected-mode no \
	--save '' --appendonly no --dir /var/lib/redis --databases 16
`

// EnsureRedisImage makes sure RedisImage exists in the local Docker engine,
// building it offline like the PostgreSQL image (see EnsurePostgresImage):
// debootstrap installs Debian bookworm with redis-server from the mirror
// apt uses, a start script is added, and the tree is imported with `docker
// import`. Builds are serialised with a lock file under /tmp. logf
// receives progress lines; nil discards them. The first build takes
// about 40 s.
func EnsureRedisImage(ctx context.Context, logf func(format string, args ...any)) error {
	return ensureDebianImage(ctx, debianImage{
		ref:      RedisImage,
		lock:     redisLockPath,
		include:  "redis-server",
		check:    "usr/bin/redis-server",
		startAt:  redisEntrypoint,
		start:    redisStart,
		changes:  []string{fmt.Sprintf("CMD [%q]", redisEntrypoint), "EXPOSE 6379/tcp"},
		message:  "harbor-import testenv: debootstrap bookworm redis-server",
		trimming: []string{"var/cache/apt/archives/*.deb", "var/lib/apt/lists/*_*"},
	}, logf)
}

// debianImage describes an image built by debootstrap.
type debianImage struct {
	ref      string   // local tag
	lock     string   // lock file serialising builds
	include  string   // debootstrap --include
	check    string   // a path the packages must have installed
	startAt  string   // where the start script goes
	start    string   // the start script
	changes  []string // docker import changes (CMD, EXPOSE)
	message  string   // docker import commit message
	trimming []string // globs removed from the rootfs
}

func ensureDebianImage(ctx context.Context, img debianImage, logf func(string, ...any)) error {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	cli, err := dockerClient(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	if ok, err := imageExists(ctx, cli, img.ref); err != nil || ok {
		return err
	}
	unlock, err := lockFile(ctx, img.lock)
	if err != nil {
		return fmt.Errorf("locking image build: %w", err)
	}
	defer unlock()
	if ok, err := imageExists(ctx, cli, img.ref); err != nil || ok {
		return err
	}
	return buildDebianImage(ctx, cli, img, logf)
}

func buildDebianImage(ctx context.Context, cli *testcontainers.DockerClient, img debianImage, logf func(string, ...any)) (rerr error) {
	debootstrap, err := findDebootstrap()
	if err != nil {
		return err
	}
	mirror, err := DebianMirror()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "harbor-import-rootfs-")
	if err != nil {
		return fmt.Errorf("creating build directory: %w", err)
	}
	defer func() {
		// debootstrap mounts proc and sys in the target; never delete through a mount.
		if err := unmountUnder(dir); err != nil {
			rerr = errors.Join(rerr, fmt.Errorf("unmounting under %s (left in place): %w", dir, err))
			return
		}
		if err := os.RemoveAll(dir); err != nil {
			rerr = errors.Join(rerr, fmt.Errorf("removing build directory: %w", err))
		}
	}()
	rootfs := filepath.Join(dir, "rootfs")

	start := time.Now()
	logf("testenv: building %s: debootstrap %s with %s from %s", img.ref, debianSuite, img.include, mirror)
	cmd := exec.CommandContext(ctx, debootstrap, "--variant=minbase", "--include="+img.include, debianSuite, rootfs, mirror)
	killGroupOnCancel(cmd)
	if err := runLogged(cmd, logf); err != nil {
		return fmt.Errorf("running debootstrap: %w", err)
	}
	if _, err := os.Stat(filepath.Join(rootfs, img.check)); err != nil {
		return fmt.Errorf("checking debootstrap result: %w", err)
	}
	ep := filepath.Join(rootfs, img.startAt)
	if err := os.MkdirAll(filepath.Dir(ep), 0o755); err != nil {
		return fmt.Errorf("writing start script: %w", err)
	}
	if err := os.WriteFile(ep, []byte(img.start), 0o755); err != nil {
		return fmt.Errorf("writing start script: %w", err)
	}
	for _, pattern := range img.trimming {
		matches, err := filepath.Glob(filepath.Join(rootfs, pattern))
		if err != nil {
			return fmt.Errorf("trimming rootfs: %w", err)
		}
		for _, m := range matches {
			if err := os.RemoveAll(m); err != nil {
				return fmt.Errorf("trimming rootfs: %w", err)
			}
		}
	}
	logf("testenv: debootstrap done in %s; importing into docker", time.Since(start).Round(time.Second))
	if err := unmountUnder(rootfs); err != nil {
		return fmt.Errorf("unmounting under %s: %w", rootfs, err)
	}
	if err := importTree(ctx, cli, rootfs, img); err != nil {
		return err
	}
	logf("testenv: built %s in %s", img.ref, time.Since(start).Round(time.Second))
	return nil
}

// importTree streams `tar -c` of rootfs into the engine's image import.
func importTree(ctx context.Context, cli *testcontainers.DockerClient, rootfs string, img debianImage) (rerr error) {
	tarCmd := exec.CommandContext(ctx, "tar", "-C", rootfs, "--numeric-owner", "-c", ".")
	stdout, err := tarCmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("starting tar: %w", err)
	}
	var tarErr strings.Builder
	tarCmd.Stderr = &tarErr
	if err := tarCmd.Start(); err != nil {
		return fmt.Errorf("starting tar: %w", err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, stdout) // unblock tar if the import stopped reading early
		if err := tarCmd.Wait(); err != nil {
			rerr = errors.Join(rerr, fmt.Errorf("running tar of rootfs: %w: %s", err, strings.TrimSpace(tarErr.String())))
		}
	}()
	res, err := cli.ImageImport(ctx,
		client.ImageImportSource{Source: stdout, SourceName: "-"},
		img.ref,
		client.ImageImportOptions{Message: img.message, Changes: img.changes})
	if err != nil {
		return fmt.Errorf("importing image %s: %w", img.ref, err)
	}
	defer res.Close()
	return readJSONMessages(res)
}

// EnsureRegistryImage builds the stand-in's registry command
// (testenv/cmd/registry) as a static binary (CGO_ENABLED=0, -trimpath) with
// the go command, and makes sure an image holding just that binary exists:
// FROM scratch, user 10000:10000 as Harbor's registry runs, port 5000. The
// image is tagged RegistryImageRepo:<first 16 hex digits of the binary's
// sha256>, so it is built once per machine and again only when the binary
// changes. It returns the image reference.
//
// It needs the go command and this module's source: it runs from the
// directory of this file when that exists (tests), else from the current
// directory.
func EnsureRegistryImage(ctx context.Context, logf func(format string, args ...any)) (string, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	dir, err := os.MkdirTemp("", "harbor-import-registry-build-")
	if err != nil {
		return "", fmt.Errorf("building registry binary: %w", err)
	}
	defer os.RemoveAll(dir)

	bin := filepath.Join(dir, "registry")
	start := time.Now()
	if err := goBuildStatic(ctx, registryPackage, bin); err != nil {
		return "", err
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return "", fmt.Errorf("reading registry binary: %w", err)
	}
	sum := sha256.Sum256(data)
	ref := RegistryImageRepo + ":" + hex.EncodeToString(sum[:])[:16]
	logf("testenv: registry binary built in %s (%d bytes): image %s", time.Since(start).Round(time.Millisecond), len(data), ref)

	cli, err := dockerClient(ctx)
	if err != nil {
		return "", err
	}
	defer cli.Close()
	if ok, err := imageExists(ctx, cli, ref); err != nil || ok {
		return ref, err
	}
	unlock, err := lockFile(ctx, registryLockPath)
	if err != nil {
		return "", fmt.Errorf("locking image build: %w", err)
	}
	defer unlock()
	if ok, err := imageExists(ctx, cli, ref); err != nil || ok {
		return ref, err
	}
	if err := buildScratchImage(ctx, cli, ref, data); err != nil {
		return "", err
	}
	logf("testenv: built %s", ref)
	return ref, nil
}

// goBuildStatic builds pkg into out with CGO_ENABLED=0 and no build
// information that changes between checkouts, so equal sources give equal
// bytes.
func goBuildStatic(ctx context.Context, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, pkg)
	if _, file, _, ok := runtime.Caller(0); ok {
		if fi, err := os.Stat(filepath.Dir(file)); err == nil && fi.IsDir() {
			cmd.Dir = filepath.Dir(file)
		}
	}
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	outb, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("building %s: %w\n%s", pkg, err, outb)
	}
	return nil
}

// registryDockerfile makes the stand-in's registry image: the binary
// alone, run as Harbor's registry user.
const registryDockerfile = `FROM scratch
COPY registry /registry
USER 10000:10000
EXPOSE 5000/tcp
ENTRYPOINT ["/registry"]
CMD ["-addr", ":5000", "-root", "/storage"]
`

// buildScratchImage builds ref from a context of registryDockerfile and
// the binary, with the engine's classic builder (FROM scratch needs no
// pull).
func buildScratchImage(ctx context.Context, cli *testcontainers.DockerClient, ref string, binary []byte) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{
		{"Dockerfile", 0o644, []byte(registryDockerfile)},
		{"registry", 0o755, binary},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: fixtureTime}); err != nil {
			return fmt.Errorf("writing build context: %w", err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return fmt.Errorf("writing build context: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("writing build context: %w", err)
	}
	res, err := cli.ImageBuild(ctx, &buf, client.ImageBuildOptions{
		Tags:        []string{ref},
		Remove:      true,
		ForceRemove: true,
		Labels:      map[string]string{"org.opencontainers.image.title": "harbor-import testenv registry"},
	})
	if err != nil {
		return fmt.Errorf("building image %s: %w", ref, err)
	}
	defer res.Body.Close()
	if err := readJSONMessages(res.Body); err != nil {
		return fmt.Errorf("building image %s: %w", ref, err)
	}
	return nil
}
