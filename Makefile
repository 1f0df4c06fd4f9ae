# APEX Partenaires. make run starts apexd with its own slapd and the demo
# directory; make test needs slapd too (make deps installs it).

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

.PHONY: all deps ldap-deps browser-deps npm-deps build run test vet fmt-check fuzz bench clean dsfr

all: build

# Debian's slapd and ldap-utils, installed only when missing and without a
# daemon: no default database (debconf), and /etc/ldap/noslapd keeps the
# init script from starting one. apt-get update runs only when the install fails.
# deps adds Chromium and axe-core for the browser and accessibility tests.
deps: ldap-deps browser-deps npm-deps

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

# The test tools pinned in package-lock.json (axe-core), into node_modules/,
# when missing or older than the lock file.
npm-deps:
	@if [ -f node_modules/axe-core/axe.min.js ] && [ ! package-lock.json -nt node_modules/.package-lock.json ]; then \
		echo "node_modules is up to date"; \
	else \
		set -e; \
		command -v npm >/dev/null || $(APT_NPM) || { $(SUDO) apt-get update && $(APT_NPM); }; \
		npm ci --no-audit --no-fund; \
	fi

build:
	$(GO) build -o bin/ ./cmd/...

run: ldap-deps build
	bin/apexd --demo

vet:
	$(GO) vet ./...

fmt-check:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

test: deps vet fmt-check
	$(GO) test -count=1 -timeout 20m ./...

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
# accounts (100000 by default) and at a hundredth and a tenth of that.
bench: ldap-deps build
	$(GO) run ./cmd/apexbench

clean:
	rm -rf bin/ var/

# The État's design system, served by apexd itself (no CDN). Its files are
# committed under httpapi/static/dsfr so that a clone builds without npm;
# this target refreshes them from the npm registry at the pinned version.
DSFR_VERSION := 1.15.3
DSFR_DIR     := httpapi/static/dsfr

dsfr:
	@set -e; tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
	(cd "$$tmp" && npm pack --silent @gouvfr/dsfr@$(DSFR_VERSION) >/dev/null && tar xzf gouvfr-dsfr-$(DSFR_VERSION).tgz); \
	dist="$$tmp/package/dist"; rm -rf $(DSFR_DIR); mkdir -p $(DSFR_DIR)/fonts $(DSFR_DIR)/favicon; \
	cp "$$dist/dsfr.min.css" "$$dist/dsfr.module.min.js" $(DSFR_DIR)/; \
	cp "$$dist"/fonts/*.woff "$$dist"/fonts/*.woff2 $(DSFR_DIR)/fonts/; \
	cp "$$dist/favicon/favicon.svg" "$$dist/favicon/favicon.ico" $(DSFR_DIR)/favicon/; \
	for icon in $$(grep -o 'url(icons/[^)]*)' "$$dist/dsfr.min.css" | sed 's/^url(//; s/)$$//' | sort -u); do \
		mkdir -p "$(DSFR_DIR)/$$(dirname $$icon)"; cp "$$dist/$$icon" "$(DSFR_DIR)/$$icon"; \
	done; \
	cp "$$tmp/package/LICENSE.md" $(DSFR_DIR)/LICENSE.md; \
	echo "@gouvfr/dsfr $(DSFR_VERSION)" > $(DSFR_DIR)/VERSION; \
	echo "DSFR $(DSFR_VERSION) copied into $(DSFR_DIR)"
