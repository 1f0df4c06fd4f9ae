package apexcontainer_test

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/apexcontainer"
)

// The directory image: its data outlives the container, SIGTERM stops it
// cleanly (exit 0, where a kill after docker's grace period is 137), and
// its health check answers.
func TestDirectoryImage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	data, err := os.MkdirTemp("", "apex-ldap-data-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(data) })
	const password = "Persiste-Pass-2026!"
	first, err := apexcontainer.Run(ctx, ldapImage, apexcontainer.WithDataDir(data),
		apexcontainer.WithStructure(apexcontainer.Structure{SIRET: recipeSIRET, Name: "Étude Durand", Category: "Notaire"}),
		apexcontainer.WithPerson(apexcontainer.Person{FirstName: "Claire", LastName: "Durable", Email: "claire@durand.example.fr",
			Role: directory.RoleAdministrateur, SIRET: recipeSIRET, Password: password}),
	)
	testcontainers.CleanupContainer(t, first)
	if err != nil {
		t.Fatal(err)
	}
	if code, out := run(t, first, "ldapwhoami", "-Q", "-Y", "EXTERNAL", "-H", "ldapi://%2Fvar%2Flib%2Fapex-ldap%2Fldapi"); code != 0 {
		t.Errorf("the health check's command: exit %d: %s", code, out)
	}
	timeout := 20 * time.Second
	if err := first.Stop(ctx, &timeout); err != nil {
		t.Fatal(err)
	}
	if state, err := first.State(ctx); err != nil || state.ExitCode != 0 {
		t.Errorf("stopped by SIGTERM: %+v, %v; want exit 0", state, err)
	}

	again, err := apexcontainer.Run(ctx, ldapImage, apexcontainer.WithDataDir(data))
	testcontainers.CleanupContainer(t, again)
	if err != nil {
		t.Fatal(err)
	}
	dn, err := again.PersonDN(ctx, "claire.durable-px")
	if err != nil {
		t.Fatalf("the person is gone with the first container: %v", err)
	}
	conn, err := ldap.DialURL(again.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Bind(dn, password); err != nil {
		t.Errorf("her password after the restart: %v", err)
	}
}

// The apexd image: an unprivileged user, a read-only root file system, and
// a health check that asks /readyz.
func TestServiceImage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir, err := apexcontainer.Run(ctx, ldapImage)
	testcontainers.CleanupContainer(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := apexcontainer.RunService(ctx, dir, serviceImage)
	testcontainers.CleanupContainer(t, svc)
	if err != nil {
		t.Fatal(err)
	}
	if code, out := run(t, svc, "id", "-u"); code != 0 || strings.TrimSpace(out) != "10001" {
		t.Errorf("apexd runs as %q (exit %d), want uid 10001", out, code)
	}
	if code, _ := run(t, svc, "touch", "/usr/local/bin/apexd"); code == 0 {
		t.Errorf("apexd's root file system is writable")
	}
	if code, out := run(t, svc, "/usr/local/bin/apexd", "--check-ready"); code != 0 {
		t.Errorf("the health check: exit %d: %s", code, out)
	}
	// The directory gone, the service is not ready, and says so.
	if err := dir.Terminate(ctx); err != nil {
		t.Fatal(err)
	}
	if code, _ := run(t, svc, "/usr/local/bin/apexd", "--check-ready"); code == 0 {
		t.Errorf("the health check passes without a directory")
	}
}

func run(t *testing.T, c testcontainers.Container, cmd ...string) (int, string) {
	t.Helper()
	code, r, err := c.Exec(context.Background(), cmd, tcexec.Multiplexed())
	if err != nil {
		t.Fatalf("exec %v: %v", cmd, err)
	}
	out, _ := io.ReadAll(r)
	return code, string(out)
}
