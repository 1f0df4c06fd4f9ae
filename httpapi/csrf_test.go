package httpapi_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/dgfip/apex-partenaires/directory"
)

// pageToken is the CSRF field of a page.
func pageToken(t *testing.T, p formPage) string {
	t.Helper()
	m := csrfFieldPattern.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no CSRF field in the page (%d)\n%s", p.Status, mainText(p.Body))
	}
	return m[1]
}

// The form token of a signed-in browser is its session's: a token of
// another session, or the double-submit pair of the browser's own cookie
// (what a cookie planted by a sibling site would forge), is refused and
// changes nothing.
func TestCSRFTokenIsTheSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base := e.instance()
	alice := e.person("Alice", "Jeton", directory.RoleCollaborateur, "Comptabilité")
	bob := e.person("Bob", "Jeton", directory.RoleCollaborateur, "Comptabilité")
	ca := newFormClient(t, base)
	ca.get("/connexion")
	ca.signIn(e, alice)
	cb := newFormClient(t, base)
	cb.get("/connexion")
	cb.signIn(e, bob)
	aliceToken, bobToken := pageToken(t, ca.get("/")), pageToken(t, cb.get("/"))
	if aliceToken == bobToken || len(bobToken) != 43 {
		t.Fatalf("two sessions, tokens %q and %q", aliceToken, bobToken)
	}
	rename := func(token string) url.Values {
		return url.Values{"csrf": {token}, "nom": {"Pirate"}, "prenom": {"Bob"}, "email": {bob.Email}}
	}
	for what, token := range map[string]string{
		"the token of another session":    aliceToken,
		"the browser's own CSRF cookie":   cb.cookie("/", "apex_csrf"),
		"a token of 43 characters":        strings.Repeat("A", 43),
		"the session's token in the form": cb.cookie("/", "apex_session"),
	} {
		page := cb.post("/donnees-personnelles/enregistrer", rename(token))
		page.want(t, what, http.StatusForbidden, "Le formulaire a expiré")
	}
	if now, err := e.store.FindPerson(ctx, bob.Identifier); err != nil || now.LastName != "Jeton" {
		t.Fatalf("a refused form changed the name: %+v, %v", now, err)
	}
	cb.post("/donnees-personnelles/enregistrer", rename(bobToken)).want(t, "the session's own token", http.StatusOK)
	if now, _ := e.store.FindPerson(ctx, bob.Identifier); now.LastName != "Pirate" {
		t.Errorf("the name after the right token: %q", now.LastName)
	}
}

// The token changes at sign-in and at sign-out: the anonymous token of
// the sign-in page does not work once signed in, nor the session's once
// signed out.
func TestCSRFTokenRotatesAtSignInAndOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base := e.instance()
	p := e.person("Rose", "Rotation", directory.RoleCollaborateur, "Comptabilité")
	c := newFormClient(t, base)
	anonymous := pageToken(t, c.get("/connexion"))
	if anonymous != c.cookie("/", "apex_csrf") {
		t.Fatalf("the sign-in page's token is not its cookie's")
	}
	c.post("/connexion", url.Values{"csrf": {anonymous}, "identifier": {p.Identifier}, "password": {password}}).redirect(t, "password step", "/connexion/verification")
	c.post("/connexion/verification", url.Values{"csrf": {anonymous}, "code": {e.code(p.Email, 1)}}).redirect(t, "code step", "/")
	signedIn := pageToken(t, c.get("/"))
	cookieAfterSignIn := c.cookie("/", "apex_csrf")
	if signedIn == anonymous || cookieAfterSignIn == anonymous || cookieAfterSignIn == "" {
		t.Errorf("no new token at sign-in: page %q, cookie %q, before %q", signedIn, cookieAfterSignIn, anonymous)
	}
	for what, token := range map[string]string{"the sign-in page's token": anonymous, "the new cookie's": cookieAfterSignIn} {
		c.post("/deconnexion", url.Values{"csrf": {token}}).want(t, "sign-out with "+what, http.StatusForbidden, "Le formulaire a expiré")
	}
	if page := c.get("/"); page.Status != http.StatusOK {
		t.Fatalf("refused sign-outs ended the session: %d", page.Status)
	}
	c.post("/deconnexion", url.Values{"csrf": {signedIn}}).redirect(t, "sign-out with the session's token", "/connexion")
	afterSignOut := c.cookie("/", "apex_csrf")
	if afterSignOut == cookieAfterSignIn || afterSignOut == "" || pageToken(t, c.get("/connexion")) != afterSignOut {
		t.Errorf("no new anonymous token at sign-out: %q, before %q", afterSignOut, cookieAfterSignIn)
	}
	for what, token := range map[string]string{"the ended session's token": signedIn, "the cookie before sign-out": cookieAfterSignIn, "the first one": anonymous} {
		c.post("/connexion", url.Values{"csrf": {token}, "identifier": {p.Identifier}, "password": {password}}).
			want(t, "sign-in with "+what, http.StatusForbidden, "Le formulaire a expiré")
	}
	c.post("/connexion", url.Values{"csrf": {afterSignOut}, "identifier": {p.Identifier}, "password": {password}}).redirect(t, "sign-in again", "/connexion/verification")
}

