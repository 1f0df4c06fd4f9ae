# APEX Partenaires. make run starts apexd with its own slapd and the demo
# directory; make test needs slapd too (make deps installs it), and a Docker
# engine for the container path (the images, the testcontainers kit, the
# directory suite on the directory image): it starts one when none answers,
# and stops it at the end.

GO       ?= go
FUZZTIME ?= 20s
# Minimizing each new input found takes up to 60 s by default, during which a
# short run makes no progress.
FUZZMINIMIZETIME ?= 2s
# pkg:Target pairs, e.g. FUZZ=./directory:FuzzDN; every Fuzz function of
# every package when empty.
FUZZ ?=

# sudo only when not root.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
APT  := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slapd ldap-utils
# Debian's Chromium, that the browser tests of httpapi drive; npm, when the
# machine has none, for the test tools of package.json.
APT_CHROMIUM := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
APT_NPM      := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm
# Apache httpd's binary and modules (mod_authnz_ldap), without the
# packaged server and its service, for the recipes' tests; Debian's Docker
# engine; debootstrap, for a base image where none can be pulled.
APT_APACHE      := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends apache2-bin
APT_DOCKER      := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker.io
APT_DEBOOTSTRAP := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap

# The images (make image). IMAGE_BASE is the official Debian image; an
# engine that has not got it and cannot pull it builds from LOCAL_BASE,
# made once from Debian's packages with debootstrap.
DOCKER      ?= docker
# The engine make test starts when none answers: host network only, so no
# iptables rules.
DOCKERD     ?= dockerd --iptables=false
IMAGE_BASE  ?= debian:bookworm-slim
LOCAL_BASE  ?= apex-base:bookworm
LDAP_IMAGE  ?= apex-ldap:local
APEXD_IMAGE ?= apexd:local
# testcontainers-go's reaper is an image from Docker Hub: the kit and the
# harness terminate their containers themselves.
CONTAINER_ENV := TESTCONTAINERS_RYUK_DISABLED=true APEX_TEST_DIRECTORY_IMAGE=$(LDAP_IMAGE) APEX_TEST_SERVICE_IMAGE=$(APEXD_IMAGE)

.PHONY: all deps ldap-deps browser-deps npm-deps apache-deps docker-deps build run test test-container image image-base vet fmt-check fuzz bench lighthouse clean dsfr

all: build

# Debian's slapd and ldap-utils, installed only when missing and without a
# daemon: no default database (debconf), and /etc/ldap/noslapd keeps the
# init script from starting one. apt-get update runs only when the install fails.
# deps adds Chromium and axe-core for the browser and accessibility tests,
# and what the container path needs: Docker, Apache httpd, ldapts.
deps: ldap-deps browser-deps npm-deps apache-deps docker-deps

ldap-deps:
	@if [ -x /usr/sbin/slapd ] && [ -x /usr/sbin/slapadd ] && [ -f /usr/lib/ldap/ppolicy.so ] \
		&& command -v ldapsearch >/dev/null && command -v ldapwhoami >/dev/null; then \
		echo "slapd and ldap-utils are installed"; \
	else \
		set -e; \
		$(SUDO) mkdir -p /etc/ldap; \
		echo 'slapd slapd/no_configuration boolean true' | $(SUDO) debconf-set-selections; \
		$(SUDO) touch /etc/ldap/noslapd; \
		$(APT) || { $(SUDO) apt-get update && $(APT); }; \
	fi

# Debian's Chromium, installed only when missing.
browser-deps:
	@if [ -x /usr/bin/chromium ]; then \
		echo "chromium is installed"; \
	else \
		set -e; \
		$(APT_CHROMIUM) || { $(SUDO) apt-get update && $(APT_CHROMIUM); }; \
	fi

# The test tools pinned in package-lock.json (axe-core, ldapts,
# ldapauth-fork, lighthouse), into node_modules/, when missing or older than
# the lock file.
npm-deps:
	@if [ -f node_modules/axe-core/axe.min.js ] && [ -f node_modules/ldapts/package.json ] && [ -f node_modules/ldapauth-fork/package.json ] \
		&& [ -f node_modules/lighthouse/package.json ] \
		&& [ ! package-lock.json -nt node_modules/.package-lock.json ]; then \
		echo "node_modules is up to date"; \
	else \
		set -e; \
		command -v npm >/dev/null || $(APT_NPM) || { $(SUDO) apt-get update && $(APT_NPM); }; \
		npm ci --no-audit --no-fund; \
	fi

