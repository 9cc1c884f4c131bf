package testenv

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"
)

func TestSelectHarborModeFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name, mode string
		wantMode   string
		wantErr    error
	}{
		{"standin", ModeStandin, ModeStandin, nil},
		{"attach without its variables", ModeAttach, ModeAttach, ErrAttachConfig},
		{"unknown", "kubernetes", "kubernetes", ErrUnknownMode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(HarborModeEnv, tc.mode)
			for _, v := range []string{AttachURLEnv, AttachAdminPasswordEnv, AttachDSNEnv, AttachDataDirEnv, AttachRegistryEnv} {
				t.Setenv(v, "")
			}
			mode, reason, err := SelectHarborMode(context.Background())
			if mode != tc.wantMode || !errors.Is(err, tc.wantErr) {
				t.Errorf("got mode %q, error %v; want %q, %v", mode, err, tc.wantMode, tc.wantErr)
			}
			if !strings.Contains(reason, HarborModeEnv) {
				t.Errorf("reason %q does not name %s", reason, HarborModeEnv)
			}
		})
	}
}

// With Docker but without the goharbor images (as on CI), the default is
// the stand-in and an explicit goharbor fails with ErrHarborImagesMissing,
// naming the images; RunHarbor starts nothing.
func TestSelectHarborModeWithoutGoharborImages(t *testing.T) {
	ctx := context.Background()
	if err := DockerAvailable(ctx); err != nil {
		t.Skipf("docker not available: %v", err)
	}
	const version = "v0.0.0-harbor-import-absent"
	t.Setenv(HarborVersionEnv, version)

	t.Setenv(HarborModeEnv, "")
	mode, reason, err := SelectHarborMode(ctx)
	if err != nil || mode != ModeStandin || !strings.Contains(reason, "goharbor/harbor-core:"+version) {
		t.Errorf("default: got %q (%s), %v; want standin naming the missing images", mode, reason, err)
	}

	t.Setenv(HarborModeEnv, ModeGoharbor)
	mode, _, err = SelectHarborMode(ctx)
	if mode != ModeGoharbor || !errors.Is(err, ErrHarborImagesMissing) || !strings.Contains(err.Error(), "goharbor/harbor-db:"+version) {
		t.Errorf("explicit goharbor: got %q, %v; want goharbor and ErrHarborImagesMissing naming the images", mode, err)
	}

	h, err := RunHarbor(ctx, WithHarborMode(ModeGoharbor))
	if h == nil || !errors.Is(err, ErrHarborImagesMissing) || len(h.containers) != 0 || h.DataDir != "" {
		t.Errorf("RunHarbor(goharbor): got %+v, %v; want a Harbor with nothing started and ErrHarborImagesMissing", h, err)
	}
	if err := h.Terminate(ctx); err != nil {
		t.Error(err)
	}
}

func TestAttachConfigFromEnv(t *testing.T) {
	data := t.TempDir()
	if err := os.Mkdir(filepath.Join(data, "registry"), 0o755); err != nil {
		t.Fatal(err)
	}
	set := func(url, pw, dsn, dir, reg string) {
		t.Setenv(AttachURLEnv, url)
		t.Setenv(AttachAdminPasswordEnv, pw)
		t.Setenv(AttachDSNEnv, dsn)
		t.Setenv(AttachDataDirEnv, dir)
		t.Setenv(AttachRegistryEnv, reg)
	}
	const dsn = "postgres://postgres:x@db.example:5432/registry"

	set("https://harbor.example.com/", "pw", dsn, data, "")
	h := &Harbor{Mode: ModeAttach}
	if err := h.attach(); err != nil {
		t.Fatal(err)
	}
	if h.URL != "https://harbor.example.com" || h.RegistryHost != "harbor.example.com" || h.Insecure || h.DataDir != data || h.DSN != dsn || h.AdminPassword != "pw" {
		t.Errorf("got %+v", h)
	}

	set("http://127.0.0.1:8080", "pw", dsn, data, "127.0.0.1:5000")
	h = &Harbor{Mode: ModeAttach}
	if err := h.attach(); err != nil {
		t.Fatal(err)
	}
	if h.RegistryHost != "127.0.0.1:5000" || !h.Insecure {
		t.Errorf("got registry %q, insecure %v; want 127.0.0.1:5000, true", h.RegistryHost, h.Insecure)
	}

	for _, tc := range []struct {
		name, url, dir, want string
	}{
		{"missing URL", "", data, AttachURLEnv},
		{"not a URL", "harbor.example.com", data, "not an http(s) URL"},
		{"no registry directory", "https://harbor.example.com", t.TempDir(), "no registry/ directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set(tc.url, "pw", dsn, tc.dir, "")
			_, err := attachConfigFromEnv()
			if !errors.Is(err, ErrAttachConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want ErrAttachConfig mentioning %q", err, tc.want)
			}
		})
	}
}

