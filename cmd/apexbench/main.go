// Command apexbench measures apexd against raw OpenLDAP on the same machine,
// each pair in the same run (`make bench`): the sign-in password step, a
// DGFiP application's sign-in through the OpenID provider against the
// sign-in alone, a DGFiP application's bind, an account's detail, the
// consultation of a big structure, approvals and password resets. Every
// figure is a ratio against its pair, since these machines are shared and
// noisy; it then repeats the service side at smaller sizes to show how each
// cost grows.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapd"
)

const (
	suffix          = "dc=apex,dc=bench"
	servicePassword = "Service-Bench-2026!"
	userPassword    = "Bench-Password-42!"
	clientPassword  = "Client-Bench-2026!"
)

type options struct {
	accounts    int
	scales      []int
	duration    time.Duration
	concurrency int
	apexd       string
	profileDir  string
}

func main() {
	var o options
	accounts, _ := strconv.Atoi(os.Getenv("BENCH_ACCOUNTS"))
	if accounts <= 0 {
		accounts = 100000
	}
	flag.IntVar(&o.accounts, "accounts", accounts, "accounts in the directory (BENCH_ACCOUNTS)")
	scales := flag.String("scales", "", "comma-separated smaller sizes for the growth table (default: accounts/100, accounts/10)")
	flag.DurationVar(&o.duration, "d", 4*time.Second, "time given to each side of each pair")
	flag.IntVar(&o.concurrency, "c", 16, "concurrent clients for the cheap operations (hashing ones use half)")
	flag.StringVar(&o.apexd, "apexd", "bin/apexd", "the apexd binary")
	flag.StringVar(&o.profileDir, "profile", "", "write apexd's CPU and allocation profiles of the sign-in and the consultation here")
	flag.Parse()
	if *scales == "" {
		o.scales = []int{max(1000, o.accounts/100), max(1000, o.accounts/10)}
	} else {
		for _, s := range strings.Split(*scales, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				fail(err)
			}
			o.scales = append(o.scales, n)
		}
	}
	if err := bench(o); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "apexbench:", err)
	os.Exit(1)
}

func bench(o options) error {
	ctx := context.Background()
	hash, err := slapd.HashPassword(ctx, userPassword)
	if err != nil {
		return err
	}
	fmt.Printf("apexbench: %d accounts, %s a side, %d clients (hashing pairs: %d)\n", o.accounts, o.duration, o.concurrency, o.concurrency/2)

	small, err := setup(ctx, 100, hash, o, false)
	if err != nil {
		return err
	}
	smallBind := measureAppBind(small, o)
	small.close()

	var rows []row
	growth := map[string][]float64{}
	exports := map[int]exportResult{}
	sizes := append(append([]int(nil), o.scales...), o.accounts)
	for _, n := range sizes {
		e, err := setup(ctx, n, hash, o, true)
		if err != nil {
			return err
		}
		fmt.Printf("  %d accounts loaded in %s\n", n, e.loadTime.Round(time.Millisecond))
		var bind result
		if n == o.accounts { // before the resets change passwords
			bind = measureAppBind(e, o)
		}
		r := measureAll(e, o)
		lists, err := measureLists(e, o)
		if err != nil {
			return err
		}
		ex, err := measureExport(e)
		if err != nil {
			return err
		}
		exports[n] = ex
		r = append(r, lists...)
		r = append(r, row{name: "export of the big structure", unit: "s", service: ex.service, raw: ex.raw,
			serviceLabel: fmt.Sprintf("GET /structures/{siret}/accounts.csv (%d accounts)", ex.accounts), rawLabel: "one paged search",
			concurrency: 1, totalTime: true})
		if n == o.accounts && o.profileDir != "" {
			if err := profileAll(e, o); err != nil {
				return err
			}
		}
		for _, x := range r {
			growth[x.name] = append(growth[x.name], x.serviceCost())
		}
		if n == o.accounts {
			rows = append(r, row{name: "DGFiP application bind", unit: "ops/s", service: bind, raw: smallBind,
				serviceLabel: fmt.Sprintf("bind at %d accounts", n), rawLabel: "bind at 100 accounts", concurrency: o.concurrency})
			rss := e.apexdRSS()
			e.close()
			printTable(rows, rss, sizes, growth)
			printExports(sizes, exports)
			fmt.Printf("\nMails taken by the SMTP relay at %d accounts: %d\n", n, e.relay.messages.Load())
			return nil
		}
		e.close()
	}
	return nil
}

