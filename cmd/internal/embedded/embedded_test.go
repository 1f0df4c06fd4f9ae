package embedded

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

func TestEmbeddedPasswordIsKept(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ldap")
	logger := slog.New(slog.DiscardHandler)
	first, err := embeddedPassword(dir, logger)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) < 20 {
		t.Errorf("generated password %d characters long, want 20 or more", len(first))
	}
	info, err := os.Stat(filepath.Join(dir, ServicePasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("mode %v, want 0600", perm)
	}
	second, err := embeddedPassword(dir, logger)
	if err != nil {
		t.Fatal(err)
	}
	if second != first {
		t.Error("the second start must reuse the kept password")
	}
}