// The goharbor configuration is what prepare writes; this checks it is
// self-consistent, since the mode cannot run where the images are missing.
func TestGoharborFiles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to 10000:10000")
	}
	s, err := newGoharborSecrets()
	if err != nil {
		t.Fatal(err)
	}
	l := goharborLayout{config: t.TempDir(), data: t.TempDir()}
	if err := writeGoharborFiles(l, s); err != nil {
		t.Fatal(err)
	}

	for _, f := range []struct {
		path     string
		mode     os.FileMode
		uid, gid uint32
	}{
		{l.cfg("registry", "passwd"), 0o600, 10000, 10000},
		{l.cfg("registry", "config.yml"), 0o600, 10000, 10000},
		{l.dataP("secret", "core", "private_key.pem"), 0o600, 10000, 10000},
		{l.dataP("registry"), os.ModeDir | 0o755, 10000, 10000},
		{l.dataP("database"), os.ModeDir | 0o700, 999, 999},
	} {
		fi, err := os.Stat(f.path)
		if err != nil {
			t.Error(err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode() != f.mode || st.Uid != f.uid || st.Gid != f.gid {
			t.Errorf("%s: got %v %d:%d, want %v %d:%d", f.path, fi.Mode(), st.Uid, st.Gid, f.mode, f.uid, f.gid)
		}
	}

	// htpasswd: the registry accepts core's REGISTRY_CREDENTIAL_* pair.
	passwd, _ := os.ReadFile(l.cfg("registry", "passwd"))
	user, hash, _ := strings.Cut(strings.TrimSpace(string(passwd)), ":")
	env := goharborCoreEnv(s, "http://127.0.0.1:1", "pw")
	if user != env["REGISTRY_CREDENTIAL_USERNAME"] || bcrypt.CompareHashAndPassword([]byte(hash), []byte(env["REGISTRY_CREDENTIAL_PASSWORD"])) != nil {
		t.Errorf("registry/passwd does not accept core's registry credential")
	}
	if js := goharborJobserviceEnv(s); js["REGISTRY_CREDENTIAL_PASSWORD"] != env["REGISTRY_CREDENTIAL_PASSWORD"] ||
		js["CORE_SECRET"] != env["CORE_SECRET"] || js["JOBSERVICE_SECRET"] != env["JOBSERVICE_SECRET"] {
		t.Errorf("jobservice and core disagree on secrets")
	}
	if rc := goharborRegistryCtlEnv(s); rc["CORE_SECRET"] != env["CORE_SECRET"] || rc["JOBSERVICE_SECRET"] != env["JOBSERVICE_SECRET"] {
		t.Errorf("registryctl and core disagree on secrets")
	}

	// The token key is PKCS#1 and the registry's root.crt is its certificate.
	keyPEM, _ := os.ReadFile(l.dataP("secret", "core", "private_key.pem"))
	certPEM, _ := os.ReadFile(l.dataP("secret", "registry", "root.crt"))
	kb, _ := pem.Decode(keyPEM)
	cb, _ := pem.Decode(certPEM)
	if kb == nil || kb.Type != "RSA PRIVATE KEY" || cb == nil {
		t.Fatalf("key or certificate is not PEM of the expected type")
	}
	key, err := x509.ParsePKCS1PrivateKey(kb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		t.Errorf("root.crt is not the certificate of private_key.pem")
	}
	if sk, _ := os.ReadFile(l.dataP("secret", "keys", "secretkey")); len(sk) != 16 {
		t.Errorf("secretkey has %d characters, want 16", len(sk))
	}

	// The YAML files parse and say what Harbor's say.
	var reg struct {
		Storage struct {
			Cache      map[string]string `yaml:"cache"`
			Filesystem map[string]string `yaml:"filesystem"`
			Delete     map[string]bool   `yaml:"delete"`
		} `yaml:"storage"`
		Redis struct {
			Addr string `yaml:"addr"`
			DB   int    `yaml:"db"`
		} `yaml:"redis"`
		HTTP struct {
			Addr string `yaml:"addr"`
		} `yaml:"http"`
		Auth map[string]map[string]string `yaml:"auth"`
	}
	decodeYAML(t, l.cfg("registry", "config.yml"), &reg)
	if reg.Storage.Cache["layerinfo"] != "redis" || reg.Storage.Filesystem["rootdirectory"] != "/storage" || !reg.Storage.Delete["enabled"] ||
		reg.Redis.Addr != "redis:6379" || reg.Redis.DB != 1 || reg.HTTP.Addr != ":5000" || reg.Auth["htpasswd"]["path"] != "/etc/registry/passwd" {
		t.Errorf("registry config.yml: got %+v", reg)
	}
	var js struct {
		Port       int `yaml:"port"`
		WorkerPool struct {
			Backend   string `yaml:"backend"`
			RedisPool struct {
				RedisURL string `yaml:"redis_url"`
			} `yaml:"redis_pool"`
		} `yaml:"worker_pool"`
	}
	decodeYAML(t, l.cfg("jobservice", "config.yml"), &js)
	if js.Port != 8080 || js.WorkerPool.Backend != "redis" || js.WorkerPool.RedisPool.RedisURL != "redis://redis:6379/2?idle_timeout_seconds=30" {
		t.Errorf("jobservice config.yml: got %+v", js)
	}
	var ctl map[string]any
	decodeYAML(t, l.cfg("registryctl", "config.yml"), &ctl)
	if ctl["registry_config"] != "/etc/registry/config.yml" || ctl["port"] != 8080 {
		t.Errorf("registryctl config.yml: got %v", ctl)
	}
}

func decodeYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(v); err != nil {
		t.Errorf("%s: %v", path, err)
	}
}

