package harborhost_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/harbor-import/harbor-import/harborhost"
)

// TestLoadConfig reads harbor.yml in every shape the installer ships
// (testdata/, written after make/harbor.yml.tmpl of Harbor 2.0 to 2.15).
func TestLoadConfig(t *testing.T) {
	defaults := harborhost.Config{StorageDriver: "filesystem", QuotaUpdateProvider: "db"}
	with := func(f func(*harborhost.Config)) harborhost.Config {
		c := defaults
		f(&c)
		return c
	}
	tests := []struct {
		file    string
		want    harborhost.Config
		wantDB  *harborhost.ExternalDatabase
		wantDSN string // external_database DSN, or InternalDSN(password, "172.18.0.2")
		wantURL string
		wantErr error
	}{
		{
			file: "default.yml",
			want: with(func(c *harborhost.Config) {
				c.Version, c.Hostname, c.HTTPS, c.HTTPPort, c.HTTPSPort = "2.15.0", "reg.mydomain.com", true, "80", "443"
				c.DataVolume, c.DatabasePassword = "/data", "root123"
			}),
			wantDSN: "postgres://postgres:root123@172.18.0.2:5432/registry?sslmode=disable",
			wantURL: "https://reg.mydomain.com",
		},
		{
			file: "http-only.yml",
			want: with(func(c *harborhost.Config) {
				c.Version, c.Hostname, c.HTTPPort = "2.10.0", "10.0.0.5", "8080"
				c.DataVolume, c.DatabasePassword = "/data", "root123"
			}),
			wantDSN: "postgres://postgres:root123@172.18.0.2:5432/registry?sslmode=disable",
			wantURL: "http://10.0.0.5:8080",
		},
		{
			file: "external-db.yml",
			want: with(func(c *harborhost.Config) {
				c.Version, c.Hostname, c.HTTPS, c.HTTPPort, c.HTTPSPort = "2.15.0", "harbor.example.com", true, "80", "443"
				c.DataVolume, c.DatabasePassword = "/data", "root123"
			}),
			wantDB:  &harborhost.ExternalDatabase{Host: "db.example.com", Port: "5433", DBName: "harbor_registry", Username: "harbor", Password: "p@ss:w/rd", SSLMode: "require"},
			wantDSN: "postgres://harbor:p%40ss%3Aw%2Frd@db.example.com:5433/harbor_registry?sslmode=require",
			wantURL: "https://harbor.example.com",
		},
		{
			file: "external-db-v2.0.yml",
			want: with(func(c *harborhost.Config) {
				c.Version, c.Hostname, c.HTTPS, c.HTTPPort, c.HTTPSPort = "2.0.0", "reg.mydomain.com", true, "80", "8443"
				c.DataVolume, c.DatabasePassword = "/data", "root123"
			}),
			wantDB:  &harborhost.ExternalDatabase{Host: "192.168.10.20", Port: "5432", DBName: "registry", Username: "postgres", Password: "secret", SSLMode: "disable"},
			wantDSN: "postgres://postgres:secret@192.168.10.20:5432/registry?sslmode=disable",
			wantURL: "https://reg.mydomain.com:8443",
		},
		{
			file: "custom-data.yml",
			want: with(func(c *harborhost.Config) {
				c.Version, c.Hostname, c.ExternalURL = "2.12.0", "registry.corp.local", "https://registry.corp.example.com:8443/"
				c.HTTPS, c.HTTPPort, c.HTTPSPort = true, "80", "443"
				c.DataVolume, c.DatabasePassword = "/srv/harbor-data", "123456"
				c.CacheEnabled, c.CacheRedisDB, c.QuotaUpdateProvider = true, 7, "redis"
			}),
			wantDSN: "postgres://postgres:123456@172.18.0.2:5432/registry?sslmode=disable",
			wantURL: "https://registry.corp.example.com:8443",
		},
		{
			file: "s3.yml",
			want: with(func(c *harborhost.Config) {
				c.Version, c.Hostname, c.HTTPPort = "2.15.0", "reg.mydomain.com", "80"
				c.DataVolume, c.DatabasePassword, c.StorageDriver = "/data", "root123", "s3"
			}),
			wantDSN: "postgres://postgres:root123@172.18.0.2:5432/registry?sslmode=disable",
			wantURL: "http://reg.mydomain.com",
		},
		{
			file: "external-redis.yml",
			want: with(func(c *harborhost.Config) {
				c.Version, c.Hostname, c.HTTPS, c.HTTPSPort = "2.9.0", "reg.mydomain.com", true, "443"
				c.DataVolume, c.DatabasePassword = "/data", "root123"
				c.CacheEnabled, c.CacheRedisDB, c.ExternalRedis = true, 3, "redis.example.com:6379"
			}),
			wantDSN: "postgres://postgres:root123@172.18.0.2:5432/registry?sslmode=disable",
			wantURL: "https://reg.mydomain.com",
		},
		{
			file: "minimal.yml",
			want: with(func(c *harborhost.Config) {
				c.Hostname, c.HTTPPort = "reg.mydomain.com", "80"
			}),
			wantDSN: "postgres://postgres:@172.18.0.2:5432/registry?sslmode=disable",
			wantURL: "http://reg.mydomain.com",
		},
		{file: "external-no-harbor.yml", wantErr: harborhost.ErrInvalidConfig},
		{file: "broken.yml", wantErr: harborhost.ErrInvalidConfig},
		{file: "missing.yml", wantErr: errNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", tt.file)
			got, err := harborhost.LoadConfig(path)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("LoadConfig(%s) error = %v, want %v", tt.file, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadConfig(%s): %v", tt.file, err)
			}
			if got.Path != path {
				t.Errorf("Path = %q, want %q", got.Path, path)
			}
			gotDB := got.ExternalDatabase
			cmp := *got
			cmp.Path, cmp.ExternalDatabase = "", nil
			if cmp != tt.want {
				t.Errorf("got  %+v\nwant %+v", cmp, tt.want)
			}
			switch {
			case (gotDB == nil) != (tt.wantDB == nil):
				t.Errorf("ExternalDatabase = %+v, want %+v", gotDB, tt.wantDB)
			case gotDB != nil && *gotDB != *tt.wantDB:
				t.Errorf("ExternalDatabase = %+v, want %+v", *gotDB, *tt.wantDB)
			}
			dsn := harborhost.InternalDSN(got.DatabasePassword, "172.18.0.2")
			if gotDB != nil {
				dsn = gotDB.DSN()
			}
			if dsn != tt.wantDSN {
				t.Errorf("DSN = %q, want %q", dsn, tt.wantDSN)
			}
			if u := got.URL(); u != tt.wantURL {
				t.Errorf("URL() = %q, want %q", u, tt.wantURL)
			}
		})
	}
}

