package httpapi_test

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
)

const bom = "\ufeff"

// download GETs url with token (a Bearer token, or the session cookie for
// a page's URL) and returns the answer and its body.
func download(t *testing.T, url, token string, page bool) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if page {
		req.AddCookie(&http.Cookie{Name: "apex_session", Value: token})
	} else if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

// readCSV reads an export as a spreadsheet would: a BOM, then « ; »
// separated rows in CRLF.
func readCSV(t *testing.T, res *http.Response, body []byte, filePrefix string) [][]string {
	t.Helper()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("export: %d %s", res.StatusCode, body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	want := fmt.Sprintf(`attachment; filename="%s-%s.csv"`, filePrefix, time.Now().In(paris()).Format("20060102"))
	if cd := res.Header.Get("Content-Disposition"); cd != want {
		t.Errorf("Content-Disposition %q, want %q", cd, want)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	text, ok := strings.CutPrefix(string(body), bom)
	if !ok {
		t.Fatalf("no BOM: % x", body[:min(len(body), 8)])
	}
	if strings.Count(text, "\n") != strings.Count(text, "\r\n") {
		t.Errorf("a line ends without CR:\n%s", text)
	}
	r := csv.NewReader(strings.NewReader(text))
	r.Comma = ';'
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("the export does not read back as CSV: %v\n%s", err, text)
	}
	return rows
}

// The export of a structure's accounts: every account of the structure
// and none of another's, each value read back intact
// (« ; », « " » in a service's name), none of them a formula for a
// spreadsheet, with its habilitations and last sign-in; the same by the
// page's link; refused to anyone but the structure's administrators.
func TestExportAccountsCSV(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base := e.instance()
	api := base + "/api/v1"
	hostile := []string{`=HYPERLINK("http://x.example";"clic")`, `+33 Paie; "Nord"`, "-Paie", "@Paie"}
	for _, sv := range hostile {
		if err := e.store.CreateService(ctx, directory.Service{SIRET: siret, Name: sv}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.store.CreateApplication(ctx, directory.Application{ID: "ficoba", Name: "FICOBA", Profiles: []string{"consultation", "gestion"}}); err != nil {
		t.Fatal(err)
	}
	admin := e.person("Adèle", "Admin", directory.RoleAdministrateur, "")
	zoe := e.person("Zoé", "Martin", directory.RoleCollaborateur, hostile[0])
	eli := e.person("Élodie", "Martin", directory.RoleResponsable, hostile[1])
	e.person("Ana", "-Dupont", directory.RoleCollaborateur, hostile[2])
	e.person("Bob", "Bernard", directory.RoleCollaborateur, hostile[3])
	for _, p := range []string{"consultation", "gestion"} {
		if err := e.store.AddHabilitation(ctx, zoe.Identifier, "ficoba", p); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.store.CreateStructure(ctx, directory.Structure{SIRET: "44306184100047", Name: "Autre", Category: "Banque"}); err != nil {
		t.Fatal(err)
	}
	other, err := e.store.CreatePerson(ctx, directory.NewPerson{FirstName: "Olga", LastName: "Autre", Email: uniqueEmail("olga"),
		Role: directory.RoleAdministrateur, State: directory.StateActive, SIRET: "44306184100047"}, password)
	if err != nil {
		t.Fatal(err)
	}
	signedIn := time.Now() // the sign-in is a bind, which slapd records at its own time
	token := e.signIn(api, admin.Identifier, admin.Email, password)

	res, body := download(t, api+"/structures/"+siret+"/accounts.csv", token, false)
	rows := readCSV(t, res, body, "comptes-"+siret)
	wantHeader := []string{"Identifiant", "Prénom", "Nom", "Adresse mail", "Rôle", "Service", "État", "Habilitations", "Dernière connexion"}
	if !slices.Equal(rows[0], wantHeader) {
		t.Errorf("header %q", rows[0])
	}
	want := [][]string{
		{admin.Identifier, "Adèle", "Admin", admin.Email, "Administrateur", "", "Actif", "", "*"},
		{"", "Bob", "Bernard", "", "Collaborateur", "'@Paie", "Actif", "", ""},
		{"", "Ana", "'-Dupont", "", "Collaborateur", "'-Paie", "Actif", "", ""},
		{eli.Identifier, "Élodie", "Martin", eli.Email, "Responsable", `'+33 Paie; "Nord"`, "Actif", "", ""},
		{zoe.Identifier, "Zoé", "Martin", zoe.Email, "Collaborateur", `'=HYPERLINK("http://x.example";"clic")`, "Actif", "FICOBA (consultation), FICOBA (gestion)", ""},
	}
	if len(rows) != len(want)+1 {
		t.Fatalf("%d rows, want %d:\n%q", len(rows)-1, len(want), rows)
	}
	// In the directory's order: by name here.
	slices.SortFunc(rows[1:], func(a, b []string) int {
		return strings.Compare(directory.SortKey(a[2], a[1]), directory.SortKey(b[2], b[1]))
	})
	for i, w := range want {
		got := rows[i+1]
		for j := range w {
			if w[j] == "" && j != 5 && j != 7 && j != 8 {
				continue // not checked: identifiers and mails of the people made without a name to keep
			}
			if w[j] == "*" { // the last sign-in, to the minute, Paris time
				at, err := time.ParseInLocation("02/01/2006 15:04", got[j], paris())
				if err != nil || at.Before(signedIn.Add(-2*time.Minute)) || at.After(signedIn.Add(2*time.Minute)) {
					t.Errorf("row %d, last sign-in %q (%v), signed in at %v", i+1, got[j], err, signedIn)
				}
				continue
			}
			if got[j] != w[j] {
				t.Errorf("row %d, %s: %q, want %q", i+1, wantHeader[j], got[j], w[j])
			}
		}
	}
	if strings.Contains(string(body), other.Email) {
		t.Error("another structure's account in the export")
	}

	// The page's link, with the session cookie, gives the same file.
	pres, pbody := download(t, base+"/gestion/comptes.csv", token, true)
	if !bytes.Equal(readCSVBytes(t, pres, pbody, "comptes-"+siret), readCSVBytes(t, res, body, "comptes-"+siret)) {
		t.Error("the page's export differs from the API's")
	}

	for _, who := range []*directory.Person{other, eli, zoe, e.person("Agnès", "Agent", directory.RoleAgent, "")} {
		tok := e.signIn(api, who.Identifier, who.Email, password)
		if res, body := download(t, api+"/structures/"+siret+"/accounts.csv", tok, false); res.StatusCode != http.StatusForbidden || !strings.Contains(string(body), `"forbidden"`) {
			t.Errorf("export by %s %s: %d %s", who.Role, who.LastName, res.StatusCode, body)
		}
		res, body := download(t, base+"/gestion/comptes.csv", tok, true)
		switch {
		case who == other: // the page exports one's own structure
			if rows := readCSV(t, res, body, "comptes-44306184100047"); len(rows) != 2 || rows[1][3] != other.Email {
				t.Errorf("the other administrator's export: %q", rows)
			}
		case res.StatusCode != http.StatusForbidden || !strings.Contains(res.Header.Get("Content-Type"), "text/html"):
			t.Errorf("page export by %s %s: %d %s", who.Role, who.LastName, res.StatusCode, body)
		}
	}
	if res, _ := download(t, api+"/structures/"+siret+"/accounts.csv", "", false); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("export without a session: %d", res.StatusCode)
	}
	if !e.logs.Holds("export.accounts") {
		t.Error("no audit line for the export")
	}
}

// readCSVBytes is readCSV's check, the body kept.
func readCSVBytes(t *testing.T, res *http.Response, body []byte, prefix string) []byte {
	t.Helper()
	readCSV(t, res, body, prefix)
	return body
}

// The export of an application's habilitations, for agents: a row per
// profile held, with the structure's name.
func TestExportHabilitationsCSV(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base := e.instance()
	api := base + "/api/v1"
	if err := e.store.CreateApplication(ctx, directory.Application{ID: "ficoba", Name: "FICOBA", Profiles: []string{"consultation", "gestion"}}); err != nil {
		t.Fatal(err)
	}
	zoe := e.person("Zoé", "Martin", directory.RoleCollaborateur, "Comptabilité")
	admin := e.person("Adèle", "Admin", directory.RoleAdministrateur, "")
	for _, h := range [][2]string{{zoe.Identifier, "gestion"}, {zoe.Identifier, "consultation"}, {admin.Identifier, "consultation"}} {
		if err := e.store.AddHabilitation(ctx, h[0], "ficoba", h[1]); err != nil {
			t.Fatal(err)
		}
	}
	agent := e.person("Agnès", "Agent", directory.RoleAgent, "")
	token := e.signIn(api, agent.Identifier, agent.Email, password)
	res, body := download(t, api+"/applications/ficoba/habilitations.csv", token, false)
	rows := readCSV(t, res, body, "habilitations-ficoba")
	want := [][]string{
		{"Application", "Profil", "Identifiant", "Prénom", "Nom", "Adresse mail", "Rôle", "SIRET", "Structure", "Service", "État", "Dernière connexion"},
		{"FICOBA", "consultation", admin.Identifier, "Adèle", "Admin", admin.Email, "Administrateur", siret, "Étude Martin & Associés", "", "Actif", ""},
		{"FICOBA", "consultation", zoe.Identifier, "Zoé", "Martin", zoe.Email, "Collaborateur", siret, "Étude Martin & Associés", "Comptabilité", "Actif", ""},
		{"FICOBA", "gestion", zoe.Identifier, "Zoé", "Martin", zoe.Email, "Collaborateur", siret, "Étude Martin & Associés", "Comptabilité", "Actif", ""},
	}
	slices.SortFunc(rows[1:], func(a, b []string) int { // in the directory's order: by profile and name here
		return strings.Compare(a[1]+" "+directory.SortKey(a[4], a[3]), b[1]+" "+directory.SortKey(b[4], b[3]))
	})
	if !slices.EqualFunc(rows, want, slices.Equal) {
		t.Errorf("habilitations:\n got %q\nwant %q", rows, want)
	}
	pres, _ := download(t, base+"/agent/applications/ficoba/habilitations.csv", token, true)
	if pres.StatusCode != http.StatusOK {
		t.Errorf("the page's export: %d", pres.StatusCode)
	}
	for path, status := range map[string]int{"inconnue": 404, "..%2F..%2Fx": 404, "FICOBA": 404} {
		if res, body := download(t, api+"/applications/"+path+"/habilitations.csv", token, false); res.StatusCode != status {
			t.Errorf("%s: %d %s", path, res.StatusCode, body)
		}
	}
	tok := e.signIn(api, admin.Identifier, admin.Email, password)
	if res, _ := download(t, api+"/applications/ficoba/habilitations.csv", tok, false); res.StatusCode != http.StatusForbidden {
		t.Errorf("by an administrator: %d", res.StatusCode)
	}
}

// peakHeap samples the live heap of the process (the server's answer is
// made in this process), after a collection, until stop is closed, and
// sends the most it saw.
func peakHeap(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		var peak uint64
		for {
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
			select {
			case <-stop:
				out <- peak
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return out
}

// lineCounter counts the lines of what is written to it, keeping nothing.
type lineCounter struct{ lines, bytes int }

func (l *lineCounter) Write(p []byte) (int, error) {
	l.lines += bytes.Count(p, []byte("\n"))
	l.bytes += len(p)
	return len(p), nil
}

// addAccounts adds n collaborateurs to a structure as slapd's root, with
// what the service writes (without a password: only exported here).
func addAccounts(t *testing.T, e *env, siret string, n int) {
	t.Helper()
	conn, err := slapdtest.Shared(t).DialRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := range n {
		first, last := "Prénom", fmt.Sprintf("Nom%06d", i)
		dn := fmt.Sprintf("apexRequestId=m%s%06d,ou=%s,ou=structures,%s", siret, i, siret, e.cfg.BaseDN)
		req := ldap.NewAddRequest(dn, nil)
		req.Attribute("objectClass", []string{"inetOrgPerson", "apexPerson"})
		req.Attribute("uid", []string{fmt.Sprintf("prenom.nom%06d-%s-px", i, siret)})
		req.Attribute("cn", []string{first + " " + last})
		req.Attribute("sn", []string{last})
		req.Attribute("givenName", []string{first})
		req.Attribute("mail", []string{fmt.Sprintf("nom%06d@s%s.example.fr", i, siret)})
		req.Attribute("apexRole", []string{"collaborateur"})
		req.Attribute("apexAccountState", []string{"active"})
		req.Attribute("apexSiret", []string{siret})
		req.Attribute("apexRequestId", []string{fmt.Sprintf("m%s%06d", siret, i)})
		req.Attribute("apexSortKey", []string{directory.SortKey(last, first)})
		if err := conn.Add(req); err != nil {
			t.Fatalf("add account %d: %v", i, err)
		}
	}
}

// slowClient reads as a slow network would: a small receive window, so
// that the server waits on its writes, holding what it holds.
var slowClient = &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{
	Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		c.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return err
	}}).DialContext}}

// slowReader reads 4 KiB a millisecond.
type slowReader struct{ r io.Reader }

func (s slowReader) Read(p []byte) (int, error) {
	time.Sleep(time.Millisecond)
	return s.r.Read(p[:min(len(p), 4096)])
}

// An export is streamed: the heap the server holds while it writes the
// export of 10 times more accounts (20 pages of the directory's answer
// instead of 2) does not grow with them: it holds one page at a time.
func TestExportMemoryDoesNotGrowWithTheStructure(t *testing.T) {
	// Not parallel: the heap measured is the whole test process's.
	e := newEnv(t)
	base := e.instance()
	api := base + "/api/v1"
	const small, big = 500, 5000
	sizes := map[int]string{small: "44306184100047", big: "55203253400646"}
	tokens := map[int]string{}
	for n, s := range sizes {
		if err := e.store.CreateStructure(ctx, directory.Structure{SIRET: s, Name: "Structure " + s, Category: "Banque"}); err != nil {
			t.Fatal(err)
		}
		admin, err := e.store.CreatePerson(ctx, directory.NewPerson{FirstName: "Adèle", LastName: "Admin", Email: uniqueEmail("admin"),
			Role: directory.RoleAdministrateur, State: directory.StateActive, SIRET: s}, password)
		if err != nil {
			t.Fatal(err)
		}
		addAccounts(t, e, s, n)
		tokens[n] = e.signIn(api, admin.Identifier, admin.Email, password)
	}
	// Each size is measured three times after a warm-up, and judged by its
	// least growth: what else the process allocates meanwhile (a GC's
	// timing, another goroutine) only adds to a measure, never takes away.
	growth := map[int]uint64{}
	for i, n := range []int{small, big, small, big, small, big, small, big} {
		req, _ := http.NewRequest("GET", api+"/structures/"+sizes[n]+"/accounts.csv", nil)
		req.Header.Set("Authorization", "Bearer "+tokens[n])
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		stop := make(chan struct{})
		peak := peakHeap(stop)
		res, err := slowClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body lineCounter
		_, err = io.Copy(&body, slowReader{res.Body})
		res.Body.Close()
		close(stop)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("export of %d: %d %v", n, res.StatusCode, err)
		}
		if body.lines != n+2 {
			t.Fatalf("export of %d accounts: %d lines", n, body.lines)
		}
		p := <-peak
		grew := p - min(p, before.HeapAlloc)
		t.Logf("export of %d accounts: %d KiB, the heap grew by at most %d KiB", n, body.bytes>>10, grew>>10)
		if i < 2 {
			continue // the warm-up
		}
		if g, seen := growth[n]; !seen || grew < g {
			growth[n] = grew
		}
	}
	// Built in memory, the big export would hold ten times what the small
	// one does (each page's entries, a few MiB, kept to the end).
	if growth[big] > 2*growth[small]+4<<20 {
		t.Errorf("the heap grows with the structure: %d KiB for %d accounts, %d KiB for %d", growth[big]>>10, big, growth[small]>>10, small)
	}
}
