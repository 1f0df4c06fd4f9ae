package main

// The rig of the fault tests: a real slapd, a real SMTP server and a real
// HTTP SMS receiver on 127.0.0.1, loopback proxies that can refuse
// connections or slow them down, and apexd itself as a child process that
// can be killed with SIGKILL. The child is this test binary re-executed with
// faultsChildEnv set: TestMain then runs main(), the very code of the apexd
// binary, so no separate build is needed.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapd"
	"github.com/dgfip/apex-partenaires/notify/smtptest"
)

const faultsChildEnv = "APEXD_FAULTS_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(faultsChildEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

const (
	rigSuffix   = "dc=apex,dc=dgfip,dc=gouv,dc=fr"
	rigSIRET    = "73282932000074"
	rigService  = "Comptabilité"
	rigApp      = "ficoba"
	rigPassword = "Faults-Test-2026!"
	rigSvcPass  = "Service-Faults-2026!"
)

// rig is one directory, mail and SMS world with one apexd in front.
type rig struct {
	t         *testing.T
	dir       string
	slapdDir  string
	ldapURL   string // where slapd listens (fixed across restarts)
	srv       *slapd.Server
	store     *directory.Store // the test's own, for fixtures
	smtp      *smtptest.Server
	smtpProxy *proxy
	sms       *smsReceiver
	smsProxy  *proxy
	ldapProxy *proxy // between apexd and slapd, once behindProxy is called
	public    string // apexd's base URL
	env       []string
	args      []string // apexd's arguments after --config
	child     *exec.Cmd
	childLog  string
	childDone chan struct{}
}