// recorder keeps every Set-Cookie a client receives.
type recorder struct {
	mu   sync.Mutex
	next http.RoundTripper
	set  []*http.Cookie
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := r.next.RoundTrip(req)
	if err == nil {
		r.mu.Lock()
		r.set = append(r.set, res.Cookies()...)
		r.mu.Unlock()
	}
	return res, err
}

// Under an https public URL every cookie is __Host-: Secure, Path=/, no
// Domain, so that no other host (a sibling subdomain) can set or shadow
// it; the names without the prefix are not read.
func TestCookiesUnderHTTPSAreHostCookies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ts, _ := e.serve(true)
	p := e.person("Hector", "Hote", directory.RoleCollaborateur, "Comptabilité")

	jar, _ := cookiejar.New(nil)
	rec := &recorder{next: ts.Client().Transport}
	c := &formClient{t: t, base: ts.URL, jar: jar, http: &http.Client{Jar: jar, Transport: rec,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	csrf := pageToken(t, c.get("/connexion"))
	c.post("/connexion", url.Values{"csrf": {csrf}, "identifier": {p.Identifier}, "password": {password}}).redirect(t, "password step", "/connexion/verification")
	c.get("/connexion/verification").want(t, "code page", http.StatusOK)
	c.post("/connexion/verification", url.Values{"csrf": {csrf}, "code": {e.code(p.Email, 1)}}).redirect(t, "code step", "/")
	home := c.get("/")
	home.want(t, "home over https", http.StatusOK, "Hector Hote")
	c.post("/deconnexion", url.Values{"csrf": {pageToken(t, home)}}).redirect(t, "sign-out", "/connexion")
	c.forgot(e, p.Identifier).redirect(t, "forgotten password", "/mot-de-passe/code")
	if page := c.get("/mot-de-passe/code"); page.Status != http.StatusOK || page.has("Aucune demande de renouvellement") {
		t.Errorf("the code page does not read the renewal's cookie: %d\n%s", page.Status, mainText(page.Body))
	}

	var names []string
	for _, k := range rec.set {
		if !strings.HasPrefix(k.Name, "__Host-") || !k.Secure || k.Path != "/" || k.Domain != "" || !k.HttpOnly {
			t.Errorf("cookie %s: Secure %v, Path %q, Domain %q, HttpOnly %v", k.Name, k.Secure, k.Path, k.Domain, k.HttpOnly)
		}
		if !slices.Contains(names, k.Name) {
			names = append(names, k.Name)
		}
	}
	slices.Sort(names)
	if want := []string{"__Host-apex_challenge", "__Host-apex_csrf", "__Host-apex_reset", "__Host-apex_reset_token", "__Host-apex_session"}; !slices.Equal(names, want) {
		t.Errorf("cookies set: %v, want %v", names, want)
	}

	// A session given under the old name, as a sibling host could plant it, is not read.
	token, err := e.store.CreateSession(ctx, p.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(ts.URL)
	plain := &formClient{t: t, base: ts.URL, jar: jar, http: c.http}
	jar.SetCookies(u, []*http.Cookie{{Name: "__Host-apex_session", Value: "", MaxAge: -1, Path: "/"}, {Name: "apex_session", Value: token, Path: "/"}})
	plain.get("/").redirect(t, "home with apex_session", "/connexion")
	jar.SetCookies(u, []*http.Cookie{{Name: "__Host-apex_session", Value: token, Path: "/", Secure: true}})
	plain.get("/").want(t, "home with __Host-apex_session", http.StatusOK, "Hector Hote")
}
