package slapdtest

import (
	"context"
	"os"
	"strings"

	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/dgfip/apex-partenaires/directory/apexcontainer"
	"github.com/dgfip/apex-partenaires/directory/slapd"
)

// DirectoryEnv chooses where the tests' directories run: unset or "local",
// a slapd started on this machine by the launcher; "container", the
// directory image (DirectoryImageEnv, apexcontainer.DefaultImage when
// unset), through the testcontainers kit, with its data folder mounted
// from a temporary folder of this host, where the tests read slapd's log
// and reach its ldapi socket as root (SASL EXTERNAL: run them as root).
// Clusters (StartCluster), StartLocal and Restart (tests that kill slapd
// and start it again, and the launcher's own tests) always
// run locally.
const (
	DirectoryEnv      = "APEX_TEST_DIRECTORY"
	DirectoryImageEnv = "APEX_TEST_DIRECTORY_IMAGE"
)

// inContainer reports whether the tests' directories run in containers.
func inContainer() bool {
	return strings.EqualFold(strings.TrimSpace(os.Getenv(DirectoryEnv)), "container")
}

// startContainer runs the directory image on dir, as slapd.Start would
// run a local slapd there.
func startContainer(dir string) (*slapd.Server, error) {
	// Ryuk is an image from Docker Hub: the harness stops its containers itself.
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	// Its lines (created, started, stopped…) for every test are noise here.
	tclog.SetDefault(tclog.NewNoopLogger())
	img := os.Getenv(DirectoryImageEnv)
	if img == "" {
		img = apexcontainer.DefaultImage
	}
	c, err := apexcontainer.Run(context.Background(), img,
		apexcontainer.WithBaseDN(Suffix),
		apexcontainer.WithServicePassword(ServicePassword),
		apexcontainer.WithDataDir(dir),
		apexcontainer.WithLogLevel("stats"),
	)
	if err != nil {
		testcontainers.TerminateContainer(c)
		return nil, err
	}
	return slapd.Attach(c.URL, Suffix, dir, func() error { return testcontainers.TerminateContainer(c) }), nil
}
