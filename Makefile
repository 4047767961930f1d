# Reel. `make help` lists the targets.
SHELL := /bin/bash
GO    ?= go
export PATH := $(shell $(GO) env GOPATH)/bin:$(PATH)

.PHONY: help deps build test test-short soak demo bench bench-quick lint fuzz clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-11s %s\n", $$1, $$2}'

deps: ## install ffmpeg, redis-server, memcached, mariadb-server, chromium, docker-compose (apt), MinIO (go install) and the player packages (npm ci) when missing
	@./scripts/deps.sh

build: ## build bin/reel
	$(GO) build -o bin/reel ./cmd/reel

test: deps ## every test, the end-to-end tier (e2e/) too, with the race detector on real servers and ffmpeg
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 28m ./...

test-short: deps ## the unit and package tests only (go test -short), about a minute once built
	$(GO) test -race -count=1 -short ./...

soak: deps ## 20 minutes of jobs from two tenants while workers, Redis, a MinIO node, the edge and an API die (SOAK=20m SEED=1 to change)
	$(GO) test -count=1 -timeout 60m ./e2e -run '^TestSoak$$' -v -soak $(or $(SOAK),20m) -soak-seed $(or $(SEED),1)

demo: deps build ## run the whole pipeline on a generated 30 s 1080p master (or INPUT=path)
	./scripts/demo.sh

bench: deps build ## overhead vs one ffmpeg, scaling, a simulated fleet (root), upload memory and throughput, status latency (also with 200 jobs waiting), per-title bits, viewing history, event pipeline, recommender training, gateway (BENCHFLAGS=-h lists flags)
	./scripts/bench.sh $(BENCHFLAGS)

bench-quick: deps build ## every bench section small (bench -quick), for a first look in minutes
	./scripts/bench.sh -quick $(BENCHFLAGS)

lint: ## gofmt, go vet and staticcheck
	@test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

fuzz: ## run each fuzz target for 20 s
	$(GO) test ./ladder -run '^$$' -fuzz FuzzParse -fuzztime 20s
	$(GO) test ./media -run '^$$' -fuzz FuzzParseProbe -fuzztime 20s
	$(GO) test ./packager -run '^$$' -fuzz FuzzCodecString -fuzztime 20s
	$(GO) test ./packager -run '^$$' -fuzz FuzzIFrameRange -fuzztime 20s
	$(GO) test ./packager -run '^$$' -fuzz FuzzParseMediaPlaylist -fuzztime 20s
	$(GO) test ./playtoken -run '^$$' -fuzz FuzzCheck -fuzztime 20s

clean: ## remove build output and demo data
	rm -rf bin demo-data
