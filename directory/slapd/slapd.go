// Package slapd starts and stops a private OpenLDAP server (Debian's slapd)
// holding the APEX Partenaires schema, configuration and base entries. It
// serves the test harness, the embedded directory of apexd and make run, and
// the benchmarks.
package slapd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/dgfip/apex-partenaires/ldif"
	"github.com/dgfip/apex-partenaires/schema"
)

// Debian's locations of the slapd programs, modules and system schemas.
const (
	DefaultBinary     = "/usr/sbin/slapd"
	DefaultSlapadd    = "/usr/sbin/slapadd"
	DefaultSlapcat    = "/usr/sbin/slapcat"
	DefaultModulePath = "/usr/lib/ldap"
	DefaultSchemaDir  = "/etc/ldap/schema"
)

// Config says where and how to run a slapd.
type Config struct {
	Dir             string // data folder, created when missing; the data outlives the process
	Suffix          string // e.g. dc=apex,dc=dgfip,dc=gouv,dc=fr
	Listen          string // ldap://127.0.0.1:PORT; empty or port 0 picks a free loopback port
	ServicePassword string // the service's bind account password, set at every start
	LogLevel        string // slapd log level (olcLogLevel): "stats" by default, "none" for benchmarks
	Binary          string // DefaultBinary when empty
	Slapadd         string // DefaultSlapadd when empty
	ModulePath      string // DefaultModulePath when empty
	SchemaDir       string // DefaultSchemaDir when empty
	StartTimeout    time.Duration
	TLSCertFile     string       // PEM certificate offered with StartTLS on the ldap:// listener; empty: no TLS
	TLSKeyFile      string       // its PEM private key
	Replication     *Replication // nil for a single server
}

// Server is a running slapd.
type Server struct {
	URL       string // where it listens on TCP, ldap://127.0.0.1:PORT
	Suffix    string
	ServiceDN string // the service's bind account

	cfg     Config
	dir     string
	socket  string
	cmd     *exec.Cmd
	logFile *os.File
	exited  chan struct{}
	waitErr error

	closeLog sync.Once
	closeErr error

	stopOther func() error // ends a slapd run by another program (Attach)
}

// Installed reports whether the slapd programs are present.
func Installed() bool {
	for _, p := range []string{DefaultBinary, DefaultSlapadd, DefaultModulePath + "/ppolicy.so"} {
		if _, err := os.Stat(p); err != nil {
			return false
		}
	}
	return true
}

// Start builds cn=config from the project's templates, starts slapd in the
// foreground of a child process and waits until a real bind succeeds. On the
// first start of a data folder it loads the base entries and the partner tree.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	cfg = withDefaults(cfg)
	if cfg.Dir == "" || cfg.Suffix == "" || cfg.ServicePassword == "" {
		return nil, errors.New("slapd: Dir, Suffix and ServicePassword are required")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("slapd: %w", err)
	}
	for _, d := range []string{dir, filepath.Join(dir, "data")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("slapd: %w", err)
		}
	}
	stopStale(dir)
	if err := writeConfig(ctx, cfg, dir); err != nil {
		return nil, err
	}

	host, port, err := listenAddress(cfg.Listen)
	if err != nil {
		return nil, err
	}
	var s *Server
	for attempt := 0; ; attempt++ {
		s, err = launch(ctx, cfg, dir, host, port)
		// A free port picked by us can be taken before slapd binds it: try another.
		if err == nil || cfg.portFixed() || attempt == 2 {
			break
		}
		if port, err = freePort(host); err != nil {
			return nil, err
		}
	}
	if err != nil {
		return nil, err
	}
	s.cfg = cfg
	s.cfg.Listen = s.URL
	if err := s.initialize(ctx, cfg); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// Config is the configuration this server was started with, its listen
// address fixed: starting it again brings the same server back.
func (s *Server) Config() Config { return s.cfg }

func withDefaults(cfg Config) Config {
	if cfg.Binary == "" {
		cfg.Binary = DefaultBinary
	}
	if cfg.Slapadd == "" {
		cfg.Slapadd = DefaultSlapadd
	}
	if cfg.ModulePath == "" {
		cfg.ModulePath = DefaultModulePath
	}
	if cfg.SchemaDir == "" {
		cfg.SchemaDir = DefaultSchemaDir
	}
	if cfg.LogLevel == "" {
		cfg.LogLevel = "stats"
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 20 * time.Second
	}
	return cfg
}

func (cfg Config) portFixed() bool {
	_, port, err := listenAddress(cfg.Listen)
	return err == nil && port != 0
}

