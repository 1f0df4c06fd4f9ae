package main

// The load of mixed journeys and the check of the directory, entry by
// entry, against what the load was told succeeded.

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// ledger is what the load was told. A change answered anything but success
// (503, a cut connection) may or may not have been applied: it is kept as
// "maybe", and that account gets no further change of the same kind, so
// that the check knows every value the entry may hold.
type ledger struct {
	mu            sync.Mutex
	approved      map[string]string   // request id → identifier, answered 200
	approveFailed map[string]bool     // answered otherwise
	password      map[string]string   // identifier → password last answered 204
	passwordMaybe map[string][]string // tried afterwards, answer not a success
	mobile        map[string]string
	mobileMaybe   map[string][]string
	grants        map[[2]string]bool // (identifier, profile) answered success
	answers       map[string]int     // "503 directory_unavailable", "transport", …
}

func newLedger() *ledger {
	return &ledger{
		approved: map[string]string{}, approveFailed: map[string]bool{},
		password: map[string]string{}, passwordMaybe: map[string][]string{},
		mobile: map[string]string{}, mobileMaybe: map[string][]string{},
		grants: map[[2]string]bool{}, answers: map[string]int{},
	}
}

func (l *ledger) count(a answer) {
	key := "transport"
	if a.err == nil {
		key = fmt.Sprintf("%d %s", a.status, a.code())
	}
	l.mu.Lock()
	l.answers[key]++
	l.mu.Unlock()
}

func (l *ledger) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	keys := make([]string, 0, len(l.answers))
	for k := range l.answers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s×%d ", k, l.answers[k])
	}
	fmt.Fprintf(&b, "| approved %d, passwords %d, mobiles %d, grants %d", len(l.approved), len(l.password), len(l.mobile), len(l.grants))
	return b.String()
}

func ok(a answer) bool { return a.err == nil && a.status >= 200 && a.status < 300 }

// requestQueue hands out the requests to approve; a failed one goes back
// at the end, as a client would try it again.
type requestQueue struct {
	mu  sync.Mutex
	ids []string
}

func (q *requestQueue) next() (string, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.ids) == 0 {
		return "", false
	}
	id := q.ids[0]
	q.ids = q.ids[1:]
	return id, true
}

func (q *requestQueue) retry(id string) {
	q.mu.Lock()
	q.ids = append(q.ids, id)
	q.mu.Unlock()
}

var passwordSeq atomic.Int64

// journeys picks what the load does.
type journeys struct{ approvals, passwords, personal, habilitations bool }

var allJourneys = journeys{true, true, true, true}

// load runs one worker per user for d (or until stop is closed), each
// doing the chosen journeys in turn: the user's password change and mobile
// change, the administrator's approval of the next request (then a
// habilitation of the new account) and habilitation of the user.
func (r *rig) load(w *world, l *ledger, d time.Duration, j journeys, stop <-chan struct{}) {
	reqs := &requestQueue{ids: slices.Clone(w.requests)}
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for i, u := range w.users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			current := rigPassword
			pwStopped, mobileStopped := false, false
			var last answer
			for n := 0; time.Now().Before(deadline); n++ {
				select {
				case <-stop:
					return
				default:
				}
				if n > 0 && !ok(last) {
					time.Sleep(20 * time.Millisecond) // a client does not hammer a failing service
				}
				switch (n + i) % 4 {
				case 0:
					if !j.passwords || pwStopped {
						continue
					}
					next := fmt.Sprintf("Nouveau-%04d-Mdp!", passwordSeq.Add(1))
					a := r.call("PUT", "/me/password", u.token, map[string]string{"current": current, "new": next})
					l.count(a)
					last = a
					l.mu.Lock()
					if ok(a) {
						current = next
						l.password[u.id] = next
					} else {
						pwStopped = true
						l.passwordMaybe[u.id] = append(l.passwordMaybe[u.id], next)
					}
					l.mu.Unlock()
				case 1:
					if !j.personal || mobileStopped {
						continue
					}
					mobile := fmt.Sprintf("+3378%07d", passwordSeq.Add(1))
					a := r.call("PATCH", "/me", u.token, map[string]string{"mobile": mobile, "currentPassword": current})
					l.count(a)
					last = a
					l.mu.Lock()
					if ok(a) {
						l.mobile[u.id] = mobile
					} else {
						mobileStopped = true
						l.mobileMaybe[u.id] = append(l.mobileMaybe[u.id], mobile)
					}
					l.mu.Unlock()
				case 2:
					if !j.approvals {
						continue
					}
					id, more := reqs.next()
					if !more {
						continue
					}
					a := r.call("POST", "/requests/"+url.PathEscape(id)+"/approve", w.admin.token, nil)
					l.count(a)
					last = a
					ident, _ := a.body["identifier"].(string)
					l.mu.Lock()
					switch {
					case ok(a) && ident != "":
						l.approved[id] = ident
						delete(l.approveFailed, id)
					case a.status == http.StatusConflict && l.approveFailed[id]:
						// an earlier try was applied though its answer was lost
					default:
						// A client retries a failed approval: it is resumable.
						l.approveFailed[id] = true
						reqs.retry(id)
					}
					l.mu.Unlock()
					if ok(a) && ident != "" && j.habilitations {
						r.grant(w, l, ident, w.profiles[0])
					}
				case 3:
					if !j.habilitations {
						continue
					}
					last = r.grant(w, l, u.id, w.profiles[n%len(w.profiles)])
				}
			}
		}()
	}
	wg.Wait()
}

