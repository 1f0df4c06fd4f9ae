package httpapi_test

import (
	"encoding/json"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
)

// The OpenID provider through HTTP, with a relying party built on go-oidc
// and x/oauth2 (oidc_rp_test.go) and a browser without script; the
// journey through the real pages in Chromium is TestOIDCInTheBrowser.

// oidcBrowser keeps cookies for apexd and the relying parties (all on
// 127.0.0.1: cookies ignore the port) and follows redirects, or not.
type oidcBrowser struct {
	t              *testing.T
	jar            *cookiejar.Jar
	follow, single *http.Client
}

func newOIDCBrowser(t *testing.T) *oidcBrowser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &oidcBrowser{t: t, jar: jar, follow: &http.Client{Jar: jar},
		single: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// signedIn gives the browser a session of p at apexd.
func (b *oidcBrowser) signedIn(e *env, apex string, p *directory.Person) *oidcBrowser {
	b.t.Helper()
	u, _ := url.Parse(apex + "/")
	b.jar.SetCookies(u, []*http.Cookie{{Name: "apex_session", Value: e.signIn(apex+"/api/v1", p.Identifier, p.Email, password), Path: "/"}})
	return b
}

// get follows every redirect and returns the last answer.
func (b *oidcBrowser) get(u string) (*http.Response, string) {
	b.t.Helper()
	return b.do(b.follow, http.MethodGet, u, nil)
}

// step makes one request and returns its answer, redirect included.
func (b *oidcBrowser) step(u string) (*http.Response, string) {
	b.t.Helper()
	return b.do(b.single, http.MethodGet, u, nil)
}

func (b *oidcBrowser) do(c *http.Client, method, u string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res, string(raw)
}

// codeFor runs a sign-in of rp for the browser's session up to the
// redirect to rp's callback, and returns that URL's code, with the PKCE
// verifier that goes with it.
func (b *oidcBrowser) codeFor(rp *relyingParty) (code, verifier string) {
	b.t.Helper()
	to, p := rp.authURL(nil)
	for range 5 {
		res, _ := b.step(to)
		to = res.Header.Get("Location")
		if strings.HasPrefix(to, rp.url+"/callback") {
			u, _ := url.Parse(to)
			if c := u.Query().Get("code"); c != "" {
				return c, p.verifier
			}
			b.t.Fatalf("no code but %s", to)
		}
		if to == "" {
			b.t.Fatalf("the sign-in stopped at %s: %d", res.Request.URL, res.StatusCode)
		}
	}
	b.t.Fatalf("too many redirects, at %s", to)
	return "", ""
}

var hrefPattern = regexp.MustCompile(`href="([^"]+)"`)

func TestOIDCCodeFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base, srv := e.server()
	rp := newRelyingParty(t, e, base, "consultation", "gestion")
	other := newRelyingParty(t, e, base, "lecture")
	p := e.person("Octave", "Connect", directory.RoleCollaborateur, "Comptabilité")
	for _, h := range [][2]string{{rp.id, "gestion"}, {other.id, "lecture"}} {
		if err := e.store.AddHabilitation(ctx, p.Identifier, h[0], h[1]); err != nil {
			t.Fatal(err)
		}
	}
	b := newOIDCBrowser(t).signedIn(e, base, p)
	codes := e.codeMails(p.Email)

	t.Run("a live session signs in to an application", func(t *testing.T) {
		res, body := b.get(rp.url + "/login")
		if res.Request.URL.String() != rp.url+"/callback?"+res.Request.URL.RawQuery || !strings.Contains(body, "Connecté à "+rp.id) {
			t.Fatalf("ended at %s: %d\n%s", res.Request.URL, res.StatusCode, body)
		}
		rp.wantSignedIn(t, p, "gestion")
		if n := e.codeMails(p.Email); n != codes {
			t.Errorf("%d code mails more for a live session", n-codes)
		}
	})
	t.Run("a second application, without signing in again", func(t *testing.T) {
		b.get(other.url + "/login")
		other.wantSignedIn(t, p, "lecture")
	})
	t.Run("without the apex scope, no claim of APEX", func(t *testing.T) {
		rp.oauth.Scopes = []string{gooidc.ScopeOpenID, "profile"}
		defer func() { rp.oauth.Scopes = append(rp.oauth.Scopes, "email", "apex") }()
		b.get(rp.url + "/login")
		got := rp.last()
		if got.Err != "" || got.Claims["sub"] != p.Identifier || got.Claims["given_name"] != p.FirstName {
			t.Fatalf("%+v", got)
		}
		for _, claim := range []string{"email", "apex_profiles", "apex_structure", "apex_role", "apex_service"} {
			if _, ok := got.Claims[claim]; ok {
				t.Errorf("%s without its scope: %v", claim, got.Claims[claim])
			}
			if _, ok := got.Userinfo[claim]; ok {
				t.Errorf("%s in userinfo without its scope", claim)
			}
		}
	})

	t.Run("a code works once", func(t *testing.T) {
		code, verifier := b.codeFor(rp)
		if _, err := rp.oauth.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err != nil {
			t.Fatalf("first exchange: %v", err)
		}
		_, err := rp.oauth.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		if re := (*oauth2.RetrieveError)(nil); !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
			t.Errorf("second exchange: %v, want invalid_grant", err)
		}
		code, verifier = b.codeFor(rp)
		var wins atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if _, err := rp.oauth.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err == nil {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Errorf("8 exchanges of one code at once: %d passed, want 1", wins.Load())
		}
	})
	t.Run("PKCE is checked at the exchange", func(t *testing.T) {
		code, _ := b.codeFor(rp)
		_, err := rp.oauth.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
		if re := (*oauth2.RetrieveError)(nil); !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
			t.Errorf("a wrong code_verifier: %v, want invalid_grant", err)
		}
	})
	t.Run("a code is its application's, for its redirect URI", func(t *testing.T) {
		exchange := func(client, redirect, code, verifier string) (int, string, bool) {
			req, _ := http.NewRequest(http.MethodPost, base+"/oidc/token", strings.NewReader(url.Values{
				"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {verifier}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(client, rpSecret)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body struct {
				Error   string `json:"error"`
				IDToken string `json:"id_token"`
			}
			json.NewDecoder(res.Body).Decode(&body)
			return res.StatusCode, body.Error, body.IDToken != ""
		}
		code, verifier := b.codeFor(rp)
		if status, e, tokens := exchange(other.id, rp.url+"/callback", code, verifier); tokens || status != http.StatusBadRequest || e != "invalid_grant" {
			t.Errorf("another application exchanges the code: %d %q, tokens %v", status, e, tokens)
		}
		code, verifier = b.codeFor(rp)
		if status, e, tokens := exchange(rp.id, rp.url+"/ailleurs", code, verifier); tokens || status != http.StatusBadRequest || e != "invalid_grant" {
			t.Errorf("the code with another redirect_uri: %d %q, tokens %v", status, e, tokens)
		}
	})
	t.Run("a wrong client secret is 401", func(t *testing.T) {
		var code string
		for _, secret := range []string{"Wrong-Secret-2026!", ""} {
			var verifier string
			code, verifier = b.codeFor(rp)
			req, _ := http.NewRequest(http.MethodPost, base+"/oidc/token", strings.NewReader(url.Values{
				"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rp.url + "/callback"}, "code_verifier": {verifier}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(rp.id, secret)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body struct {
				Error string `json:"error"`
			}
			json.NewDecoder(res.Body).Decode(&body)
			res.Body.Close()
			if res.StatusCode != http.StatusUnauthorized || body.Error != "invalid_client" {
				t.Errorf("secret %q: %d %q, want 401 invalid_client", secret, res.StatusCode, body.Error)
			}
		}
		if e.logs.Holds("Wrong-Secret-2026!") || e.logs.Holds(code) {
			t.Error("the log holds a client secret or a code")
		}
	})
	t.Run("no PKCE, or plain, is refused", func(t *testing.T) {
		for name, q := range map[string]url.Values{
			"no PKCE": {},
			"plain":   {"code_challenge": {"abcdefghijabcdefghijabcdefghijabcdefghij123"}, "code_challenge_method": {"plain"}},
			"implicit": {"response_type": {"id_token"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
				"code_challenge_method": {"S256"}},
		} {
			q.Set("client_id", rp.id)
			q.Set("redirect_uri", rp.url+"/callback")
			q.Set("scope", "openid")
			q.Set("state", "s-"+name)
			if !q.Has("response_type") {
				q.Set("response_type", "code")
			}
			res, _ := b.step(base + "/oidc/authorize?" + q.Encode())
			loc, _ := url.Parse(res.Header.Get("Location"))
			if name == "implicit" {
				// No token, whatever the answer: the library refuses an
				// implicit request to an http redirect URI without going there.
				if res.StatusCode != http.StatusBadRequest && (loc == nil || loc.Query().Get("error") == "") ||
					strings.Contains(res.Header.Get("Location"), "token=") || strings.Contains(res.Header.Get("Location"), "code=") {
					t.Errorf("%s: %d to %s", name, res.StatusCode, loc)
				}
				continue
			}
			if res.StatusCode != http.StatusFound || loc == nil || !strings.HasPrefix(loc.String(), rp.url+"/callback?") ||
				loc.Query().Get("code") != "" || loc.Query().Get("state") != "s-"+name {
				t.Errorf("%s: %d to %s, want the application told", name, res.StatusCode, loc)
				continue
			}
			if got := loc.Query().Get("error"); got != "invalid_request" {
				t.Errorf("%s: error=%s, want invalid_request", name, got)
			}
		}
	})
	t.Run("a redirect URI not registered is refused without redirecting", func(t *testing.T) {
		for name, q := range map[string]url.Values{
			"another path":            {"client_id": {rp.id}, "redirect_uri": {rp.url + "/ailleurs"}},
			"a trailing slash":        {"client_id": {rp.id}, "redirect_uri": {rp.url + "/callback/"}},
			"another application's":   {"client_id": {rp.id}, "redirect_uri": {other.url + "/callback"}},
			"another site":            {"client_id": {rp.id}, "redirect_uri": {"https://attaquant.example/callback"}},
			"none":                    {"client_id": {rp.id}},
			"an unknown application":  {"client_id": {"inconnue"}, "redirect_uri": {rp.url + "/callback"}},
			"a filter as client":      {"client_id": {"*)(ou=*"}, "redirect_uri": {rp.url + "/callback"}},
			"the query of its own":    {"client_id": {rp.id}, "redirect_uri": {rp.url + "/callback?x=1"}},
			"an application with URI": {"client_id": {rp.id + "x"}, "redirect_uri": {rp.url + "/callback"}},
		} {
			q.Set("response_type", "code")
			q.Set("scope", "openid")
			q.Set("code_challenge", oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier()))
			q.Set("code_challenge_method", "S256")
			res, body := b.step(base + "/oidc/authorize?" + q.Encode())
			if res.StatusCode != http.StatusBadRequest || res.Header.Get("Location") != "" {
				t.Errorf("%s: %d to %q, want 400 and no redirect", name, res.StatusCode, res.Header.Get("Location"))
			}
			if !strings.Contains(body, "la connexion ne peut pas se faire") || !strings.Contains(body, `lang="fr"`) {
				t.Errorf("%s: not the French page:\n%s", name, mainText(body))
			}
		}
	})
	t.Run("a person without a profile of the application gets access_denied", func(t *testing.T) {
		q := e.person("Quentin", "Sansprofil", directory.RoleCollaborateur, "Comptabilité")
		if err := e.store.AddHabilitation(ctx, q.Identifier, other.id, "lecture"); err != nil {
			t.Fatal(err)
		}
		qb := newOIDCBrowser(t).signedIn(e, base, q)
		before := rp.count()
		res, body := qb.get(rp.url + "/login")
		want := "Vous n'êtes pas habilité à l'application Appli " + rp.id + " ; adressez-vous à l'administrateur de votre structure."
		if res.StatusCode != http.StatusForbidden || !strings.Contains(mainText(body), want) {
			t.Fatalf("%d at %s:\n%s", res.StatusCode, res.Request.URL, mainText(body))
		}
		if rp.count() != before {
			t.Fatal("the application heard of it before the person went back")
		}
		var back string
		for _, m := range hrefPattern.FindAllStringSubmatch(body, -1) {
			if h := html.UnescapeString(m[1]); strings.HasPrefix(h, rp.url+"/callback") {
				back = h
			}
		}
		if back == "" {
			t.Fatalf("no link back to the application:\n%s", body)
		}
		qb.get(back)
		if got := rp.last(); got.Err != "access_denied" {
			t.Errorf("the application got %+v, want access_denied (back: %s)", got, back)
		}
		if !strings.Contains(e.logs.String(), `"action":"application.signin"`) || !strings.Contains(e.logs.String(), `"outcome":"refused"`) {
			t.Error("no audit line for the refused sign-in")
		}
	})
	t.Run("prompt=none without a session answers login_required", func(t *testing.T) {
		res, _ := newOIDCBrowser(t).get(rp.url + "/login?prompt=none")
		if got := rp.last(); res.Request.URL.Host != strings.TrimPrefix(rp.url, "http://") || got.Err != "login_required" {
			t.Errorf("ended at %s, the application got %+v", res.Request.URL, got)
		}
	})
	t.Run("prompt=login and max_age ask a live session to sign in again", func(t *testing.T) {
		e.clock.Add(2 * time.Minute)
		for _, q := range []string{"prompt=login", "max_age=0"} {
			res, body := b.get(rp.url + "/login?" + q)
			if res.Request.URL.Path != "/connexion" || !strings.Contains(body, "Se connecter") {
				t.Errorf("%s: ended at %s", q, res.Request.URL)
			}
		}
		// Signed in a moment ago, the session is recent enough for a day.
		b.get(rp.url + "/login?max_age=86400")
		rp.wantSignedIn(t, p, "gestion")
	})
	t.Run("a request gone", func(t *testing.T) {
		gone := strings.Repeat("A", 43)
		res, body := b.step(base + "/oidc/login?id=" + gone)
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(html.UnescapeString(mainText(body)), "Cette demande de connexion n'est plus valable") {
			t.Errorf("%d\n%s", res.StatusCode, mainText(body))
		}
		// Signed in for it, as the sign-in's pages lead there: home.
		u, _ := url.Parse(base + "/")
		b.jar.SetCookies(u, []*http.Cookie{{Name: "apex_oidc", Value: gone, Path: "/"}})
		if res, _ := b.step(base + "/oidc/login?id=" + gone); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
			t.Errorf("after a sign-in for a request gone: %d to %q, want home", res.StatusCode, res.Header.Get("Location"))
		}
	})
	t.Run("the discovery document", func(t *testing.T) {
		res, body := get(t, base+"/.well-known/openid-configuration")
		var d map[string]any
		if err := json.Unmarshal([]byte(body), &d); err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("%d %s", res.StatusCode, body)
		}
		for k, want := range map[string]string{
			"issuer": base, "authorization_endpoint": base + "/oidc/authorize", "token_endpoint": base + "/oidc/token",
			"userinfo_endpoint": base + "/oidc/userinfo", "jwks_uri": base + "/oidc/keys", "end_session_endpoint": base + "/oidc/end_session",
			"response_types_supported": "[code]", "grant_types_supported": "[authorization_code]", "code_challenge_methods_supported": "[S256]",
			"id_token_signing_alg_values_supported": "[RS256]", "scopes_supported": "[openid profile email apex]",
			"token_endpoint_auth_methods_supported": "[client_secret_basic client_secret_post]",
		} {
			if got := strings.ReplaceAll(strings.Trim(mustJSON(d[k]), `"`), `","`, " "); got != want && got != `["`+strings.Trim(want, "[]")+`"]` {
				t.Errorf("%s: %s, want %s", k, mustJSON(d[k]), want)
			}
		}
		for _, absent := range []string{"introspection_endpoint", "revocation_endpoint", "device_authorization_endpoint"} {
			if _, ok := d[absent]; ok {
				t.Errorf("%s is advertised", absent)
			}
		}
	})
	t.Run("the sign-ins are counted", func(t *testing.T) {
		m := scrape(t, srv)
		for _, want := range []string{
			`apex_oidc_authorizations_total{application="` + rp.id + `",outcome="access_denied"} 1`,
			`apex_oidc_authorizations_total{application="` + rp.id + `",outcome="login_required"} 1`,
			`apex_oidc_authorizations_total{application="` + other.id + `",outcome="success"} 1`,
		} {
			if !strings.Contains(m, want) {
				t.Errorf("no %s", want)
			}
		}
	})
	t.Run("a disabled account cannot sign in", func(t *testing.T) {
		d := e.person("Denise", "Desactivee", directory.RoleCollaborateur, "Comptabilité")
		if err := e.store.AddHabilitation(ctx, d.Identifier, rp.id, "consultation"); err != nil {
			t.Fatal(err)
		}
		db := newOIDCBrowser(t).signedIn(e, base, d)
		code, verifier := db.codeFor(rp)
		admin := e.person("Adele", "Admin", directory.RoleAdministrateur, "")
		if _, err := (directory.Accounts{Store: e.store}).SetEnabled(ctx, admin, d.Identifier, false); err != nil {
			t.Fatal(err)
		}
		if _, err := rp.oauth.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err == nil {
			t.Error("a code issued before the account was disabled gets tokens")
		}
		res, body := db.get(rp.url + "/login")
		if res.Request.URL.Path != "/connexion" {
			t.Fatalf("the disabled account's session still signs in: at %s", res.Request.URL)
		}
		m := csrfFieldPattern.FindStringSubmatch(body)
		if m == nil {
			t.Fatal("no form")
		}
		before := e.codeMails(d.Email)
		res, body = db.do(db.follow, http.MethodPost, base+"/connexion", url.Values{"csrf": {m[1]}, "identifier": {d.Identifier}, "password": {password}})
		if res.StatusCode != http.StatusUnauthorized || !strings.Contains(mainText(body), "Identifiant ou mot de passe incorrect.") {
			t.Errorf("the password of a disabled account: %d\n%s", res.StatusCode, mainText(body))
		}
		time.Sleep(200 * time.Millisecond)
		if e.codeMails(d.Email) != before {
			t.Error("a code was mailed to a disabled account")
		}
	})
	t.Run("userinfo refuses a token of an account disabled since", func(t *testing.T) {
		u := e.person("Ursule", "Info", directory.RoleCollaborateur, "Comptabilité")
		if err := e.store.AddHabilitation(ctx, u.Identifier, rp.id, "consultation"); err != nil {
			t.Fatal(err)
		}
		newOIDCBrowser(t).signedIn(e, base, u).get(rp.url + "/login")
		token := rp.wantSignedIn(t, u, "consultation").AccessToken
		userinfo := func() int {
			req, _ := http.NewRequest(http.MethodGet, base+"/oidc/userinfo", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return res.StatusCode
		}
		if s := userinfo(); s != http.StatusOK {
			t.Fatalf("userinfo: %d", s)
		}
		if err := e.store.SetState(ctx, u.Identifier, directory.StateActive, directory.StateDisabled); err != nil {
			t.Fatal(err)
		}
		if s := userinfo(); s != http.StatusForbidden {
			t.Errorf("userinfo of a disabled account: %d, want 403", s)
		}
	})
	t.Run("logout ends the session of the espace and of every application", func(t *testing.T) {
		for _, app := range []*relyingParty{rp, other} { // each application's last ID token is this person's
			b.get(app.url + "/login")
		}
		other.wantSignedIn(t, p, "lecture")
		res, body := b.get(rp.url + "/logout")
		if res.Request.URL.String() != rp.url+"/?state=fin" || !strings.Contains(body, "Accueil de "+rp.id) {
			t.Fatalf("logout ended at %s", res.Request.URL)
		}
		for _, app := range []*relyingParty{rp, other} {
			if res, _ := b.get(app.url + "/login"); res.Request.URL.Path != "/connexion" {
				t.Errorf("after logout, %s signs in without a password: at %s", app.id, res.Request.URL)
			}
		}
		if res, _ := b.get(base + "/"); res.Request.URL.Path != "/connexion" {
			t.Errorf("after logout, the espace is open: at %s", res.Request.URL)
		}
	})
	t.Run("a logout without hint is confirmed first", func(t *testing.T) {
		b.signedIn(e, base, p)
		res, body := b.get(rp.url + "/logout?hint=non")
		if res.Request.URL.Path != "/oidc/end_session" || !strings.Contains(body, "Se déconnecter ?") {
			t.Fatalf("at %s:\n%s", res.Request.URL, mainText(body))
		}
		if res, _ := b.get(base + "/"); res.Request.URL.Path != "/" {
			t.Fatalf("the session ended without confirmation: at %s", res.Request.URL)
		}
		m := csrfFieldPattern.FindStringSubmatch(body)
		res, _ = b.do(b.follow, http.MethodPost, base+"/oidc/deconnexion", url.Values{"csrf": {m[1]}, "client_id": {rp.id},
			"post_logout_redirect_uri": {rp.url + "/"}, "state": {"fin"}})
		if res.Request.URL.String() != rp.url+"/?state=fin" {
			t.Errorf("confirmed, ended at %s", res.Request.URL)
		}
		if res, _ := b.get(base + "/"); res.Request.URL.Path != "/connexion" {
			t.Errorf("confirmed, the session lives on: at %s", res.Request.URL)
		}
		// Without any parameter: confirmed, then the sign-in page.
		b.signedIn(e, base, p)
		res, body = b.get(base + "/oidc/end_session")
		m = csrfFieldPattern.FindStringSubmatch(body)
		if res.StatusCode != http.StatusOK || m == nil {
			t.Fatalf("a logout without parameters: %d at %s", res.StatusCode, res.Request.URL)
		}
		if res, _ = b.do(b.single, http.MethodPost, base+"/oidc/deconnexion", url.Values{"csrf": {m[1]}}); res.Header.Get("Location") != base+"/connexion" {
			t.Errorf("a logout without parameters ends at %q", res.Header.Get("Location"))
		}
		res, _ = b.step(base + "/oidc/end_session?client_id=" + rp.id + "&post_logout_redirect_uri=" + url.QueryEscape("https://attaquant.example/"))
		if res.StatusCode != http.StatusBadRequest || res.Header.Get("Location") != "" {
			t.Errorf("a logout to an address not registered: %d to %q", res.StatusCode, res.Header.Get("Location"))
		}
	})
}

// Each authorization request is kept in the directory until answered or
// expired: they count per client address, and past the limit the browser
// gets a page, the application nothing.
func TestOIDCAuthorizeLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.cfg.Limits.AuthorizeAddress = directory.Limit{Max: 2, Window: 15 * time.Minute}
	base, srv := e.server()
	rp := newRelyingParty(t, e, base, "lecture")
	b := newOIDCBrowser(t)
	for i := range 3 {
		to, _ := rp.authURL(nil)
		res, body := b.step(to)
		switch {
		case i < 2 && res.StatusCode != http.StatusFound:
			t.Fatalf("authorization %d: %d", i+1, res.StatusCode)
		case i == 2 && (res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Location") != "" || res.Header.Get("Retry-After") == "" ||
			!strings.Contains(mainText(body), "Trop de tentatives. Réessayez dans 15 minutes.")):
			t.Errorf("past the limit: %d to %q, Retry-After %q\n%s", res.StatusCode, res.Header.Get("Location"), res.Header.Get("Retry-After"), mainText(body))
		}
	}
	if m := scrape(t, srv); !strings.Contains(m, `apex_rate_limited_total{limit="authorize_address"} 1`) {
		t.Error("the refusal is not counted")
	}
}

func mustJSON(v any) string {
	raw, _ := json.Marshal(v)
	return string(raw)
}

// Tokens signed by one apexd verify with the keys another one publishes
// on the same directory; a rotation of the key keeps the tokens signed
// before valid until they expire, then the old key leaves the JWKS. On a
// slapd of its own: the keys are in ou=system, which the package's other
// tests share.
func TestOIDCKeysAcrossInstancesAndRotation(t *testing.T) {
	t.Parallel()
	e := newEnvOn(t, slapdtest.Start(t))
	one, two := e.instance(), e.instance()
	rp := newRelyingParty(t, e, one, "consultation")
	p := e.person("Rose", "Rotation", directory.RoleCollaborateur, "Comptabilité")
	if err := e.store.AddHabilitation(ctx, p.Identifier, rp.id, "consultation"); err != nil {
		t.Fatal(err)
	}
	b := newOIDCBrowser(t).signedIn(e, one, p)
	b.get(rp.url + "/login")
	old := rp.wantSignedIn(t, p, "consultation").IDToken

	// verify checks a token with the keys that apexd at jwks publishes now.
	verify := func(raw, jwks string) error {
		keys := gooidc.NewRemoteKeySet(ctx, jwks+"/oidc/keys")
		_, err := gooidc.NewVerifier(one, keys, &gooidc.Config{ClientID: rp.id, SkipExpiryCheck: true}).Verify(ctx, raw)
		return err
	}
	if err := verify(old, two); err != nil {
		t.Fatalf("a token of one instance, with the keys of the other: %v", err)
	}
	kids := func() string {
		_, body := get(t, two+"/oidc/keys")
		var set struct {
			Keys []struct {
				Kid, Alg, Use, Kty string
				D                  string `json:"d"`
			} `json:"keys"`
		}
		if err := json.Unmarshal([]byte(body), &set); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, k := range set.Keys {
			if k.Alg != "RS256" || k.Use != "sig" || k.Kty != "RSA" || k.D != "" {
				t.Errorf("a published key: %+v", k)
			}
			ids = append(ids, k.Kid)
		}
		return strings.Join(ids, ",")
	}
	first := kids()
	if strings.Contains(first, ",") {
		t.Fatalf("keys before any rotation: %s", first)
	}

	rotated, err := directory.OIDC{Store: e.store}.RotateKey(ctx) // what apexctl oidc rotate-key does
	if err != nil {
		t.Fatal(err)
	}
	if got := kids(); got != rotated.ID+","+first {
		t.Errorf("after the rotation: %s, want %s,%s", got, rotated.ID, first)
	}
	b.get(rp.url + "/login")
	fresh := rp.wantSignedIn(t, p, "consultation").IDToken
	if err := verify(old, two); err != nil {
		t.Errorf("a token signed before the rotation, after it: %v", err)
	}
	if err := verify(fresh, two); err != nil {
		t.Errorf("a token signed after the rotation: %v", err)
	}
	// The tokens live 5 minutes; past that and the minute of margin, the
	// old key goes.
	e.clock.Add(5*time.Minute + time.Minute - 2*time.Second)
	if got := kids(); got != rotated.ID+","+first {
		t.Errorf("before the last token of the old key expires: %s", got)
	}
	e.clock.Add(3 * time.Second)
	if got := kids(); got != rotated.ID {
		t.Errorf("once its last token has expired, the old key is still published: %s", got)
	}
	if err := verify(old, two); err == nil {
		t.Error("a token of a key no longer published still verifies")
	}
	if err := verify(fresh, one); err != nil {
		t.Errorf("the new key's token: %v", err)
	}
}

// The journey of the guide's section 4 in Chromium: the application
// sends the person to apexd, who types the identifier and the password,
// then the code received by mail, and comes back signed in; a second
// application signs them in without a password; the first one's logout
// ends both.
func TestOIDCInTheBrowser(t *testing.T) {
	t.Parallel()
	br := startBrowser(t)
	e := newEnv(t)
	base := e.instance()
	first := newRelyingParty(t, e, base, "consultation", "gestion")
	second := newRelyingParty(t, e, base, "lecture")
	p := e.person("Brigitte", "Navigateur", directory.RoleResponsable, "Comptabilité")
	for _, h := range [][2]string{{first.id, "consultation"}, {second.id, "lecture"}} {
		if err := e.store.AddHabilitation(ctx, p.Identifier, h[0], h[1]); err != nil {
			t.Fatal(err)
		}
	}
	tb := br.tab(t, base)
	at := func(origin, path string) string {
		return "location.origin === " + jsString(origin) + " && location.pathname === " + jsString(path) + ` && document.readyState === "complete"`
	}
	visit := func(u, origin, path string) {
		t.Helper()
		tb.do("open "+u, chromedp.Navigate(u))
		tb.waitFor(origin+path, at(origin, path))
	}

	visit(first.url+"/login", base, "/connexion")
	tb.fill("#identifier", p.Identifier)
	tb.fill("#password", password)
	tb.click("Se connecter", "/connexion/verification")
	tb.fill("#code", e.code(p.Email, 1))
	eval[bool](tb, `window.__apexLeaving = true`)
	tb.do("verify", chromedp.Click(chromedp.Search(`//button[normalize-space()="Vérifier"]`), chromedp.NodeVisible))
	tb.waitFor("the application's callback", at(first.url, "/callback"))
	if got := tb.text("h1"); got != "Connecté à "+first.id {
		t.Fatalf("the application says %q", got)
	}
	got := first.wantSignedIn(t, p, "consultation")
	if at, _ := got.Claims["auth_time"].(float64); time.Unix(int64(at), 0).Before(time.Now().Add(-time.Minute)) {
		t.Errorf("auth_time %v is not the sign-in's", at)
	}

	visit(second.url+"/login", second.url, "/callback")
	second.wantSignedIn(t, p, "lecture")
	if n := e.codeMails(p.Email); n != 1 {
		t.Errorf("%d code mails, want 1: the second application asked again", n)
	}
	visit(base+"/", base, "/")
	if links := tb.texts(".apex-applications a"); len(links) != 2 {
		t.Errorf("the home page links to %q, want both applications", links)
	}

	visit(first.url+"/logout", first.url, "/")
	visit(second.url+"/login", base, "/connexion")
	visit(first.url+"/login", base, "/connexion")
	visit(base+"/", base, "/connexion")
}

// Agents give an application its addresses on its page, change them, and
// add a profile; a refused address is said beside its field and changes
// nothing.
func TestApplicationPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base := e.instance()
	agent := e.person("Agathe", "Pages", directory.RoleAgent, "")
	c := newFormClient(t, base).signIn(e, agent)
	c.post("/agent/applications", url.Values{"id": {"hopsis"}, "name": {"HOPSIS"}, "profiles": {"lecture"},
		"redirectUris": {"https://hopsis.example.fr/retour\r\n\r\nhttp://127.0.0.1:8443/cb"}, "homeUrl": {"https://hopsis.example.fr/"}}).
		redirect(t, "declare", "/agent/applications")
	app, err := e.store.FindApplication(ctx, "hopsis")
	if err != nil || strings.Join(app.RedirectURIs, " ") != "https://hopsis.example.fr/retour http://127.0.0.1:8443/cb" || app.HomeURL != "https://hopsis.example.fr/" {
		t.Fatalf("declared: %+v %v", app, err)
	}
	c.get("/agent/applications/hopsis").want(t, "its page", http.StatusOK, "https://hopsis.example.fr/retour", "http://127.0.0.1:8443/cb")
	c.post("/agent/applications/hopsis", url.Values{"name": {"HOPSIS"}, "redirectUris": {"http://hopsis.example.fr/retour"}, "homeUrl": {""}}).
		want(t, "an http address", http.StatusUnprocessableEntity, "doit commencer par https://", `aria-invalid="true"`)
	if app, _ := e.store.FindApplication(ctx, "hopsis"); len(app.RedirectURIs) != 2 || app.HomeURL == "" {
		t.Errorf("a refused change changed %+v", app)
	}
	c.post("/agent/applications/hopsis", url.Values{"name": {"HOPSIS"}, "redirectUris": {"https://hopsis.example.fr/nouveau"}, "homeUrl": {""}}).
		redirect(t, "change", "/agent/applications/hopsis")
	c.post("/agent/applications/hopsis/profils", url.Values{"profile": {"gestion"}}).redirect(t, "add a profile", "/agent/applications/hopsis")
	c.post("/agent/applications/hopsis/profils", url.Values{"profile": {"gestion"}}).want(t, "a profile twice", http.StatusConflict, "Ce profil existe déjà")
	app, err = e.store.FindApplication(ctx, "hopsis")
	if err != nil || strings.Join(app.RedirectURIs, " ") != "https://hopsis.example.fr/nouveau" || app.HomeURL != "" || strings.Join(app.Profiles, ",") != "gestion,lecture" {
		t.Errorf("after the changes: %+v %v", app, err)
	}
	// The same through the API.
	token := e.signIn(base+"/api/v1", agent.Identifier, agent.Email, password)
	status, body := call(t, "PATCH", base+"/api/v1/applications/hopsis", token, map[string]any{"redirectUris": []string{"https://hopsis.example.fr/api", "ftp://x/"}})
	if field, _ := errorDetail(body); status != http.StatusUnprocessableEntity || errorCode(body) != "invalid_request" || field != "redirectUris" {
		t.Errorf("PATCH with an ftp address: %d %v", status, body)
	}
	status, body = call(t, "PATCH", base+"/api/v1/applications/hopsis", token, map[string]any{"redirectUris": []string{"https://hopsis.example.fr/api"}, "homeUrl": "https://hopsis.example.fr/"})
	if uris, _ := body["redirectUris"].([]any); status != http.StatusOK || len(uris) != 1 || body["homeUrl"] != "https://hopsis.example.fr/" || body["name"] != "HOPSIS" {
		t.Errorf("PATCH: %d %v", status, body)
	}
	status, body = call(t, "POST", base+"/api/v1/applications/hopsis/profiles", token, map[string]string{"profile": "export"})
	if profiles, _ := body["profiles"].([]any); status != http.StatusCreated || len(profiles) != 3 {
		t.Errorf("POST a profile: %d %v", status, body)
	}
	if status, body = call(t, "POST", base+"/api/v1/applications/hopsis/profiles", token, map[string]string{"profile": "export"}); status != http.StatusConflict || errorCode(body) != "profile_exists" {
		t.Errorf("POST a profile twice: %d %v", status, body)
	}
}
