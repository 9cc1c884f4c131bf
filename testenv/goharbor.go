package testenv

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
	"golang.org/x/crypto/bcrypt"
)

// This file runs a real Harbor from the goharbor images, configured the
// way Harbor's prepare step configures a default harbor.yml installation
// without TLS, Trivy, metrics, tracing or the cache layer (read from
// make/photon/prepare at v2.15.2: templates core/env, core/app.conf,
// registry/config.yml, registryctl/env and config.yml, jobservice/env and
// config.yml, docker_compose/docker-compose.yml; utils/configs.py for the
// URLs, Redis databases and defaults; utils/cert.py for the keys). The
// nginx proxy, portal and log containers are left out: core serves /v2/,
// /service/token and /api/ itself, and the containers log to Docker.
//
// UNVERIFIED: this mode was written without access to the images; see
// the package documentation of the e2e suite.

// goharborImages returns the images of a Harbor release, by service.
// Harbor 2.14 replaced redis-photon by valkey-photon; either is accepted.
func goharborImages(version string) map[string][]string {
	return map[string][]string{
		"postgresql":  {"goharbor/harbor-db:" + version},
		"redis":       {"goharbor/valkey-photon:" + version, "goharbor/redis-photon:" + version},
		"registry":    {"goharbor/registry-photon:" + version},
		"registryctl": {"goharbor/harbor-registryctl:" + version},
		"core":        {"goharbor/harbor-core:" + version},
		"jobservice":  {"goharbor/harbor-jobservice:" + version},
	}
}

// missingGoharborImages lists the goharbor images of version that the local
// Docker engine lacks (for redis, the first candidate when none is present).
func missingGoharborImages(ctx context.Context, version string) ([]string, error) {
	_, missing, err := resolveGoharborImages(ctx, version)
	return missing, err
}

// resolveGoharborImages returns the image to use per service and the
// missing ones.
func resolveGoharborImages(ctx context.Context, version string) (map[string]string, []string, error) {
	cli, err := dockerClient(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer cli.Close()
	found := map[string]string{}
	var missing []string
	for service, candidates := range goharborImages(version) {
		for _, ref := range candidates {
			ok, err := imageExists(ctx, cli, ref)
			if err != nil {
				return nil, nil, err
			}
			if ok {
				found[service] = ref
				break
			}
		}
		if found[service] == "" {
			missing = append(missing, candidates[0])
		}
	}
	sort.Strings(missing)
	return found, missing, nil
}

// Values Harbor's prepare step uses for a default harbor.yml.
const (
	goharborDBPassword   = "root123" // harbor.yml database.password
	goharborRegistryUser = "harbor_registry_user"
	harborDBUID          = 999 // PG_UID/GID and REDIS_UID/GID of prepare's g.py
	harborDBGID          = 999
)

// goharborSecrets are the generated secrets of one installation.
type goharborSecrets struct {
	coreSecret, jobserviceSecret string // 16 characters each
	registryPassword             string // 32
	csrfKey                      string // 32
	scanRobotPrefix              string // 8
	secretKey                    string // 16, data_volume/secret/keys/secretkey
	privateKeyPEM, rootCertPEM   []byte // token signing key and its certificate
	htpasswd                     []byte // registry/passwd for harborRegistryUser
}

// newGoharborSecrets generates what prepare generates: random strings of
// letters and digits, an RSA key (PKCS#1, as `openssl genrsa -traditional`)
// with a self-signed certificate of empty subject valid 10 years, and a
// bcrypt htpasswd line.
func newGoharborSecrets() (*goharborSecrets, error) {
	s := &goharborSecrets{
		coreSecret:       randomString(16),
		jobserviceSecret: randomString(16),
		registryPassword: randomString(32),
		csrfKey:          randomString(32),
		scanRobotPrefix:  randomString(8),
		secretKey:        randomString(16),
	}
	key, err := rsa.GenerateKey(rand.Reader, 4096)
	if err != nil {
		return nil, fmt.Errorf("generating token key: %w", err)
	}
	s.privateKeyPEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		BasicConstraintsValid: true,
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("creating registry root certificate: %w", err)
	}
	s.rootCertPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	hash, err := bcrypt.GenerateFromPassword([]byte(s.registryPassword), bcrypt.DefaultCost)
	if err != nil {
		return nil, fmt.Errorf("hashing registry password: %w", err)
	}
	s.htpasswd = []byte(goharborRegistryUser + ":" + string(hash) + "\n")
	return s, nil
}