func (r *rig) grant(w *world, l *ledger, identifier, profile string) answer {
	a := r.call("PUT", "/accounts/"+identifier+"/habilitations/"+rigApp+"/"+profile, w.admin.token, nil)
	l.count(a)
	if ok(a) {
		l.mu.Lock()
		l.grants[[2]string{identifier, profile}] = true
		l.mu.Unlock()
	}
	return a
}

// ---- The check ----

func (r *rig) search(conn *ldap.Conn, base string, scope int, filter string, attrs ...string) []*ldap.Entry {
	r.t.Helper()
	res, err := conn.Search(ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil))
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return nil
	}
	if err != nil {
		r.t.Fatalf("search %s %s: %v", base, filter, err)
	}
	return res.Entries
}

func (r *rig) exists(conn *ldap.Conn, dn string) bool {
	return len(r.search(conn, dn, ldap.ScopeBaseObject, "(objectClass=*)")) == 1
}

func (r *rig) reservationDN(id string) string {
	return "cn=" + ldap.EscapeDN(id) + ",ou=identifiers,ou=system," + rigSuffix
}

// verify checks, entry by entry, that every success of the ledger is in
// the directory.
func (r *rig) verify(w *world, l *ledger) {
	r.t.Helper()
	conn := r.root()
	defer conn.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	people := rigPeople(r, conn)
	for req, ident := range l.approved {
		e := people[ident]
		switch {
		case e == nil:
			r.t.Errorf("approval of %s answered %s, but no account has that identifier", req, ident)
		case e.GetAttributeValue("apexAccountState") != "active" || e.GetAttributeValue("apexRequestId") != req:
			r.t.Errorf("approved %s → %s: state %q, request %q", req, ident, e.GetAttributeValue("apexAccountState"), e.GetAttributeValue("apexRequestId"))
		case !r.exists(conn, r.reservationDN(ident)):
			r.t.Errorf("approved %s: identifier %s not reserved", req, ident)
		}
	}
	for _, u := range w.users {
		e := people[u.id]
		if e == nil {
			r.t.Errorf("user %s missing", u.id)
			continue
		}
		// The password: the last one answered success, or one tried after it.
		candidates := append([]string{cmpOr(l.password[u.id], rigPassword)}, l.passwordMaybe[u.id]...)
		if !r.bindsWithOneOf(e.DN, candidates) {
			r.t.Errorf("%s: none of the passwords %q binds (last success %q)", u.id, candidates, l.password[u.id])
		}
		// The mobile: the last one answered success (the first one when
		// none was), or one tried after it.
		want, got := cmpOr(l.mobile[u.id], u.mobile), e.GetAttributeValue("mobile")
		if got != want && !slices.Contains(l.mobileMaybe[u.id], got) {
			r.t.Errorf("%s: mobile %q, last success %q (maybe %q)", u.id, got, want, l.mobileMaybe[u.id])
		}
	}
	for g := range l.grants {
		e := people[g[0]]
		if e == nil {
			r.t.Errorf("habilitation of %s on %s answered success: no such account", g[0], g[1])
			continue
		}
		group := "cn=" + g[1] + ",ou=" + rigApp + ",ou=applications," + rigSuffix
		if !r.isMember(conn, group, e.DN) {
			r.t.Errorf("habilitation of %s on %s answered success, %s is not a member", g[0], g[1], e.DN)
		}
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// rigPeople reads every person of the structure, by identifier (or by
// request id when it has none).
func rigPeople(r *rig, conn *ldap.Conn) map[string]*ldap.Entry {
	out := map[string]*ldap.Entry{}
	for _, e := range r.search(conn, "ou=structures,"+rigSuffix, ldap.ScopeWholeSubtree, "(objectClass=apexPerson)",
		"uid", "mobile", "apexAccountState", "apexRequestId", "apexService", "givenName", "sn") {
		key := e.GetAttributeValue("uid")
		if key == "" {
			key = "request:" + e.GetAttributeValue("apexRequestId")
		}
		out[key] = e
	}
	return out
}

func (r *rig) isMember(conn *ldap.Conn, group, dn string) bool {
	want, err := ldap.ParseDN(dn)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, e := range r.search(conn, group, ldap.ScopeBaseObject, "(objectClass=*)", "member") {
		for _, m := range e.GetAttributeValues("member") {
			if got, err := ldap.ParseDN(m); err == nil && got.EqualFold(want) {
				return true
			}
		}
	}
	return false
}

// bindsWithOneOf binds over TCP as dn with each candidate, newest first,
// until one works; at most a few failures, far from the lockout.
func (r *rig) bindsWithOneOf(dn string, candidates []string) bool {
	for i := len(candidates) - 1; i >= 0; i-- {
		conn, err := ldap.DialURL(r.ldapURL)
		if err != nil {
			r.t.Fatal(err)
		}
		err = conn.Bind(dn, candidates[i])
		conn.Close()
		if err == nil {
			return true
		}
	}
	return false
}

// invariants are what must hold whatever died when: every active account
// is named by its reserved identifier; an account named by its identifier
// is active or was (never submitted: no half-applied rename); every
// profile member and every account's service exists. It returns the
// approvals stopped half way (active, not renamed yet: resumable) and the
// reservations no account holds (an approval stopped between the
// reservation and the rename: the identifier is burnt, never given).
func (r *rig) invariants() (halfway []string, orphans []string) {
	r.t.Helper()
	conn := r.root()
	defer conn.Close()
	people := rigPeople(r, conn)
	for key, e := range people {
		state := e.GetAttributeValue("apexAccountState")
		dn, err := ldap.ParseDN(e.DN)
		if err != nil {
			r.t.Fatal(err)
		}
		rdn := dn.RDNs[0].Attributes[0]
		switch {
		case rdn.Type == "uid" && rdn.Value != e.GetAttributeValue("uid"):
			r.t.Errorf("%s: named %s but uid %q", e.DN, rdn.Value, e.GetAttributeValue("uid"))
		case rdn.Type == "uid" && (state == "submitted" || state == "invited" || state == "refused"):
			r.t.Errorf("%s: named by an identifier but %s", e.DN, state)
		case rdn.Type == "uid" && !r.exists(conn, r.reservationDN(rdn.Value)):
			r.t.Errorf("%s: active account without its identifier's reservation", e.DN)
		case rdn.Type != "uid" && state == "active":
			halfway = append(halfway, strings.TrimPrefix(key, "request:"))
		}
		if sv := e.GetAttributeValue("apexService"); sv != "" && !r.exists(conn, sv) {
			r.t.Errorf("%s: its service %s does not exist", e.DN, sv)
		}
	}
	for _, e := range r.search(conn, "ou=identifiers,ou=system,"+rigSuffix, ldap.ScopeSingleLevel, "(objectClass=*)", "cn") {
		if id := e.GetAttributeValue("cn"); people[id] == nil && !strings.HasPrefix(id, "adele.admin") {
			orphans = append(orphans, id)
		}
	}
	nobody := "cn=nobody,ou=system," + rigSuffix
	for _, g := range r.search(conn, "ou=applications,"+rigSuffix, ldap.ScopeWholeSubtree, "(objectClass=groupOfNames)", "member") {
		for _, m := range g.GetAttributeValues("member") {
			if !strings.EqualFold(m, nobody) && !r.exists(conn, m) {
				r.t.Errorf("%s: member %s does not exist", g.DN, m)
			}
		}
	}
	sort.Strings(halfway)
	sort.Strings(orphans)
	return halfway, orphans
}

// resume approves again every approval stopped half way, through the API,
// and checks that none is left.
func (r *rig) resume(w *world, halfway []string) {
	r.t.Helper()
	for _, id := range halfway {
		a := r.call("POST", "/requests/"+url.PathEscape(id)+"/approve", w.admin.token, nil)
		if !ok(a) || a.body["identifier"] == "" {
			r.t.Errorf("resume the approval of %s: %v", id, a)
		}
	}
	if left, _ := r.invariants(); len(left) > 0 {
		r.t.Errorf("approvals still half way after resuming: %v", left)
	}
}

// requestState reads a request's entry as root (by request id).
func (r *rig) requestState(conn *ldap.Conn, id string) string {
	es := r.search(conn, "ou=structures,"+rigSuffix, ldap.ScopeWholeSubtree, "(apexRequestId="+ldap.EscapeFilter(id)+")", "apexAccountState")
	if len(es) != 1 {
		return ""
	}
	return es[0].GetAttributeValue("apexAccountState")
}
