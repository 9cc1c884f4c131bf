# harbor-import: build, install, test and demo.
#
#   make demo    run harbor-import on a built-in example, end to end (installs what it needs)
#   make test    run every test against real PostgreSQL and registries (installs what it needs)
#   make build   static binary bin/harbor-import
#
# GNU make; recipes use /bin/sh.

GO       ?= go
PREFIX   ?= /usr/local
BIN      := bin/harbor-import
MODULE   := github.com/harbor-import/harbor-import
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w -X $(MODULE)/cmd.Version=$(VERSION) -X $(MODULE)/cmd.Commit=$(COMMIT)
# Per fuzz target in `make fuzz`.
FUZZTIME ?= 20s
# Extra flags for the demo, e.g. make demo DEMOFLAGS=--keep
DEMOFLAGS ?=

# testcontainers-go on these machines: no reaper image, ports on loopback.
# Values already in the environment win.
TESTCONTAINERS_RYUK_DISABLED ?= true
TESTCONTAINERS_HOST_OVERRIDE ?= 127.0.0.1
export TESTCONTAINERS_RYUK_DISABLED TESTCONTAINERS_HOST_OVERRIDE

.PHONY: all build install deps demo test fuzz bench lint clean help

all: build

help:
	@echo 'make demo     run harbor-import on a built-in example, end to end'
	@echo 'make test     go vet and every test (real PostgreSQL in Docker, real registries)'
	@echo 'make build    static binary $(BIN) ($(VERSION))'
	@echo 'make install  install $(BIN) to $(DESTDIR)$(PREFIX)/bin'
	@echo 'make deps     install test tools (debootstrap, tar, gzip, zstd, psql) when missing'
	@echo 'make fuzz     run each fuzz target for $(FUZZTIME)'
	@echo 'make bench    benchmarks on generated corpora (bench/run.sh; long)'
	@echo 'make lint     gofmt and go vet'
	@echo 'make clean    remove bin/'

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) .

install: build
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/harbor-import

deps:
	sh scripts/setup-test-deps.sh

demo: deps build
	$(GO) run ./testenv/cmd/harbor-import-demo --bin $(BIN) $(DEMOFLAGS)

test: deps
	$(GO) vet ./...
	$(GO) test ./... -count=1 -timeout 30m

# Every `func FuzzXxx` in a _test.go file, one short run each.
fuzz:
	@set -e; \
	files=$$(grep -rl --include='*_test.go' '^func Fuzz' .); \
	[ -n "$$files" ] || { echo 'no fuzz targets'; exit 0; }; \
	for f in $$files; do \
		dir=./$$(dirname "$${f#./}"); \
		for fn in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$f"); do \
			echo "$(GO) test $$dir -run '^\$$' -fuzz '^$$fn\$$' -fuzztime $(FUZZTIME)"; \
			$(GO) test "$$dir" -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME); \
		done; \
	done

# Benchmarks against generated corpora; settings in bench/run.sh's header.
bench:
	sh bench/run.sh

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt -l: not formatted:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin dist
