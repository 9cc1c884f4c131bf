package harborhost

import "errors"

var (
	// ErrNoHarborYML means no harbor.yml was given and none was found in the usual places.
	ErrNoHarborYML = errors.New("no harbor.yml found")
	// ErrInvalidConfig means harbor.yml could not be parsed or lacks a required value.
	ErrInvalidConfig = errors.New("invalid harbor.yml")
	// ErrDockerUnavailable means the Docker Engine API did not answer on its socket.
	ErrDockerUnavailable = errors.New("docker engine not reachable")
	// ErrContainerNotFound means no container has the expected name.
	ErrContainerNotFound = errors.New("container not found")
	// ErrContainerNotRunning means the container exists but is not running (so it has no address).
	ErrContainerNotRunning = errors.New("container not running")
	// ErrPreflightFailed means at least one preflight check failed.
	ErrPreflightFailed = errors.New("preflight failed")
)
