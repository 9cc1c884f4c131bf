package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
)

const (
	// PostgresUser is the superuser of the test cluster.
	PostgresUser = "postgres"
	// PostgresPassword is PostgresUser's password.
	PostgresPassword = "postgres"

	postgresPort = "5432/tcp"
	// postgresStartup bounds initdb plus start-up; a cold start takes 2-3 s.
	postgresStartup = 60 * time.Second
)

// PostgresContainer is a running PostgreSQL 15 started by RunPostgres.
// Terminate removes it.
type PostgresContainer struct {
	*testcontainers.DockerContainer
	host string
	port string
}

// RunPostgres starts a PostgreSQL 15 container from PostgresImage (building
// the image first if needed, see EnsurePostgresImage) with port 5432
// published on a random port of 127.0.0.1, and waits until `SELECT 1`
// succeeds over that port. opts customise the request as for
// testcontainers.Run and are applied after the defaults.
//
// The container is returned even with an error, so callers clean up first:
//
//	ctr, err := testenv.RunPostgres(ctx)
//	testcontainers.CleanupContainer(t, ctr)
//	if err != nil { ... }
func RunPostgres(ctx context.Context, opts ...testcontainers.ContainerCustomizer) (*PostgresContainer, error) {
	SetTestcontainersEnv()
	if err := EnsurePostgresImage(ctx, nil); err != nil {
		return nil, err
	}

	loopback := netip.MustParseAddr("127.0.0.1")
	port := network.MustParsePort(postgresPort)
	moduleOpts := []testcontainers.ContainerCustomizer{
		testcontainers.WithExposedPorts(postgresPort),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			if hc.PortBindings == nil {
				hc.PortBindings = network.PortMap{}
			}
			hc.PortBindings[port] = []network.PortBinding{{HostIP: loopback, HostPort: "0"}}
			// The cluster lives in memory, as the throwaway it is, not in
			// the container's layer: Docker's fuse-overlayfs driver (used
			// where the kernel's overlayfs is not) serves that through
			// FUSE, and PostgreSQL's writes then cost a round trip each
			// through a user-space daemon (Harbor keeps its database in a
			// bind mount, /data/database).
			if hc.Tmpfs == nil {
				hc.Tmpfs = map[string]string{}
			}
			hc.Tmpfs[pgdataPath] = "rw,mode=0700"
		}),
		// Fast shutdown: SIGTERM would wait for every client to disconnect.
		testcontainers.WithConfigModifier(func(c *container.Config) { c.StopSignal = "SIGINT" }),
		testcontainers.WithWaitStrategy(&sqlReady{timeout: postgresStartup}),
	}

	ctr, err := testcontainers.Run(ctx, PostgresImage, append(moduleOpts, opts...)...)
	var c *PostgresContainer
	if ctr != nil {
		c = &PostgresContainer{DockerContainer: ctr}
	}
	if err != nil {
		return c, fmt.Errorf("running postgres: %w", err)
	}

	host, err := ctr.Host(ctx)
	if err != nil {
		return c, fmt.Errorf("getting postgres host: %w", err)
	}
	mapped, err := ctr.MappedPort(ctx, postgresPort)
	if err != nil {
		return c, fmt.Errorf("getting postgres port: %w", err)
	}
	c.host, c.port = host, mapped.Port()
	return c, nil
}

// ConnString returns a DSN for database dbname on the container, as
// PostgresUser with sslmode=disable, e.g.
// postgres://postgres:postgres@127.0.0.1:32768/harbor?sslmode=disable.
func (c *PostgresContainer) ConnString(dbname string) string {
	return postgresDSN(c.host, c.port, dbname)
}

func postgresDSN(host, port, dbname string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(PostgresUser, PostgresPassword),
		Host:     net.JoinHostPort(host, port),
		Path:     "/" + dbname,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// CreateDatabase creates database name as a copy of template ("" for the
// server's default, template1) and returns its DSN. Copying a template that
// already holds Harbor's schema is much faster than applying it again; the
// template must have no open connections.
func (c *PostgresContainer) CreateDatabase(ctx context.Context, name, template string) (string, error) {
	stmt := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		stmt += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if err := c.adminExec(ctx, stmt); err != nil {
		return "", fmt.Errorf("creating database %s: %w", name, err)
	}
	return c.ConnString(name), nil
}

// DropDatabase drops database name if it exists, closing its connections.
func (c *PostgresContainer) DropDatabase(ctx context.Context, name string) error {
	stmt := "DROP DATABASE IF EXISTS " + pgx.Identifier{name}.Sanitize() + " WITH (FORCE)"
	if err := c.adminExec(ctx, stmt); err != nil {
		return fmt.Errorf("dropping database %s: %w", name, err)
	}
	return nil
}

// adminExec runs stmt in the postgres maintenance database.
func (c *PostgresContainer) adminExec(ctx context.Context, stmt string) (rerr error) {
	if c == nil || c.port == "" {
		return errors.New("postgres container not running")
	}
	conn, err := pgx.Connect(ctx, c.ConnString("postgres"))
	if err != nil {
		return err
	}
	defer func() { rerr = errors.Join(rerr, conn.Close(context.WithoutCancel(ctx))) }()
	_, err = conn.Exec(ctx, stmt)
	return err
}