// listenAddress reads an ldap:// URL; port 0 means "pick one".
func listenAddress(listen string) (string, int, error) {
	if listen == "" {
		port, err := freePort("127.0.0.1")
		return "127.0.0.1", port, err
	}
	u, err := url.Parse(listen)
	if err != nil || u.Scheme != "ldap" || u.Hostname() == "" {
		return "", 0, fmt.Errorf("slapd: listen address %q must be ldap://HOST:PORT", listen)
	}
	port := 0
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return "", 0, fmt.Errorf("slapd: listen address %q: bad port", listen)
		}
	}
	if port == 0 {
		port, err = freePort(u.Hostname())
	}
	return u.Hostname(), port, err
}

func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("slapd: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// writeConfig renders cn=config and loads it with slapadd into a fresh slapd.d.
func writeConfig(ctx context.Context, cfg Config, dir string) error {
	schemaPath := filepath.Join(dir, "apex-schema.ldif")
	if err := os.WriteFile(schemaPath, schema.LDIF, 0o600); err != nil {
		return fmt.Errorf("slapd: %w", err)
	}
	params := ldif.ConfigParams{
		Dir:             dir,
		Suffix:          cfg.Suffix,
		RootDN:          RootDN(),
		ModulePath:      cfg.ModulePath,
		SystemSchemaDir: cfg.SchemaDir,
		APEXSchema:      schemaPath,
		LogLevel:        cfg.LogLevel,
		TLSCertFile:     cfg.TLSCertFile,
		TLSKeyFile:      cfg.TLSKeyFile,
	}
	if r := cfg.Replication; r != nil {
		params.ServerID = r.ServerID
		for _, u := range r.Peers {
			params.Peers = append(params.Peers, ldif.Peer{URL: u, ReplicatorPassword: r.Password})
		}
	}
	conf, err := ldif.Config(params)
	if err != nil {
		return fmt.Errorf("slapd: %w", err)
	}
	confPath := filepath.Join(dir, "config.ldif")
	if err := os.WriteFile(confPath, conf, 0o600); err != nil {
		return fmt.Errorf("slapd: %w", err)
	}
	configDir := filepath.Join(dir, "slapd.d")
	if err := os.RemoveAll(configDir); err != nil {
		return fmt.Errorf("slapd: %w", err)
	}
	if err := os.Mkdir(configDir, 0o700); err != nil {
		return fmt.Errorf("slapd: %w", err)
	}
	out, err := exec.CommandContext(ctx, cfg.Slapadd, "-n0", "-F", configDir, "-l", confPath).CombinedOutput()
	if err != nil {
		return fmt.Errorf("slapd: slapadd cn=config: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// RootDN is the identity that manages the embedded slapd: whoever runs this
// process, authenticated by the kernel over the ldapi socket (SASL EXTERNAL).
// There is no root password to leak.
func RootDN() string {
	return fmt.Sprintf("gidNumber=%d+uidNumber=%d,cn=peercred,cn=external,cn=auth", os.Getegid(), os.Geteuid())
}

func launch(ctx context.Context, cfg Config, dir, host string, port int) (*Server, error) {
	socket := filepath.Join(dir, "ldapi")
	os.Remove(socket)
	logFile, err := os.OpenFile(filepath.Join(dir, "slapd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("slapd: %w", err)
	}
	tcpURL := "ldap://" + net.JoinHostPort(host, strconv.Itoa(port))
	urls := tcpURL + "/ ldapi://" + url.PathEscape(socket) + "/"
	// -d keeps slapd in the foreground, where the child process can be watched
	// and stopped, and sends the log lines of that level to its stderr.
	cmd := exec.Command(cfg.Binary, "-d", debugLevel(cfg.LogLevel), "-F", filepath.Join(dir, "slapd.d"), "-h", urls)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("slapd: start %s: %w", cfg.Binary, err)
	}
	s := &Server{
		URL:       tcpURL,
		Suffix:    cfg.Suffix,
		ServiceDN: ldif.ServiceDN(cfg.Suffix),
		dir:       dir,
		socket:    socket,
		cmd:       cmd,
		logFile:   logFile,
		exited:    make(chan struct{}),
	}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx, cfg.StartTimeout); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := s.DialRoot()
		if err == nil {
			_, err = conn.WhoAmI(nil)
			conn.Close()
			if err == nil {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("slapd: exited at start (%v); log %s:\n%s", s.waitErr, s.LogPath(), s.LogTail(2000))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("slapd: not ready after %s: %v; log:\n%s", timeout, err, s.LogTail(2000))
		}
	}
}

// DialRoot connects over the ldapi socket and authenticates as RootDN.
func (s *Server) DialRoot() (*ldap.Conn, error) {
	c, err := net.DialTimeout("unix", s.socket, 5*time.Second)
	if err != nil {
		return nil, err
	}
	conn := ldap.NewConn(c, false)
	conn.Start()
	conn.SetTimeout(30 * time.Second)
	if err := conn.ExternalBind(); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// initialize loads the base entries and partner tree into an empty database,
// and sets the service account's password (slapd hashes it). A provider
// joining a cluster waits for those entries from its peers instead; every
// provider makes sure the replicator account exists with its password.
func (s *Server) initialize(ctx context.Context, cfg Config) error {
	conn, err := s.DialRoot()
	if err != nil {
		return fmt.Errorf("slapd: %w", err)
	}
	defer conn.Close()
	repl := cfg.Replication
	exists, err := entryExists(conn, s.Suffix)
	if err != nil {
		return fmt.Errorf("slapd: read the suffix: %w", err)
	}
	if !exists && repl != nil && repl.Join {
		if err := s.awaitRefresh(ctx, conn, cfg.StartTimeout, s.ServiceDN, ldif.ReplicatorDN(s.Suffix)); err != nil {
			return err
		}
		exists = true
	}
	if !exists {
		base, err := ldif.Base(s.Suffix, cfg.ServicePassword)
		if err != nil {
			return err
		}
		tree, err := ldif.Tree(s.Suffix, s.Suffix)
		if err != nil {
			return err
		}
		if err := addLDIF(conn, append(append(base, '\n'), tree...)); err != nil {
			return err
		}
	} else if err := setPassword(conn, s.ServiceDN, cfg.ServicePassword, cfg.StartTimeout); err != nil {
		return fmt.Errorf("slapd: set the service password: %w", err)
	}
	if repl != nil {
		return ensureReplicator(conn, s.Suffix, repl.Password)
	}
	return nil
}

func entryExists(conn *ldap.Conn, dn string) (bool, error) {
	_, err := conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false, "(objectClass=*)", []string{"1.1"}, nil))
	switch {
	case err == nil:
		return true, nil
	case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject):
		return false, nil
	}
	return false, err
}

// setPassword sets an account's password (slapd hashes it). On a provider
// that has just joined, the first refresh of syncrepl can still be placing
// entries: "no such object" is tried again for a while.
func setPassword(conn *ldap.Conn, dn, password string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		_, err := conn.PasswordModify(ldap.NewPasswordModifyRequest(dn, "", password))
		if err == nil || !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// AddTree adds the partner branches under base, an ou below the suffix that
// does not exist yet. Tests give each test a base of its own this way.
func (s *Server) AddTree(base string) error {
	tree, err := ldif.Tree(s.Suffix, base)
	if err != nil {
		return err
	}
	conn, err := s.DialRoot()
	if err != nil {
		return fmt.Errorf("slapd: %w", err)
	}
	defer conn.Close()
	return addLDIF(conn, tree)
}

func addLDIF(conn *ldap.Conn, data []byte) error {
	entries, err := ldif.Parse(data)
	if err != nil {
		return err
	}
	for _, e := range entries {
		req := ldap.NewAddRequest(e.DN, nil)
		for _, a := range e.Attributes {
			req.Attribute(a.Type, a.Values)
		}
		if err := conn.Add(req); err != nil {
			return fmt.Errorf("slapd: add %s: %w", e.DN, err)
		}
	}
	return nil
}

// Stop ends slapd (SIGTERM, then SIGKILL after 5 s) and waits for it.
// Stopping a server that has ended, or twice, is fine.
func (s *Server) Stop() error {
	if s.stopOther != nil {
		return s.stopAttached()
	}
	select {
	case <-s.exited:
	default:
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			s.cmd.Process.Kill()
			<-s.exited
		}
	}
	s.closeLog.Do(func() { s.closeErr = s.logFile.Close() })
	return s.closeErr
}

// PID is the slapd process's id; 0 for a server of Attach.
func (s *Server) PID() int {
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Kill ends slapd at once with SIGKILL, as a crash would, and waits for it.
// A server of Attach is stopped as by Stop.
func (s *Server) Kill() {
	if s.stopOther != nil {
		s.stopAttached()
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
}

// Exited is closed when the slapd process has ended.
func (s *Server) Exited() <-chan struct{} { return s.exited }

// LogPath is the file that collects slapd's output.
func (s *Server) LogPath() string { return filepath.Join(s.dir, "slapd.log") }

// SocketPath is the ldapi socket.
func (s *Server) SocketPath() string { return s.socket }

// LogTail returns up to the last n bytes of slapd's log.
func (s *Server) LogTail(n int64) string {
	data, err := os.ReadFile(s.LogPath())
	if err != nil {
		return err.Error()
	}
	if int64(len(data)) > n {
		data = data[int64(len(data))-n:]
	}
	return string(data)
}

// stopStale kills a slapd left running on dir by a process that died without
// stopping it, so that its data can be opened again.
func stopStale(dir string) {
	raw, err := os.ReadFile(filepath.Join(dir, "slapd.pid"))
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 0 {
		return
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), filepath.Join(dir, "slapd.d")) {
		return
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return
	}
	p.Signal(syscall.SIGTERM)
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.Kill()
}

// debugLevel is slapd's -d argument for a log level; "none" would also turn
// off the foreground mode, so it becomes 0.
func debugLevel(level string) string {
	if level == "none" {
		return "0"
	}
	return level
}
