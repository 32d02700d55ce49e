# dmls: GitOps for distributed machine learning on Kubernetes.
# `make render` and `make test` do all their set-up on a fresh machine.

export PATH := /usr/local/go/bin:$(HOME)/go/bin:$(PATH)
# Argo CD v3.6's Go module needs Go 1.27; the go command fetches this
# toolchain from the module proxy when the installed Go is older.
export GOTOOLCHAIN := go1.27.3
GO      ?= go
BIN     := bin/dmls
TOOLS   := .cache/tools
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -X github.com/dmls-project/dmls/internal/cli.Version=$(VERSION)

.PHONY: all build render test oidc-provider prometheus lint golden docs api-docs generate-types bench bench-go bench-api dist dist-check image fuzz preview e2e e2e-deps e2e-up e2e-down clean

all: build

build: $(BIN)

# go build fetches only the modules the binary's packages come from; `go mod
# download` would fetch the tests' too (Argo CD, kops and their cloud SDKs).
$(BIN): go.mod go.sum $(shell find cmd generators internal schemas -name '*.go' -o -name '*.cue' -o -name '*.txtar' 2>/dev/null)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/dmls

## render: validate and render the example workspace into rendered/<env>/<app>.yaml
render: $(BIN)
	$(BIN) validate -w .
	$(BIN) render -w . --out rendered
	@echo "rendered/:"; find rendered -name '*.yaml' | sort

## test: unit, golden and CLI tests
test: oidc-provider prometheus
	$(GO) mod download
	$(GO) vet ./...
	$(GO) test -timeout 30m ./...

## oidc-provider: install panva's oidc-provider, the identity provider that
## the single sign-on tests start (internal/oidctest), into .cache/oidc with
## npm ci from its lock file
OIDC := .cache/oidc
oidc-provider: $(OIDC)/node_modules/oidc-provider/package.json
$(OIDC)/node_modules/oidc-provider/package.json: internal/oidctest/provider/package.json internal/oidctest/provider/package-lock.json
	@command -v npm >/dev/null || { s=""; [ "$$(id -u)" -ne 0 ] && s=sudo; $$s apt-get update -qq && $$s apt-get install -y -qq nodejs npm >/dev/null; }
	mkdir -p $(OIDC)
	cp internal/oidctest/provider/package.json internal/oidctest/provider/package-lock.json $(OIDC)/
	cd $(OIDC) && npm ci --no-audit --no-fund --ignore-scripts
	touch $@

## prometheus: install Debian's prometheus package, the server that the
## release gates' tests start as a child process (internal/gates/promtest);
## the package's own service is never used
prometheus:
	@command -v prometheus >/dev/null || { s=""; [ "$$(id -u)" -ne 0 ] && s=sudo; $$s apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$s apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }

