# Luna in Go. `make deps` prepares a fresh Debian machine, `make test` runs
# every test, `make demo` provisions simulated nodes through the whole flow.
GO       ?= go
BINARIES := luna lunadb lweb lpower lchroot ltorrent ltorrent-client
export CGO_ENABLED ?= 0
# `PROG --version` prints these; a build without them (go build, go install)
# falls back to the module version and VCS stamp Go records. A release
# tarball (make dist) carries them in version.mk, as it has no .git.
-include version.mk
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT   ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -X github.com/clustervision/luna-go/internal/version.Version=$(VERSION) -X github.com/clustervision/luna-go/internal/version.Commit=$(COMMIT)

.PHONY: all build deps test fuzz lint demo bench bench-lweb bench-swarm clean install-initrd install dist

all: build

build:
	@mkdir -p bin
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/ $(addprefix ./cmd/,$(BINARIES))

deps:
	./scripts/deps.sh

# Unit, store and CLI scenario tests against an in-process FerretDB per
# package, then a short run of every fuzz target.
test: lint
	$(GO) test -count=1 -timeout 20m ./...
	$(MAKE) fuzz

# A count, not a duration: with a duration, Go 1.26's fuzz coordinator can
# fail a target with a bare "context deadline exceeded" when the time runs
# out (golang/go#75804, fixed in Go 1.27). 50,000 inputs take 1 to 10 s a
# target here. `make fuzz FUZZTIME=10m` fuzzes longer (and may hit that bug).
FUZZTIME ?= 50000x
fuzz:
	@set -e; for spec in \
	  internal/ipam:FuzzParseAddr internal/ipam:FuzzOffsetRoundTrip internal/ipam:FuzzSet \
	  internal/hostlist:FuzzExpand internal/lweb:FuzzDiscoveryParams internal/tracker:FuzzParseAnnounce \
	  internal/dnszone:FuzzReverseZones; do \
	  pkg=$${spec%%:*}; fn=$${spec##*:}; \
	  echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
	  $(GO) test -run='^$$' -fuzz="^$$fn$$" -fuzztime=$(FUZZTIME) ./$$pkg; \
	done

lint:
	@out=$$(gofmt -l cmd internal); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@command -v shellcheck >/dev/null || { echo "shellcheck is needed: apt-get install shellcheck"; exit 1; }
	shellcheck -x initrd/*.sh initrd/bashrc internal/render/testdata/install-*.golden
	shellcheck -x internal/demo/scripts/*.sh scripts/e2e-vm.sh cmd/luna/testdata/readme/*.sh

# The demo (docs/demo.md): lunadb, lweb, ltorrent and NODES simulated nodes,
# each in a network namespace of its own, provisioned through the whole
# flow on the embedded store; needs root. make demo NODES=16
NODES ?= 8
demo: build
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/ ./cmd/lunademo
	./bin/lunademo -n $(NODES)

# The node benchmark (docs/BENCHMARKS.md): 10,000 nodes on a lunadb of its
# own, luna against a raw driver read; about 15 minutes on 2 cores, so not
# part of `make test`. BENCHFLAGS=-uri=mongodb://... uses an existing MongoDB.
BENCHFLAGS ?= -n 10
bench: build
	$(GO) run ./bench/nodes $(BENCHFLAGS)

# The lweb benchmark (docs/BENCHMARKS.md): discovery against nginx serving a
# file of the same size, then 10,000 tracker peers announcing every 30 s, on
# a lunadb of its own; needs nginx (apt-get install nginx). About 4 minutes;
# not part of `make test`. LWEBBENCHFLAGS=-tracker-d=30s shortens the tracker load.
LWEBBENCHFLAGS ?= -d 10s
bench-lweb: build
	$(GO) run ./bench/lweb $(LWEBBENCHFLAGS)

# The lpower benchmark (docs/BENCHMARKS.md): `lpower -g compute status` over
# 1,000 simulated BMCs on 127.20.x.y:623 against ipmitool one after another
# (50 sampled, extrapolated), on a lunadb of its own; needs ipmitool and
# root (port 623). About 15 s; not part of `make test`.
.PHONY: bench-lpower
LPOWERBENCHFLAGS ?= -n 1000 -sample 50
bench-lpower: build
	$(GO) run ./bench/lpower $(LPOWERBENCHFLAGS)

# The man pages (section 8) from the programs' cobra trees, into
# $(BUILDDIR)/man (internal/manpage; docs/packaging.md). Their date is
# SOURCE_DATE_EPOCH, else the last commit's, else today.
BUILDDIR ?= build
.PHONY: man
man:
	rm -rf $(BUILDDIR)/man
	SOURCE_DATE_EPOCH=$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct 2>/dev/null)} \
		$(GO) run ./internal/manpage/genman -version $(VERSION) $(BUILDDIR)/man

# The server install: binaries into $(SBINDIR), the systemd units (their
# ExecStart rewritten to $(SBINDIR)), the sysusers.d file of the luna user,
# the firewalld services, a sample $(SYSCONFDIR)/luna.conf (mode 0600, never
# overwritten), the man pages into $(MANDIR) and luna's bash and zsh
# completion. Staged installs: make install DESTDIR=/tmp/x.
# The dracut module and ltorrent-client go into images: make install-initrd.
PREFIX       ?= /usr/local
SBINDIR      ?= $(PREFIX)/sbin
SYSCONFDIR   ?= /etc
UNITDIR      ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR  ?= $(PREFIX)/lib/sysusers.d
FIREWALLDDIR ?= $(PREFIX)/lib/firewalld/services
MANDIR       ?= $(PREFIX)/share/man/man8
BASHCOMPDIR  ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR   ?= $(PREFIX)/share/zsh/site-functions
SERVERBINS   := luna lunadb lweb lpower lchroot ltorrent
install: build man
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR) \
		$(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(FIREWALLDDIR)
	install -d $(DESTDIR)$(MANDIR) $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR)
	install -m 0644 $(BUILDDIR)/man/*.8 $(DESTDIR)$(MANDIR)/
	bin/luna completion bash > $(DESTDIR)$(BASHCOMPDIR)/luna
	bin/luna completion zsh > $(DESTDIR)$(ZSHCOMPDIR)/_luna
	chmod 0644 $(DESTDIR)$(BASHCOMPDIR)/luna $(DESTDIR)$(ZSHCOMPDIR)/_luna
	install -m 0755 $(addprefix bin/,$(SERVERBINS)) $(DESTDIR)$(SBINDIR)/
	install -m 0644 contrib/systemd/luna-sysusers.conf $(DESTDIR)$(SYSUSERSDIR)/luna.conf
	install -m 0644 contrib/firewalld/*.xml $(DESTDIR)$(FIREWALLDDIR)/
	for u in contrib/systemd/*.service; do \
		sed 's|/usr/sbin/|$(SBINDIR)/|g' $$u > $(DESTDIR)$(UNITDIR)/$${u##*/} && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$${u##*/} || exit 1; \
	done
	test -e $(DESTDIR)$(SYSCONFDIR)/luna.conf || \
		install -m 0600 contrib/luna.conf $(DESTDIR)$(SYSCONFDIR)/luna.conf

# The dracut module 95luna and ltorrent-client into an image tree, where
# `luna osimage pack --boot` runs dracut --add luna (docs/initrd.md):
# make install-initrd DESTDIR=/opt/luna/os/compute
MODULEDIR := $(DESTDIR)/usr/lib/dracut/modules.d/95luna
install-initrd:
	@mkdir -p bin
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/ltorrent-client ./cmd/ltorrent-client
	install -d $(MODULEDIR) $(DESTDIR)/usr/lib/luna
	install -m 0755 initrd/*.sh $(MODULEDIR)/
	install -m 0644 initrd/sshd_config initrd/bashrc $(MODULEDIR)/
	install -m 0755 bin/ltorrent-client $(DESTDIR)/usr/lib/luna/ltorrent-client

# The release tarball dist/luna-$(DISTVERSION).tar.gz (docs/packaging.md):
# the tracked files as they are in the work tree (uncommitted edits
# included, untracked files not), version.mk, the Go modules vendored into
# the staging copy (never into this tree), and contrib/rpm/luna.spec with
# its version set, so `rpmbuild -ta` builds it offline. Luna runs on Linux
# only: vendored files that name another GOOS (foo_darwin_arm64.go) are
# left out, 110 of the 280 MB (modernc.org/sqlite). DISTVERSION is
# VERSION as RPM accepts it: no leading v, '-' replaced by '.'.
DISTVERSION := $(subst -,.,$(patsubst v%,%,$(VERSION)))
DISTNAME    := luna-$(DISTVERSION)
DISTDIR     ?= dist
dist:
	@command -v git >/dev/null || { echo "dist: git is needed"; exit 1; }
	rm -rf $(DISTDIR)/$(DISTNAME) $(DISTDIR)/$(DISTNAME).tar.gz
	mkdir -p $(DISTDIR)
	rev=$$(git stash create) && git archive --format=tar --prefix=$(DISTNAME)/ $${rev:-HEAD} | tar -x -C $(DISTDIR)
	printf 'VERSION := %s\nCOMMIT := %s\n' '$(VERSION)' '$(COMMIT)' > $(DISTDIR)/$(DISTNAME)/version.mk
	sed -i 's/^%{!?luna_version:.*/%global luna_version $(DISTVERSION)/' $(DISTDIR)/$(DISTNAME)/contrib/rpm/luna.spec
	cd $(DISTDIR)/$(DISTNAME) && GOFLAGS=-mod=mod $(GO) mod vendor
	find $(DISTDIR)/$(DISTNAME)/vendor -type f -regextype posix-extended -regex \
		'.*_(aix|android|darwin|dragonfly|freebsd|illumos|ios|js|netbsd|openbsd|plan9|solaris|wasip1|windows|zos)(_[a-z0-9]+)?\.(go|s)$$' -delete
	tar -C $(DISTDIR) -czf $(DISTDIR)/$(DISTNAME).tar.gz $(DISTNAME)
	rm -rf $(DISTDIR)/$(DISTNAME)
	@echo "dist: $(DISTDIR)/$(DISTNAME).tar.gz"

# The makedhcp/makedns benchmark (docs/BENCHMARKS.md): 10,000 nodes with
# MACs on a lunadb of its own, both verbs against a raw driver read; needs
# dhcpd and named-checkzone (make deps). About 3 minutes; not part of `make test`.
.PHONY: bench-dhcpdns
DHCPDNSBENCHFLAGS ?= -n 5
bench-dhcpdns: build
	$(GO) run ./bench/dhcpdns $(DHCPDNSBENCHFLAGS)

# The swarm benchmark (docs/BENCHMARKS.md): N nodes in network namespaces
# on 20 Mbit/s links fetch one image, in the same run through the Luna flow
# (lunadb, lweb, ltorrent, ltorrent-client), aria2c and HTTP (curl); needs
# root, iproute2, aria2 and curl. About 35 minutes (HTTP at N=64 alone takes
# 11). SWARMFLAGS=-rss1g measures peak RSS on a 1 GiB image instead.
SWARMFLAGS ?= -n 1,4,8,16,32,64
bench-swarm: build
	$(GO) run ./bench/swarm $(SWARMFLAGS)

# The osimage pack benchmark (docs/BENCHMARKS.md): the tarball writer of
# `luna osimage pack` against `tar --one-file-system --xattrs --acls -c | pigz`
# on a generated tree of mixed files (PACKBENCHFLAGS="-dir /usr" for an
# existing tree), rounds alternating; needs tar and pigz. About 4 minutes
# on 2 cores; not part of `make test`.
.PHONY: bench-pack
PACKBENCHFLAGS ?= -mb 400 -rounds 3
bench-pack:
	$(GO) run ./bench/pack $(PACKBENCHFLAGS)

# The seeder benchmark (docs/BENCHMARKS.md): one aria2c leecher on loopback
# downloads a 1 GiB image from ltorrent and from aria2c in turn; needs
# aria2c (make deps). About 3 minutes; not part of `make test`.
.PHONY: bench-seed
SEEDBENCHFLAGS ?= -size 1024 -rounds 5
bench-seed:
	$(GO) run ./bench/seed $(SEEDBENCHFLAGS)

# The VM test (docs/e2e-vm.md): a qemu VM with no disk provisioned through
# the whole flow (DHCP from makedhcp's dhcpd.conf, iPXE, lweb, the dracut
# module, ltorrent, switch_root into a debootstrap image); needs root. The
# image is cached in /var/cache/luna-e2e (LUNA_E2E_CACHE).
.PHONY: e2e-vm
e2e-vm: build
	./scripts/e2e-vm.sh

clean:
	rm -rf bin dist $(BUILDDIR)
