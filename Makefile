# The two commands a newcomer needs:  make run   (local stack + walk-through)
#                                     make test  (everything CI runs)
SHELL := /bin/bash
.DEFAULT_GOAL := help

FILTERS      ?= oidc-auth sticky-session credential-injector
WASM_TARGET  := wasm32-wasip1
DIST         := dist
GIT_HASH     := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
# PLATFORM.md: V8 in Envoy refuses modules built with --all-features.
WASM_OPT_FLAGS := -Oz --strip-debug --strip-producers --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
                  --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue
export PATH := $(CURDIR)/.tools/bin:$(PATH)
# oidc-auth cargo features. `in-vm-p384-p521` also verifies ES384/ES512 in the VM, for hosts without
# Envoy's verify_signature (~160 KB more module); without it Envoy verifies them natively.
OIDC_FEATURES ?=

.PHONY: help setup build size oci push run stop lint unit wasm-unit e2e test bench bench-filter bench-vm clean soak fuzz fuzz-smoke

help:
	@echo "make run    - build the plugins and start the local stack (Envoy + IdP + OpenBao + upstreams) with a walk-through"
	@echo "make stop   - stop the local stack"
	@echo "make test   - fmt, clippy (native + wasm), unit tests (native + wasm32), end-to-end tests in real Envoy"
	@echo "make build  - optimized plugins in $(DIST)/ with sha256 files"
	@echo "make size   - where each module's bytes go, per crate and function -> bench/size.md"
	@echo "make oci    - Istio-loadable Wasm OCI image layouts in $(DIST)/oci/<plugin>/ (no Docker)"
	@echo "make push REGISTRY=registry.example.com [INSECURE=1]  - push them (ORAS SDK), digests unchanged"
	@echo "make fuzz   - every fuzz target for FUZZ_SECONDS (default 10) each; fails on any crash"
	@echo "make bench  - plugins vs. Envoy native filters -> bench/results.md (BENCH_SECONDS, BENCH_ROUNDS, BENCH_TOKENS)"
	@echo "make bench-vm - in-VM cost of each plugin's per-request policy call, without Envoy (V8 via Node)"

setup:
	@bash scripts/bootstrap.sh

# Every plugin builds with the `wasm-small` profile (opt-level "z"), chosen by measurement
# (bench/profile-note.md, session 14): oidc-auth at "z" is 64 KB smaller than at "s", for ≈ 2 µs (4 %) more
# CPU on a cached token (1.20-1.25x jwt_authn, goal 1.25x); distinct RS256/ES256 tokens 1.15-1.18x / 1.08-1.11x.

# The proxy-wasm callbacks each plugin implements. scripts/keep_callbacks.sh removes the SDK's other
# `proxy_on_*` exports, so Envoy skips those VM entries on every request (bench/profile-note.md).
# A hook added to a plugin must be named here, or Envoy never calls it.
CALLBACKS_oidc-auth           := proxy_on_request_headers proxy_on_http_call_response proxy_on_tick
CALLBACKS_sticky-session      := proxy_on_request_headers proxy_on_response_headers
CALLBACKS_credential-injector := proxy_on_request_headers proxy_on_request_body proxy_on_response_headers \
                                 proxy_on_http_call_response proxy_on_tick
CALLBACKS_bench-filter        := proxy_on_request_headers proxy_on_response_headers

# $(call optimize,<cargo output dir>,<module name>,<callbacks>): dist/<module name>.wasm, with only
# those callbacks exported, then wasm-opt.
optimize = bash scripts/keep_callbacks.sh $(1)/$(2).wasm $(1)/$(2).kept.wasm $(3) && \
	wasm-opt $(WASM_OPT_FLAGS) $(1)/$(2).kept.wasm -o $(DIST)/$(2).wasm