## lint: gofmt, go vet, staticcheck (its unused-code check U1000 included),
## deadcode (no function that neither a command nor a test reaches), and
## actionlint over the GitHub workflows; the tools are pinned and built into
## .cache/tools
lint: $(TOOLS)/actionlint $(TOOLS)/staticcheck $(TOOLS)/deadcode
	@out=$$(gofmt -l cmd generators internal schemas tests 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./tests/e2e
	$(TOOLS)/staticcheck ./...
	@out=$$($(TOOLS)/deadcode -test ./...); if [ -n "$$out" ]; then echo "deadcode: unreachable from every command and test:"; echo "$$out"; exit 1; fi
	$(TOOLS)/actionlint -no-color .github/workflows/*.yml

## golden: refresh golden files after an intended change of output (the
## packages whose tests use internal/golden, which defines -update)
golden:
	$(GO) test $$($(GO) list -f '{{.ImportPath}} {{join .TestImports " "}}' ./... | grep ' github.com/dmls-project/dmls/internal/golden' | cut -d' ' -f1) -run 'Golden' -update

## docs: regenerate the CLI reference in docs/cli from the cobra commands and
## docs/spec-reference.md from the CUE schemas (internal/docgen; its tests check both)
docs:
	$(GO) run ./internal/docgen/cmd/docgen -root .

## api-docs: rewrite docs/api-routes.md from the API's route table
## (TestRouteDocsAreCurrent checks it)
api-docs:
	$(GO) test ./internal/api -run '^TestRouteDocsAreCurrent$$' -update-route-docs

## generate-types: regenerate the Go types of the custom resources whose
## Go APIs cannot be linked here (KServe, External Secrets, Trainer) from their
## upstream CRDs (internal/crdgen; TestGeneratedTypesAreCurrent checks them)
generate-types:
	for c in $$(find internal/apis -name crdgen.yaml | sort); do $(GO) run ./internal/crdgen/cmd/crdgen -config $$c || exit 1; done

## bench: the dmls binary against the peer pipeline (cue export per app,
## kustomize build per overlay), cold and warm, at 100 and 1,000 apps, as a
## Markdown table in .cache/bench.md; BENCH_5000=1 adds 5,000 apps
BENCH_SIZES  ?= 100,1000$(if $(BENCH_5000),$(comma)5000)
BENCH_PEER   ?= 100,1000
comma        := ,
bench: $(BIN) $(TOOLS)/cue $(TOOLS)/kustomize
	$(GO) run ./internal/benchrun -dmls $(BIN) -tools $(TOOLS) -sizes $(BENCH_SIZES) -peer $(BENCH_PEER) -out .cache/bench.md

# the peer pipeline's CLIs, built once into the ignored tools folder
$(TOOLS)/cue:
	GOBIN=$(CURDIR)/$(TOOLS) $(GO) install cuelang.org/go/cmd/cue@v0.17.1
$(TOOLS)/kustomize:
	GOBIN=$(CURDIR)/$(TOOLS) $(GO) install sigs.k8s.io/kustomize/kustomize/v5@v5.6.0
$(TOOLS)/actionlint:
	GOBIN=$(CURDIR)/$(TOOLS) $(GO) install github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
$(TOOLS)/staticcheck:
	GOBIN=$(CURDIR)/$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2
$(TOOLS)/deadcode:
	GOBIN=$(CURDIR)/$(TOOLS) $(GO) install golang.org/x/tools/cmd/deadcode@v0.51.0
$(TOOLS)/cyclonedx-gomod:
	GOBIN=$(CURDIR)/$(TOOLS) $(GO) install github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@v1.10.0

## bench-go: the Go benchmarks of loading, generating and rendering
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem -skip Submit500 ./internal/... ./generators/...

## bench-api: 500 submissions from 25 clients, then 1,000 from 100 (a deep queue), then the same against a git
## server 50 ms away, against a real git server, at 10 and 1,000 apps: req/s, p50, p99, the commits and how many
## were planned on a push in flight, and the load average at each start, as a Markdown table (also in .cache/bench-api.md)
bench-api:
	@mkdir -p .cache
	$(GO) test ./internal/api/ -run '^$$' -bench 'BenchmarkSubmit(500|Deep|Remote)$$' -benchtime 1x -timeout 40m > .cache/bench-api.txt; \
	  status=$$?; cat .cache/bench-api.txt; exit $$status
	@{ echo "| submissions | clients | git server | apps | req/s | p50 | p99 | commits | planned on a push in flight | 1-minute load average at start |"; \
	  echo "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"; \
	  awk '/^BenchmarkSubmit(500|Deep|Remote)\/apps=/ { split($$1, a, "[=-]"); delete m; \
	    for (i = 3; i < NF; i += 2) m[$$(i+1)] = $$i; \
	    load = ($$1 ~ /500/) ? "500 | 25 | local" : (($$1 ~ /Remote/) ? "1,000 | 100 | 50 ms away" : "1,000 | 100 | local"); \
	    printf "| %s | %s | %s | %s ms | %s ms | %s | %s | %s |\n", load, a[2], m["req/s"], m["p50-ms"], m["p99-ms"], m["commits"], m["speculative"], m["load-1m"] }' \
	    .cache/bench-api.txt; } | tee .cache/bench-api.md

## dist: the release archives in dist/: a static, stripped binary per
## platform with the license, README, completions, man pages and an SBOM,
## and SHA256SUMS. A tree with uncommitted changes is refused unless
## ALLOW_DIRTY=1. DIST_PLATFORMS picks platforms (default all four).
DIST_PLATFORMS ?= linux/amd64,linux/arm64,darwin/amd64,darwin/arm64
DIST_FLAGS      = -version $(VERSION) -sbom-tool $(CURDIR)/$(TOOLS)/cyclonedx-gomod $(if $(ALLOW_DIRTY),-allow-dirty)
dist: $(TOOLS)/cyclonedx-gomod
	$(GO) run ./internal/dist $(DIST_FLAGS) -out dist -platforms $(DIST_PLATFORMS)

## dist-check: build linux/amd64 twice and require identical archives (CI)
dist-check: $(TOOLS)/cyclonedx-gomod
	$(GO) run ./internal/dist $(DIST_FLAGS) -out .cache/dist-a -platforms linux/amd64
	$(GO) run ./internal/dist $(DIST_FLAGS) -out .cache/dist-b -platforms linux/amd64
	cmp .cache/dist-a/SHA256SUMS .cache/dist-b/SHA256SUMS
	@echo "reproducible:"; cat .cache/dist-a/SHA256SUMS

## image: the multi-arch dmls image (linux/amd64, linux/arm64) as an OCI
## layout in dist/oci, built from scratch without Docker; prints its digest
image:
	$(MAKE) dist DIST_PLATFORMS=linux/amd64,linux/arm64
	$(GO) run ./internal/ociimage -out dist/oci -version $(VERSION) -revision $$(git rev-parse HEAD) \
	  -created $$(git log -1 --format=%ct) \
	  -bin linux/amd64=dist/build/linux_amd64/dmls -bin linux/arm64=dist/build/linux_arm64/dmls

## preview: the Markdown preview (dmls diff) of what the working tree
## changes against BASE, in $(PREVIEW)
BASE    ?= origin/main
PREVIEW ?= preview.md
preview: $(BIN)
	$(BIN) diff -w . --base $(BASE) --format markdown > $(PREVIEW).tmp && mv $(PREVIEW).tmp $(PREVIEW) || { rm -f $(PREVIEW).tmp; exit 1; }
	@echo "wrote $(PREVIEW)"

## fuzz: fuzz the spec loader, the submit specs, repo URLs and the API body decoder
fuzz:
	$(GO) test ./internal/workspace/ -run '^$$' -fuzz FuzzLoad -fuzztime 60s
	$(GO) test ./internal/apiclient/ -run '^$$' -fuzz FuzzSubmitSpec -fuzztime 30s
	$(GO) test ./internal/repourl/ -run '^$$' -fuzz FuzzPublic -fuzztime 30s
	$(GO) test ./internal/api/ -run '^$$' -fuzz FuzzDecodeBody -fuzztime 30s

clean:
	rm -rf bin rendered dist

## e2e: end-to-end tests against a real etcd, kube-apiserver and Argo CD (tools cached in .cache/e2e)
E2E := tests/e2e/cluster.sh
# E2E_RUN limits the tests (go test -run), for example E2E_RUN=TestStatusAndRefresh.
E2E_RUN ?= .

e2e-deps:
	bash $(E2E) deps
e2e-up: e2e-deps
	bash $(E2E) up
e2e-down:
	bash $(E2E) down
e2e: e2e-deps
	@set -e; trap 'bash $(E2E) down' EXIT; \
	bash $(E2E) up; \
	eval "$$(bash $(E2E) env)"; \
	$(GO) test -tags e2e -count=1 -timeout 15m -v -run '$(E2E_RUN)' ./tests/e2e/... || { status=$$?; bash $(E2E) logs; exit $$status; }