// randomString returns n random letters and digits, as prepare's
// generate_random_string.
func randomString(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	for i := range b {
		v, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			panic(err) // crypto/rand does not fail on Linux
		}
		b[i] = alphabet[v.Int64()]
	}
	return string(b)
}

// Internal URLs of a prepare'd installation without internal TLS
// (utils/configs.py).
const (
	goharborRegistryURL    = "http://registry:5000"
	goharborRegistryCtlURL = "http://registryctl:8080"
	goharborCoreURL        = "http://core:8080"
	goharborCoreLocalURL   = "http://127.0.0.1:8080"
	goharborTokenURL       = "http://core:8080/service/token"
	goharborJobserviceURL  = "http://jobservice:8080"
	goharborPortalURL      = "http://portal:8080"
	goharborTrivyURL       = "http://trivy-adapter:8080"
	// Redis: core DB 0, registry DB 1, jobservice DB 2, idle timeout 30 s.
	goharborRedisHost      = "redis:6379"
	goharborRedisURLCore   = "redis://redis:6379?idle_timeout_seconds=30"
	goharborRedisURLReg    = "redis://redis:6379/1?idle_timeout_seconds=30"
	goharborRedisURLJobsvc = "redis://redis:6379/2?idle_timeout_seconds=30"
)

// goharborNoProxy is prepare's INTERNAL_NO_PROXY_DN, sorted.
var goharborNoProxy = strings.Join([]string{
	".internal", ".local", "127.0.0.1", "core", "db", "exporter", "jobservice", "localhost", "log",
	"nginx", "portal", "postgresql", "redis", "registry", "registryctl", "trivy-adapter",
}, ",")

