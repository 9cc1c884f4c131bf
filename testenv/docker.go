package testenv

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// dockerPingTimeout bounds how long DockerAvailable waits for the daemon.
const dockerPingTimeout = 15 * time.Second

// SetTestcontainersEnv sets the environment testcontainers-go needs on the
// test machines, keeping values the caller already set:
// TESTCONTAINERS_RYUK_DISABLED=true (the reaper image cannot be pulled) and
// TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1 (ports are published on loopback).
//
// testcontainers-go reads its configuration once per process, so this must
// run before its first use; every function of this package that talks to
// Docker calls it.
func SetTestcontainersEnv() {
	for k, v := range map[string]string{
		"TESTCONTAINERS_RYUK_DISABLED": "true",
		"TESTCONTAINERS_HOST_OVERRIDE": "127.0.0.1",
	} {
		if _, ok := os.LookupEnv(k); !ok {
			os.Setenv(k, v)
		}
	}
}

// DockerAvailable returns nil if a Docker daemon answers, or an error saying
// why not. Tests skip with that reason:
//
//	if err := testenv.DockerAvailable(ctx); err != nil {
//		t.Skip("docker not available: ", err)
//	}
func DockerAvailable(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, dockerPingTimeout)
	defer cancel()
	cli, err := dockerClient(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	if _, err := cli.Ping(ctx, client.PingOptions{}); err != nil {
		return fmt.Errorf("pinging docker daemon: %w", err)
	}
	return nil
}

// dockerClient connects to the daemon testcontainers-go would use.
func dockerClient(ctx context.Context) (*testcontainers.DockerClient, error) {
	SetTestcontainersEnv()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, fmt.Errorf("connecting to docker: %w", err)
	}
	return cli, nil
}
