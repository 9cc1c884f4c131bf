package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/testcontainers/testcontainers-go"
)

// Modes of RunHarbor (HarborModeEnv).
const (
	// ModeStandin is an offline stand-in for Harbor: PostgreSQL 15 with
	// Harbor's schema, Redis and a distribution registry running as
	// 10000:10000 over the data volume, all built locally. No core: there is
	// no Harbor API, and pulls go to the registry directly.
	ModeStandin = "standin"
	// ModeGoharbor is a real Harbor from the official goharbor images of
	// HarborVersionEnv (harbor-db, redis, registry, registryctl, core,
	// jobservice), configured as Harbor's prepare step configures them. The
	// images must already be in the local Docker engine.
	ModeGoharbor = "goharbor"
	// ModeAttach uses a Harbor that is already running, described by the
	// HARBOR_IMPORT_ATTACH_* variables. Nothing is started; tests write into
	// that Harbor.
	ModeAttach = "attach"
)

// Environment variables RunHarbor reads.
const (
	// HarborModeEnv selects the mode: standin, goharbor or attach. Unset: goharbor
	// when all goharbor images of HarborVersionEnv are present locally, else
	// standin.
	HarborModeEnv = "HARBOR_IMPORT_TEST_MODE"
	// HarborVersionEnv is the goharbor image tag (DefaultHarborVersion when unset).
	HarborVersionEnv = "HARBOR_VERSION"

	// AttachURLEnv is the attached Harbor's URL, e.g. https://harbor.example.com.
	AttachURLEnv = "HARBOR_IMPORT_ATTACH_URL"
	// AttachAdminPasswordEnv is the password of its user admin.
	AttachAdminPasswordEnv = "HARBOR_IMPORT_ATTACH_ADMIN_PASSWORD"
	// AttachDSNEnv is its database's DSN, reachable from this host.
	AttachDSNEnv = "HARBOR_IMPORT_ATTACH_DSN"
	// AttachDataDirEnv is its data_volume, as seen from this host.
	AttachDataDirEnv = "HARBOR_IMPORT_ATTACH_DATA_DIR"
	// AttachRegistryEnv optionally names the host:port to pull from; by
	// default the host of AttachURLEnv.
	AttachRegistryEnv = "HARBOR_IMPORT_ATTACH_REGISTRY"
)

// Errors of RunHarbor and SelectHarborMode. (They belong in errors.go; they
// live here while that file has another owner.)
var (
	// ErrHarborImagesMissing: goharbor mode was asked for and some of its
	// images are not in the local Docker engine.
	ErrHarborImagesMissing = errors.New("goharbor images missing")
	// ErrAttachConfig: attach mode was asked for without its environment variables.
	ErrAttachConfig = errors.New("attach mode needs " + AttachURLEnv + ", " + AttachAdminPasswordEnv + ", " + AttachDSNEnv + " and " + AttachDataDirEnv)
	// ErrUnknownMode: the mode is none of standin, goharbor and attach.
	ErrUnknownMode = errors.New("unknown harbor test mode")
)

// DefaultHarborVersion is the goharbor image tag used when HarborVersionEnv is unset.
const DefaultHarborVersion = "v2.15.2"

// DefaultAdminPassword is the admin password of a goharbor-mode Harbor
// (harbor.yml's default) unless WithAdminPassword says otherwise.
const DefaultAdminPassword = "Harbor12345"

// Harbor is a Harbor (or its stand-in) for end-to-end tests, started by
// RunHarbor. Terminate removes whatever RunHarbor started.
type Harbor struct {
	// Mode is ModeStandin, ModeGoharbor or ModeAttach.
	Mode string
	// ModeReason says why Mode was chosen, for the test output.
	ModeReason string
	// Version is the goharbor image tag (goharbor mode only).
	Version string
	// DataDir is Harbor's data_volume on this host: harbor-import's
	// --harbor-data. It holds registry/, owned 10000:10000.
	DataDir string
	// DSN is the DSN of Harbor's database ("registry"), reachable from this
	// host: harbor-import's --db.
	DSN string
	// RegistryHost is the host:port to pull from: the stand-in's registry
	// (no authentication) or Harbor's core, which serves /v2/ (basic
	// authentication as admin).
	RegistryHost string
	// URL is Harbor's base URL for its API (goharbor and attach only).
	URL string
	// AdminPassword is the password of Harbor's user admin (goharbor and attach only).
	AdminPassword string

	// Insecure is true when RegistryHost speaks plain HTTP.
	Insecure bool

	network    *testcontainers.DockerNetwork
	containers []namedContainer // in start order
	removeDirs []string         // directories Terminate removes
}