// goharborCoreEnv is core/env.jinja rendered for a default installation.
func goharborCoreEnv(s *goharborSecrets, extEndpoint, adminPassword string) map[string]string {
	return map[string]string{
		"CONFIG_PATH":                              "/etc/core/app.conf",
		"UAA_CA_ROOT":                              "/etc/core/certificates/uaa_ca.pem",
		"_REDIS_URL_CORE":                          goharborRedisURLCore,
		"_REDIS_URL_REG":                           goharborRedisURLReg,
		"LOG_LEVEL":                                "info",
		"EXT_ENDPOINT":                             extEndpoint,
		"DATABASE_TYPE":                            "postgresql",
		"POSTGRESQL_HOST":                          "postgresql",
		"POSTGRESQL_PORT":                          "5432",
		"POSTGRESQL_USERNAME":                      "postgres",
		"POSTGRESQL_PASSWORD":                      goharborDBPassword,
		"POSTGRESQL_DATABASE":                      "registry",
		"POSTGRESQL_SSLMODE":                       "disable",
		"POSTGRESQL_MAX_IDLE_CONNS":                "100",
		"POSTGRESQL_MAX_OPEN_CONNS":                "900",
		"POSTGRESQL_CONN_MAX_LIFETIME":             "5m",
		"POSTGRESQL_CONN_MAX_IDLE_TIME":            "0",
		"REGISTRY_URL":                             goharborRegistryURL,
		"PORTAL_URL":                               goharborPortalURL,
		"TOKEN_SERVICE_URL":                        goharborTokenURL,
		"HARBOR_ADMIN_PASSWORD":                    adminPassword,
		"MAX_JOB_WORKERS":                          "10",
		"CORE_SECRET":                              s.coreSecret,
		"JOBSERVICE_SECRET":                        s.jobserviceSecret,
		"WITH_TRIVY":                               "False",
		"CORE_URL":                                 goharborCoreURL,
		"CORE_LOCAL_URL":                           goharborCoreLocalURL,
		"JOBSERVICE_URL":                           goharborJobserviceURL,
		"TRIVY_ADAPTER_URL":                        goharborTrivyURL,
		"REGISTRY_STORAGE_PROVIDER_NAME":           "filesystem",
		"READ_ONLY":                                "false",
		"RELOAD_KEY":                               "",
		"REGISTRY_CONTROLLER_URL":                  goharborRegistryCtlURL,
		"REGISTRY_CREDENTIAL_USERNAME":             goharborRegistryUser,
		"REGISTRY_CREDENTIAL_PASSWORD":             s.registryPassword,
		"CSRF_KEY":                                 s.csrfKey,
		"ROBOT_SCANNER_NAME_PREFIX":                s.scanRobotPrefix,
		"PERMITTED_REGISTRY_TYPES_FOR_PROXY_CACHE": "docker-hub,harbor,azure-acr,ali-acr,aws-ecr,google-gcr,docker-registry,github-ghcr,jfrog-artifactory",
		"REPLICATION_ADAPTER_WHITELIST":            "ali-acr,aws-ecr,azure-acr,docker-hub,docker-registry,github-ghcr,google-gcr,harbor,huawei-SWR,jfrog-artifactory,tencent-tcr,volcengine-cr",
		"HTTP_PROXY":                               "",
		"HTTPS_PROXY":                              "",
		"NO_PROXY":                                 goharborNoProxy,
		"PORT":                                     "8080",
	}
}

// goharborCoreAppConf is core/app.conf.jinja without internal TLS.
const goharborCoreAppConf = `appname = Harbor
runmode = prod
enablegzip = true

[prod]
httpport = 8080
`

// goharborRegistryCtlEnv is registryctl/env.jinja.
func goharborRegistryCtlEnv(s *goharborSecrets) map[string]string {
	return map[string]string{
		"CORE_SECRET":       s.coreSecret,
		"JOBSERVICE_SECRET": s.jobserviceSecret,
	}
}

// goharborJobserviceEnv is jobservice/env.jinja.
func goharborJobserviceEnv(s *goharborSecrets) map[string]string {
	return map[string]string{
		"CORE_SECRET":                      s.coreSecret,
		"REGISTRY_URL":                     goharborRegistryURL,
		"JOBSERVICE_SECRET":                s.jobserviceSecret,
		"CORE_URL":                         goharborCoreURL,
		"REGISTRY_CONTROLLER_URL":          goharborRegistryCtlURL,
		"JOBSERVICE_WEBHOOK_JOB_MAX_RETRY": "3",
		"JOBSERVICE_WEBHOOK_JOB_HTTP_CLIENT_TIMEOUT": "3",
		"LOG_LEVEL":                    "info",
		"HTTP_PROXY":                   "",
		"HTTPS_PROXY":                  "",
		"NO_PROXY":                     goharborNoProxy,
		"REGISTRY_CREDENTIAL_USERNAME": goharborRegistryUser,
		"REGISTRY_CREDENTIAL_PASSWORD": s.registryPassword,
	}
}

