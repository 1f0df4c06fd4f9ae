package directory_test

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapd"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
	"github.com/dgfip/apex-partenaires/directory/testkit"
)

// The applications' bind accounts (ou=clients) live in ou=system, which
// the tests of the package share: each test names its applications apart.
var oidcApps atomic.Int64

func oidcAppID(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e6, oidcApps.Add(1))
}

// challengeOf is the S256 code_challenge of a verifier.
func challengeOf(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// oidcFixture is a structure, an application with two profiles and another
// application, on two instances sharing a clock.
type oidcFixture struct {
	a, b   *directory.Store
	clock  *testkit.Clock
	app    string
	other  string
	audit  *testkit.LogBuffer
	person *directory.Person // habilitated to app
}

func newOIDCFixture(t *testing.T) *oidcFixture {
	t.Helper()
	a, b, clock := twoInstances(t)
	f := &oidcFixture{a: a, b: b, clock: clock, app: oidcAppID("app"), other: oidcAppID("autre"), audit: &testkit.LogBuffer{}}
	mustStructure(t, a, testSIRET, "Comptabilité")
	for _, id := range []string{f.app, f.other} {
		if err := a.CreateApplication(ctx, directory.Application{ID: id, Name: strings.ToUpper(id), Profiles: []string{"consultation", "gestion"},
			RedirectURIs: []string{"https://" + id + ".example.fr/retour"}}); err != nil {
			t.Fatal(err)
		}
	}
	f.person = mustPerson(t, a, directory.NewPerson{FirstName: "Olivia", LastName: "Connect", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Comptabilité"})
	for _, h := range [][2]string{{f.app, "gestion"}, {f.app, "consultation"}, {f.other, "consultation"}} {
		if err := a.AddHabilitation(ctx, f.person.Identifier, h[0], h[1]); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *oidcFixture) oidc(s *directory.Store) directory.OIDC {
	return directory.OIDC{Store: s, Audit: slog.New(slog.NewJSONHandler(f.audit, nil))}
}

// request is a valid authorization request of app.
func (f *oidcFixture) request(app string) directory.OIDCRequest {
	return directory.OIDCRequest{ClientID: app, RedirectURI: "https://" + app + ".example.fr/retour", Scopes: []string{"openid", "profile"},
		State: "état-1", Nonce: "n-1", ResponseType: "code", CodeChallenge: challengeOf("verifier-" + app), CodeChallengeMethod: "S256"}
}

// signedIn opens a session for p and reads p back with it, as the pages do.
func (f *oidcFixture) signedIn(t *testing.T, p *directory.Person) *directory.Person {
	t.Helper()
	token, err := f.a.CreateSession(ctx, p.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	got, err := (directory.SignIn{Store: f.b}).Session(ctx, token, "")
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func (f *oidcFixture) begin(t *testing.T, r directory.OIDCRequest) *directory.OIDCRequest {
	t.Helper()
	got, err := f.oidc(f.a).Begin(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// A request begun on one instance goes on on the other; its code works
// once; a request answered is over.
func TestOIDCRequestAcrossInstances(t *testing.T) {
	t.Parallel()
	f := newOIDCFixture(t)
	a, b := f.oidc(f.a), f.oidc(f.b)
	r := f.begin(t, f.request(f.app))

	got, step, err := b.Continue(ctx, r.ID, nil)
	if err != nil || step != directory.OIDCSignIn || got.State != "état-1" {
		t.Fatalf("nobody signed in: %v %v %+v", step, err, got)
	}
	f.clock.Add(3 * time.Minute)
	p := f.signedIn(t, f.person)
	got, step, err = b.Continue(ctx, r.ID, p)
	if err != nil || step != directory.OIDCDone || got.Subject != f.person.Identifier {
		t.Fatalf("signed in and habilitated: %v %v %+v", step, err, got)
	}
	if want := f.clock.Now().Truncate(time.Second); !got.AuthTime.Equal(want) {
		t.Errorf("auth time %v, want the session's start %v", got.AuthTime, want)
	}
	if _, _, err := a.Continue(ctx, r.ID, p); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("a request answered goes on again: %v", err)
	}

	code := a.NewCode(r.ID)
	if err := a.SaveCode(ctx, r.ID, code); err != nil {
		t.Fatal(err)
	}
	if err := b.SaveCode(ctx, r.ID, a.NewCode(r.ID)); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("a second code for one request: %v", err)
	}
	// A code names its request: one minted for another is never saved.
	other := f.begin(t, f.request(f.app))
	if _, step, err := b.Continue(ctx, other.ID, p); err != nil || step != directory.OIDCDone {
		t.Fatal(step, err)
	}
	if err := a.SaveCode(ctx, other.ID, a.NewCode(r.ID)); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("the code of another request: %v", err)
	}
	ex, err := b.Exchange(ctx, code)
	if err != nil || ex.Subject != f.person.Identifier || ex.CodeChallenge != r.CodeChallenge || ex.Nonce != "n-1" || ex.RedirectURI != r.RedirectURI {
		t.Fatalf("exchange on the other instance: %+v %v", ex, err)
	}
	if _, err := a.Exchange(ctx, code); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("a code exchanged twice: %v", err)
	}
	if _, err := a.Request(ctx, r.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("the request outlives its code: %v", err)
	}
	if !strings.Contains(f.audit.String(), `"action":"application.signin"`) || !strings.Contains(f.audit.String(), `"outcome":"success"`) {
		t.Errorf("no audit line for the sign-in:\n%s", f.audit.String())
	}
	if strings.Contains(f.audit.String(), code) || strings.Contains(f.audit.String(), r.ID) {
		t.Error("the audit log holds a code or a request id")
	}
}

// Of many exchanges of one code at once, on two instances, one gets it.
func TestOIDCCodeWorksOnce(t *testing.T) {
	t.Parallel()
	f := newOIDCFixture(t)
	r := f.begin(t, f.request(f.app))
	if _, step, err := f.oidc(f.b).Continue(ctx, r.ID, f.signedIn(t, f.person)); err != nil || step != directory.OIDCDone {
		t.Fatal(step, err)
	}
	code := f.oidc(f.a).NewCode(r.ID)
	if err := f.oidc(f.a).SaveCode(ctx, r.ID, code); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int64
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			s := f.a
			if i%2 == 1 {
				s = f.b
			}
			_, err := f.oidc(s).Exchange(ctx, code)
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, directory.ErrNotFound):
				t.Errorf("exchange: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d exchanges of one code passed, want 1", wins.Load())
	}
	for _, forged := range []string{"", code + "x", code[:17] + strings.Repeat("0", 64) + "." + strings.Repeat("A", 43), strings.ToUpper(code),
		strings.Repeat("0", 16) + code[16:]} {
		if _, err := f.oidc(f.a).Exchange(ctx, forged); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("code %q: %v", forged, err)
		}
	}
}

// A code lives two minutes; a request waiting for its person, 30.
func TestOIDCExpiry(t *testing.T) {
	t.Parallel()
	f := newOIDCFixture(t)
	o := f.oidc(f.a)
	r := f.begin(t, f.request(f.app))
	f.clock.Add(29 * time.Minute)
	p := f.signedIn(t, f.person)
	if _, step, err := o.Continue(ctx, r.ID, p); err != nil || step != directory.OIDCDone {
		t.Fatalf("after 29 minutes: %v %v", step, err)
	}
	code := o.NewCode(r.ID)
	if err := o.SaveCode(ctx, r.ID, code); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(2*time.Minute + time.Second)
	if _, err := o.Exchange(ctx, code); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("a code after 2 minutes: %v", err)
	}
	late := f.begin(t, f.request(f.app))
	f.clock.Add(30 * time.Minute)
	if _, _, err := o.Continue(ctx, late.ID, f.signedIn(t, f.person)); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("a request after 30 minutes: %v", err)
	}
}