# The shipped modules build Rust's standard library from source (rustup's rust-src, installed by `make setup`)
# with panic=immediate-abort, the standard library itself at opt-level 3: 49-64 KB smaller modules than with the
# prebuilt standard library, at the same CPU per request (bench/profile-note.md, session 13). Its
# `optimize_for_size` feature (smaller sorts and integer formatting, none on a request path) and
# -Zlocation-detail=none (no source paths for panics that trap anyway) take 16 KB more (session 14). These are
# unstable cargo/rustc options, enabled on the stable toolchain with RUSTC_BOOTSTRAP=1 (as the Linux kernel
# does), verified with rustc 1.95 (the machine's toolchain); a toolchain that changed them fails loudly. Given up:
# a panic traps without its message in Envoy's log (the plugins deny panics; `clippy.toml`, fuzzing).
# WASM_STD=prebuilt builds with the prebuilt standard library (panic messages logged), and is the fallback
# when rust-src is missing.
RUST_SRC  := $(shell rustc --print sysroot 2>/dev/null)/lib/rustlib/src/rust/library/Cargo.lock
WASM_STD  ?= $(if $(wildcard $(RUST_SRC)),source,prebuilt)
# Its own target dir: other RUSTFLAGS would rebuild the dependencies shared with `target/`'s builds.
WASM_DIR  := $(if $(filter source,$(WASM_STD)),target/std-src,target)
STD_CRATES := core alloc std compiler_builtins dlmalloc
wasm_env  = $(if $(filter source,$(WASM_STD)),RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none") \
	CARGO_TARGET_DIR=$(WASM_DIR) GIT_HASH=$(GIT_HASH)
comma     := ,
wasm_args = $(if $(filter source,$(WASM_STD)),-Zbuild-std=std$(comma)panic_abort -Zbuild-std-features=optimize_for_size \
	$(foreach c,$(STD_CRATES),--config profile.release.package.$(c).opt-level=3 --config profile.wasm-small.package.$(c).opt-level=3))

# $(call cargo_wasm,<environment>,<cargo arguments>): the plugins' cargo build.
cargo_wasm = $(wasm_env) $(1) cargo build --profile wasm-small --target $(WASM_TARGET) $(wasm_args) $(2) \
	$(addprefix -p ,$(FILTERS)) $(if $(OIDC_FEATURES),--features $(addprefix oidc-auth/,$(OIDC_FEATURES)))
# Lines of `<module name> <callbacks>`, one per plugin.
plugin_lines = { $(foreach f,$(FILTERS),echo $(subst -,_,$(f)) $(CALLBACKS_$(f));) }

build: setup
	@echo "standard library: $(WASM_STD) (WASM_STD=source|prebuilt)"
	@$(call cargo_wasm)
	@mkdir -p $(DIST)
	@$(plugin_lines) | while read f callbacks; do \
	  $(call optimize,$(WASM_DIR)/$(WASM_TARGET)/wasm-small,$$f,$$callbacks) && \
	  (cd $(DIST) && sha256sum $$f.wasm > $$f.wasm.sha256) && \
	  printf '%-28s %8d bytes  sha256 %s\n' "$(DIST)/$$f.wasm" $$(stat -c %s $(DIST)/$$f.wasm) $$(cut -d' ' -f1 $(DIST)/$$f.wasm.sha256); \
	done

# Where each module's bytes go (bench/size.md): the builds of `make build` with their symbols kept (own
# target dir), then the same keep_callbacks and wasm-opt, whose --symbolmap names the measured functions.
SIZE_DIR := target/size
size: setup
	@$(call cargo_wasm,CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_WASM_SMALL_STRIP=false CARGO_TARGET_DIR=$(SIZE_DIR),-q)
	@set -o pipefail; $(plugin_lines) | while read f callbacks; do \
	  d=$(SIZE_DIR)/$(WASM_TARGET)/wasm-small; \
	  KEEP_NAMES=1 bash scripts/keep_callbacks.sh $$d/$$f.wasm $$d/$$f.kept.wasm $$callbacks && \
	  wasm-opt $(WASM_OPT_FLAGS) --symbolmap=$$d/$$f.map $$d/$$f.kept.wasm -o $$d/$$f.opt.wasm && \
	  echo $$d/$$f.opt.wasm:$$d/$$f.map || exit 1; \
	done | xargs python3 scripts/size_report.py bench/size.md

# Wasm OCI images (Istio "OCI artifact" variant) as OCI image layouts on disk, plus
# dist/oci/<plugin>.digest (the manifest digest = WasmPlugin sha256) and
# dist/oci/pins/<plugin>.yaml (a kustomize patch with url + sha256).
OCI_TAG  ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
REGISTRY ?= REGISTRY
oci: build
	@cargo run -q -p wasm-oci -- $(DIST)/oci $(OCI_TAG) $(REGISTRY) $(addprefix $(DIST)/,$(addsuffix .wasm,$(subst -,_,$(FILTERS))))

# scripts/oci_push.py (ORAS Python SDK, in .venv) sends each layout byte for byte, so the registry
# serves the digest the WasmPlugin pins. Credentials: `docker login` or ORAS_USER/ORAS_PASS;
# INSECURE=1 for a plain-HTTP registry (a local one).
push: oci
	@[ "$(REGISTRY)" != REGISTRY ] || { echo "usage: make push REGISTRY=registry.example.com[/path] [INSECURE=1]"; exit 2; }
	@for p in $(FILTERS); do \
	  .venv/bin/python scripts/oci_push.py $(DIST)/oci/$$p $(OCI_TAG) $(REGISTRY)/mesh/$$p $(if $(INSECURE),--insecure) || exit 1; \
	done

run: build
	@bash scripts/stack.sh up --wait

stop:
	@bash scripts/stack.sh down

lint: setup
	cargo fmt --all -- --check
	python3 scripts/wasm_test_shim.py --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --target $(WASM_TARGET) -p policies -p mesh-host $(addprefix -p ,$(FILTERS)) -- -D warnings
	cargo clippy --target $(WASM_TARGET) -p oidc-auth --features in-vm-p384-p521 -- -D warnings

# tools/: the offline validator (+ Istio manifest, compose tests) and the OCI image writer.
unit: setup
	cargo test -p policies -p mesh-host $(addprefix -p ,$(FILTERS)) -p policy-check -p wasm-oci
	# The JWT core again as the in-vm-p384-p521 build (ES384/ES512 in the VM, Wycheproof P-384).
	cargo test -p policies --features in-vm-p384-p521 --lib --test wycheproof -- jwt:: oidc:: ecdsa json_web

# The policies unit tests again, compiled to wasm32 and run under Node.
wasm-unit: setup
	CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=$(CURDIR)/.tools/bin/wasm-bindgen-test-runner \
	  cargo test -p policies --lib --target wasm32-unknown-unknown

e2e: build
	cargo test -p wasm-tests -- --test-threads=2

# Every cargo-fuzz target (fuzz/) for FUZZ_SECONDS each, seeded from fuzz/corpus; fails on any crash.
# Nightly toolchain; the build is cached in fuzz/target (first build about 4 min of CPU).
fuzz: setup
	FUZZ_SECONDS=$${FUZZ_SECONDS:-10} bash scripts/fuzz-smoke.sh

# The short version `make test` runs: 5 s per target.
fuzz-smoke: setup
	FUZZ_SECONDS=$${FUZZ_SECONDS:-5} bash scripts/fuzz-smoke.sh

test: lint unit wasm-unit e2e fuzz-smoke
	@echo "all checks passed"

# A benchmark, not a test: never part of `make test`. Builds the plugins and the do-nothing baseline
# filter, then runs bench/ (optimized: it signs 30,000 tokens). Shorter: BENCH_SECONDS=2 BENCH_ROUNDS=2.
bench: bench-filter
	cargo run --profile bench -p bench

# The do-nothing wasm filter (and the floors' host I/O): the baseline of `make bench` and `make bench-vm`.
bench-filter: build
	@$(wasm_env) cargo build --release --target $(WASM_TARGET) $(wasm_args) -p bench-filter
	@$(call optimize,$(WASM_DIR)/$(WASM_TARGET)/release,bench_filter,$(CALLBACKS_bench-filter))

# The wasm side alone, in V8 (the engine Envoy embeds) under Node, without Envoy's native half of the
# hostcalls and without the machine's noise in `make bench`: (1) the built modules, driven per request by
# a minimal proxy-wasm host (bench/vm_host.mjs; BENCH_BASELINE=1 adds dist/baseline/'s plugins), then
# (2) each plugin's per-request policy call (policies/examples/vm_micro.rs, built with the plugins' profile).
bench-vm: bench-filter
	@$(wasm_env) cargo build -q --profile wasm-small --target $(WASM_TARGET) $(wasm_args) -p policies --example vm_micro
	@node --no-warnings bench/vm_host.mjs $(DIST) $(if $(filter 1,$(BENCH_BASELINE)),$(DIST)/baseline)
	@echo
	@echo "| plugin | policy call per request (make bench's configuration) | ns per call, best of 15 x 10,000 |"
	@echo "|---|---|---:|"
	@node --no-warnings bench/vm_micro.mjs $(WASM_DIR)/$(WASM_TARGET)/wasm-small/examples/vm_micro.wasm $(FILTERS)

clean:
	cargo clean
	rm -rf $(DIST) .run

# Bounded soaks (default 10 minutes each; SOAK_SECONDS to change): all plugins chained, then
# oidc-auth under attack traffic, then all plugins chained under attack; each writes its section of bench/soak.md.
soak: build
	mkdir -p bench
	SOAK_SECONDS=$${SOAK_SECONDS:-600} SOAK_REPORT=$(CURDIR)/bench/soak.md \
	  cargo test -p wasm-tests --test soak -- --ignored --nocapture
	SOAK_SECONDS=$${SOAK_SECONDS:-600} SOAK_REPORT=$(CURDIR)/bench/soak.md \
	  cargo test -p wasm-tests --test soak_attack -- --ignored --nocapture --test-threads=1