func TestExternalDatabaseDefaults(t *testing.T) {
	e := harborhost.ExternalDatabase{Host: "db", DBName: "registry", Username: "harbor", Password: "pw"}
	if got, want := e.DSN(), "postgres://harbor:pw@db:5432/registry?sslmode=disable"; got != want {
		t.Errorf("DSN() = %q, want %q", got, want)
	}
}

func TestMaskDSN(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://postgres:root123@172.18.0.2:5432/registry?sslmode=disable", "postgres://postgres:***@172.18.0.2:5432/registry?sslmode=disable"},
		{"postgres://harbor:p%40ss%3Aw%2Frd@db:5433/r?sslmode=require", "postgres://harbor:***@db:5433/r?sslmode=require"},
		{"postgres://postgres@127.0.0.1:5432/registry", "postgres://postgres@127.0.0.1:5432/registry"},
		{"postgres://u@h/db?password=secret&sslmode=disable", "postgres://u@h/db?password=***&sslmode=disable"},
		{"host=db user=postgres password=secret dbname=registry", "host=db user=postgres password=*** dbname=registry"},
		{"host=db password='a b\\'c' dbname=registry", "host=db password=*** dbname=registry"},
		{"postgres://u:pw@[::1", "(a connection string that does not parse; not shown)"},
	}
	for _, tt := range tests {
		if got := harborhost.MaskDSN(tt.in); got != tt.want {
			t.Errorf("MaskDSN(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
