// Package slapdtest runs the real slapd for tests: one instance per test
// package, shared by tests that each get a subtree of their own, and private
// instances for tests that need the whole server. APEX_TEST_DIRECTORY=container
// runs them in containers of the directory image instead (see DirectoryEnv).
package slapdtest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapd"
)

// Suffix and ServicePassword of every test instance.
const (
	Suffix          = "dc=apex,dc=test"
	ServicePassword = "Service-Test-2026!"
)

var (
	shared     *slapd.Server
	sharedDir  string
	sharedErr  error
	sharedOnce sync.Once
	bases      atomic.Int64
)

// Main runs the package's tests and stops the shared slapd afterwards.
// Use it from TestMain: func TestMain(m *testing.M) { slapdtest.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.Stop()
	}
	if sharedDir != "" {
		os.RemoveAll(sharedDir)
	}
	os.Exit(code)
}

// Start starts a private slapd for tb, stopped at the end of the test. A
// missing slapd fails the test: the project's Makefile installs it. With
// APEX_TEST_DIRECTORY=container, it is a container of the directory image
// (see DirectoryEnv).
func Start(tb testing.TB) *slapd.Server {
	tb.Helper()
	return startFor(tb, start)
}

// StartLocal starts a private slapd on this machine for tb, whatever
// DirectoryEnv says: for the tests that kill and Restart it.
func StartLocal(tb testing.TB) *slapd.Server {
	tb.Helper()
	return startFor(tb, startLocal)
}

func startFor(tb testing.TB, start func(dir string) (*slapd.Server, error)) *slapd.Server {
	tb.Helper()
	requireSlapd(tb)
	dir, err := os.MkdirTemp("", "apex-slapd-")
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := start(dir)
	if err != nil {
		os.RemoveAll(dir)
		tb.Fatalf("start slapd: %v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("slapd log (%s), last lines:\n%s", srv.LogPath(), srv.LogTail(6000))
		}
		srv.Stop()
		os.RemoveAll(dir)
	})
	return srv
}

// Shared returns the package's slapd, started on first use.
func Shared(tb testing.TB) *slapd.Server {
	tb.Helper()
	requireSlapd(tb)
	sharedOnce.Do(func() {
		sharedDir, sharedErr = os.MkdirTemp("", "apex-slapd-")
		if sharedErr != nil {
			return
		}
		shared, sharedErr = start(sharedDir)
	})
	if sharedErr != nil {
		tb.Fatalf("start slapd: %v", sharedErr)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("slapd log (%s), last lines:\n%s", shared.LogPath(), shared.LogTail(6000))
		}
	})
	return shared
}

// NewBase adds a fresh partner tree under the suffix of srv and returns its DN.
func NewBase(tb testing.TB, srv *slapd.Server) string {
	tb.Helper()
	base := fmt.Sprintf("ou=t%d,%s", bases.Add(1), srv.Suffix)
	if err := srv.AddTree(base); err != nil {
		tb.Fatalf("add test tree: %v", err)
	}
	return base
}

// StoreConfig is the configuration of a store on base in srv.
func StoreConfig(srv *slapd.Server, base string) directory.StoreConfig {
	return directory.StoreConfig{
		URL:          srv.URL,
		BaseDN:       base,
		SystemDN:     "ou=system," + srv.Suffix,
		BindDN:       srv.ServiceDN,
		BindPassword: ServicePassword,
		PoolSize:     4,
	}
}

// NewStore opens a store on a subtree of its own in the package's slapd.
func NewStore(tb testing.TB) (*directory.Store, *slapd.Server) {
	tb.Helper()
	srv := Shared(tb)
	return OpenStore(tb, StoreConfig(srv, NewBase(tb, srv))), srv
}

// OpenStore opens a store, closed at the end of the test.
func OpenStore(tb testing.TB, cfg directory.StoreConfig) *directory.Store {
	tb.Helper()
	store, err := directory.NewStore(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(store.Close)
	return store
}

// start runs a test directory on dir: a local slapd, or the image.
func start(dir string) (*slapd.Server, error) {
	if inContainer() {
		return startContainer(dir)
	}
	return startLocal(dir)
}

func startLocal(dir string) (*slapd.Server, error) {
	return slapd.Start(context.Background(), slapd.Config{Dir: dir, Suffix: Suffix, ServicePassword: ServicePassword})
}

func requireSlapd(tb testing.TB) {
	tb.Helper()
	if inContainer() {
		return
	}
	if !slapd.Installed() {
		tb.Fatalf("slapd is not installed (%s): run `make deps` (Debian packages slapd and ldap-utils)", slapd.DefaultBinary)
	}
}

// ReplicatorPassword is the replicator account's password in test clusters.
const ReplicatorPassword = "Replicator-Test-2026!"

// StartCluster starts n providers in multi-provider replication for tb,
// stopped at the end of the test, their logs shown if it fails.
func StartCluster(tb testing.TB, n int) []*slapd.Server {
	tb.Helper()
	requireSlapd(tb)
	cfgs := make([]slapd.Config, n)
	for i := range cfgs {
		dir, err := os.MkdirTemp("", "apex-slapd-")
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { os.RemoveAll(dir) })
		cfgs[i] = slapd.Config{Dir: dir, Suffix: Suffix, ServicePassword: ServicePassword}
	}
	servers, err := slapd.StartCluster(context.Background(), cfgs, ReplicatorPassword)
	if err != nil {
		tb.Fatalf("start cluster: %v", err)
	}
	for _, srv := range servers {
		cleanup(tb, srv)
	}
	return servers
}

// Restart starts srv again on its folder, port and peers (after Stop or
// Kill), stopped at the end of the test. srv is a local slapd (StartLocal,
// StartCluster): a container is not started again.
func Restart(tb testing.TB, srv *slapd.Server) *slapd.Server {
	tb.Helper()
	if srv.PID() == 0 {
		tb.Fatal("restart slapd: only a local slapd starts again: start it with StartLocal")
	}
	again, err := slapd.Start(context.Background(), srv.Config())
	if err != nil {
		tb.Fatalf("restart slapd: %v", err)
	}
	cleanup(tb, again)
	return again
}

// cleanup stops srv at the end of the test (registered before the folder's
// removal, so it runs first) and shows its log if the test failed.
func cleanup(tb testing.TB, srv *slapd.Server) {
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("slapd log (%s), last lines:\n%s", srv.LogPath(), srv.LogTail(6000))
		}
		srv.Stop()
	})
}
