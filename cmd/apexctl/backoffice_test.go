package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapd"
	"github.com/dgfip/apex-partenaires/notify"
)

const (
	testSuffix    = "dc=apex,dc=test"
	testPublicURL = "https://apex.example.test"
	testSIRET     = "73282932000074"
)

// backOfficeTest is a private slapd that the configuration points at through
// APEX_ variables, mails landing in a file outbox, and a store of the
// test's own on the same directory (for what a person does, such as
// filling the pre-creation form).
type backOfficeTest struct {
	url    string
	outbox string
	store  *directory.Store
}

func newBackOfficeTest(t *testing.T) *backOfficeTest {
	t.Helper()
	if !slapd.Installed() {
		t.Fatal("slapd is not installed: run make deps")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const servicePassword = "service-test-password"
	server, err := slapd.Start(ctx, slapd.Config{Dir: t.TempDir(), Suffix: testSuffix, ServicePassword: servicePassword})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("slapd log (%s):\n%s", server.LogPath(), server.LogTail(4000))
		}
		server.Stop()
	})
	store, err := directory.NewStore(ctx, directory.StoreConfig{
		URL: server.URL, BaseDN: testSuffix, BindDN: server.ServiceDN, BindPassword: servicePassword,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)

	mail := t.TempDir()
	outbox := filepath.Join(mail, "outbox")
	for k, v := range map[string]string{
		"APEX_LDAP_URL":           server.URL,
		"APEX_LDAP_BASE_DN":       testSuffix,
		"APEX_LDAP_BIND_PASSWORD": servicePassword,
		"APEX_HTTP_PUBLIC_URL":    testPublicURL,
		"APEX_MAIL_OUTBOX_DIR":    outbox,
		"APEX_MAIL_SPOOL_DIR":     filepath.Join(mail, "spool"),
		"APEX_MAIL_SMTP_HOST":     "",
	} {
		t.Setenv(k, v)
	}
	return &backOfficeTest{url: server.URL, outbox: outbox, store: store}
}