// Every variable core/env.jinja sets for an installation without TLS,
// metrics, tracing, cache or a quota provider.
func TestGoharborCoreEnvHasTemplateVariables(t *testing.T) {
	env := goharborCoreEnv(&goharborSecrets{}, "http://127.0.0.1:1", "pw")
	for _, k := range strings.Fields(`CONFIG_PATH UAA_CA_ROOT _REDIS_URL_CORE _REDIS_URL_REG LOG_LEVEL EXT_ENDPOINT
		DATABASE_TYPE POSTGRESQL_HOST POSTGRESQL_PORT POSTGRESQL_USERNAME POSTGRESQL_PASSWORD POSTGRESQL_DATABASE
		POSTGRESQL_SSLMODE POSTGRESQL_MAX_IDLE_CONNS POSTGRESQL_MAX_OPEN_CONNS POSTGRESQL_CONN_MAX_LIFETIME
		POSTGRESQL_CONN_MAX_IDLE_TIME REGISTRY_URL PORTAL_URL TOKEN_SERVICE_URL HARBOR_ADMIN_PASSWORD MAX_JOB_WORKERS
		CORE_SECRET JOBSERVICE_SECRET WITH_TRIVY CORE_URL CORE_LOCAL_URL JOBSERVICE_URL TRIVY_ADAPTER_URL
		REGISTRY_STORAGE_PROVIDER_NAME READ_ONLY RELOAD_KEY REGISTRY_CONTROLLER_URL REGISTRY_CREDENTIAL_USERNAME
		REGISTRY_CREDENTIAL_PASSWORD CSRF_KEY ROBOT_SCANNER_NAME_PREFIX PERMITTED_REGISTRY_TYPES_FOR_PROXY_CACHE
		REPLICATION_ADAPTER_WHITELIST HTTP_PROXY HTTPS_PROXY NO_PROXY PORT`) {
		if _, ok := env[k]; !ok {
			t.Errorf("core env lacks %s", k)
		}
	}
}