// env is one directory with apexd on it.
type env struct {
	srv        *slapd.Server
	store      *directory.Store
	pop        *population
	dir        string
	clientDN   string
	apexd      *exec.Cmd
	base       string // apexd's URL
	pprof      string // apexd's profiling URL
	http       *http.Client
	relay      *relay
	token      string // an administrator of the big structure
	agentToken string // a DGFiP agent
	loadTime   time.Duration
}

func setup(ctx context.Context, n int, hash string, o options, withService bool) (*env, error) {
	dir, err := os.MkdirTemp("", "apexbench-")
	if err != nil {
		return nil, err
	}
	cfg := slapd.Config{Dir: filepath.Join(dir, "ldap"), Suffix: suffix, ServicePassword: servicePassword, LogLevel: "none"}
	start := time.Now()
	srv, err := slapd.Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	srv.Stop()
	requests := 0
	if withService {
		requests = min(2000, max(200, n/20))
	}
	pop, err := writeLDIF(filepath.Join(dir, "bulk.ldif"), suffix, "ou=system,"+suffix, n, requests, hash)
	if err != nil {
		return nil, err
	}
	if err := slapd.BulkLoad(ctx, cfg, filepath.Join(dir, "bulk.ldif")); err != nil {
		return nil, err
	}
	if srv, err = slapd.Start(ctx, cfg); err != nil {
		return nil, err
	}
	e := &env{srv: srv, pop: pop, dir: dir, loadTime: time.Since(start)}
	e.store, err = directory.NewStore(ctx, directory.StoreConfig{URL: srv.URL, BaseDN: suffix, BindDN: srv.ServiceDN, BindPassword: servicePassword, PoolSize: o.concurrency})
	if err != nil {
		return nil, err
	}
	if e.clientDN, err = e.store.CreateClient(ctx, "bench", clientPassword); err != nil {
		return nil, err
	}
	if !withService {
		return e, nil
	}
	admin, err := e.store.CreatePerson(ctx, directory.NewPerson{FirstName: "Admin", LastName: "Bench", Email: "admin@bench.example.fr",
		Role: directory.RoleAdministrateur, State: directory.StateActive, SIRET: pop.big}, userPassword)
	if err != nil {
		return nil, err
	}
	if e.token, err = e.store.CreateSession(ctx, admin.Identifier); err != nil {
		return nil, err
	}
	agent, err := e.store.CreatePerson(ctx, directory.NewPerson{FirstName: "Agent", LastName: "Bench", Email: "agent@bench.example.fr",
		Role: directory.RoleAgent, State: directory.StateActive}, userPassword)
	if err != nil {
		return nil, err
	}
	if e.agentToken, err = e.store.CreateSession(ctx, agent.Identifier); err != nil {
		return nil, err
	}
	return e, e.startApexd(o)
}

func (e *env) startApexd(o options) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := l.Addr().String()
	l.Close()
	e.base = "http://" + addr
	cmd := exec.Command(o.apexd)
	cmd.Env = os.Environ()
	if o.profileDir != "" {
		pl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		e.pprof = "http://" + pl.Addr().String()
		pl.Close()
		cmd.Env = append(cmd.Env, "APEX_HTTP_PPROF_ADDR="+pl.Addr().String())
	}
	if e.relay, err = startRelay(); err != nil {
		return err
	}
	cmd.Env = append(cmd.Env,
		"APEX_MAIL_SMTP_HOST=127.0.0.1", "APEX_MAIL_SMTP_PORT="+strconv.Itoa(e.relay.addr.Port),
		"APEX_HTTP_ADDR="+addr, "APEX_HTTP_PUBLIC_URL="+e.base, "APEX_HTTP_METRICS_ADDR=127.0.0.1:0",
		"APEX_LDAP_URL="+e.srv.URL, "APEX_LDAP_BASE_DN="+suffix, "APEX_LDAP_BIND_PASSWORD="+servicePassword,
		"APEX_LDAP_POOL_SIZE="+strconv.Itoa(o.concurrency),
		"APEX_MAIL_OUTBOX_DIR="+filepath.Join(e.dir, "outbox"), "APEX_MAIL_SPOOL_DIR="+filepath.Join(e.dir, "spool"),
		"APEX_SMS_OUTBOX_DIR="+filepath.Join(e.dir, "sms"))
	// nil: /dev/null itself, not a pipe that this process would have to
	// drain on the cores it measures with.
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s (make build first): %w", o.apexd, err)
	}
	e.apexd = cmd
	e.http = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.concurrency * 2}, Timeout: 30 * time.Second}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if res, err := e.http.Get(e.base + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return nil
			}
		}
	}
	return errors.New("apexd did not become ready")
}

