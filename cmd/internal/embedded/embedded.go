// Package embedded opens the directory of the APEX Partenaires programs
// (apexd, apexctl) from the configuration: the existing one at ldap.url, or,
// when ldap.url is empty, the embedded slapd it starts in
// ldap.embedded_dir, with the service password it keeps there and the check
// that no other running program serves that folder.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sethvargo/go-password/password"

	"github.com/dgfip/apex-partenaires/cmd/internal/config"
	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapd"
)

// ServicePasswordFile holds, in ldap.embedded_dir, the service's password
// generated for the embedded slapd when ldap.bind_password is empty.
const ServicePasswordFile = "service-password"

// OpenDirectory opens the directory of the configuration and checks that it
// holds the APEX schema and base entries. With an empty ldap.url it first
// starts the embedded slapd, which it returns so that the caller stops it
// after closing the store; with an external directory the server is nil.
// cfg must have passed Validate.
func OpenDirectory(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*directory.Store, *slapd.Server, error) {
	l := cfg.LDAP
	storeCfg := directory.StoreConfig{
		URL:           l.URL,
		BaseDN:        l.BaseDN,
		BindDN:        l.ServiceDN(),
		BindPassword:  l.BindPassword,
		PoolSize:      l.PoolSize,
		Timeout:       l.Timeout,
		SignIn:        cfg.Auth.Policy(),
		ResetLinkTTL:  cfg.Auth.ResetLinkTTL,
		InvitationTTL: cfg.Auth.InvitationTTL,
		Limits:        cfg.Limits.Policy(),
	}
	if !l.Embedded() {
		tlsConfig, err := l.TLSConfig()
		if err != nil {
			return nil, nil, fmt.Errorf("ldap.ca_file: %w", err)
		}
		storeCfg.TLS, storeCfg.StartTLS = tlsConfig, l.StartTLS
		store, err := openStore(ctx, storeCfg)
		if err != nil {
			return nil, nil, err
		}
		logger.Info("annuaire LDAP ouvert", "url", l.URL, "base_dn", l.BaseDN, "bind_dn", storeCfg.BindDN)
		return store, nil, nil
	}

	server, password, err := start(ctx, l, logger)
	if err != nil {
		return nil, nil, err
	}
	storeCfg.URL = server.URL
	storeCfg.BindDN = server.ServiceDN
	storeCfg.BindPassword = password
	store, err := openStore(ctx, storeCfg)
	if err != nil {
		server.Stop()
		return nil, nil, fmt.Errorf("%w (slapd log: %s)", err, server.LogPath())
	}
	return store, server, nil
}

// start starts the embedded slapd of l and returns it with the service's
// password: ldap.bind_password, or the one kept in its folder.
func start(ctx context.Context, l config.LDAP, logger *slog.Logger) (*slapd.Server, string, error) {
	if !slapd.Installed() {
		return nil, "", fmt.Errorf("embedded directory: slapd is not installed (%s): run make deps, or set ldap.url to an existing directory", slapd.DefaultBinary)
	}
	if err := checkNotInUse(l.EmbeddedDir); err != nil {
		return nil, "", err
	}
	password := l.BindPassword
	if password == "" {
		var err error
		if password, err = embeddedPassword(l.EmbeddedDir, logger); err != nil {
			return nil, "", err
		}
	}
	server, err := slapd.Start(ctx, slapd.Config{
		Dir:             l.EmbeddedDir,
		Suffix:          l.BaseDN,
		Listen:          l.EmbeddedListen,
		ServicePassword: password,
		LogLevel:        l.LogLevel,
	})
	if err != nil {
		return nil, "", fmt.Errorf("embedded directory: %w", err)
	}
	logger.Info("slapd embarqué démarré", "url", server.URL, "dir", l.EmbeddedDir, "log", server.LogPath(), "base_dn", server.Suffix)
	return server, password, nil
}

func openStore(ctx context.Context, cfg directory.StoreConfig) (*directory.Store, error) {
	store, err := directory.NewStore(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open directory %s as %s: %w", cfg.URL, cfg.BindDN, err)
	}
	if err := store.CheckSchema(ctx); err != nil {
		store.Close()
		return nil, fmt.Errorf("directory %s: %w", cfg.URL, err)
	}
	return store, nil
}

// embeddedPassword returns the service's password kept in the embedded
// slapd's folder, generating it on first use. slapd sets it on the service
// account at every start, so the file is the only place it lives.
func embeddedPassword(dir string, logger *slog.Logger) (string, error) {
	path := filepath.Join(dir, ServicePasswordFile)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("embedded directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		password, err := password.Generate(32, 6, 0, false, true) // about 180 bits, no shell-hostile symbol
		if err != nil {
			f.Close()
			os.Remove(path)
			return "", fmt.Errorf("embedded directory: %w", err)
		}
		_, werr := f.WriteString(password + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(path)
			return "", fmt.Errorf("embedded directory: write %s: %w", path, werr)
		}
		logger.Info("mot de passe du compte de service généré", "file", path)
		return password, nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("embedded directory: %w", err)
	}
	info, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("embedded directory: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		logger.Warn("le fichier du mot de passe du service est lisible par d'autres: chmod 600", "file", path, "mode", info.Mode().Perm().String())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("embedded directory: %w", err)
	}
	password := strings.TrimSpace(string(raw))
	if password == "" {
		return "", fmt.Errorf("embedded directory: %s is empty: remove it to generate a new password", path)
	}
	return password, nil
}

// checkNotInUse refuses to start a second slapd on a folder that a live
// program's slapd serves (say, apexd while apexctl demo runs): slapd.Start
// would stop it. A slapd whose parent has died is left to slapd.Start,
// which stops it as stale.
func checkNotInUse(dir string) error {
	raw, err := os.ReadFile(filepath.Join(dir, "slapd.pid"))
	if err != nil {
		return nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 0 {
		return nil
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil // not running
	}
	// The fields after the command name, which is in parentheses: state, ppid, …
	_, rest, ok := strings.Cut(string(stat), ") ")
	fields := strings.Fields(rest)
	if !ok || len(fields) < 2 || !strings.Contains(string(stat), "(slapd)") {
		return nil
	}
	ppid, err := strconv.Atoi(fields[1])
	if err != nil || ppid <= 1 || ppid == os.Getpid() {
		return nil
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", ppid)); err != nil {
		return nil
	}
	return fmt.Errorf("embedded directory: %s is served by slapd (pid %d) of a running program (pid %d), apexd perhaps: "+
		"stop it, or reach its slapd with APEX_LDAP_URL and APEX_LDAP_BIND_PASSWORD", dir, pid, ppid)
}
