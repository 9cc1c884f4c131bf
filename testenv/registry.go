package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem" // registers the "filesystem" driver
	"github.com/sirupsen/logrus"
)

// Registry is a distribution (Docker Registry v2) server running in this
// process over a filesystem storage, started by StartRegistry. It serves
// plain HTTP on 127.0.0.1 without authentication.
type Registry struct {
	rootdir string
	host    string
	srv     *http.Server
	app     *handlers.App
	served  chan error
}

// RegistryOption configures StartRegistry.
type RegistryOption func(*registryOptions)

type registryOptions struct {
	log io.Writer
}

// WithRegistryLog sends the registry's logs to w. By default they are
// discarded. distribution logs through logrus's process-wide standard
// logger, so this (and the default) applies to every registry in the
// process; the last StartRegistry wins.
func WithRegistryLog(w io.Writer) RegistryOption {
	return func(o *registryOptions) { o.log = w }
}

// StartRegistry serves the storage under rootdir (the filesystem driver's
// rootdirectory; the v2 tree is rootdir/docker/registry/v2) on a free port
// of 127.0.0.1. Deletes are enabled and upload purging is off. There is no
// blob descriptor cache, so content written into rootdir by anything else,
// at any time, is served as it is on disk. ctx bounds only the start; the
// registry runs until Close.
func StartRegistry(ctx context.Context, rootdir string, opts ...RegistryOption) (*Registry, error) {
	var o registryOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = io.Discard
	}
	logrus.SetOutput(o.log)

	rootdir, err := filepath.Abs(rootdir)
	if err != nil {
		return nil, fmt.Errorf("starting registry: %w", err)
	}
	app, err := newRegistryApp(context.WithoutCancel(ctx), rootdir)
	if err != nil {
		return nil, fmt.Errorf("starting registry on %s: %w", rootdir, err)
	}

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		_ = app.Shutdown()
		return nil, fmt.Errorf("starting registry: %w", err)
	}
	r := &Registry{
		rootdir: rootdir,
		host:    ln.Addr().String(),
		app:     app,
		srv:     &http.Server{Handler: app, ReadHeaderTimeout: 30 * time.Second},
		served:  make(chan error, 1),
	}
	go func() { r.served <- r.srv.Serve(ln) }()
	return r, nil
}

// newRegistryApp builds the distribution application; NewApp reports
// configuration errors by panicking.
func newRegistryApp(ctx context.Context, rootdir string) (app *handlers.App, err error) {
	cfg := &configuration.Configuration{
		Storage: configuration.Storage{
			"filesystem":  configuration.Parameters{"rootdirectory": rootdir},
			"delete":      configuration.Parameters{"enabled": true},
			"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
		},
	}
	cfg.HTTP.Secret = "harbor-import-testenv" // signs upload state; fixed to avoid the "generated secret" warning
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("configuring distribution: %v", p)
		}
	}()
	return handlers.NewApp(ctx, cfg), nil
}

// Host returns the registry's address, "127.0.0.1:<port>", for references
// such as Host()+"/alpine:latest".
func (r *Registry) Host() string { return r.host }

// RootDir returns the storage root directory the registry serves.
func (r *Registry) RootDir() string { return r.rootdir }

// V2Dir returns the v2 tree of the storage, RootDir()/docker/registry/v2.
func (r *Registry) V2Dir() string { return filepath.Join(r.rootdir, "docker", "registry", "v2") }

// Close stops the server, waiting up to half a second for requests in flight
// before closing every connection.
func (r *Registry) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := r.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		// Clients' transports dial spare connections that never carry a
		// request; Shutdown counts those as busy for five seconds.
		err = r.srv.Close()
	}
	if serr := <-r.served; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return errors.Join(err, r.app.Shutdown())
}