// goharborRegistryConfig is registry/config.yml.jinja for filesystem
// storage at /storage and the internal Redis (DB 1), with harbor.yml's
// default upload purging. Harbor's registry is distribution v2.8.3 with
// Redis patches, so the redis section has v2's keys.
const goharborRegistryConfig = `version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  cache:
    layerinfo: redis
  filesystem:
    rootdirectory: /storage
  maintenance:
    uploadpurging:
      enabled: true
      age: 168h
      interval: 24h
      dryrun: false
  delete:
    enabled: true
redis:
  addr: ` + goharborRedisHost + `
  readtimeout: 10s
  writetimeout: 10s
  dialtimeout: 10s
  password: 
  username: 
  db: 1
  enableTLS: false
  pool:
    maxidle: 100
    maxactive: 500
    idletimeout: 60s
http:
  addr: :5000
  secret: placeholder
  debug:
    addr: localhost:5001
auth:
  htpasswd:
    realm: harbor-registry-basic-realm
    path: /etc/registry/passwd
validation:
  disabled: true
compatibility:
  schema1:
    enabled: true
`

// goharborRegistryCtlConfig is registryctl/config.yml.jinja without TLS.
const goharborRegistryCtlConfig = `---
protocol: "http"
port: 8080
log_level: info
registry_config: "/etc/registry/config.yml"
`

// goharborJobserviceConfig is jobservice/config.yml.jinja with harbor.yml's
// defaults (10 workers, loggers STD_OUTPUT and FILE, sweeper 1 day, 24 h
// jobs).
const goharborJobserviceConfig = `---
protocol: "http"
port: 8080
worker_pool:
  workers: 10
  backend: "redis"
  redis_pool:
    redis_url: ` + goharborRedisURLJobsvc + `
    namespace: "harbor_job_service_namespace"
    idle_timeout_second: 3600
job_loggers:
  - name: "STD_OUTPUT"
    level: "INFO"
  - name: "FILE"
    level: "INFO"
    settings:
      base_dir: "/var/log/jobs"
    sweeper:
      duration: 1
      settings:
        work_dir: "/var/log/jobs"
loggers:
  - name: "STD_OUTPUT"
    level: "INFO"
reaper:
  max_update_hours: 24
  max_dangling_hours: 168
max_retrieve_size_mb: 10
`

// goharborLayout is where the configuration goes on this host: config is
// prepare's ./common/config, data the data_volume.
type goharborLayout struct {
	config, data string
}

func (l goharborLayout) cfg(p ...string) string {
	return filepath.Join(append([]string{l.config}, p...)...)
}
func (l goharborLayout) dataP(p ...string) string {
	return filepath.Join(append([]string{l.data}, p...)...)
}

// writeGoharborFiles writes the configuration and secret files with the
// owners and modes prepare gives them (10000:10000, files 0600, the
// database and Redis directories 999:999).
func writeGoharborFiles(l goharborLayout, s *goharborSecrets) error {
	dirs := []struct {
		path     string
		mode     os.FileMode
		uid, gid int
	}{
		{l.cfg("core", "certificates"), 0o755, 0, 0},
		{l.cfg("registry"), 0o755, 0, 0},
		{l.cfg("registryctl"), 0o755, 0, 0},
		{l.cfg("jobservice"), 0o755, harborUID, harborGID},
		{l.cfg("shared", "trust-certificates"), 0o755, 0, 0},
		{l.dataP("registry"), 0o755, harborUID, harborGID},
		{l.dataP("ca_download"), 0o755, harborUID, harborGID},
		{l.dataP("job_logs"), 0o755, harborUID, harborGID},
		{l.dataP("database"), 0o700, harborDBUID, harborDBGID},
		{l.dataP("redis"), 0o755, harborDBUID, harborDBGID},
		{l.dataP("secret", "core"), 0o755, 0, 0},
		{l.dataP("secret", "registry"), 0o755, 0, 0},
		{l.dataP("secret", "keys"), 0o755, 0, 0},
	}
	for _, d := range dirs {
		if err := mkdirOwned(d.path, d.mode, d.uid, d.gid); err != nil {
			return err
		}
	}
	files := []struct {
		path string
		data []byte
	}{
		{l.cfg("core", "app.conf"), []byte(goharborCoreAppConf)},
		{l.cfg("registry", "config.yml"), []byte(goharborRegistryConfig)},
		{l.cfg("registry", "passwd"), s.htpasswd},
		{l.cfg("registryctl", "config.yml"), []byte(goharborRegistryCtlConfig)},
		{l.cfg("jobservice", "config.yml"), []byte(goharborJobserviceConfig)},
		{l.dataP("secret", "core", "private_key.pem"), s.privateKeyPEM},
		{l.dataP("secret", "registry", "root.crt"), s.rootCertPEM},
		{l.dataP("secret", "keys", "secretkey"), []byte(s.secretKey)},
	}
	for _, f := range files {
		if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", f.path, err)
		}
		if err := os.Chmod(f.path, 0o600); err != nil {
			return err
		}
		if err := os.Chown(f.path, harborUID, harborGID); err != nil {
			return fmt.Errorf("giving %s to %d:%d (run as root): %w", f.path, harborUID, harborGID, err)
		}
	}
	return nil
}