func (e *env) apexdRSS() string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", e.apexd.Process.Pid))
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return fmt.Sprintf("%.1f MiB", float64(kb)/1024)
		}
	}
	return "?"
}

func (e *env) close() {
	if e.apexd != nil {
		e.apexd.Process.Signal(os.Interrupt)
		e.apexd.Wait()
	}
	if e.relay != nil {
		e.relay.close()
	}
	e.store.Close()
	e.srv.Stop()
	os.RemoveAll(e.dir)
}

// call makes one API request and checks its status.
func (e *env) call(method, path, token string, body any, want int) error {
	var r io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		r = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, e.base+path, r)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := e.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	io.Copy(io.Discard, res.Body)
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: %d", method, path, res.StatusCode)
	}
	return nil
}

// ldapPool is a fixed set of connections bound as one identity, for the raw side.
type ldapPool chan *ldap.Conn

func (e *env) pool(n int, dn, password string) ldapPool {
	p := make(ldapPool, n)
	for range n {
		c, err := ldap.DialURL(e.srv.URL)
		if err != nil {
			fail(err)
		}
		if err := c.Bind(dn, password); err != nil {
			fail(err)
		}
		p <- c
	}
	return p
}

func (p ldapPool) do(fn func(c *ldap.Conn) error) error {
	c := <-p
	defer func() { p <- c }()
	return fn(c)
}

func (p ldapPool) close() {
	for range cap(p) {
		(<-p).Close()
	}
}

func searchUID(c *ldap.Conn, uid string, attrs []string) (*ldap.Entry, error) {
	res, err := c.Search(ldap.NewSearchRequest(suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 1, 0, false,
		"(&(objectClass=apexPerson)(uid="+ldap.EscapeFilter(uid)+"))", attrs, nil))
	if err != nil {
		return nil, err
	}
	if len(res.Entries) != 1 {
		return nil, errors.New("not found")
	}
	return res.Entries[0], nil
}

// bindAs searches an account and binds as it on a new connection, as a
// DGFiP application or apexd's sign-in does.
func (e *env) bindAs(p ldapPool, uid string) error {
	var dn string
	if err := p.do(func(c *ldap.Conn) error {
		en, err := searchUID(c, uid, []string{"1.1"})
		if err == nil {
			dn = en.DN
		}
		return err
	}); err != nil {
		return err
	}
	c, err := ldap.DialURL(e.srv.URL)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Bind(dn, userPassword)
}

func pick(uids []string, i int) string { return uids[(i*7919)%len(uids)] }

func measureAppBind(e *env, o options) result {
	p := e.pool(o.concurrency/2, e.clientDN, clientPassword)
	defer p.close()
	uids := e.pop.bigUIDs
	return run(o.concurrency/2, o.duration, 0, func(i int) error { return e.bindAs(p, pick(uids, i)) })
}

// row is one pair of the table.
type row struct {
	name, unit             string
	service, raw           result
	serviceLabel, rawLabel string
	concurrency            int
	totalTime              bool // compare elapsed times, not throughputs
}

// serviceCost is what the growth table follows: seconds for a whole
// consultation, milliseconds per operation otherwise.
func (r row) serviceCost() float64 {
	if r.totalTime {
		return r.service.elapsed.Seconds()
	}
	return 1000 / r.service.throughput()
}

func (r row) ratio() float64 {
	if r.totalTime {
		return r.service.elapsed.Seconds() / r.raw.elapsed.Seconds()
	}
	return r.service.throughput() / r.raw.throughput()
}

