package httpapi_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
	"github.com/dgfip/apex-partenaires/directory/testkit"
	"github.com/dgfip/apex-partenaires/httpapi"
	"github.com/dgfip/apex-partenaires/notify"
)

// The OpenID provider's doors that any site can send a browser to, with
// any parameters: the authorization request and the logout. Whatever they
// carry, the browser is sent nowhere but to an address the application
// registered (or apexd's own pages), never with a code or a token, and
// nothing answers 500.

const (
	fuzzIssuer   = "http://127.0.0.1"
	fuzzClient   = "fuzzoidc"
	fuzzRedirect = "https://fuzzoidc.example.fr/retour"
	fuzzHome     = "https://fuzzoidc.example.fr/"
)

// newOIDCFuzzHandler is an apexd that is an OpenID provider, on a subtree
// of the package's slapd, with one application; its authorization limit
// is out of the way.
func newOIDCFuzzHandler(tb testing.TB) (http.Handler, *testkit.LogBuffer) {
	tb.Helper()
	srv := slapdtest.Shared(tb)
	cfg := slapdtest.StoreConfig(srv, slapdtest.NewBase(tb, srv))
	cfg.Limits.AuthorizeAddress = directory.Limit{Max: 1 << 30, Window: time.Minute}
	store := slapdtest.OpenStore(tb, cfg)
	if err := store.CreateApplication(ctx, directory.Application{ID: fuzzClient, Name: "Fuzz", Profiles: []string{"lecture"},
		RedirectURIs: []string{fuzzRedirect}, HomeURL: fuzzHome}); err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	mails, err := notify.NewOutbox(dir+"/mail", "APEX Partenaires <no-reply@apex.example.fr>")
	if err != nil {
		tb.Fatal(err)
	}
	texts, err := notify.NewSMSOutbox(dir + "/sms")
	if err != nil {
		tb.Fatal(err)
	}
	notifier := notify.Notifier{Mailer: mails, SMS: texts, PublicURL: fuzzIssuer}
	logs := &testkit.LogBuffer{}
	api, err := httpapi.New(httpapi.Config{
		PublicURL:    fuzzIssuer,
		Health:       store,
		Consultation: directory.Consultation{Store: store},
		SignIn:       directory.SignIn{Store: store, Notifier: notifier},
		Accounts:     directory.Accounts{Store: store, Notifier: notifier},
		SelfService:  directory.SelfService{Store: store, Notifier: notifier},
		OIDC:         directory.OIDC{Store: store},
		Logger:       slog.New(slog.NewJSONHandler(logs, nil)),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return api.Handler(), logs
}

// checkOIDCRedirect fails unless location is empty, one of apexd's own
// pages in allowed, or an address the application registered carrying no
// code nor token.
func checkOIDCRedirect(t *testing.T, what, location string, registered []string, own ...string) {
	t.Helper()
	if location == "" {
		return
	}
	u, err := url.Parse(location)
	if err != nil {
		t.Fatalf("%s: unreadable Location %q", what, location)
	}
	where := u.Scheme + "://" + u.Host + u.Path
	for _, o := range own {
		if where == fuzzIssuer+o || (u.Scheme == "" && u.Host == "" && u.Path == o) {
			return
		}
	}
	found := false
	for _, r := range registered {
		found = found || where == r
	}
	if !found {
		t.Fatalf("%s: sent to %q, which the application did not register", what, location)
	}
	for _, leak := range []string{"code", "access_token", "id_token", "token"} {
		if u.Query().Has(leak) || strings.Contains(u.Fragment, leak+"=") {
			t.Fatalf("%s: sent to %q with a %s", what, location, leak)
		}
	}
}

func FuzzOIDCAuthorize(f *testing.F) {
	challenge := "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	valid := url.Values{"client_id": {fuzzClient}, "redirect_uri": {fuzzRedirect}, "response_type": {"code"}, "scope": {"openid profile apex"},
		"state": {"s"}, "nonce": {"n"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	for _, q := range []string{
		valid.Encode(),
		strings.Replace(valid.Encode(), "S256", "plain", 1),
		strings.Replace(valid.Encode(), "response_type=code", "response_type=id_token+token", 1),
		strings.Replace(valid.Encode(), "response_type=code", "response_type=code+id_token", 1),
		valid.Encode() + "&response_mode=fragment",
		valid.Encode() + "&response_mode=form_post",
		valid.Encode() + "&prompt=none",
		valid.Encode() + "&prompt=none+login&max_age=-1",
		valid.Encode() + "&request=eyJhbGciOiJub25lIn0.eyJyZWRpcmVjdF91cmkiOiJodHRwczovL2F0dGFxdWFudC5leGFtcGxlLyJ9.",
		valid.Encode() + "&request_uri=https%3A%2F%2Fattaquant.example%2Fr",
		valid.Encode() + "&redirect_uri=https%3A%2F%2Fattaquant.example%2F",
		valid.Encode() + "&id_token_hint=x.y.z",
		"client_id=" + fuzzClient + "&redirect_uri=" + url.QueryEscape(fuzzRedirect+"?x=1") + "&response_type=code",
		"client_id=" + fuzzClient + "&redirect_uri=" + url.QueryEscape("https://attaquant.example/") + "&response_type=code&scope=openid",
		"client_id=" + fuzzClient + "&redirect_uri=" + url.QueryEscape(fuzzRedirect) + "&response_type=code&scope=email",
		"client_id=%2A%29%28ou%3D%2A&redirect_uri=" + url.QueryEscape(fuzzRedirect),
		"", "%", "client_id=" + fuzzClient + "&redirect_uri=" + url.QueryEscape(fuzzRedirect) + "&state=%ff%00",
	} {
		f.Add(q, false)
		f.Add(q, true)
	}
	handler, logs := newOIDCFuzzHandler(f)
	f.Fuzz(func(t *testing.T, query string, post bool) {
		what, location := serveOIDCFuzz(t, handler, logs, "/oidc/authorize", query, post)
		// Nobody is signed in: the sign-in page, or the application told
		// why not, or a page here; never a code.
		checkOIDCRedirect(t, what, location, []string{fuzzRedirect}, "/oidc/login")
	})
}

func FuzzOIDCEndSession(f *testing.F) {
	for _, q := range []string{
		"",
		"client_id=" + fuzzClient + "&post_logout_redirect_uri=" + url.QueryEscape(fuzzHome) + "&state=fin",
		"client_id=" + fuzzClient + "&post_logout_redirect_uri=" + url.QueryEscape(fuzzRedirect),
		"client_id=" + fuzzClient + "&post_logout_redirect_uri=" + url.QueryEscape("https://attaquant.example/"),
		"post_logout_redirect_uri=" + url.QueryEscape(fuzzHome),
		"client_id=inconnue&post_logout_redirect_uri=" + url.QueryEscape(fuzzHome),
		"id_token_hint=eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4IiwiYXVkIjoiZnV6em9pZGMifQ.&post_logout_redirect_uri=" + url.QueryEscape("https://attaquant.example/"),
		"client_id=" + fuzzClient + "&post_logout_redirect_uri=" + url.QueryEscape(fuzzHome+"../x"),
		"%", "ui_locales=fr&logout_hint=x",
	} {
		f.Add(q, false)
		f.Add(q, true)
	}
	handler, logs := newOIDCFuzzHandler(f)
	f.Fuzz(func(t *testing.T, query string, post bool) {
		what, location := serveOIDCFuzz(t, handler, logs, "/oidc/end_session", query, post)
		checkOIDCRedirect(t, what, location, []string{fuzzRedirect, fuzzHome}, "/connexion")
	})
}

// serveOIDCFuzz sends query to path, in the address (GET) or as a form
// (POST), fails on a server error, and gives what was sent and where the
// browser is sent.
func serveOIDCFuzz(t *testing.T, handler http.Handler, logs fmt.Stringer, path, query string, post bool) (what, location string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.URL.RawQuery = query
	if post {
		req = httptest.NewRequest(http.MethodPost, path, strings.NewReader(query))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	what = req.Method + " ?" + query
	if rec.Code >= 500 || strings.Contains(logs.String(), `"request failed"`) {
		t.Fatalf("%s: %d\n%s\nlogs: %s", what, rec.Code, rec.Body.String(), logs.String())
	}
	return what, rec.Header().Get("Location")
}
