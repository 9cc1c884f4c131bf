//go:build !linux

package testenv

import (
	"context"
	"errors"
	"os/exec"
)

var errNeedsLinux = errors.New("building the PostgreSQL image needs Linux")

func lockFile(context.Context, string) (func(), error) { return nil, errNeedsLinux }

func killGroupOnCancel(*exec.Cmd) {}

func unmountUnder(string) error { return errNeedsLinux }