# Apache's binary and modules only (apache2-bin): no server is installed
# or started.
apache-deps:
	@if [ -x /usr/sbin/apache2 ] && [ -f /usr/lib/apache2/modules/mod_authnz_ldap.so ]; then \
		echo "apache2-bin is installed"; \
	else \
		set -e; \
		$(APT_APACHE) || { $(SUDO) apt-get update && $(APT_APACHE); }; \
	fi

# Debian's docker.io, installed only when missing, without starting its
# service (policy-rc.d): make test starts the engine when it needs one.
docker-deps:
	@if command -v dockerd >/dev/null && command -v docker >/dev/null; then \
		echo "docker.io is installed"; \
	else \
		set -e; \
		policy=""; if [ ! -e /usr/sbin/policy-rc.d ]; then \
			printf '#!/bin/sh\nexit 101\n' | $(SUDO) tee /usr/sbin/policy-rc.d >/dev/null; $(SUDO) chmod +x /usr/sbin/policy-rc.d; policy=1; fi; \
		trap '[ -z "$$policy" ] || $(SUDO) rm -f /usr/sbin/policy-rc.d' EXIT; \
		$(APT_DOCKER) || { $(SUDO) apt-get update && $(APT_DOCKER); }; \
	fi

build:
	$(GO) build -o bin/ ./cmd/...

run: ldap-deps build
	bin/apexd --demo

vet:
	$(GO) vet ./...

fmt-check:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# with-docker runs its argument with a Docker engine: the one that answers,
# or a dockerd started for it ($(DOCKERD)) and stopped after it by its PID. Where none can start, it says so and fails: the
# container tests are never skipped.
define with-docker
set -e; started=""; \
if ! $(DOCKER) info >/dev/null 2>&1; then \
	mkdir -p var; echo "no Docker engine answers: starting dockerd (log in var/dockerd.log)"; \
	$(SUDO) $(DOCKERD) >var/dockerd.log 2>&1 & started=$$!; \
	i=0; until $(DOCKER) info >/dev/null 2>&1; do \
		i=$$((i + 1)); \
		if [ $$i -gt 120 ] || ! kill -0 $$started 2>/dev/null; then \
			echo "no Docker engine could start, so the container tests cannot run; var/dockerd.log ends with:" >&2; \
			tail -n 20 var/dockerd.log >&2; kill $$started 2>/dev/null || true; exit 1; \
		fi; \
		sleep 0.5; \
	done; \
fi; \
trap 'if [ -n "$$started" ]; then echo "stopping the dockerd started here (pid $$started)"; kill $$started; wait $$started || true; fi' EXIT; \
$(1)
endef

# Every test against the real parts, then the container path: the images,
# the kit's examples and recipes (in ./...), and the directory suite again
# on the directory image.
test: deps vet fmt-check
	@$(call with-docker,$(MAKE) --no-print-directory image && \
		$(CONTAINER_ENV) $(GO) test -count=1 -timeout 20m ./... && \
		echo "== the directory suite on the directory image ($(LDAP_IMAGE))" && \
		APEX_TEST_DIRECTORY=container $(CONTAINER_ENV) $(GO) test -count=1 -timeout 10m ./directory)

# The container path alone.
test-container: docker-deps apache-deps npm-deps
	@$(call with-docker,$(MAKE) --no-print-directory image && \
		$(CONTAINER_ENV) $(GO) test -count=1 ./directory/apexcontainer && \
		APEX_TEST_DIRECTORY=container $(CONTAINER_ENV) $(GO) test -count=1 -timeout 10m ./directory)

# The images of the directory (apex-ldap) and of apexd, from the Dockerfiles
# beside their commands; the engine must answer (make test starts one).
image: image-base
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/image/ ./cmd/apexldap ./cmd/apexd
	$(DOCKER) build -q --network host --build-arg BASE="$$(cat bin/image/base)" -f cmd/apexldap/Dockerfile -t $(LDAP_IMAGE) bin/image
	$(DOCKER) build -q --network host --build-arg BASE="$$(cat bin/image/base)" -f cmd/apexd/Dockerfile -t $(APEXD_IMAGE) bin/image

