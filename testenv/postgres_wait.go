package testenv

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/testcontainers/testcontainers-go/wait"
)

// sqlReady is a wait strategy that is satisfied once `SELECT 1` succeeds
// through the published port (the readiness wait.ForSQL checks, with pgx
// directly instead of database/sql). It fails at once, with the container's
// last log lines, if the container stops.
type sqlReady struct {
	timeout time.Duration
}

var (
	_ wait.Strategy        = (*sqlReady)(nil)
	_ wait.StrategyTimeout = (*sqlReady)(nil)
)

func (s *sqlReady) Timeout() *time.Duration { return &s.timeout }

func (s *sqlReady) String() string { return "SELECT 1 over port " + postgresPort }

func (s *sqlReady) WaitUntilReady(ctx context.Context, target wait.StrategyTarget) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var lastErr error
	for {
		state, err := target.State(ctx)
		if err != nil {
			return fmt.Errorf("getting container state: %w", err)
		}
		if !state.Running {
			return fmt.Errorf("postgres container stopped (exit code %d); last log lines:\n%s",
				state.ExitCode, lastLogLines(ctx, target, 20))
		}
		if lastErr = s.ping(ctx, target); lastErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for postgres: %w (last error: %v)", ctx.Err(), lastErr)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (s *sqlReady) ping(ctx context.Context, target wait.StrategyTarget) error {
	host, err := target.Host(ctx)
	if err != nil {
		return err
	}
	port, err := target.MappedPort(ctx, postgresPort)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, postgresDSN(host, port.Port(), "postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var one int
	return conn.QueryRow(ctx, "SELECT 1").Scan(&one)
}

func lastLogLines(ctx context.Context, target wait.StrategyTarget, n int) string {
	rc, err := target.Logs(ctx)
	if err != nil {
		return fmt.Sprintf("(reading logs: %v)", err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