// ctl runs an apexctl command line with the environment's configuration.
func (b *backOfficeTest) ctl(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	args = append([]string{"--config", filepath.Join(t.TempDir(), "absent.yaml")}, args...)
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// mustCtl runs a command line that must succeed and returns its output.
func (b *backOfficeTest) mustCtl(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := b.ctl(t, args...)
	if code != 0 {
		t.Fatalf("apexctl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// mustJSON runs a command line that must succeed and decodes its JSON.
func (b *backOfficeTest) mustJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out := b.mustCtl(t, append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("apexctl %s: %v:\n%s", strings.Join(args, " "), err, out)
	}
}

// mails returns the mails of the outbox sent to addr, oldest first.
func (b *backOfficeTest) mails(t *testing.T, addr string) []*notify.ReadMessage {
	t.Helper()
	entries, err := notify.ListOutbox(b.outbox)
	if err != nil {
		t.Fatal(err)
	}
	var out []*notify.ReadMessage
	for _, en := range entries {
		if !slices.Contains(en.To, addr) {
			continue
		}
		m, err := notify.ReadOutbox(b.outbox, en.Name)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// lastMail returns the last mail sent to addr, which must have that subject.
func (b *backOfficeTest) lastMail(t *testing.T, addr, subject string) *notify.ReadMessage {
	t.Helper()
	ms := b.mails(t, addr)
	if len(ms) == 0 {
		t.Fatalf("no mail to %s in the outbox", addr)
	}
	m := ms[len(ms)-1]
	if m.Subject != subject {
		t.Fatalf("last mail to %s: subject %q, want %q", addr, m.Subject, subject)
	}
	return m
}

var linkPattern = regexp.MustCompile(regexp.QuoteMeta(testPublicURL) + `/creation/(\S+)`)

// invite pre-creates an administrator's account, reads the link from the
// mail and fills the form as the person would. It returns the request id.
func (b *backOfficeTest) invite(t *testing.T, agent, email, firstName, lastName, password string) string {
	t.Helper()
	var inv struct {
		RequestID string `json:"requestId"`
		Email     string `json:"email"`
		Role      string `json:"role"`
		State     string `json:"state"`
	}
	b.mustJSON(t, &inv, "invite", "--as", agent, "--siret", testSIRET, "--email", email)
	if inv.RequestID == "" || inv.Email != email || inv.Role != "administrateur" || inv.State != "invited" {
		t.Fatalf("invite: %+v", inv)
	}
	m := b.lastMail(t, email, "Créez votre compte APEX Partenaires")
	match := linkPattern.FindStringSubmatch(m.Text)
	if match == nil {
		t.Fatalf("no link to %s/creation/ in the mail:\n%s", testPublicURL, m.Text)
	}
	if !strings.Contains(m.HTML, `<a href="`+match[0]+`"`) || !strings.Contains(m.Text, "Un agent de la DGFiP a pré-créé pour vous un compte administrateur") {
		t.Errorf("invitation mail:\n%s\n%s", m.Text, m.HTML)
	}
	token, err := url.PathUnescape(match[1])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (directory.Accounts{Store: b.store}).SubmitInvitation(context.Background(), token, directory.PreCreation{
		FirstName: firstName, LastName: lastName, Mobile: "06 12 34 56 78", Password: password,
	}); err != nil {
		t.Fatalf("the form of %s: %v", email, err)
	}
	return inv.RequestID
}

// TestBackOfficeJourney follows guide 1.1 to 2 from the back office: a new
// directory gets its first agent, a structure, an administrator invited,
// validated and habilitated to an application whose bind account works.
func TestBackOfficeJourney(t *testing.T) {
	b := newBackOfficeTest(t)
	ctx := context.Background()

	var agent struct {
		Identifier string `json:"identifier"`
		Role       string `json:"role"`
		State      string `json:"state"`
		Password   string `json:"password"`
	}
	b.mustJSON(t, &agent, "agent", "create", "--email", "agnes.dupont@dgfip.example.fr", "--first-name", "Agnès", "--last-name", "Dupont")
	if agent.Identifier != "agnes.dupont-px" || agent.Role != "agent" || agent.State != "active" {
		t.Fatalf("agent create: %+v", agent)
	}
	if err := directory.CheckPassword(agent.Password); err != nil {
		t.Errorf("generated password %q: %v", agent.Password, err)
	}
	if _, err := b.store.Authenticate(ctx, agent.Identifier, agent.Password); err != nil {
		t.Errorf("the agent cannot sign in with the generated password: %v", err)
	}
	const as = "agnes.dupont-px"

	out := b.mustCtl(t, "structure", "create", "--as", as, "--siret", "732 829 320 00074", "--name", "Étude Martin & Associés", "--category", "Notaire")
	if !strings.Contains(out, "Structure créée : 73282932000074 — Étude Martin & Associés (Notaire)") {
		t.Errorf("structure create:\n%s", out)
	}

	out = b.mustCtl(t, "requests", "--as", as)
	if !strings.Contains(out, "Aucune demande à valider.") {
		t.Errorf("requests before any:\n%s", out)
	}

	requestID := b.invite(t, as, "marie.martin@example.fr", "Marie", "Martin", "Marie-Pass-2026!")

	out = b.mustCtl(t, "requests", "--as", as)
	if !strings.Contains(out, requestID) || !strings.Contains(out, "marie.martin@example.fr") || !strings.Contains(out, as) {
		t.Errorf("requests:\n%s", out)
	}
	var reqs []struct {
		RequestID string `json:"requestId"`
		FirstName string `json:"firstName"`
		State     string `json:"state"`
		Mobile    string `json:"mobile"`
	}
	b.mustJSON(t, &reqs, "requests", "--as", as)
	if len(reqs) != 1 || reqs[0].RequestID != requestID || reqs[0].FirstName != "Marie" || reqs[0].State != "submitted" || reqs[0].Mobile != "" {
		t.Errorf("requests --json: %+v", reqs)
	}

	out = b.mustCtl(t, "approve", "--as", as, requestID)
	if !strings.Contains(out, "Compte validé : marie.martin-px\n") {
		t.Errorf("approve:\n%s", out)
	}
	m := b.lastMail(t, "marie.martin@example.fr", "Votre compte APEX Partenaires est validé")
	for _, want := range []string{"Bonjour Marie,", "\n    marie.martin-px\n", testPublicURL + "/connexion"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("identifier mail lacks %q:\n%s", want, m.Text)
		}
	}
	if code, _, errOut := b.ctl(t, "approve", "--as", as, requestID); code != 1 || !strings.Contains(errOut, "already decided") {
		t.Errorf("approve twice: exit %d, stderr %q", code, errOut)
	}
	b.mustJSON(t, &reqs, "requests", "--as", as)
	if len(reqs) != 0 {
		t.Errorf("requests after the decision: %+v", reqs)
	}

	var app struct {
		ID       string   `json:"id"`
		Profiles []string `json:"profiles"`
		BindDN   string   `json:"bindDN"`
		Password string   `json:"password"`
		LDAPURL  string   `json:"ldapURL"`
	}
	b.mustJSON(t, &app, "application", "create", "--as", as, "--id", "ficoba", "--name", "FICOBA", "--profiles", "consultation, gestion")
	if app.BindDN != "cn=ficoba,ou=clients,ou=system,"+testSuffix || app.LDAPURL != b.url || !slices.Equal(app.Profiles, []string{"consultation", "gestion"}) {
		t.Errorf("application create: %+v", app)
	}
	// The DGFiP application binds with OpenLDAP's own client.
	whoami := exec.Command("ldapwhoami", "-x", "-H", b.url, "-D", app.BindDN, "-w", app.Password)
	if got, err := whoami.CombinedOutput(); err != nil || !strings.Contains(string(got), "dn:cn=ficoba,ou=clients,ou=system,"+testSuffix) {
		t.Errorf("ldapwhoami as the application: %v: %s", err, got)
	}

	// Its OpenID Connect addresses, given later, changed, and a profile added.
	var changed struct {
		Profiles     []string `json:"profiles"`
		RedirectURIs []string `json:"redirectUris"`
		HomeURL      string   `json:"homeUrl"`
	}
	b.mustJSON(t, &changed, "application", "update", "--as", as, "--id", "ficoba",
		"--redirect-uri", "https://ficoba.dgfip.example/oidc/retour", "--redirect-uri", "https://ficoba-recette.dgfip.example/oidc/retour", "--home-url", "https://ficoba.dgfip.example/")
	if !slices.Equal(changed.RedirectURIs, []string{"https://ficoba.dgfip.example/oidc/retour", "https://ficoba-recette.dgfip.example/oidc/retour"}) || changed.HomeURL != "https://ficoba.dgfip.example/" {
		t.Errorf("application update: %+v", changed)
	}
	out = b.mustCtl(t, "application", "add-profile", "--as", as, "--id", "ficoba", "--profile", "export")
	if !strings.Contains(out, "profils consultation, export, gestion") {
		t.Errorf("application add-profile:\n%s", out)
	}
	if got, err := b.store.FindApplication(ctx, "ficoba"); err != nil || len(got.RedirectURIs) != 2 || !slices.Contains(got.Profiles, "export") {
		t.Errorf("in the directory: %+v %v", got, err)
	}
	changed.RedirectURIs, changed.HomeURL = nil, ""
	b.mustJSON(t, &changed, "application", "update", "--as", as, "--id", "ficoba", "--no-redirect-uri", "--home-url", "")
	if got, err := b.store.FindApplication(ctx, "ficoba"); err != nil || len(changed.RedirectURIs) != 0 || changed.HomeURL != "" || len(got.RedirectURIs) != 0 || got.HomeURL != "" {
		t.Errorf("application update removing the addresses: %+v, in the directory %+v %v", changed, got, err)
	}
	var created struct {
		RedirectURIs []string `json:"redirectUris"`
		Issuer       string   `json:"issuer"`
	}
	b.mustJSON(t, &created, "application", "create", "--as", as, "--id", "hopsis", "--name", "HOPSIS", "--profiles", "lecture",
		"--redirect-uri", "https://hopsis.dgfip.example/retour", "--home-url", "https://hopsis.dgfip.example/")
	if !slices.Equal(created.RedirectURIs, []string{"https://hopsis.dgfip.example/retour"}) || created.Issuer != testPublicURL {
		t.Errorf("application create with addresses: %+v", created)
	}

	// The provider's signing key, rotated: the old one stays published.
	first, _, err := (directory.OIDC{Store: b.store}).SigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rotated struct {
		Signing   string   `json:"signing"`
		Published []string `json:"published"`
		Retention string   `json:"retention"`
	}
	b.mustJSON(t, &rotated, "oidc", "rotate-key")
	if rotated.Signing == first.ID || !slices.Equal(rotated.Published, []string{rotated.Signing, first.ID}) || rotated.Retention != "6m0s" {
		t.Errorf("oidc rotate-key: %+v (the key before: %s)", rotated, first.ID)
	}
	if now, _, err := (directory.OIDC{Store: b.store}).SigningKeys(ctx); err != nil || now.ID != rotated.Signing {
		t.Errorf("the key that signs after the rotation: %s, %v", now.ID, err)
	}

	before := len(b.mails(t, "marie.martin@example.fr"))
	out = b.mustCtl(t, "habilitate", "--as", as, "marie.martin-px", "ficoba", "consultation")
	if !strings.Contains(out, "marie.martin-px habilité à ficoba, profil consultation") {
		t.Errorf("habilitate:\n%s", out)
	}
	m = b.lastMail(t, "marie.martin@example.fr", "Nouvelle habilitation à FICOBA")
	if !strings.Contains(m.Text, "avec le profil « consultation »") || !strings.Contains(m.Text, "marie.martin-px") {
		t.Errorf("habilitation mail:\n%s", m.Text)
	}
	if members, err := b.store.ProfileMembers(ctx, "ficoba", "consultation"); err != nil || !slices.Equal(members, []string{"marie.martin-px"}) {
		t.Errorf("ficoba/consultation members %v, %v", members, err)
	}
	// The person binds too, with the password of the form.
	marieDN := "uid=marie.martin-px,ou=" + testSIRET + ",ou=structures," + testSuffix
	if got, err := exec.Command("ldapwhoami", "-x", "-H", b.url, "-D", marieDN, "-w", "Marie-Pass-2026!").CombinedOutput(); err != nil {
		t.Errorf("ldapwhoami as marie.martin-px: %v: %s", err, got)
	}

	out = b.mustCtl(t, "habilitate", "--as", as, "marie.martin-px", "ficoba", "consultation")
	if !strings.Contains(out, "déjà habilité") || len(b.mails(t, "marie.martin@example.fr")) != before+1 {
		t.Errorf("habilitate twice must change nothing nor mail:\n%s", out)
	}
	var revoked struct {
		Habilitated bool `json:"habilitated"`
	}
	b.mustJSON(t, &revoked, "habilitate", "--revoke", "--as", as, "marie.martin-px", "ficoba", "consultation")
	if members, err := b.store.ProfileMembers(ctx, "ficoba", "consultation"); err != nil || len(members) != 0 || revoked.Habilitated {
		t.Errorf("after --revoke: members %v, %v, %+v", members, err, revoked)
	}
	if code, _, errOut := b.ctl(t, "habilitate", "--revoke", "--as", as, "marie.martin-px", "ficoba", "consultation"); code != 1 || !strings.Contains(errOut, "no such") {
		t.Errorf("revoke what is not held: exit %d, stderr %q", code, errOut)
	}

	// An agent decides on administrators only: marie.martin-px is not an agent.
	code, _, errOut := b.ctl(t, "structure", "create", "--as", "marie.martin-px", "--siret", "35600000000048", "--name", "La Poste", "--category", "Autre")
	if code != 1 || !strings.Contains(errOut, "not an active DGFiP agent: forbidden") {
		t.Errorf("--as an administrator: exit %d, stderr %q", code, errOut)
	}
}

func TestBackOfficeRefusal(t *testing.T) {
	b := newBackOfficeTest(t)
	b.mustCtl(t, "agent", "create", "--email", "agnes.dupont@dgfip.example.fr", "--first-name", "Agnès", "--last-name", "Dupont",
		"--password", "Agent-Pass-2026!")
	const as = "agnes.dupont-px"
	b.mustCtl(t, "structure", "create", "--as", as, "--siret", testSIRET, "--name", "Étude Martin", "--category", "Notaire")
	requestID := b.invite(t, as, "paul.durand@example.fr", "Paul", "Durand", "Paul-Pass-2026!")

	if code, _, errOut := b.ctl(t, "refuse", "--as", as, requestID); code != 2 || !strings.Contains(errOut, "--reason is required") {
		t.Errorf("refuse without --reason: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := b.ctl(t, "refuse", "--as", as, "--reason", "  ", requestID); code != 1 || !strings.Contains(errOut, "Le motif du refus doit être renseigné.") {
		t.Errorf("refuse with a blank reason: exit %d, stderr %q", code, errOut)
	}
	reason := "Le SIRET ne correspond pas à votre étude.\nContactez votre interlocuteur DGFiP."
	out := b.mustCtl(t, "refuse", "--as", as, "--reason", reason, requestID)
	if !strings.Contains(out, "Demande "+requestID+" refusée") {
		t.Errorf("refuse:\n%s", out)
	}
	m := b.lastMail(t, "paul.durand@example.fr", "Votre demande de compte APEX Partenaires est refusée")
	if !strings.Contains(m.Text, "    Le SIRET ne correspond pas à votre étude.\n    Contactez votre interlocuteur DGFiP.\n") ||
		!strings.Contains(m.HTML, "Le SIRET ne correspond pas à votre étude.<br>") {
		t.Errorf("refusal mail:\n%s\n%s", m.Text, m.HTML)
	}
	p, err := b.store.FindPersonByRequest(context.Background(), requestID)
	if err != nil || p.State != directory.StateRefused || p.RefusalReason != reason || p.DecidedBy != as {
		t.Errorf("refused request: %+v, %v", p, err)
	}
	if code, _, errOut := b.ctl(t, "approve", "--as", as, requestID); code != 1 || !strings.Contains(errOut, "already decided") {
		t.Errorf("approve a refused request: exit %d, stderr %q", code, errOut)
	}
}

func TestBackOfficeFailures(t *testing.T) {
	b := newBackOfficeTest(t)
	b.mustCtl(t, "agent", "create", "--email", "agnes.dupont@dgfip.example.fr", "--first-name", "Agnès", "--last-name", "Dupont",
		"--password", "Agent-Pass-2026!")
	const as = "agnes.dupont-px"
	b.mustCtl(t, "structure", "create", "--as", as, "--siret", testSIRET, "--name", "Étude Martin", "--category", "Notaire")

	tests := []struct {
		name string
		args []string
		code int
		err  string // in stderr
	}{
		{"an unknown --as", []string{"requests", "--as", "nobody.here-px"}, 1, "no such account: forbidden"},
		{"an agent inviting a responsable", []string{"invite", "--as", as, "--siret", testSIRET, "--email", "c@example.fr", "--role", "responsable", "--service", "Compta"}, 1, "forbidden"},
		{"an unknown structure", []string{"invite", "--as", as, "--siret", "35600000000048", "--email", "c@example.fr"}, 1, "no structure 35600000000048"},
		{"a bad mail", []string{"invite", "--as", as, "--siret", testSIRET, "--email", "not a mail"}, 1, "L'adresse mail n'est pas valide."},
		{"a structure twice", []string{"structure", "create", "--as", as, "--siret", testSIRET, "--name", "X", "--category", "Notaire"}, 1, "exists already"},
		{"a bad SIRET", []string{"structure", "create", "--as", as, "--siret", "12345678901234", "--name", "X", "--category", "Notaire"}, 1, "SIRET"},
		{"an agent with a weak password", []string{"agent", "create", "--email", "x@dgfip.example.fr", "--first-name", "Jean", "--last-name", "Petit", "--password", "faible"}, 1,
			"Le mot de passe doit contenir au moins 12 caractères."},
		{"an agent whose mail is used", []string{"agent", "create", "--email", "agnes.dupont@dgfip.example.fr", "--first-name", "Agnès", "--last-name", "Dupont", "--password", "Agent-Pass-2026!"}, 1,
			"already used"},
		{"an unknown request", []string{"approve", "--as", as, "nosuchrequest"}, 1, "no request nosuchrequest"},
		{"a weak bind password", []string{"application", "create", "--as", as, "--id", "weak", "--name", "Weak", "--profiles", "p", "--bind-password", "weak"}, 1,
			"Le mot de passe doit contenir"},
		{"a bad application id", []string{"application", "create", "--as", as, "--id", "Bad Id", "--name", "X", "--profiles", "p"}, 1, "L'identifiant de l'application"},

		{"no --as", []string{"invite", "--siret", testSIRET, "--email", "c@example.fr"}, 2, "--as IDENTIFIER is required"},
		{"agent without create", []string{"agent", "--email", "x@example.fr"}, 2, `want create, got ""`},
		{"agent delete", []string{"agent", "delete"}, 2, `want create, got "delete"`},
		{"agent create without flags", []string{"agent", "create"}, 2, "--email, --first-name, --last-name required"},
		{"structure create without name", []string{"structure", "create", "--as", as, "--siret", testSIRET, "--category", "Notaire"}, 2, "--name required"},
		{"invite with an argument", []string{"invite", "--as", as, "--siret", testSIRET, "--email", "c@example.fr", "extra"}, 2, "takes no arguments"},
		{"approve without request", []string{"approve", "--as", as}, 2, "want 1 argument"},
		{"habilitate with two arguments", []string{"habilitate", "--as", as, "marie.martin-px", "ficoba"}, 2, "want 3 arguments"},
		{"application create without profiles", []string{"application", "create", "--as", as, "--id", "x", "--name", "X"}, 2, "--profiles required"},
		{"an application delete", []string{"application", "delete", "--as", as, "--id", "x"}, 2, `want create, update or add-profile, got "delete"`},
		{"an update of nothing", []string{"application", "update", "--as", as, "--id", "x"}, 2, "nothing to change"},
		{"an http redirect URI", []string{"application", "create", "--as", as, "--id", "web", "--name", "Web", "--profiles", "p", "--redirect-uri", "http://web.example.fr/retour"}, 1,
			"doit commencer par https://"},
		{"an update of an unknown application", []string{"application", "update", "--as", as, "--id", "inconnue", "--home-url", "https://x.example.fr/"}, 1, "not found"},
		{"oidc without rotate-key", []string{"oidc"}, 2, `want rotate-key, got ""`},
		{"an unknown flag", []string{"requests", "--as", as, "--all"}, 2, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := b.ctl(t, tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.err) {
				t.Errorf("exit %d, stderr %q; want exit %d, stderr with %q (stdout %q)", code, errOut, tt.code, tt.err, out)
			}
		})
	}
	if _, err := b.store.FindApplication(context.Background(), "weak"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("a refused bind password left the application declared: %v", err)
	}
	if mails := b.mails(t, "c@example.fr"); len(mails) != 0 {
		t.Errorf("%d mails after refused invitations", len(mails))
	}
}

// TestBackOfficeEmbedded: without ldap.url, the command starts the
// embedded slapd in ldap.embedded_dir and stops it at the end; the next
// command finds the data there.
func TestBackOfficeEmbedded(t *testing.T) {
	if !slapd.Installed() {
		t.Fatal("slapd is not installed: run make deps")
	}
	dir := t.TempDir()
	for k, v := range map[string]string{
		"APEX_LDAP_URL":             "",
		"APEX_LDAP_BASE_DN":         testSuffix,
		"APEX_LDAP_BIND_PASSWORD":   "",
		"APEX_LDAP_EMBEDDED_DIR":    filepath.Join(dir, "ldap"),
		"APEX_LDAP_EMBEDDED_LISTEN": "ldap://127.0.0.1:0",
		"APEX_MAIL_OUTBOX_DIR":      filepath.Join(dir, "outbox"),
		"APEX_MAIL_SPOOL_DIR":       filepath.Join(dir, "spool"),
		"APEX_MAIL_SMTP_HOST":       "",
	} {
		t.Setenv(k, v)
	}
	b := &backOfficeTest{outbox: filepath.Join(dir, "outbox")}
	out := b.mustCtl(t, "agent", "create", "--email", "agnes.dupont@dgfip.example.fr", "--first-name", "Agnès", "--last-name", "Dupont")
	if !strings.Contains(out, "Agent DGFiP créé : agnes.dupont-px\n") || !strings.Contains(out, "Mot de passe (généré, affiché une seule fois) : ") {
		t.Errorf("agent create:\n%s", out)
	}
	b.mustCtl(t, "structure", "create", "--as", "agnes.dupont-px", "--siret", testSIRET, "--name", "Étude Martin", "--category", "Notaire")
	out = b.mustCtl(t, "invite", "--as", "agnes.dupont-px", "--siret", testSIRET, "--email", "marie.martin@example.fr")
	if !strings.Contains(out, "Demande : ") || !strings.Contains(out, "Lien de pré-création envoyé par mail à marie.martin@example.fr") {
		t.Errorf("invite:\n%s", out)
	}
	b.lastMail(t, "marie.martin@example.fr", "Créez votre compte APEX Partenaires")
}

// TestBackOfficeMailLeftInSpool: a mail the relay does not take stays in
// the spool, the command says so, and the next command that mails sends it.
func TestBackOfficeMailLeftInSpool(t *testing.T) {
	b := newBackOfficeTest(t)
	b.mustCtl(t, "agent", "create", "--email", "agnes.dupont@dgfip.example.fr", "--first-name", "Agnès", "--last-name", "Dupont",
		"--password", "Agent-Pass-2026!")
	const as = "agnes.dupont-px"
	b.mustCtl(t, "structure", "create", "--as", as, "--siret", testSIRET, "--name", "Étude Martin", "--category", "Notaire")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nobody listens there now
	t.Setenv("APEX_MAIL_SMTP_HOST", "127.0.0.1")
	t.Setenv("APEX_MAIL_SMTP_PORT", strconv.Itoa(port))
	code, _, errOut := b.ctl(t, "invite", "--as", as, "--siret", testSIRET, "--email", "marie.martin@example.fr")
	if code != 0 || !strings.Contains(errOut, "1 mail(s) not sent yet stay in") {
		t.Fatalf("invite with the relay down: exit %d, stderr %q", code, errOut)
	}
	if n := len(b.mails(t, "marie.martin@example.fr")); n != 0 {
		t.Fatalf("%d mails in the outbox with the relay down", n)
	}

	t.Setenv("APEX_MAIL_SMTP_HOST", "")
	t.Setenv("APEX_MAIL_SMTP_PORT", "")
	b.mustCtl(t, "invite", "--as", as, "--siret", testSIRET, "--email", "paul.durand@example.fr")
	b.lastMail(t, "marie.martin@example.fr", "Créez votre compte APEX Partenaires")
	b.lastMail(t, "paul.durand@example.fr", "Créez votre compte APEX Partenaires")
}