func measureAll(e *env, o options) []row {
	half := o.concurrency / 2
	svc := e.pool(o.concurrency, e.srv.ServiceDN, servicePassword)
	defer svc.close()
	var rows []row

	// Sign-in, password step: apexd checks the password by a bind and
	// issues a code (its mail is queued); raw: search + bind, same hash.
	uids := e.pop.bigUIDs
	signIn, rawBind := alternate(half, o.duration, 0, 0, func(i int) error {
		return e.call("POST", "/api/v1/auth/login", "", map[string]string{"identifier": pick(uids, i), "password": userPassword}, 200)
	}, func(i int) error { return e.bindAs(svc, pick(uids, i+1)) })
	rows = append(rows, row{name: "sign-in, password step", unit: "ops/s", service: signIn, raw: rawBind,
		serviceLabel: "POST /auth/login", rawLabel: "search by uid + bind", concurrency: half})

	// A DGFiP application's sign-in through the OpenID provider, against
	// the sign-in alone (before the resets change passwords).
	flow, err := measureOIDC(e, o)
	if err != nil {
		fail(err)
	}
	rows = append(rows, flow)

	// An account's detail, as a signed-in member of the structure.
	attrs := []string{"uid", "givenName", "sn", "mail", "apexRole", "apexAccountState", "apexSiret", "apexService", "memberOf"}
	detail, rawSearch := alternate(o.concurrency, o.duration, 0, 0, func(i int) error {
		return e.call("GET", "/api/v1/accounts/"+pick(uids, i), e.token, nil, 200)
	}, func(i int) error {
		return svc.do(func(c *ldap.Conn) error { _, err := searchUID(c, pick(uids, i), attrs); return err })
	})
	rows = append(rows, row{name: "account detail", unit: "ops/s", service: detail, raw: rawSearch,
		serviceLabel: "GET /accounts/{identifier}", rawLabel: "search by uid", concurrency: o.concurrency})

	// Consultation: every page of the big structure, against one paged search.
	consult := run(1, time.Hour, 1, func(int) error { return e.consultBig() })
	rawPaged := run(1, time.Hour, 1, func(int) error {
		return svc.do(func(c *ldap.Conn) error {
			_, err := c.SearchWithPaging(ldap.NewSearchRequest("ou="+e.pop.big+",ou=structures,"+suffix, ldap.ScopeWholeSubtree,
				ldap.NeverDerefAliases, 0, 0, false, "(&(objectClass=apexPerson)(uid=*)(|(apexAccountState=active)(apexAccountState=disabled)))",
				[]string{"uid", "givenName", "sn", "mail", "apexRole", "apexAccountState", "apexSiret"}, nil), 500)
			return err
		})
	})
	rows = append(rows, row{name: "consultation of the big structure", unit: "s", service: consult, raw: rawPaged,
		serviceLabel: "every page of GET /directory", rawLabel: "one paged search", concurrency: 1, totalTime: true})

	// Approvals in parallel: half the requests through apexd, half by the
	// same LDAP writes issued directly.
	reqs := e.pop.requests
	mid := len(reqs) / 2
	approve, rawApprove := alternate(half, o.duration, mid, len(reqs)-mid, func(i int) error {
		return e.call("POST", "/api/v1/requests/"+reqs[i]+"/approve", e.token, nil, 200)
	}, func(i int) error {
		id := reqs[mid+i]
		return svc.do(func(c *ldap.Conn) error { return rawApproval(c, id) })
	})
	rows = append(rows, row{name: "approval", unit: "ops/s", service: approve, raw: rawApprove,
		serviceLabel: "POST /requests/{id}/approve", rawLabel: "the same LDAP writes", concurrency: half})

	// Password reset, the final step: apexd with a token, raw Password Modify.
	n := 4000
	tokens := make([]string, 0, n)
	for i := 0; len(tokens) < n/2 && i < len(uids); i++ {
		start, err := e.store.StartReset(context.Background(), uids[(i*31)%len(uids)])
		if err == nil && start.Token != "" {
			tokens = append(tokens, start.Token)
		}
	}
	others := e.pop.otherUIDs
	reset, rawReset := alternate(half, o.duration, len(tokens), len(others), func(i int) error {
		return e.call("POST", "/api/v1/password/reset", "", map[string]string{"token": tokens[i], "password": fmt.Sprintf("Nouveau-Secret-%02d!", i%90+10)}, 204)
	}, func(i int) error {
		return svc.do(func(c *ldap.Conn) error {
			return rawPasswordModify(c, others[i], fmt.Sprintf("Nouveau-Secret-%02d!", i%90+10))
		})
	})
	rows = append(rows, row{name: "password reset", unit: "ops/s", service: reset, raw: rawReset,
		serviceLabel: "POST /password/reset", rawLabel: "Password Modify, same policy", concurrency: half})
	rows = append(rows, e.measureBulk(svc))
	return rows
}

// consultBig reads every page of the big structure's directory.
func (e *env) consultBig() error {
	for page := 1; ; page++ {
		var out struct {
			Accounts []json.RawMessage `json:"accounts"`
		}
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/structures/%s/directory?size=200&page=%d", e.base, e.pop.big, page), nil)
		req.Header.Set("Authorization", "Bearer "+e.token)
		res, err := e.http.Do(req)
		if err != nil {
			return err
		}
		err = json.NewDecoder(res.Body).Decode(&out)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 {
			return fmt.Errorf("directory page %d: %d %v", page, res.StatusCode, err)
		}
		if len(out.Accounts) < 200 {
			return nil
		}
	}
}

