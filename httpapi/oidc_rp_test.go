package httpapi_test

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/dgfip/apex-partenaires/directory"
)

// relyingParty is a DGFiP application signing people in through apexd, as
// its team would write it with go-oidc and x/oauth2 (docs/oidc.md), on a
// listener of its own on 127.0.0.1: /login starts a sign-in (with state,
// nonce and PKCE S256), /callback checks the state, exchanges the code
// with its client secret, verifies the ID token against the JWKS and the
// nonce, reads userinfo, and keeps what it got for the test; /logout ends
// the session at apexd with the last ID token as its hint.
type relyingParty struct {
	t        *testing.T
	id       string
	secret   string
	url      string
	issuer   string
	provider *gooidc.Provider
	oauth    oauth2.Config
	verifier *gooidc.IDTokenVerifier

	mu      sync.Mutex
	pending map[string]rpPending // by state
	logins  []rpLogin
	idToken string // the last one, the logout's hint
}

type rpPending struct{ nonce, verifier string }

// rpLogin is what one callback got: an error from apexd or from the
// checks, or the tokens and what they say.
type rpLogin struct {
	Err         string
	Description string
	Claims      map[string]any // of the ID token, verified
	Userinfo    map[string]any
	IDToken     string
	AccessToken string
}

var rpApps atomic.Int64

// rpSecret is every relying party's client secret (a bind account's password).
const rpSecret = "Client-Secret-2026!"

