# APEX Partenaires. make run starts apexd with its own slapd and the demo
# directory; make test needs slapd too (make deps installs it).

GO       ?= go
FUZZTIME ?= 20s
FUZZ     := FuzzIdentifier FuzzPassword FuzzSIRET

# sudo only when not root.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
APT  := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slapd ldap-utils

.PHONY: all deps build run test vet fmt-check fuzz clean

all: build

# Debian's slapd and ldap-utils, installed only when missing and without a
# daemon: no default database (debconf), and /etc/ldap/noslapd keeps the
# init script from starting one. apt-get update runs only when the install fails.
deps:
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

build:
	$(GO) build -o bin/ ./cmd/...

run: deps build
	bin/apexd --demo

vet:
	$(GO) vet ./...

fmt-check:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

test: deps vet fmt-check
	$(GO) test -count=1 -timeout 20m ./...

fuzz:
	@set -e; for target in $(FUZZ); do \
		echo "== $$target ($(FUZZTIME))"; \
		$(GO) test ./directory -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME); \
	done

clean:
	rm -rf bin/ var/