// rawApproval issues what an approval writes: the state's compare-and-swap,
// the identifier's reservation and the rename.
func rawApproval(c *ldap.Conn, requestID string) error {
	en, err := c.Search(ldap.NewSearchRequest(suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 1, 0, false,
		"(apexRequestId="+ldap.EscapeFilter(requestID)+")", []string{"givenName", "sn"}, nil))
	if err != nil || len(en.Entries) != 1 {
		return fmt.Errorf("request %s: %v", requestID, err)
	}
	dn := en.Entries[0].DN
	mod := ldap.NewModifyRequest(dn, nil)
	mod.Delete("apexAccountState", []string{"submitted"})
	mod.Add("apexAccountState", []string{"active"})
	if err := c.Modify(mod); err != nil {
		return err
	}
	id := fmt.Sprintf("raw.%s-px", strings.ToLower(requestID))
	add := ldap.NewAddRequest("cn="+id+",ou=identifiers,ou=system,"+suffix, nil)
	add.Attribute("objectClass", []string{"applicationProcess"})
	add.Attribute("cn", []string{id})
	if err := c.Add(add); err != nil {
		return err
	}
	return c.ModifyDN(ldap.NewModifyDNRequest(dn, "uid="+id, false, ""))
}

func rawPasswordModify(c *ldap.Conn, uid, password string) error {
	en, err := searchUID(c, uid, []string{"1.1"})
	if err != nil {
		return err
	}
	value := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "Password Modify Request")
	value.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, en.DN, "User Identity"))
	value.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 2, password, "New Password"))
	req := ldap.NewExtendedRequest("1.3.6.1.4.1.4203.1.11.1", value)
	req.Controls = []ldap.Control{ldap.NewControlBeheraPasswordPolicy()}
	_, err = c.Extended(req)
	return err
}

func printTable(rows []row, rss string, sizes []int, growth map[string][]float64) {
	fmt.Println()
	fmt.Println("| pair | service side | raw side | service | raw | ratio | p50 | p99 | clients | errors |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range rows {
		svc, raw := fmt.Sprintf("%.0f ops/s", r.service.throughput()), fmt.Sprintf("%.0f ops/s", r.raw.throughput())
		if r.totalTime {
			svc, raw = fmt.Sprintf("%.2f s", r.service.elapsed.Seconds()), fmt.Sprintf("%.2f s", r.raw.elapsed.Seconds())
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %.2f | %s | %s | %d | %d |\n", r.name, r.serviceLabel, r.rawLabel, svc, raw, r.ratio(),
			r.service.percentile(0.5).Round(10*time.Microsecond), r.service.percentile(0.99).Round(10*time.Microsecond), r.concurrency, r.service.errors+r.raw.errors)
	}
	fmt.Printf("\napexd resident memory at the end: %s\n\n", rss)
	fmt.Print("How the service side grows (ms per operation; seconds for a whole consultation):\n\n| pair |")
	for _, n := range sizes {
		fmt.Printf(" %d accounts |", n)
	}
	fmt.Print("\n| --- |")
	for range sizes {
		fmt.Print(" --- |")
	}
	fmt.Println()
	for _, r := range rows {
		costs, ok := growth[r.name]
		if !ok {
			continue
		}
		fmt.Printf("| %s |", r.name)
		for _, c := range costs {
			fmt.Printf(" %.3f |", c)
		}
		fmt.Println()
	}
}

// printExports tells, at each size, the export of the big structure: its
// time (the mean of three) and apexd's resident memory before it and at its
// peak during it, which must not grow with the structure.
func printExports(sizes []int, exports map[int]exportResult) {
	fmt.Print("\nExport of the big structure (apexd's memory: resident before, peak during):\n\n")
	fmt.Println("| accounts in the directory | accounts exported | time | raw paged search | RSS before | peak RSS during |")
	fmt.Println("| --- | --- | --- | --- | --- | --- |")
	for _, n := range sizes {
		x := exports[n]
		fmt.Printf("| %d | %d | %.2f s | %.2f s | %.1f MiB | %.1f MiB |\n", n, x.accounts, x.service.elapsed.Seconds(), x.raw.elapsed.Seconds(), x.before, x.during)
	}
}