// newRelyingParty declares an application whose redirect URI is the
// relying party's callback and whose home URL is its home, gives it a
// bind account (its client secret), and starts the relying party against
// the apexd at issuer. The applications' bind accounts live in
// ou=system, which the tests of the package share: each gets an id of its own.
func newRelyingParty(t *testing.T, e *env, issuer string, profiles ...string) *relyingParty {
	t.Helper()
	rp := &relyingParty{t: t, id: fmt.Sprintf("rp%d-%d", time.Now().UnixNano()%1e6, rpApps.Add(1)), secret: rpSecret, issuer: issuer, pending: map[string]rpPending{}}
	ts := httptest.NewServer(http.HandlerFunc(rp.serve))
	t.Cleanup(ts.Close)
	rp.url = ts.URL
	if err := e.store.CreateApplication(ctx, directory.Application{ID: rp.id, Name: "Appli " + rp.id, Profiles: profiles,
		RedirectURIs: []string{rp.url + "/callback"}, HomeURL: rp.url + "/"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.CreateClient(ctx, rp.id, rp.secret); err != nil {
		t.Fatal(err)
	}
	var err error
	if rp.provider, err = gooidc.NewProvider(ctx, issuer); err != nil {
		t.Fatalf("discovery at %s: %v", issuer, err)
	}
	rp.oauth = oauth2.Config{ClientID: rp.id, ClientSecret: rp.secret, Endpoint: rp.provider.Endpoint(),
		RedirectURL: rp.url + "/callback", Scopes: []string{gooidc.ScopeOpenID, "profile", "email", "apex"}}
	rp.verifier = rp.provider.Verifier(&gooidc.Config{ClientID: rp.id})
	return rp
}

func randomString() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// authURL starts a sign-in: a fresh state, nonce and PKCE verifier, and
// the extra parameters given.
func (rp *relyingParty) authURL(extra url.Values) (string, rpPending) {
	state := randomString()
	p := rpPending{nonce: randomString(), verifier: oauth2.GenerateVerifier()}
	rp.mu.Lock()
	rp.pending[state] = p
	rp.mu.Unlock()
	opts := []oauth2.AuthCodeOption{gooidc.Nonce(p.nonce), oauth2.S256ChallengeOption(p.verifier)}
	for k := range extra {
		opts = append(opts, oauth2.SetAuthURLParam(k, extra.Get(k)))
	}
	return rp.oauth.AuthCodeURL(state, opts...), p
}

func (rp *relyingParty) serve(w http.ResponseWriter, r *http.Request) {
	page := func(title, body string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="fr"><head><title>%s</title></head><body><main><h1>%s</h1>%s</main></body></html>`,
			html.EscapeString(title), html.EscapeString(title), body)
	}
	switch r.URL.Path {
	case "/":
		page("Accueil de "+rp.id, "")
	case "/login":
		to, _ := rp.authURL(r.URL.Query())
		http.Redirect(w, r, to, http.StatusFound)
	case "/callback":
		got := rp.callback(r)
		rp.mu.Lock()
		rp.logins = append(rp.logins, got)
		rp.mu.Unlock()
		if got.Err != "" {
			page("Refus", `<p id="erreur">`+html.EscapeString(got.Err)+`</p>`)
			return
		}
		page("Connecté à "+rp.id, `<p id="sub">`+html.EscapeString(fmt.Sprint(got.Claims["sub"]))+`</p>`)
	case "/logout":
		var end struct {
			EndSession string `json:"end_session_endpoint"`
		}
		if err := rp.provider.Claims(&end); err != nil || end.EndSession == "" {
			http.Error(w, "no end_session_endpoint", http.StatusInternalServerError)
			return
		}
		rp.mu.Lock()
		hint := rp.idToken
		rp.mu.Unlock()
		q := url.Values{"post_logout_redirect_uri": {rp.url + "/"}, "state": {"fin"}}
		if hint != "" && r.URL.Query().Get("hint") != "non" {
			q.Set("id_token_hint", hint)
		} else {
			q.Set("client_id", rp.id)
		}
		http.Redirect(w, r, end.EndSession+"?"+q.Encode(), http.StatusFound)
	default:
		http.NotFound(w, r)
	}
}

// callback checks what apexd sent back and exchanges the code.
func (rp *relyingParty) callback(r *http.Request) rpLogin {
	q := r.URL.Query()
	rp.mu.Lock()
	p, ok := rp.pending[q.Get("state")]
	delete(rp.pending, q.Get("state"))
	rp.mu.Unlock()
	if !ok {
		return rpLogin{Err: "unknown state"}
	}
	if e := q.Get("error"); e != "" {
		return rpLogin{Err: e, Description: q.Get("error_description")}
	}
	token, err := rp.oauth.Exchange(r.Context(), q.Get("code"), oauth2.VerifierOption(p.verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return rpLogin{Err: "exchange: " + re.ErrorCode}
		}
		return rpLogin{Err: "exchange: " + err.Error()}
	}
	raw, _ := token.Extra("id_token").(string)
	idToken, err := rp.verifier.Verify(r.Context(), raw)
	if err != nil {
		return rpLogin{Err: "verify: " + err.Error()}
	}
	if idToken.Nonce != p.nonce {
		return rpLogin{Err: "nonce"}
	}
	got := rpLogin{IDToken: raw, AccessToken: token.AccessToken}
	if err := idToken.Claims(&got.Claims); err != nil {
		return rpLogin{Err: "claims: " + err.Error()}
	}
	info, err := rp.provider.UserInfo(r.Context(), oauth2.StaticTokenSource(token))
	if err != nil {
		return rpLogin{Err: "userinfo: " + err.Error()}
	}
	if err := info.Claims(&got.Userinfo); err != nil {
		return rpLogin{Err: "userinfo claims: " + err.Error()}
	}
	rp.mu.Lock()
	rp.idToken = raw
	rp.mu.Unlock()
	return got
}

// count is the number of callbacks so far.
func (rp *relyingParty) count() int {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return len(rp.logins)
}

// last is the last callback's outcome.
func (rp *relyingParty) last() rpLogin {
	rp.t.Helper()
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if len(rp.logins) == 0 {
		rp.t.Fatal("the relying party had no callback")
	}
	return rp.logins[len(rp.logins)-1]
}

// wantSignedIn checks that the last callback signed p in, with the claims
// of its application's profiles only.
func (rp *relyingParty) wantSignedIn(t *testing.T, p *directory.Person, profiles ...string) rpLogin {
	t.Helper()
	got := rp.last()
	if got.Err != "" {
		t.Fatalf("%s: %s (%s)", rp.id, got.Err, got.Description)
	}
	for what, claims := range map[string]map[string]any{"ID token": got.Claims, "userinfo": got.Userinfo} {
		want := map[string]any{"sub": p.Identifier, "given_name": p.FirstName, "family_name": p.LastName,
			"name": p.FirstName + " " + p.LastName, "email": p.Email, "apex_role": string(p.Role)}
		for k, v := range want {
			if claims[k] != v {
				t.Errorf("%s of %s: %s = %v, want %v", what, rp.id, k, claims[k], v)
			}
		}
		var gotProfiles []string
		list, _ := claims["apex_profiles"].([]any)
		for _, x := range list {
			gotProfiles = append(gotProfiles, fmt.Sprint(x))
		}
		if !slices.Equal(gotProfiles, profiles) {
			t.Errorf("%s of %s: apex_profiles %v, want %v", what, rp.id, gotProfiles, profiles)
		}
		if p.SIRET != "" {
			st, _ := claims["apex_structure"].(map[string]any)
			if st["siret"] != p.SIRET || st["name"] == "" || st["category"] == nil {
				t.Errorf("%s of %s: apex_structure %v", what, rp.id, claims["apex_structure"])
			}
		}
		if p.Service != "" && claims["apex_service"] != p.Service {
			t.Errorf("%s of %s: apex_service %v, want %s", what, rp.id, claims["apex_service"], p.Service)
		}
	}
	amr, _ := got.Claims["amr"].([]any)
	if len(amr) != 2 || amr[0] != "pwd" || amr[1] != "otp" {
		t.Errorf("amr %v, want [pwd otp]", got.Claims["amr"])
	}
	if at, _ := got.Claims["auth_time"].(float64); at == 0 {
		t.Errorf("no auth_time: %v", got.Claims)
	}
	return got
}