// runGoharbor starts harbor-db, redis, registry, registryctl, core and
// jobservice on a private network under their compose service names, with
// the bind mounts of Harbor's docker-compose.yml, and waits for each
// component's health endpoint (published on 127.0.0.1 for the wait). Core
// is published on a fixed free port of 127.0.0.1 so that its EXT_ENDPOINT
// is the URL tests use.
func (h *Harbor) runGoharbor(ctx context.Context, o *harborOptions) error {
	SetTestcontainersEnv()
	images, missing, err := resolveGoharborImages(ctx, o.version)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s", ErrHarborImagesMissing, strings.Join(missing, ", "))
	}
	if err := h.makeDataDir(o.dataDir); err != nil {
		return err
	}
	configDir, err := os.MkdirTemp("", "harbor-import-goharbor-config-")
	if err != nil {
		return fmt.Errorf("creating config directory: %w", err)
	}
	h.removeDirs = append(h.removeDirs, configDir)
	if err := os.Chmod(configDir, 0o755); err != nil {
		return err
	}
	l := goharborLayout{config: configDir, data: h.DataDir}
	secrets, err := newGoharborSecrets()
	if err != nil {
		return err
	}
	if err := writeGoharborFiles(l, secrets); err != nil {
		return err
	}
	corePort, err := freeLoopbackPort()
	if err != nil {
		return err
	}
	h.URL = "http://127.0.0.1:" + corePort
	h.RegistryHost = "127.0.0.1:" + corePort
	h.AdminPassword = o.adminPassword
	h.Insecure = true

	nw, err := tcnetwork.New(ctx)
	if err != nil {
		return fmt.Errorf("creating network: %w", err)
	}
	h.network = nw
	trust := bind(l.cfg("shared", "trust-certificates"), "/harbor_cust_cert")

	steps := []struct {
		service string
		opts    []testcontainers.ContainerCustomizer
	}{
		{"postgresql", []testcontainers.ContainerCustomizer{
			testcontainers.WithEnv(map[string]string{"POSTGRES_PASSWORD": goharborDBPassword}),
			bind(l.dataP("database"), "/var/lib/postgresql/data"),
			testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) { hc.ShmSize = 1 << 30 }),
			publishOnLoopback("5432/tcp"),
			testcontainers.WithWaitStrategy(wait.ForExec([]string{"/docker-healthcheck.sh"}).
				WithStartupTimeout(o.startup).WithPollInterval(time.Second)),
		}},
		{"redis", []testcontainers.ContainerCustomizer{
			bind(l.dataP("redis"), "/var/lib/redis"),
			testcontainers.WithWaitStrategy(wait.ForLog("Ready to accept connections").WithStartupTimeout(o.startup)),
		}},
		{"registry", []testcontainers.ContainerCustomizer{
			bind(l.dataP("registry"), "/storage"),
			bind(l.cfg("registry"), "/etc/registry"),
			bind(l.dataP("secret", "registry", "root.crt"), "/etc/registry/root.crt"),
			trust,
			publishOnLoopback("5000/tcp"),
			testcontainers.WithWaitStrategy(wait.ForHTTP("/").WithPort("5000/tcp").WithStartupTimeout(o.startup)),
		}},
		{"registryctl", []testcontainers.ContainerCustomizer{
			testcontainers.WithEnv(goharborRegistryCtlEnv(secrets)),
			bind(l.dataP("registry"), "/storage"),
			bind(l.cfg("registry"), "/etc/registry"),
			bind(l.cfg("registryctl", "config.yml"), "/etc/registryctl/config.yml"),
			trust,
			publishOnLoopback("8080/tcp"),
			testcontainers.WithWaitStrategy(wait.ForHTTP("/api/health").WithPort("8080/tcp").WithStartupTimeout(o.startup)),
		}},
		{"core", []testcontainers.ContainerCustomizer{
			testcontainers.WithEnv(goharborCoreEnv(secrets, h.URL, o.adminPassword)),
			bind(l.dataP("ca_download"), "/etc/core/ca"),
			bind(l.data, "/data"),
			bind(l.cfg("core", "certificates"), "/etc/core/certificates"),
			bind(l.cfg("core", "app.conf"), "/etc/core/app.conf"),
			bind(l.dataP("secret", "core", "private_key.pem"), "/etc/core/private_key.pem"),
			bind(l.dataP("secret", "keys", "secretkey"), "/etc/core/key"),
			trust,
			publishOnLoopbackAt("8080/tcp", corePort),
			// Core migrates the schema on its first start.
			testcontainers.WithWaitStrategy(wait.ForHTTP("/api/v2.0/ping").WithPort("8080/tcp").WithStartupTimeout(2 * o.startup)),
		}},
		{"jobservice", []testcontainers.ContainerCustomizer{
			testcontainers.WithEnv(goharborJobserviceEnv(secrets)),
			bind(l.dataP("job_logs"), "/var/log/jobs"),
			bind(l.cfg("jobservice", "config.yml"), "/etc/jobservice/config.yml"),
			trust,
			publishOnLoopback("8080/tcp"),
			testcontainers.WithWaitStrategy(wait.ForHTTP("/api/v1/stats").WithPort("8080/tcp").WithStartupTimeout(o.startup)),
		}},
	}
	for _, st := range steps {
		o.logf("testenv: goharbor: starting %s (%s)", st.service, images[st.service])
		opts := append([]testcontainers.ContainerCustomizer{tcnetwork.WithNetwork([]string{st.service}, nw)}, st.opts...)
		ctr, err := testcontainers.Run(ctx, images[st.service], opts...)
		h.track(st.service, ctr)
		if err != nil {
			return fmt.Errorf("running %s: %w", st.service, err)
		}
		if st.service == "postgresql" {
			hostPort, err := endpoint(ctx, ctr, "5432/tcp")
			if err != nil {
				return err
			}
			h.DSN = fmt.Sprintf("postgres://postgres:%s@%s/registry?sslmode=disable", goharborDBPassword, hostPort)
		}
	}
	if err := waitAdminLogin(ctx, h.URL, h.AdminPassword, o.startup); err != nil {
		return err
	}
	o.logf("testenv: goharbor %s ready at %s, data %s", o.version, h.URL, h.DataDir)
	return nil
}

// freeLoopbackPort returns a port of 127.0.0.1 that was free a moment ago.
func freeLoopbackPort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), nil
}

// waitAdminLogin polls GET /api/v2.0/users/current as admin until it
// answers 200: core sets the admin password from HARBOR_ADMIN_PASSWORD
// while starting.
func waitAdminLogin(ctx context.Context, baseURL, password string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := ""
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/api/v2.0/users/current", nil)
		if err != nil {
			return err
		}
		req.SetBasicAuth("admin", password)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for admin login at %s: %w (last: %s)", baseURL, ctx.Err(), last)
		case <-time.After(time.Second):
		}
	}
}
