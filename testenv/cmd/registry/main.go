// Command registry runs a distribution (Docker Registry v2) server
// configured the way Harbor's registry container is, for harbor-import's
// stand-in Harbor (testenv.RunHarbor in mode "standin"):
//
//   - filesystem storage under -root (Harbor mounts data_volume/registry at
//     /storage), deletes enabled, upload purging off;
//   - plain HTTP on -addr (:5000);
//   - the blob descriptor ("layerinfo") cache in Redis when -redis names a
//     server (Harbor's registry always uses Redis, DB 1), else in memory;
//   - no authentication: the stand-in has no core in front of it.
//
// It is built as a static binary (CGO_ENABLED=0) into a FROM scratch
// image by testenv, and stops gracefully on SIGTERM.
//
// Usage:
//
//	registry [-addr :5000] [-root /storage] [-redis redis:6379] [-redis-db 1] [-log-level info]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem" // registers the "filesystem" driver
	"github.com/sirupsen/logrus"
)

// options are the command line; each flag's default is also read from the
// environment variable named in its usage.
type options struct {
	addr     string
	root     string
	redis    string
	redisDB  int
	logLevel string
}

func main() {
	var o options
	fs := flag.NewFlagSet("registry", flag.ExitOnError)
	fs.StringVar(&o.addr, "addr", envOr("REGISTRY_ADDR", ":5000"), "listen address (env REGISTRY_ADDR)")
	fs.StringVar(&o.root, "root", envOr("REGISTRY_ROOT", "/storage"), "filesystem storage root directory (env REGISTRY_ROOT)")
	fs.StringVar(&o.redis, "redis", os.Getenv("REGISTRY_REDIS_ADDR"), "Redis host:port for the blob descriptor cache; empty: in memory (env REGISTRY_REDIS_ADDR)")
	fs.IntVar(&o.redisDB, "redis-db", 1, "Redis database index, 1 as in Harbor")
	fs.StringVar(&o.logLevel, "log-level", envOr("REGISTRY_LOG_LEVEL", "info"), "log level: error, warn, info, debug (env REGISTRY_LOG_LEVEL)")
	_ = fs.Parse(os.Args[1:])

	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "registry:", err)
		os.Exit(1)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// run serves the registry until SIGTERM or SIGINT. It wires distribution's
// application handler as `registry serve` does, with liveness on "/"
// (distribution logs every request itself), but without the parts of the
// registry package this module does not depend on (socket activation, TLS,
// tracing).
func run(ctx context.Context, o options) (rerr error) {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()

	lvl, err := logrus.ParseLevel(o.logLevel)
	if err != nil {
		return fmt.Errorf("parsing -log-level: %w", err)
	}
	logrus.SetLevel(lvl)
	logrus.SetOutput(os.Stdout)
	logrus.SetFormatter(&logrus.TextFormatter{TimestampFormat: time.RFC3339Nano, DisableColors: true})
	// distribution logs through logrus's standard logger.
	app, err := newApp(context.WithoutCancel(ctx), config(o))
	if err != nil {
		return err
	}
	defer func() { rerr = errors.Join(rerr, app.Shutdown()) }()

	srv := &http.Server{
		Addr:              o.addr,
		Handler:           alive(app),
		ReadHeaderTimeout: 30 * time.Second,
	}
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	logrus.Infof("listening on %s, storage %s, blob descriptor cache %s", o.addr, o.root, cacheName(o))

	select {
	case err := <-served:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	logrus.Info("stopping: draining connections")
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}

// newApp builds distribution's application; NewApp reports configuration
// errors (such as an unreachable Redis) by panicking.
func newApp(ctx context.Context, cfg *configuration.Configuration) (app *handlers.App, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("configuring distribution: %v", p)
		}
	}()
	return handlers.NewApp(ctx, cfg), nil
}

func cacheName(o options) string {
	if o.redis == "" {
		return "inmemory"
	}
	return fmt.Sprintf("redis %s db %d", o.redis, o.redisDB)
}

// alive answers 200 on "/" as `registry serve` does (Harbor's health check
// and the testenv wait strategy probe it).
func alive(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			w.Header().Set("Cache-Control", "no-cache")
			w.WriteHeader(http.StatusOK)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// config builds the configuration Harbor's registry config.yml template
// describes (storage, cache, delete, http), without its htpasswd auth.
func config(o options) *configuration.Configuration {
	cfg := &configuration.Configuration{Version: "0.1"}
	cfg.Log.Level = configuration.Loglevel(o.logLevel)

	cache := configuration.Parameters{"blobdescriptor": "inmemory"}
	if o.redis != "" {
		cache = configuration.Parameters{"blobdescriptor": "redis"}
		cfg.Redis.Options.Addrs = []string{o.redis}
		cfg.Redis.Options.DB = o.redisDB
		cfg.Redis.Options.DialTimeout = 10 * time.Second
		cfg.Redis.Options.ReadTimeout = 10 * time.Second
		cfg.Redis.Options.WriteTimeout = 10 * time.Second
	}
	cfg.Storage = configuration.Storage{
		"filesystem":  configuration.Parameters{"rootdirectory": o.root},
		"cache":       cache,
		"delete":      configuration.Parameters{"enabled": true},
		"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
	}
	cfg.HTTP.Addr = o.addr
	cfg.HTTP.Secret = "harbor-import-testenv" // signs upload state; fixed, as Harbor's "placeholder"
	return cfg
}