// namedContainer is a started container and the service name it plays.
type namedContainer struct {
	name string
	ctr  testcontainers.Container
}

// HarborOption configures RunHarbor.
type HarborOption func(*harborOptions)

type harborOptions struct {
	mode          string
	version       string
	dataDir       string
	adminPassword string
	schema        int
	logf          func(format string, args ...any)
	startup       time.Duration
}

// WithHarborMode selects the mode (ModeStandin, ModeGoharbor, ModeAttach),
// overriding HarborModeEnv and the default choice.
func WithHarborMode(mode string) HarborOption {
	return func(o *harborOptions) { o.mode = mode }
}

// WithHarborVersion sets the goharbor image tag, overriding
// HarborVersionEnv (default DefaultHarborVersion).
func WithHarborVersion(version string) HarborOption {
	return func(o *harborOptions) { o.version = version }
}

// WithDataDir uses dir as the data volume instead of a new temporary
// directory; it is created if missing and not removed by Terminate.
// Ignored in attach mode.
func WithDataDir(dir string) HarborOption {
	return func(o *harborOptions) { o.dataDir = dir }
}

// WithAdminPassword sets the goharbor admin password (default
// DefaultAdminPassword).
func WithAdminPassword(pw string) HarborOption {
	return func(o *harborOptions) { o.adminPassword = pw }
}

// WithSchemaVersion sets the schema version the stand-in's database gets
// from harborschema (default 180, Harbor 2.15).
func WithSchemaVersion(v int) HarborOption {
	return func(o *harborOptions) { o.schema = v }
}

// WithHarborLogf receives progress lines (image builds, container starts);
// by default they are discarded. Tests pass t.Logf.
func WithHarborLogf(logf func(format string, args ...any)) HarborOption {
	return func(o *harborOptions) { o.logf = logf }
}

// WithStartupTimeout bounds each container's wait strategy (default 2
// minutes; goharbor's core gets twice that for its migrations).
func WithStartupTimeout(d time.Duration) HarborOption {
	return func(o *harborOptions) { o.startup = d }
}

// RunHarbor starts (or, in attach mode, describes) a Harbor in the mode
// WithHarborMode, HarborModeEnv or the default choice selects (see
// SelectHarborMode), and waits until every component answers.
//
// Like a testcontainers module it returns the Harbor even with an error,
// so callers clean up first:
//
//	h, err := testenv.RunHarbor(ctx, testenv.WithHarborLogf(t.Logf))
//	t.Cleanup(func() {
//		if t.Failed() {
//			t.Log(h.Logs(context.Background()))
//		}
//		_ = h.Terminate(context.Background())
//	})
//	if err != nil { ... }
func RunHarbor(ctx context.Context, opts ...HarborOption) (*Harbor, error) {
	o := harborOptions{schema: 180, startup: 2 * time.Minute}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logf == nil {
		o.logf = func(string, ...any) {}
	}
	if o.version == "" {
		o.version = HarborVersion()
	}
	if o.adminPassword == "" {
		o.adminPassword = DefaultAdminPassword
	}
	h := &Harbor{}
	if o.mode == "" {
		mode, reason, err := SelectHarborMode(ctx)
		h.Mode, h.ModeReason = mode, reason
		if err != nil {
			return h, err
		}
	} else {
		h.Mode, h.ModeReason = o.mode, "chosen by the caller"
	}
	switch h.Mode {
	case ModeStandin:
		return h, h.runStandin(ctx, &o)
	case ModeGoharbor:
		h.Version = o.version
		return h, h.runGoharbor(ctx, &o)
	case ModeAttach:
		return h, h.attach()
	default:
		return h, fmt.Errorf("%w: %q (want %s, %s or %s)", ErrUnknownMode, h.Mode, ModeStandin, ModeGoharbor, ModeAttach)
	}
}

// HarborVersion returns HarborVersionEnv, or DefaultHarborVersion when unset.
func HarborVersion() string {
	if v := os.Getenv(HarborVersionEnv); v != "" {
		return v
	}
	return DefaultHarborVersion
}