// What the provider demands beyond the protocol: the code flow, PKCE with
// S256, openid, and short pass-through values.
func TestOIDCRequestValidation(t *testing.T) {
	t.Parallel()
	f := newOIDCFixture(t)
	neg := int64(-1)
	for _, tc := range []struct {
		name   string
		change func(r *directory.OIDCRequest)
		want   string
	}{
		{"no PKCE", func(r *directory.OIDCRequest) { r.CodeChallenge, r.CodeChallengeMethod = "", "" }, "PKCE is required"},
		{"plain", func(r *directory.OIDCRequest) { r.CodeChallengeMethod = "plain" }, "must be S256"},
		{"no method", func(r *directory.OIDCRequest) { r.CodeChallengeMethod = "" }, "must be S256"},
		{"a challenge that is no SHA-256", func(r *directory.OIDCRequest) { r.CodeChallenge = "court" }, "43 characters"},
		{"implicit", func(r *directory.OIDCRequest) { r.ResponseType = "id_token" }, "authorization code flow"},
		{"hybrid", func(r *directory.OIDCRequest) { r.ResponseType = "code id_token" }, "authorization code flow"},
		{"form_post", func(r *directory.OIDCRequest) { r.ResponseMode = "form_post" }, "response_mode=query"},
		{"no openid", func(r *directory.OIDCRequest) { r.Scopes = []string{"profile"} }, "openid"},
		{"a long state", func(r *directory.OIDCRequest) { r.State = strings.Repeat("s", 1025) }, "state and nonce"},
		{"a nonce not UTF-8", func(r *directory.OIDCRequest) { r.Nonce = "\xff" }, "state and nonce"},
		{"a negative max_age", func(r *directory.OIDCRequest) { r.MaxAge = &neg }, "max_age"},
	} {
		r := f.request(f.app)
		tc.change(&r)
		_, err := f.oidc(f.a).Begin(ctx, r)
		var re *directory.OIDCRequestError
		if !errors.Is(err, directory.ErrInvalid) || !errors.As(err, &re) || !strings.Contains(re.Description, tc.want) {
			t.Errorf("%s: %v, want an OIDCRequestError saying %q", tc.name, err, tc.want)
		}
	}
	r := f.request("inconnue")
	if _, err := f.oidc(f.a).Begin(ctx, r); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("an unknown application: %v", err)
	}
}

