# trigsync — see README.md. Every target runs on a clean clone; `.ci/run`
# installs the system tools the tests use and calls `make test`.

VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
GOFLAGS  := -trimpath
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
BENCHTIME ?= 20000x
BENCHCOUNT ?= 5

export CGO_ENABLED = 0

FUZZTIME ?= 60s

.PHONY: build test lint cross bench bench-fleet fuzz demo clean

build:
	go build $(GOFLAGS) -ldflags '$(LDFLAGS)' -o bin/trigsync ./cmd/trigsync

# The test command of the README and of CI: formatting, vet, staticcheck,
# every test (the e2e tests run the sqlite3 shell, Python, faketime and the
# arm64 build under qemu-aarch64-static), with the arm64 binary `make cross`
# produced.
test: lint cross
	TRIGSYNC_ARM64=$(CURDIR)/dist/trigsync-linux-arm64 go test -count=1 -timeout 30m ./...

lint:
	@test -z "$$(gofmt -l .)" || { echo "gofmt would change:"; gofmt -l .; exit 1; }
	go vet ./...
	go run $(STATICCHECK) ./...

# Static, stripped, version-stamped binaries for the platforms trigsync ships on.
cross:
	GOOS=linux GOARCH=amd64 go build $(GOFLAGS) -ldflags '$(LDFLAGS)' -o dist/trigsync-linux-amd64 ./cmd/trigsync
	GOOS=linux GOARCH=arm64 go build $(GOFLAGS) -ldflags '$(LDFLAGS)' -o dist/trigsync-linux-arm64 ./cmd/trigsync
	GOOS=linux GOARCH=arm GOARM=7 go build $(GOFLAGS) -ldflags '$(LDFLAGS)' -o dist/trigsync-linux-armv7 ./cmd/trigsync

# Benchmarks: each reports trigsync/plain throughput measured in the same
# run; scripts/bench-ratios prints the medians (docs/BENCHMARKS.md). The
# migration benchmark adds 10 columns a run (a table holds at most 2,000);
# the transport benchmarks (BenchmarkTransportVerify1M among them: verify
# of two equal million-row nodes over loopback) run real processes once each
# (TRIGSYNC_BENCH_ROWS=N scales their million rows down); the heal of a
# hub restored 10,000 changes back runs once a count; the fleet (a hub and
# 1,000 cron devices, docs/FLEET.md) runs once.
bench:
	go test -run '^$$' -bench . -skip 'Transport|MigrateAddColumn|HealRestore|Fleet' -benchtime $(BENCHTIME) -count $(BENCHCOUNT) ./... | tee bench.out
	go test -run '^$$' -bench MigrateAddColumn -benchtime 10x -count $(BENCHCOUNT) ./applier | tee -a bench.out
	go test -run '^$$' -bench HealRestore -benchtime 1x -count $(BENCHCOUNT) ./shipper | tee -a bench.out
	go test -run '^$$' -bench Transport -benchtime 1x -count 1 -timeout 30m ./e2e | tee -a bench.out
	go test -run '^$$' -bench Fleet -benchtime 1x -count 1 -timeout 30m ./fleet | tee -a bench.out
	scripts/bench-ratios bench.out

# The fleet load generator at 10,000 devices syncing every minute, jittered,
# three periods, then probes of idle and 10+10 syncs (docs/FLEET.md); its
# switches (trigsync-fleet -h): aligned schedules, TLS with and without
# session resumption, a hub restart, devices that never come back.
FLEET ?= -devices 10000 -rounds 3 -period 60s -concurrency 16 -probe 300
bench-fleet: build
	go run ./cmd/trigsync-fleet -binary bin/trigsync $(FLEET)

# Coverage-guided fuzzing of everything that parses peer input; the seed
# corpora run in `make test` as ordinary tests.
fuzz:
	go test ./changelog -run '^$$' -fuzz FuzzValueJSON -fuzztime $(FUZZTIME)
	go test ./changelog -run '^$$' -fuzz FuzzCellsJSON -fuzztime $(FUZZTIME)
	go test ./ddl -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)
	go test ./ddl -run '^$$' -fuzz FuzzTriggerWrites -fuzztime $(FUZZTIME)
	go test ./applier -run '^$$' -fuzz FuzzApply -fuzztime $(FUZZTIME) -fuzzminimizetime 5s

# The README's demo: two nodes of an embedded shop schema serve each other
# on loopback; a sqlite3 shell write on one appears on the other; concurrent
# edits of one row both survive.
demo: build
	bin/trigsync demo demo

clean:
	rm -rf bin dist demo bench.out
