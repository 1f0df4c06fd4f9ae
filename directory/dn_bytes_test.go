package directory_test

import (
	"errors"
	"testing"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
)

// A name that is not UTF-8 (a path segment such as %FF) must not reach the
// service named U+FFFD, which go-ldap's EscapeDN alone would name instead:
// FuzzDN found it.
func TestNonUTF8NameNamesNoOtherEntry(t *testing.T) {
	t.Parallel()
	store, _ := slapdtest.NewStore(t)
	mustStructure(t, store, testSIRET, "\ufffd")

	if _, err := store.FindService(ctx, testSIRET, "\xff"); err == nil {
		t.Errorf("find service %q found the service %q", "\xff", "\ufffd")
	}
	if err := store.RenameService(ctx, testSIRET, "\xff", "Renommé"); err == nil {
		t.Errorf("rename service %q renamed the service %q", "\xff", "\ufffd")
	}
	err := store.DeleteService(ctx, testSIRET, "\xff")
	if err == nil {
		t.Errorf("delete service %q deleted the service %q", "\xff", "\ufffd")
	}
	if !errors.Is(err, directory.ErrInvalid) && !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("delete service %q: %v, want ErrInvalid or ErrNotFound", "\xff", err)
	}
	services, err := store.ListServices(ctx, testSIRET)
	if err != nil || len(services) != 1 || services[0].Name != "\ufffd" {
		t.Errorf("services after: %v, %v; want the service %q untouched", services, err, "\ufffd")
	}
}