// Habilitation decides: no profile of the application, no sign-in; and a
// request that may show nothing answers at once without a session.
func TestOIDCAccessDeniedAndLoginRequired(t *testing.T) {
	t.Parallel()
	f := newOIDCFixture(t)
	o := f.oidc(f.a)
	stranger := mustPerson(t, f.a, directory.NewPerson{FirstName: "Sans", LastName: "Profil", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Comptabilité"})
	if err := f.a.AddHabilitation(ctx, stranger.Identifier, f.other, "gestion"); err != nil {
		t.Fatal(err)
	}
	r := f.begin(t, f.request(f.app))
	if got, step, err := o.Continue(ctx, r.ID, f.signedIn(t, stranger)); err != nil || step != directory.OIDCAccessDenied || got.State != "état-1" {
		t.Fatalf("a profile of another application only: %v %v", step, err)
	}
	if _, err := o.Request(ctx, r.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("a refused request lives on: %v", err)
	}
	if !strings.Contains(f.audit.String(), `"outcome":"refused"`) || !strings.Contains(f.audit.String(), `"detail":"`+f.app+`"`) ||
		!strings.Contains(f.audit.String(), `"actor":"`+stranger.Identifier+`"`) {
		t.Errorf("no refused sign-in in the audit log:\n%s", f.audit.String())
	}
	_, history, err := directory.Accounts{Store: f.a}.History(ctx, anAgent, stranger.Identifier)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range history {
		if ev.Action == directory.ActionApplicationSignIn {
			t.Errorf("a sign-in in the account's history: %+v", ev)
		}
	}

	none := f.request(f.app)
	none.Prompt = []string{"none"}
	rn := f.begin(t, none)
	if _, step, err := o.Continue(ctx, rn.ID, nil); err != nil || step != directory.OIDCLoginRequired {
		t.Fatalf("prompt=none without a session: %v %v", step, err)
	}
	if _, err := o.Request(ctx, rn.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("a request answered login_required lives on: %v", err)
	}
	disabled := mustDisabled(t, f.a, directory.NewPerson{FirstName: "Dora", LastName: "Off", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Comptabilité"})
	rd := f.begin(t, f.request(f.app))
	if _, step, err := o.Continue(ctx, rd.ID, disabled); err != nil || step != directory.OIDCSignIn {
		t.Errorf("a disabled account: %v %v, want a sign-in", step, err)
	}
}

// max_age and prompt=login ask for a sign-in newer than the session; an
// id_token_hint for another account does not take this one.
func TestOIDCFreshnessAndHint(t *testing.T) {
	t.Parallel()
	f := newOIDCFixture(t)
	o := f.oidc(f.a)
	p := f.signedIn(t, f.person)
	f.clock.Add(5 * time.Minute)
	sixty, zero := int64(60), int64(0)
	for _, tc := range []struct {
		name   string
		maxAge *int64
		hint   string
		want   directory.OIDCStep
	}{
		{"a session of 5 minutes, max_age 60", &sixty, "", directory.OIDCSignIn},
		{"prompt=login", &zero, "", directory.OIDCSignIn},
		{"the hint of another account", nil, "autre.personne-px", directory.OIDCSignIn},
		{"the hint of this account", nil, f.person.Identifier, directory.OIDCDone},
		{"no max_age", nil, "", directory.OIDCDone},
	} {
		r := f.request(f.app)
		r.MaxAge, r.HintSubject = tc.maxAge, tc.hint
		got := f.begin(t, r)
		if _, step, err := o.Continue(ctx, got.ID, p); err != nil || step != tc.want {
			t.Errorf("%s: %v %v, want %v", tc.name, step, err, tc.want)
		}
	}
	r := f.request(f.app)
	r.MaxAge = &zero
	got := f.begin(t, r)
	f.clock.Add(time.Second)
	if _, step, err := o.Continue(ctx, got.ID, f.signedIn(t, f.person)); err != nil || step != directory.OIDCDone {
		t.Errorf("prompt=login, signed in again after the request: %v %v", step, err)
	}
}

// The tokens of an application carry its profiles and no other's; an
// account disabled or deprived of them gets none.
func TestOIDCUser(t *testing.T) {
	t.Parallel()
	f := newOIDCFixture(t)
	o := f.oidc(f.a)
	u, err := o.User(ctx, f.person.Identifier, f.app)
	if err != nil || strings.Join(u.Profiles, ",") != "consultation,gestion" || u.Structure == nil || u.Structure.SIRET != testSIRET || u.Person.Service != "Comptabilité" {
		t.Fatalf("user: %+v %v", u, err)
	}
	if u, err := o.User(ctx, f.person.Identifier, f.other); err != nil || strings.Join(u.Profiles, ",") != "consultation" {
		t.Errorf("the other application: %+v %v", u, err)
	}
	agent := mustPerson(t, f.a, directory.NewPerson{FirstName: "Agathe", LastName: "Agent", Role: directory.RoleAgent})
	if err := f.a.AddHabilitation(ctx, agent.Identifier, f.app, "consultation"); err != nil {
		t.Fatal(err)
	}
	if u, err := o.User(ctx, agent.Identifier, f.app); err != nil || u.Structure != nil {
		t.Errorf("an agent: %+v %v", u, err)
	}
	if err := f.a.RemoveHabilitation(ctx, agent.Identifier, f.app, "consultation"); err != nil {
		t.Fatal(err)
	}
	if _, err := o.User(ctx, agent.Identifier, f.app); !errors.Is(err, directory.ErrForbidden) {
		t.Errorf("no profile left: %v", err)
	}
	if err := f.a.SetState(ctx, f.person.Identifier, directory.StateActive, directory.StateDisabled); err != nil {
		t.Fatal(err)
	}
	if _, err := o.User(ctx, f.person.Identifier, f.app); !errors.Is(err, directory.ErrForbidden) {
		t.Errorf("a disabled account: %v", err)
	}
	if _, err := o.User(ctx, "personne.inconnue-px", f.app); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("an unknown account: %v", err)
	}
}

// A habilitation whose end date has come opens the application no more,
// and is no claim, though the end-date job has not withdrawn it yet (it
// runs every hour).
func TestOIDCHabilitationEnded(t *testing.T) {
	t.Parallel()
	f := newOIDCFixture(t)
	o := f.oidc(f.a)
	acc := directory.Accounts{Store: f.a, Notifier: noMail{}}
	admin := mustPerson(t, f.a, directory.NewPerson{FirstName: "Ada", LastName: "Admin", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	for _, profile := range []string{"consultation", "gestion"} { // an administrator grants the profiles it holds
		if err := f.a.AddHabilitation(ctx, admin.Identifier, f.app, profile); err != nil {
			t.Fatal(err)
		}
	}
	admin, _ = f.a.FindPerson(ctx, admin.Identifier)
	ending := mustPerson(t, f.a, directory.NewPerson{FirstName: "Fanny", LastName: "Fin", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Comptabilité"})
	y, m, d := f.clock.Now().In(time.FixedZone("", 0)).Date()
	end := time.Date(y, m, d+2, 0, 0, 0, 0, time.UTC)
	for _, h := range []struct{ who, profile string }{{ending.Identifier, "consultation"}, {f.person.Identifier, "gestion"}} {
		if err := acc.GrantUntil(ctx, admin, h.who, f.app, h.profile, end); err != nil {
			t.Fatal(err)
		}
	}
	if u, err := o.User(ctx, f.person.Identifier, f.app); err != nil || strings.Join(u.Profiles, ",") != "consultation,gestion" {
		t.Fatalf("before the end: %+v %v", u, err)
	}
	f.clock.Add(end.Sub(f.clock.Now()) + time.Minute)
	if u, err := o.User(ctx, f.person.Identifier, f.app); err != nil || strings.Join(u.Profiles, ",") != "consultation" {
		t.Errorf("a profile ended: %+v %v, want consultation only", u, err)
	}
	if _, err := o.User(ctx, ending.Identifier, f.app); !errors.Is(err, directory.ErrForbidden) {
		t.Errorf("its only profile ended: %v, want ErrForbidden", err)
	}
	r := f.begin(t, f.request(f.app))
	if _, step, err := o.Continue(ctx, r.ID, f.signedIn(t, ending)); err != nil || step != directory.OIDCAccessDenied {
		t.Errorf("signing in with its only profile ended: %v %v, want access denied", step, err)
	}
}

// Every instance signs with the same key, made by the first that needs it;
// a rotation keeps the old key published until its tokens have expired.
// On a slapd of its own: the keys live in ou=system, which the package's
// other tests share.
func TestOIDCKeys(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Start(t)
	cfg, clock := clockedConfig(t, srv)
	a, b := slapdtest.OpenStore(t, cfg), slapdtest.OpenStore(t, cfg)
	policy := directory.OIDCPolicy{IDTokenTTL: 5 * time.Minute, AccessTokenTTL: 10 * time.Minute}
	oa, ob := directory.OIDC{Store: a, Policy: policy}, directory.OIDC{Store: b, Policy: policy}

	var wg sync.WaitGroup
	ids := make([]string, 6)
	for i := range ids {
		wg.Go(func() {
			o := oa
			if i%2 == 1 {
				o = ob
			}
			k, _, err := o.SigningKeys(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = k.ID
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id == "" || id != ids[0] {
			t.Fatalf("instances sign with different keys: %q", ids)
		}
	}
	first, _, _ := ob.SigningKeys(ctx)
	if first.Private.N.BitLen() != 2048 {
		t.Errorf("a key of %d bits", first.Private.N.BitLen())
	}

	clock.Add(time.Hour)
	second, err := oa.RotateKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kids := func(o directory.OIDC) (string, string) {
		t.Helper()
		signing, published, err := o.SigningKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ps []string
		for _, k := range published {
			ps = append(ps, k.ID)
		}
		return signing.ID, strings.Join(ps, ",")
	}
	if s, p := kids(ob); s != second.ID || p != second.ID+","+first.ID {
		t.Errorf("after the rotation: signs with %s, publishes %s; want %s, then %s,%s", s, p, second.ID, second.ID, first.ID)
	}
	clock.Add(policy.KeyRetention() - time.Second)
	if _, p := kids(ob); p != second.ID+","+first.ID {
		t.Errorf("at the end of the retention (11 minutes): %s", p)
	}
	clock.Add(2 * time.Second)
	if _, p := kids(ob); p != second.ID {
		t.Errorf("past the retention, the old key is still published: %s", p)
	}
	third, err := ob.RotateKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	values := rootRead(t, srv, "cn=oidc-keys,ou=system,"+srv.Suffix, "apexOidcKey")
	if len(values) != 2 || strings.Contains(strings.Join(values, "\n"), " "+first.ID+" ") {
		t.Errorf("the next rotation keeps %d keys, want the second and the third (%s): %q", len(values), third.ID, values)
	}
}

// rootRead reads the values of one attribute of one entry as slapd's root.
func rootRead(t *testing.T, srv *slapd.Server, dn, attr string) []string {
	t.Helper()
	conn, err := srv.DialRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false, "(objectClass=*)", []string{attr}, nil))
	if err != nil {
		t.Fatal(err)
	}
	return res.Entries[0].GetAttributeValues(attr)
}

// The client secret is the bind account's password, checked by slapd; ten
// wrong ones do not lock the application out (the bind accounts' policy).
func TestOIDCClientSecret(t *testing.T) {
	t.Parallel()
	f := newOIDCFixture(t)
	secret := "Client-Secret-2026!"
	if _, err := f.a.CreateClient(ctx, f.app, secret); err != nil {
		t.Fatal(err)
	}
	o := f.oidc(f.a)
	c := directory.WithClientAddress(ctx, "198.51.100.7")
	if err := o.AuthenticateClient(c, f.app, secret); err != nil {
		t.Fatalf("the right secret: %v", err)
	}
	for i := range 12 {
		if err := o.AuthenticateClient(c, f.app, fmt.Sprintf("Wrong-Secret-%02d!", i)); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Fatalf("a wrong secret: %v", err)
		}
	}
	if err := o.AuthenticateClient(c, f.app, secret); err != nil {
		t.Errorf("after 12 wrong secrets, the right one: %v (locked out?)", err)
	}
	// Wrong secrets count in the address's sign-in limit: past it, not
	// even the right one is checked.
	limited := oidcLimited(t, 3)
	lc := directory.WithClientAddress(ctx, "198.51.100.8")
	if _, err := limited.store.CreateClient(ctx, limited.app, secret); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := limited.oidc.AuthenticateClient(lc, limited.app, fmt.Sprintf("Wrong-Secret-%02d!", i)); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Fatalf("wrong secret %d: %v", i, err)
		}
	}
	if err := limited.oidc.AuthenticateClient(lc, limited.app, secret); !errors.Is(err, directory.ErrRateLimited) {
		t.Errorf("past the limit, the right secret: %v, want ErrRateLimited", err)
	}
	if err := limited.oidc.AuthenticateClient(directory.WithClientAddress(ctx, "198.51.100.9"), limited.app, secret); err != nil {
		t.Errorf("from another address: %v", err)
	}
	for _, tc := range [][2]string{{f.other, secret}, {f.app, ""}, {"a*)(cn=*", secret}} {
		if err := o.AuthenticateClient(c, tc[0], tc[1]); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Errorf("client %q, secret %q: %v", tc[0], tc[1], err)
		}
	}
}

// oidcLimited is a store whose sign-in limit per address is max failures,
// with an application of its own.
type limitedOIDC struct {
	store *directory.Store
	oidc  directory.OIDC
	app   string
}

func oidcLimited(t *testing.T, max int) limitedOIDC {
	t.Helper()
	cfg, _ := clockedConfig(t, slapdtest.Shared(t))
	cfg.Limits.SignInAddress = directory.Limit{Max: max, Window: 15 * time.Minute}
	store := slapdtest.OpenStore(t, cfg)
	app := oidcAppID("limitee")
	if err := store.CreateApplication(ctx, directory.Application{ID: app, Name: "Limitée", Profiles: []string{"p"}}); err != nil {
		t.Fatal(err)
	}
	return limitedOIDC{store: store, oidc: directory.OIDC{Store: store}, app: app}
}

// Only the service reads the requests and the keys: an application's bind
// account and a person find nothing there.
func TestOIDCStateIsTheServicesAlone(t *testing.T) {
	t.Parallel()
	f := newOIDCFixture(t)
	secret := "Client-Secret-2026!"
	clientDN, err := f.a.CreateClient(ctx, f.app, secret)
	if err != nil {
		t.Fatal(err)
	}
	f.begin(t, f.request(f.app))
	if _, _, err := f.oidc(f.a).SigningKeys(ctx); err != nil {
		t.Fatal(err)
	}
	srv := slapdtest.Shared(t)
	personDN := findDN(t, f.a, srv, eqFilter("uid", f.person.Identifier))
	for who, pw := range map[string]string{clientDN: secret, personDN: goodPassword} {
		conn := dial(t, srv.URL)
		if err := conn.Bind(who, pw); err != nil {
			t.Fatal(err)
		}
		for _, base := range []string{"ou=oidc,ou=system," + srv.Suffix, "cn=oidc-keys,ou=system," + srv.Suffix} {
			res, err := conn.Search(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"*"}, nil))
			if err == nil && len(res.Entries) > 0 {
				t.Errorf("%s reads %d entries of %s", who, len(res.Entries), base)
			}
		}
	}
}

// Applications take redirect URIs and a home URL, which may change later,
// and new profiles.
func TestApplicationURLsAndProfiles(t *testing.T) {
	t.Parallel()
	store, _ := slapdtest.NewStore(t)
	acc := directory.Accounts{Store: store}
	app, err := acc.CreateApplication(ctx, anAgent, directory.Application{ID: "ficoba", Name: "FICOBA", Profiles: []string{"consultation"},
		RedirectURIs: []string{" https://ficoba.dgfip.fr/retour ", "http://127.0.0.1:8443/cb", "https://ficoba.dgfip.fr/retour"}, HomeURL: "https://ficoba.dgfip.fr/"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(app.RedirectURIs, " ") != "https://ficoba.dgfip.fr/retour http://127.0.0.1:8443/cb" || app.HomeURL != "https://ficoba.dgfip.fr/" {
		t.Errorf("created: %+v", app)
	}
	uris := []string{"https://ficoba.dgfip.fr/nouveau"}
	home := ""
	if app, err = acc.UpdateApplication(ctx, anAgent, "ficoba", directory.ApplicationUpdate{RedirectURIs: &uris, HomeURL: &home}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(app.RedirectURIs, " ") != "https://ficoba.dgfip.fr/nouveau" || app.HomeURL != "" || app.Name != "FICOBA" {
		t.Errorf("updated: %+v", app)
	}
	if app, err = acc.AddProfile(ctx, anAgent, "ficoba", "gestion"); err != nil || strings.Join(app.Profiles, ",") != "consultation,gestion" {
		t.Errorf("a profile added: %+v %v", app, err)
	}
	if _, err := acc.AddProfile(ctx, anAgent, "ficoba", "gestion"); !errors.Is(err, directory.ErrConflict) {
		t.Errorf("a profile added twice: %v", err)
	}
	if _, err := acc.AddProfile(ctx, anAgent, "inconnue", "gestion"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("a profile of an unknown application: %v", err)
	}
	admin := &directory.Person{Identifier: "admin.istrateur-px", Role: directory.RoleAdministrateur, State: directory.StateActive, SIRET: testSIRET}
	if _, err := acc.UpdateApplication(ctx, admin, "ficoba", directory.ApplicationUpdate{RedirectURIs: &uris}); !errors.Is(err, directory.ErrForbidden) {
		t.Errorf("an administrator changes an application: %v", err)
	}
	if _, err := acc.AddProfile(ctx, admin, "ficoba", "autre"); !errors.Is(err, directory.ErrForbidden) {
		t.Errorf("an administrator adds a profile: %v", err)
	}
	for _, bad := range []string{"http://ficoba.dgfip.fr/retour", "ficoba.dgfip.fr/retour", "https://ficoba.dgfip.fr/retour#x",
		"https://user:pw@ficoba.dgfip.fr/", "https://ficoba.dgfip.fr/a b", "javascript:alert(1)", "https:///retour", "https://ficoba.dgfip.fr/é"} {
		u := []string{bad}
		if _, err := acc.UpdateApplication(ctx, anAgent, "ficoba", directory.ApplicationUpdate{RedirectURIs: &u}); !errors.Is(err, directory.ErrInvalid) {
			t.Errorf("redirect URI %q: %v", bad, err)
		}
		h := bad
		if _, err := acc.UpdateApplication(ctx, anAgent, "ficoba", directory.ApplicationUpdate{HomeURL: &h}); !errors.Is(err, directory.ErrInvalid) {
			t.Errorf("home URL %q: %v", bad, err)
		}
	}
	if app, err := store.FindApplication(ctx, "ficoba"); err != nil || strings.Join(app.RedirectURIs, " ") != "https://ficoba.dgfip.fr/nouveau" {
		t.Errorf("after refused changes: %+v %v", app, err)
	}
}

// The bind accounts of applications declared before the provider existed
// come under the bind accounts' policy at the next start, once.
func TestMigrateClientPolicy(t *testing.T) {
	t.Parallel()
	store, srv := slapdtest.NewStore(t)
	id := oidcAppID("ancienne")
	dn := "cn=" + id + ",ou=clients,ou=system," + srv.Suffix
	conn, err := srv.DialRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	old := ldap.NewAddRequest(dn, nil) // as CreateClient made them
	old.Attribute("objectClass", []string{"applicationProcess", "simpleSecurityObject"})
	old.Attribute("cn", []string{id})
	old.Attribute("userPassword", []string{"Client-Secret-2026!"})
	if err := conn.Add(old); err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	if got := rootRead(t, srv, dn, "pwdPolicySubentry"); len(got) != 1 || !strings.HasPrefix(got[0], "cn=system,ou=policies,") {
		t.Errorf("after the migration: pwdPolicySubentry %q", got)
	}
}

// Each store purges the expired requests of its own tree only: two trees
// on one server share ou=oidc, and a store's clock says nothing of the
// other tree's requests. On a slapd of its own, so that the purge's
// sample holds only this test's requests.
func TestOIDCPurgeKeepsOtherTrees(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Start(t)
	cfgA, clockA := clockedConfig(t, srv)
	cfgB, _ := clockedConfig(t, srv)
	a, b := directory.OIDC{Store: slapdtest.OpenStore(t, cfgA)}, directory.OIDC{Store: slapdtest.OpenStore(t, cfgB)}
	begin := func(o directory.OIDC) string {
		t.Helper()
		r, err := o.Begin(ctx, directory.OIDCRequest{ClientID: "app", RedirectURI: "https://app.example.fr/retour", Scopes: []string{"openid"},
			ResponseType: "code", CodeChallenge: challengeOf("v"), CodeChallengeMethod: "S256"})
		if err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	for _, o := range []directory.OIDC{a, b} {
		if err := o.Store.CreateApplication(ctx, directory.Application{ID: "app", Name: "App", Profiles: []string{"p"}}); err != nil {
			t.Fatal(err)
		}
	}
	old := begin(a)
	other := begin(b)
	clockA.Add(2 * time.Hour)
	begin(a) // purges
	entries := func() int {
		conn, err := srv.DialRoot()
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		res, err := conn.Search(ldap.NewSearchRequest("ou=oidc,ou=system,"+srv.Suffix, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false,
			"(objectClass=applicationProcess)", []string{"1.1"}, nil))
		if err != nil {
			t.Fatal(err)
		}
		return len(res.Entries)
	}
	if _, err := b.Request(ctx, other); err != nil {
		t.Errorf("a request of another tree, purged by a store whose clock is ahead: %v", err)
	}
	if n := entries(); n != 2 {
		t.Errorf("%d requests left, want the other tree's and the new one (the expired one purged)", n)
	}
	if _, err := a.Request(ctx, old); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("the expired request: %v", err)
	}
}