// SelectHarborMode returns the mode RunHarbor uses without WithHarborMode,
// and why: HarborModeEnv when set; otherwise goharbor when every goharbor
// image of HarborVersion() is in the local Docker engine, else standin.
//
// An explicit goharbor whose images are missing returns an error wrapping
// ErrHarborImagesMissing that names them (tests skip on it); an explicit
// attach without its variables one wrapping ErrAttachConfig.
func SelectHarborMode(ctx context.Context) (mode, reason string, err error) {
	version := HarborVersion()
	switch env := os.Getenv(HarborModeEnv); env {
	case ModeStandin:
		return env, HarborModeEnv + "=" + env, nil
	case ModeAttach:
		if _, err := attachConfigFromEnv(); err != nil {
			return env, HarborModeEnv + "=" + env, err
		}
		return env, HarborModeEnv + "=" + env, nil
	case ModeGoharbor:
		reason = fmt.Sprintf("%s=%s, Harbor %s", HarborModeEnv, env, version)
		missing, err := missingGoharborImages(ctx, version)
		if err != nil {
			return env, reason, err
		}
		if len(missing) > 0 {
			return env, reason, fmt.Errorf("%w (%s): %s; load them with `docker load` or pull them where a registry is reachable",
				ErrHarborImagesMissing, version, strings.Join(missing, ", "))
		}
		return env, reason, nil
	case "":
		missing, err := missingGoharborImages(ctx, version)
		if err != nil {
			return ModeStandin, fmt.Sprintf("%s unset and the goharbor images could not be checked (%v)", HarborModeEnv, err), nil
		}
		if len(missing) == 0 {
			return ModeGoharbor, fmt.Sprintf("%s unset and the goharbor images of Harbor %s are present", HarborModeEnv, version), nil
		}
		return ModeStandin, fmt.Sprintf("%s unset and the goharbor images of Harbor %s are not all present locally (missing %s)",
			HarborModeEnv, version, strings.Join(missing, ", ")), nil
	default:
		return env, HarborModeEnv + "=" + env, fmt.Errorf("%w: %s=%q (want %s, %s or %s)", ErrUnknownMode, HarborModeEnv, env, ModeStandin, ModeGoharbor, ModeAttach)
	}
}

// Logs returns every container's logs, one section per container in start
// order, for a failing test to print. It never fails: problems reading a
// log are written in its place.
func (h *Harbor) Logs(ctx context.Context) string {
	if h == nil {
		return ""
	}
	if len(h.containers) == 0 {
		return fmt.Sprintf("(harbor %s: no containers)", h.Mode)
	}
	var b strings.Builder
	for _, c := range h.containers {
		fmt.Fprintf(&b, "===== %s logs (%s) =====\n", c.name, c.ctr.GetContainerID())
		rc, err := c.ctr.Logs(ctx)
		if err != nil {
			fmt.Fprintf(&b, "(reading logs: %v)\n", err)
			continue
		}
		out, err := io.ReadAll(rc)
		rc.Close()
		b.Write(out)
		if len(out) > 0 && out[len(out)-1] != '\n' {
			b.WriteByte('\n')
		}
		if err != nil {
			fmt.Fprintf(&b, "(reading logs: %v)\n", err)
		}
	}
	return b.String()
}

// Terminate removes the containers (last started first), the network and
// the temporary directories RunHarbor made. It is safe on a nil or partly
// started Harbor, and does nothing in attach mode.
func (h *Harbor) Terminate(ctx context.Context) error {
	if h == nil {
		return nil
	}
	var errs []error
	for i := len(h.containers) - 1; i >= 0; i-- {
		if err := h.containers[i].ctr.Terminate(ctx); err != nil {
			errs = append(errs, fmt.Errorf("terminating %s: %w", h.containers[i].name, err))
		}
	}
	h.containers = nil
	if h.network != nil {
		if err := h.network.Remove(ctx); err != nil {
			errs = append(errs, fmt.Errorf("removing network: %w", err))
		}
		h.network = nil
	}
	for _, d := range h.removeDirs {
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, err)
		}
	}
	h.removeDirs = nil
	return errors.Join(errs...)
}

// track records a started container (even a failed one, for Logs and
// Terminate).
func (h *Harbor) track(name string, ctr *testcontainers.DockerContainer) {
	if ctr != nil {
		h.containers = append(h.containers, namedContainer{name: name, ctr: ctr})
	}
}
