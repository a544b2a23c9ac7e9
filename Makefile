# chronik — build and test every module of the workspace.
#
#   make test      vet + build every module on its own + race tests of all modules
#   make build     bin/chronik and bin/chronik-conformance
#   make generate  regenerate plugins/internal/pb from the .proto (pinned tools)

GO      ?= go
MODULES := . plugins conformance metadata-raft metadata-etcd
# Long-running suites (conformance in three modes, plugin subprocesses) need room.
TEST_TIMEOUT ?= 30m
TESTFLAGS ?= -race -count=1 -timeout $(TEST_TIMEOUT)

.PHONY: all build test vet fmt-check modules-check generate generate-check clean

all: build

build:
	$(GO) build -o bin/chronik ./cmd/chronik
	cd conformance && $(GO) build -o ../bin/chronik-conformance ./cmd/chronik-conformance

test: fmt-check vet modules-check
	@set -e; for m in $(MODULES); do \
		echo "== go test $$m"; \
		(cd $$m && $(GO) test $(TESTFLAGS) ./...); \
	done

vet:
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) vet ./...); done

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "not gofmt-ed:"; echo "$$out"; exit 1; fi

# Each go.mod must build on its own, without the workspace.
modules-check:
	@set -e; for m in $(MODULES); do \
		echo "== GOWORK=off go build $$m"; \
		(cd $$m && GOWORK=off $(GO) build ./... && GOWORK=off $(GO) vet ./...); \
	done

generate:
	$(MAKE) -C plugins generate

# Regenerating must reproduce the committed code exactly.
generate-check: generate
	git diff --exit-code -- plugins/internal/pb

clean:
	rm -rf bin