# The base of the images, written to bin/image/base: IMAGE_BASE when the
# engine has it or can pull it, otherwise LOCAL_BASE, made with debootstrap
# from the Debian mirror of this machine's apt sources (its default mirror
# when none is found) unless the engine has it already.
image-base:
	@set -e; mkdir -p bin/image; \
	if $(DOCKER) image inspect $(IMAGE_BASE) >/dev/null 2>&1 || timeout 300 $(DOCKER) pull -q $(IMAGE_BASE) >/dev/null 2>&1; then \
		echo $(IMAGE_BASE) >bin/image/base; \
	else \
		if ! $(DOCKER) image inspect $(LOCAL_BASE) >/dev/null 2>&1; then \
			echo "$(IMAGE_BASE) cannot be pulled: making $(LOCAL_BASE) from Debian's packages (debootstrap, about 2 minutes)"; \
			command -v debootstrap >/dev/null || $(APT_DEBOOTSTRAP) || { $(SUDO) apt-get update && $(APT_DEBOOTSTRAP); }; \
			mirror="$$(sed -n 's|^URIs: *\([^ ]*/debian\)/*$$|\1|p; s|^deb  *\(\[[^]]*\]  *\)\{0,1\}\([^ ]*/debian\)/* .*|\2|p' \
				/etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)"; \
			rootfs="$$(mktemp -d)"; trap '$(SUDO) rm -rf "$$rootfs"' EXIT; \
			$(SUDO) debootstrap --variant=minbase bookworm "$$rootfs" $$mirror >/dev/null; \
			$(SUDO) rm -rf "$$rootfs"/var/cache/apt/archives/*.deb "$$rootfs"/var/cache/apt/*.bin "$$rootfs"/var/lib/apt/lists/*; \
			$(SUDO) tar -C "$$rootfs" -c . | $(DOCKER) import - $(LOCAL_BASE) >/dev/null; \
		fi; \
		echo $(LOCAL_BASE) >bin/image/base; \
	fi; \
	echo "base of the images: $$(cat bin/image/base)"

fuzz:
	@set -e; targets="$(FUZZ)"; \
	if [ -z "$$targets" ]; then \
		list="$$($(GO) test -list '^Fuzz' ./...)"; \
		targets="$$(echo "$$list" | awk '/^Fuzz/ { t[n++] = $$1 } /^ok/ { for (i = 0; i < n; i++) print $$2 ":" t[i]; n = 0 }')"; \
	fi; \
	[ -n "$$targets" ] || { echo "no fuzz target found"; exit 1; }; \
	for pair in $$targets; do \
		pkg="$${pair%%:*}"; target="$${pair#*:}"; \
		echo "== $$pkg $$target ($(FUZZTIME))"; \
		$(GO) test "$$pkg" -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME); \
	done

# apexd against raw slapd, each pair in the same run, at BENCH_ACCOUNTS
# accounts (100000 by default) and at a hundredth and a tenth of that; then
# Lighthouse on every page.
bench: ldap-deps build
	$(GO) run ./cmd/apexbench
	@$(MAKE) --no-print-directory lighthouse

# Lighthouse (npm, pinned) in its mobile mode on every page of the router,
# in the state where it renders, on Debian's Chromium, against the service
# on loopback: fails when a page's median performance score over 3 runs is
# under 90 or its accessibility under 100 (httpapi/lighthouse_test.go).
# Scores follow the machine's load: run it on a quiet machine. About 15 to
# 20 minutes.
lighthouse: ldap-deps browser-deps npm-deps
	$(GO) test -tags lighthouse -run '^TestLighthouse$$' -count=1 -timeout 90m -v ./httpapi

clean:
	rm -rf bin/ var/

# The État's design system, served by apexd itself (no CDN). Its files are
# committed under httpapi/static/dsfr so that a clone builds without npm;
# this target refreshes them from the npm registry at the pinned version,
# keeping only what the pages use: core and the components whose fr-
# classes the templates and the Go code of httpapi emit, dark theme and old
# browsers' styles left out, each font's Latin subset beside it
# (httpapi/internal/assetgen), then writes the gzip and brotli forms of the
# static files (go generate).
DSFR_VERSION := 1.15.3
DSFR_DIR     := httpapi/static/dsfr
# fontTools' pyftsubset, which makes the fonts' Latin subsets, from Debian.
APT_FONTTOOLS := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends fonttools python3-brotli

dsfr:
	@set -e; command -v pyftsubset >/dev/null || $(APT_FONTTOOLS) || { $(SUDO) apt-get update && $(APT_FONTTOOLS); }; \
	tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
	(cd "$$tmp" && npm pack --silent @gouvfr/dsfr@$(DSFR_VERSION) >/dev/null && tar xzf gouvfr-dsfr-$(DSFR_VERSION).tgz); \
	$(GO) run ./httpapi/internal/assetgen dsfr -package "$$tmp/package" -source httpapi -out $(DSFR_DIR); \
	$(GO) generate ./httpapi; \
	echo "DSFR $(DSFR_VERSION) written into $(DSFR_DIR)"
