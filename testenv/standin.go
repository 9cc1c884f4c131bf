package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/harbor-import/harbor-import/testenv/harborschema"
)

// Harbor's registry user and group: the owner of everything under
// data_volume/registry (Harbor's prepare step, DEFAULT_UID/GID).
const (
	harborUID = 10000
	harborGID = 10000
)

// runStandin starts the stand-in: PostgreSQL 15 with Harbor's schema
// (database "registry", as Harbor's harbor-db has it), Redis, and the
// registry of testenv/cmd/registry as 10000:10000 over DataDir/registry,
// on one private network with Harbor's service names as aliases
// (postgresql, redis, registry). PostgreSQL's and the registry's ports are
// published on 127.0.0.1.
func (h *Harbor) runStandin(ctx context.Context, o *harborOptions) error {
	SetTestcontainersEnv()
	if err := EnsurePostgresImage(ctx, o.logf); err != nil {
		return err
	}
	if err := EnsureRedisImage(ctx, o.logf); err != nil {
		return err
	}
	registryImage, err := EnsureRegistryImage(ctx, o.logf)
	if err != nil {
		return err
	}
	if err := h.makeDataDir(o.dataDir); err != nil {
		return err
	}

	nw, err := tcnetwork.New(ctx)
	if err != nil {
		return fmt.Errorf("creating network: %w", err)
	}
	h.network = nw

	o.logf("testenv: standin: starting postgresql, redis and registry on network %s", nw.Name)
	pg, err := RunPostgres(ctx, tcnetwork.WithNetwork([]string{"postgresql"}, nw))
	if pg != nil {
		h.track("postgresql", pg.DockerContainer)
	}
	if err != nil {
		return err
	}
	dsn, err := pg.CreateDatabase(ctx, "registry", "")
	if err != nil {
		return err
	}
	if err := applySchema(ctx, dsn, o.schema); err != nil {
		return err
	}
	h.DSN = dsn

	redis, err := testcontainers.Run(ctx, RedisImage,
		tcnetwork.WithNetwork([]string{"redis"}, nw),
		testcontainers.WithWaitStrategy(wait.ForLog("Ready to accept connections").WithStartupTimeout(o.startup)),
	)
	h.track("redis", redis)
	if err != nil {
		return fmt.Errorf("running redis: %w", err)
	}

	reg, err := testcontainers.Run(ctx, registryImage,
		tcnetwork.WithNetwork([]string{"registry"}, nw),
		publishOnLoopback("5000/tcp"),
		testcontainers.WithCmd("-addr", ":5000", "-root", "/storage", "-redis", "redis:6379", "-redis-db", "1"),
		testcontainers.WithConfigModifier(func(c *container.Config) { c.User = fmt.Sprintf("%d:%d", harborUID, harborGID) }),
		bind(filepath.Join(h.DataDir, "registry"), "/storage"),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/").WithPort("5000/tcp").WithStartupTimeout(o.startup)),
	)
	h.track("registry", reg)
	if err != nil {
		return fmt.Errorf("running registry: %w", err)
	}
	if h.RegistryHost, err = endpoint(ctx, reg, "5000/tcp"); err != nil {
		return err
	}
	h.Insecure = true
	o.logf("testenv: standin ready: registry %s, data %s", h.RegistryHost, h.DataDir)
	return nil
}

// makeDataDir sets h.DataDir to dir, or to a new temporary directory that
// Terminate removes, and creates registry/ in it owned 10000:10000 as
// Harbor's prepare step does.
func (h *Harbor) makeDataDir(dir string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "harbor-import-data-")
		if err != nil {
			return fmt.Errorf("creating data volume: %w", err)
		}
		h.removeDirs = append(h.removeDirs, d)
		// Like /data: core (uid 10000) mounts the whole volume.
		if err := os.Chmod(d, 0o755); err != nil {
			return err
		}
		dir = d
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	h.DataDir = dir
	return mkdirOwned(filepath.Join(dir, "registry"), 0o755, harborUID, harborGID)
}

// mkdirOwned creates dir (and parents) and gives dir itself mode and owner.
func mkdirOwned(dir string, mode os.FileMode, uid, gid int) error {
	if err := os.MkdirAll(dir, mode); err != nil {
		return err
	}
	if err := os.Chmod(dir, mode); err != nil {
		return err
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		return fmt.Errorf("giving %s to %d:%d (run as root): %w", dir, uid, gid, err)
	}
	return nil
}

// applySchema creates Harbor's schema of version in the database at dsn.
func applySchema(ctx context.Context, dsn string, version int) (rerr error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", redactDSN(dsn), err)
	}
	defer func() { rerr = errors.Join(rerr, conn.Close(context.WithoutCancel(ctx))) }()
	return harborschema.Apply(ctx, conn, version)
}

// redactDSN hides the password of a URL DSN.
func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	return "(dsn)"
}

// publishOnLoopback exposes ports and publishes each on a random port of
// 127.0.0.1 only.
func publishOnLoopback(ports ...string) testcontainers.CustomizeRequestOption {
	loopback := netip.MustParseAddr("127.0.0.1")
	return func(req *testcontainers.GenericContainerRequest) error {
		if err := testcontainers.WithExposedPorts(ports...)(req); err != nil {
			return err
		}
		return testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			if hc.PortBindings == nil {
				hc.PortBindings = network.PortMap{}
			}
			for _, p := range ports {
				hc.PortBindings[network.MustParsePort(p)] = []network.PortBinding{{HostIP: loopback, HostPort: "0"}}
			}
		})(req)
	}
}

// publishOnLoopbackAt publishes port on the given port of 127.0.0.1.
func publishOnLoopbackAt(port, hostPort string) testcontainers.CustomizeRequestOption {
	loopback := netip.MustParseAddr("127.0.0.1")
	return func(req *testcontainers.GenericContainerRequest) error {
		if err := testcontainers.WithExposedPorts(port)(req); err != nil {
			return err
		}
		return testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			if hc.PortBindings == nil {
				hc.PortBindings = network.PortMap{}
			}
			hc.PortBindings[network.MustParsePort(port)] = []network.PortBinding{{HostIP: loopback, HostPort: hostPort}}
		})(req)
	}
}

// bind mounts the host path src at dst ("src:dst[:opts]" as docker run -v).
func bind(src, dst string, opts ...string) testcontainers.CustomizeRequestOption {
	spec := src + ":" + dst
	for _, o := range opts {
		spec += ":" + o
	}
	return testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
		hc.Binds = append(hc.Binds, spec)
	})
}

// endpoint returns "host:port" where port is reachable from this host.
func endpoint(ctx context.Context, ctr *testcontainers.DockerContainer, port string) (string, error) {
	host, err := ctr.Host(ctx)
	if err != nil {
		return "", fmt.Errorf("getting container host: %w", err)
	}
	mapped, err := ctr.MappedPort(ctx, port)
	if err != nil {
		return "", fmt.Errorf("getting mapped port %s: %w", port, err)
	}
	return net.JoinHostPort(host, mapped.Port()), nil
}
