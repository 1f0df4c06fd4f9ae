package slapd

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BulkLoad adds the entries of an LDIF file to the data folder of a slapd
// that is not running, with slapadd -q: fast, and past every overlay, so
// passwords must be hashed already (memberOf is never stored: dynlist
// derives it from the profiles' member at read time). Start must have run
// once on the folder (it writes cn=config and the base entries).
func BulkLoad(ctx context.Context, cfg Config, ldifPath string) error {
	cfg = withDefaults(cfg)
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return fmt.Errorf("slapd: %w", err)
	}
	out, err := exec.CommandContext(ctx, cfg.Slapadd, "-q", "-F", filepath.Join(dir, "slapd.d"), "-b", cfg.Suffix, "-l", ldifPath).CombinedOutput()
	if err != nil {
		return fmt.Errorf("slapd: slapadd %s: %w: %s", ldifPath, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// HashPassword hashes a password as slapd does ({ARGON2}), with Debian's
// slappasswd, for entries loaded by BulkLoad. The password goes through
// stdin, never the command line.
func HashPassword(ctx context.Context, password string) (string, error) {
	cmd := exec.CommandContext(ctx, "/usr/sbin/slappasswd", "-o", "module-path="+DefaultModulePath, "-o", "module-load=argon2.so",
		"-h", "{ARGON2}", "-n", "-T", "/dev/stdin")
	cmd.Stdin = strings.NewReader(password)
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("slapd: slappasswd: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Backup writes every entry of the database to path as LDIF, with slapcat:
// passwords stay hashed, operational attributes (entryUUID, entryCSN, the
// ppolicy state) are kept. slapd may keep running: back_mdb gives slapcat a
// consistent snapshot.
func (s *Server) Backup(ctx context.Context, path string) error {
	out, err := exec.CommandContext(ctx, DefaultSlapcat, "-F", filepath.Join(s.dir, "slapd.d"), "-b", s.Suffix, "-o", "ldif-wrap=no", "-l", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("slapd: slapcat: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Restore builds the folder of cfg from a Backup: cn=config from the
// templates, then the entries with slapadd -q -w (-w writes the contextCSN,
// so that a restored provider of a cluster asks its peers only for what is
// newer). The folder must hold no database yet; Start it afterwards.
func Restore(ctx context.Context, cfg Config, ldifPath string) error {
	cfg = withDefaults(cfg)
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return fmt.Errorf("slapd: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "data.mdb")); err == nil {
		return fmt.Errorf("slapd: %s already holds a database: restore into an empty folder", dir)
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return fmt.Errorf("slapd: %w", err)
	}
	if err := writeConfig(ctx, cfg, dir); err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, cfg.Slapadd, "-q", "-w", "-F", filepath.Join(dir, "slapd.d"), "-b", cfg.Suffix, "-l", ldifPath).CombinedOutput()
	if err != nil {
		return fmt.Errorf("slapd: slapadd %s: %w: %s", ldifPath, err, strings.TrimSpace(string(out)))
	}
	return nil
}