func newRig(t *testing.T) *rig {
	t.Helper()
	if !slapd.Installed() {
		t.Fatal("slapd is not installed: run make deps")
	}
	r := &rig{t: t, dir: t.TempDir()}
	r.slapdDir = filepath.Join(r.dir, "ldap")
	r.ldapURL = fmt.Sprintf("ldap://127.0.0.1:%d", freePort(t))
	r.startSlapd()
	t.Cleanup(func() {
		if r.srv != nil {
			if t.Failed() {
				t.Logf("slapd log:\n%s", r.srv.LogTail(3000))
			}
			r.srv.Stop()
		}
	})
	store, err := directory.NewStore(context.Background(), directory.StoreConfig{
		URL: r.ldapURL, BaseDN: rigSuffix, BindDN: r.srv.ServiceDN, BindPassword: rigSvcPass, Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.store = store
	t.Cleanup(store.Close)

	r.smtp = smtptest.Start(t)
	r.smtpProxy = startProxy(t, r.smtp.Addr)
	r.sms = startSMSReceiver(t)
	r.smsProxy = startProxy(t, strings.TrimPrefix(r.sms.URL, "http://"))
	r.public = fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	r.setEnv(map[string]string{
		"APEX_HTTP_ADDR":          strings.TrimPrefix(r.public, "http://"),
		"APEX_HTTP_PUBLIC_URL":    r.public,
		"APEX_HTTP_METRICS_ADDR":  fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"APEX_LDAP_URL":           r.ldapURL,
		"APEX_LDAP_BASE_DN":       rigSuffix,
		"APEX_LDAP_BIND_PASSWORD": rigSvcPass,
		"APEX_LDAP_TIMEOUT":       "2s",
		"APEX_MAIL_SMTP_HOST":     "127.0.0.1",
		"APEX_MAIL_SMTP_PORT":     fmt.Sprint(r.smtpProxy.port),
		"APEX_MAIL_OUTBOX_DIR":    filepath.Join(r.dir, "outbox"),
		"APEX_MAIL_SPOOL_DIR":     filepath.Join(r.dir, "spool"),
		"APEX_SMS_GATEWAY_URL":    fmt.Sprintf("http://127.0.0.1:%d/sms", r.smsProxy.port),
		"APEX_SMS_OUTBOX_DIR":     filepath.Join(r.dir, "sms-outbox"),
	})
	return r
}

// setEnv sets (or overrides) variables of apexd's environment.
func (r *rig) setEnv(vars map[string]string) {
	for k, v := range vars {
		r.env = slices.DeleteFunc(r.env, func(e string) bool { return strings.HasPrefix(e, k+"=") })
		r.env = append(r.env, k+"="+v)
	}
}

func (r *rig) startSlapd() {
	r.t.Helper()
	srv, err := slapd.Start(context.Background(), slapd.Config{Dir: r.slapdDir, Suffix: rigSuffix, Listen: r.ldapURL, ServicePassword: rigSvcPass})
	if err != nil {
		r.t.Fatalf("start slapd: %v", err)
	}
	r.srv = srv
}

// behindProxy puts a proxy between apexd (started after) and slapd.
func (r *rig) behindProxy() {
	r.ldapProxy = startProxy(r.t, strings.TrimPrefix(r.ldapURL, "ldap://"))
	r.setEnv(map[string]string{"APEX_LDAP_URL": fmt.Sprintf("ldap://127.0.0.1:%d", r.ldapProxy.port)})
}

// killSlapd is kill -9 of slapd; startSlapd brings it back on the same data and port.
func (r *rig) killSlapd() {
	r.srv.Kill()
	<-r.srv.Exited()
}

// startApexd runs apexd as a child process and waits until it is ready.
func (r *rig) startApexd() {
	r.t.Helper()
	self, err := os.Executable()
	if err != nil {
		r.t.Fatal(err)
	}
	r.childLog = filepath.Join(r.dir, fmt.Sprintf("apexd-%d.log", time.Now().UnixNano()))
	logFile, err := os.Create(r.childLog)
	if err != nil {
		r.t.Fatal(err)
	}
	cmd := exec.Command(self, append([]string{"--config", filepath.Join(r.dir, "absent.yaml")}, r.args...)...)
	cmd.Env = append(append(os.Environ(), faultsChildEnv+"=1"), r.env...)
	cmd.Stdout, cmd.Stderr = io.Discard, logFile
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logFile.Close(); close(done) }()
	r.child, r.childDone = cmd, done
	r.t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if r.t.Failed() {
			log, _ := os.ReadFile(logFile.Name())
			var errs []string
			for line := range strings.Lines(string(log)) {
				if strings.Contains(line, `"level":"ERROR"`) && len(errs) < 20 {
					errs = append(errs, line)
				}
			}
			r.t.Logf("apexd log %s, errors:\n%s\ntail:\n%s", logFile.Name(), strings.Join(errs, ""), tail(string(log), 3000))
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if res, err := http.Get(r.public + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-done:
			log, _ := os.ReadFile(r.childLog)
			r.t.Fatalf("apexd exited at start:\n%s", tail(string(log), 4000))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.t.Fatal("apexd not ready within 30 s")
		}
	}
}

// killApexd is kill -9 of apexd.
func (r *rig) killApexd() {
	r.child.Process.Signal(syscall.SIGKILL)
	<-r.childDone
}

// apexdAlive reports whether the child is still running.
func (r *rig) apexdAlive() bool {
	select {
	case <-r.childDone:
		return false
	default:
		return true
	}
}

func (r *rig) apexdLog() string {
	b, _ := os.ReadFile(r.childLog)
	return string(b)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// waitReady waits until apexd's /readyz answers 200 (the directory is back).
func (r *rig) waitReady(within time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if res, err := http.Get(r.public + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("apexd not ready again within %s", within)
}

// root opens a connection as the directory's root, over ldapi.
func (r *rig) root() *ldap.Conn {
	r.t.Helper()
	conn, err := r.srv.DialRoot()
	if err != nil {
		r.t.Fatal(err)
	}
	return conn
}

// ---- HTTP client ----

// client calls apexd's API with a bounded timeout: a hang fails the test
// instead of hanging it.
var client = &http.Client{Timeout: 30 * time.Second}

type answer struct {
	status int
	body   map[string]any
	err    error // transport error (apexd down)
	took   time.Duration
}

func (a answer) code() string {
	e, _ := a.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (a answer) String() string {
	if a.err != nil {
		return "transport: " + a.err.Error()
	}
	return fmt.Sprintf("%d %v", a.status, a.body)
}

func (r *rig) call(method, path, token string, body any) answer {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, r.public+"/api/v1"+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	start := time.Now()
	res, err := client.Do(req)
	if err != nil {
		return answer{err: err, took: time.Since(start)}
	}
	defer res.Body.Close()
	a := answer{status: res.StatusCode, took: time.Since(start)}
	json.NewDecoder(res.Body).Decode(&a.body)
	return a
}

// ---- Fixtures ----

type user struct {
	id, dn, token, email, mobile string
}

// world is what the fixtures made: an administrator, collaborateurs with
// sessions, requests waiting for approval.
type world struct {
	admin    user
	users    []user
	requests []string // request ids, submitted
	names    map[string][2]string
	profiles []string
}

// letters spells n with letters only: identifiers drop digits.
func letters(n int) string {
	s := ""
	for {
		s = string(rune('a'+n%26)) + s
		n = n/26 - 1
		if n < 0 {
			return s
		}
	}
}

func (r *rig) populate(nUsers, nRequests int) *world {
	r.t.Helper()
	ctx := context.Background()
	s := r.store
	if err := s.CreateStructure(ctx, directory.Structure{SIRET: rigSIRET, Name: "Étude Pannes", Category: "Notaire"}); err != nil {
		r.t.Fatal(err)
	}
	if err := s.CreateService(ctx, directory.Service{SIRET: rigSIRET, Name: rigService}); err != nil {
		r.t.Fatal(err)
	}
	w := &world{names: map[string][2]string{}, profiles: []string{"consultation", "saisie", "export"}}
	if err := s.CreateApplication(ctx, directory.Application{ID: rigApp, Name: "FICOBA", Profiles: w.profiles}); err != nil {
		r.t.Fatal(err)
	}
	mk := func(first, last, email string, role directory.Role, state directory.AccountState, mobile string) *directory.Person {
		n := directory.NewPerson{FirstName: first, LastName: last, Email: email, Mobile: mobile, Role: role, State: state, SIRET: rigSIRET, RequestedBy: "agent.test-px"}
		if role != directory.RoleAdministrateur {
			n.Service = rigService
		}
		p, err := s.CreatePerson(ctx, n, rigPassword)
		if err != nil {
			r.t.Fatalf("create %s %s: %v", first, last, err)
		}
		return p
	}
	session := func(p *directory.Person) user {
		tok, err := s.CreateSession(ctx, p.Identifier)
		if err != nil {
			r.t.Fatal(err)
		}
		return user{id: p.Identifier, dn: r.personDN(p), token: tok, email: p.Email, mobile: p.Mobile}
	}
	a := mk("Adèle", "Admin", "adele.admin@example.test", directory.RoleAdministrateur, directory.StateActive, "")
	for _, prof := range w.profiles {
		if err := s.AddHabilitation(ctx, a.Identifier, rigApp, prof); err != nil {
			r.t.Fatal(err)
		}
	}
	w.admin = session(a)
	for i := range nUsers {
		p := mk("Usager", "Charge"+letters(i), fmt.Sprintf("usager%d@example.test", i), directory.RoleCollaborateur, directory.StateActive, fmt.Sprintf("+3361234%04d", i))
		w.users = append(w.users, session(p))
	}
	for i := range nRequests {
		// Every third request is a homonym of the one before: identifiers get numbers.
		last := "Demande" + letters(i-i%3/2)
		p := mk("Marie", last, fmt.Sprintf("demande%d@example.test", i), directory.RoleCollaborateur, directory.StateSubmitted, "")
		w.requests = append(w.requests, p.RequestID)
		w.names[p.RequestID] = [2]string{"Marie", last}
	}
	return w
}

func (r *rig) personDN(p *directory.Person) string {
	if p.Role == directory.RoleAdministrateur {
		return fmt.Sprintf("uid=%s,ou=%s,ou=structures,%s", p.Identifier, rigSIRET, rigSuffix)
	}
	return fmt.Sprintf("uid=%s,ou=%s,ou=%s,ou=structures,%s", p.Identifier, ldap.EscapeDN(rigService), rigSIRET, rigSuffix)
}

// ---- Proxy ----

// proxy forwards loopback TCP connections to a target. It can go down
// (the listener closes and every open connection is cut, so new ones are
// refused), come back on the same port, and delay every chunk it forwards.
type proxy struct {
	t      *testing.T
	target string
	port   int

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
	delay time.Duration
}

func startProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, target: target, port: freePort(t), conns: map[net.Conn]bool{}}
	p.up()
	t.Cleanup(p.down)
	return p
}

func (p *proxy) up() {
	p.t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port may linger a moment after down
		if ln, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p.port)); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("proxy up: %v", err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go p.accept(ln)
}

func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *proxy) setDelay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

func (p *proxy) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go p.serve(c)
	}
}

func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		c.Close()
		return false
	}
	p.conns[c] = true
	return true
}

func (p *proxy) serve(in net.Conn) {
	out, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		in.Close()
		return
	}
	if !p.track(in) || !p.track(out) {
		in.Close()
		out.Close()
		return
	}
	go p.pipe(out, in)
	p.pipe(in, out)
}

func (p *proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			d := p.delay
			p.mu.Unlock()
			if d > 0 {
				time.Sleep(d)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// ---- SMS receiver ----

// smsReceiver is the HTTP SMS gateway: it keeps every message it accepts.
type smsReceiver struct {
	*httptest.Server
	mu       sync.Mutex
	received []map[string]string
}

func startSMSReceiver(t *testing.T) *smsReceiver {
	s := &smsReceiver{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]string
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.received = append(s.received, m)
		s.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *smsReceiver) messages() []map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.received)
}
