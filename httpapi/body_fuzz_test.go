package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapd"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
	"github.com/dgfip/apex-partenaires/directory/testkit"
	"github.com/dgfip/apex-partenaires/httpapi"
	"github.com/dgfip/apex-partenaires/notify"
)

// bodyRig is one apexd on a subtree of the package's slapd, served in
// process, with an agent's session, a structure, a service, an account and
// a pending invitation to aim requests at. Mails and texts go to outboxes.
type bodyRig struct {
	srv      *slapd.Server
	base     string
	handler  http.Handler
	logs     *testkit.LogBuffer
	token    string // the agent's session
	defaults map[string]string
}

func newBodyRig(tb testing.TB) *bodyRig {
	tb.Helper()
	srv := slapdtest.Shared(tb)
	cfg := slapdtest.StoreConfig(srv, slapdtest.NewBase(tb, srv))
	store := slapdtest.OpenStore(tb, cfg)
	dir := tb.TempDir()
	mails, err := notify.NewOutbox(dir+"/mail", "APEX Partenaires <no-reply@apex.example.fr>")
	if err != nil {
		tb.Fatal(err)
	}
	texts, err := notify.NewSMSOutbox(dir + "/sms")
	if err != nil {
		tb.Fatal(err)
	}
	notifier := notify.Notifier{Mailer: mails, SMS: texts, PublicURL: "http://127.0.0.1"}
	logs := &testkit.LogBuffer{}
	api, err := httpapi.New(httpapi.Config{
		PublicURL:    "http://127.0.0.1",
		Health:       store,
		Consultation: directory.Consultation{Store: store},
		SignIn:       directory.SignIn{Store: store, Notifier: notifier},
		Accounts:     directory.Accounts{Store: store, Notifier: notifier},
		SelfService:  directory.SelfService{Store: store, Notifier: notifier},
		Logger:       slog.New(slog.NewJSONHandler(logs, nil)),
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := store.CreateStructure(ctx, directory.Structure{SIRET: siret, Name: "Étude Martin", Category: "Notaire"}); err != nil {
		tb.Fatal(err)
	}
	if err := store.CreateService(ctx, directory.Service{SIRET: siret, Name: "Comptabilité"}); err != nil {
		tb.Fatal(err)
	}
	person := func(first string, role directory.Role, service string) *directory.Person {
		p, err := store.CreatePerson(ctx, directory.NewPerson{FirstName: first, LastName: "Fuzz", Email: fmt.Sprintf("%s.%d@example.fr", strings.ToLower(first), time.Now().UnixNano()),
			Role: role, State: directory.StateActive, SIRET: siret, Service: service}, password)
		if err != nil {
			tb.Fatal(err)
		}
		return p
	}
	agent := person("Agathe", directory.RoleAgent, "")
	colleague := person("Colin", directory.RoleCollaborateur, "Comptabilité")
	if err := store.CreateApplication(ctx, directory.Application{ID: "fuzz", Name: "Fuzz", Profiles: []string{"lecture"},
		RedirectURIs: []string{"https://fuzz.example.fr/retour"}}); err != nil {
		tb.Fatal(err)
	}
	token, err := store.CreateSession(ctx, agent.Identifier)
	if err != nil {
		tb.Fatal(err)
	}
	inv, err := store.CreateInvitation(ctx, directory.NewInvitation{Email: fmt.Sprintf("invite.%d@example.fr", time.Now().UnixNano()), Role: directory.RoleCollaborateur,
		SIRET: siret, Service: "Comptabilité", RequestedBy: agent.Identifier})
	if err != nil {
		tb.Fatal(err)
	}
	return &bodyRig{srv: srv, base: cfg.BaseDN, handler: api.Handler(), logs: logs, token: token, defaults: map[string]string{
		"service": "Comptabilité", "account": colleague.Identifier, "request": inv.Person.RequestID, "invitation": inv.Token,
		"application": "fuzz",
	}}
}

// snapshot reads the rig's whole subtree but the sessions (apexSession),
// whose last use a request may write whatever its body.
func (r *bodyRig) snapshot(tb testing.TB) string {
	tb.Helper()
	return slapdtest.Snapshot(tb, r.srv, func(_, attr string) bool { return strings.EqualFold(attr, "apexSession") }, r.base)
}

// bodyRoutes are the API routes that read a JSON body; {x} is filled with
// a fuzzed path segment, or the rig's default of that name.
var bodyRoutes = []struct{ method, path string }{
	{"POST", "/api/v1/auth/login"},
	{"POST", "/api/v1/auth/verify"},
	{"POST", "/api/v1/auth/resend"},
	{"POST", "/api/v1/structures"},
	{"POST", "/api/v1/structures/" + siret + "/services"},
	{"PATCH", "/api/v1/structures/" + siret + "/services/{service}"},
	{"POST", "/api/v1/structures/" + siret + "/invitations"},
	{"POST", "/api/v1/invitations/{invitation}"},
	{"POST", "/api/v1/requests/{request}/refuse"},
	{"POST", "/api/v1/applications"},
	{"PATCH", "/api/v1/accounts/{account}"},
	{"PUT", "/api/v1/accounts/{account}/end-date"},
	{"POST", "/api/v1/password/forgot"},
	{"POST", "/api/v1/password/forgot/{request}/verify"},
	{"POST", "/api/v1/password/reset"},
	{"PATCH", "/api/v1/me"},
	{"PUT", "/api/v1/me/password"},
	{"PATCH", "/api/v1/applications/{application}"},
	{"POST", "/api/v1/applications/{application}/profiles"},
}

// oneObject reports whether body is a single JSON object, as decode requires.
func oneObject(body []byte) bool {
	var object map[string]json.RawMessage
	return len(body) <= 64<<10 && json.Unmarshal(body, &object) == nil && object != nil
}

// FuzzAPIBody sends any body to every route that reads one, on the real
// handler and slapd: never a 500; a body that is not one JSON object is a
// 400 bad_request that changes nothing in the directory.
func FuzzAPIBody(f *testing.F) {
	for i := range bodyRoutes {
		for _, seed := range []struct{ segment, body string }{
			{"", `{}`},
			{"", `{"name":"Paie","siret":"44306184100047","category":"Notaire","email":"x@example.fr","role":"collaborateur"}`},
			{"", `{"identifier":"agathe.fuzz-px","password":"Autre-Cheval-42!"}`},
			{"", `{"lastName":"Martin","firstName":"Marie","mobile":"0612345678","password":"Autre-Cheval-42!"}`},
			{"", `{"reason":"Doublon","service":"Comptabilité","id":"ficoba","profiles":["a"]}`},
			{"", `{"endDate":"2099-02-30"}`},
			{"", `{"redirectUris":["https://fuzz.example.fr/autre","http://127.0.0.1:8443/cb"],"homeUrl":"https://fuzz.example.fr/","profile":"export"}`},
			{"", `{"name":"x"}}`},
			{"", `{"name":"x"}]`},
			{"", `null`},
			{"", `{"name":"*)(ou=*"}`},
			{"*)(uid=*", `{"service":",+\"\\<>;","name":"#x "}`},
			{"\xff", "{\"name\":\"\xff\",\"email\":\"\x00@example.fr\"}"},
			{"\x00", `{"mobile":"+33 06 12 34 56 78","firstName":"\u0000"}`},
			{"ou=structures", `{"unknown":true}`},
		} {
			f.Add(uint8(i), seed.segment, []byte(seed.body))
		}
	}
	// No seed holds the rig's password: a password changed by the fuzzer
	// would end the agent's session, and its requests would answer 401.
	rig := newBodyRig(f)
	last := rig.snapshot(f)
	f.Fuzz(func(t *testing.T, route uint8, segment string, body []byte) {
		r := bodyRoutes[int(route)%len(bodyRoutes)]
		// The router's own answers to odd paths are not the subject here.
		segment = strings.ReplaceAll(segment, "/", "_")
		if segment == "." || segment == ".." {
			segment += "_"
		}
		path := r.path
		if i := strings.Index(path, "{"); i >= 0 {
			j := strings.Index(path, "}")
			value := segment
			if value == "" {
				value = rig.defaults[path[i+1:j]]
			}
			path = path[:i] + url.PathEscape(value) + path[j+1:]
		}
		req := httptest.NewRequest(r.method, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+rig.token)
		rec := httptest.NewRecorder()
		rig.handler.ServeHTTP(rec, req)

		var answer struct {
			Error struct{ Code string } `json:"error"`
		}
		if rec.Code >= 400 {
			if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil || answer.Error.Code == "" {
				t.Fatalf("%s %q %q: %d without a stable code: %q", r.method, path, body, rec.Code, rec.Body.String())
			}
		}
		if rec.Code >= 500 || strings.Contains(rig.logs.String(), `"request failed"`) {
			t.Fatalf("%s %q %q: %d %s\nlogs: %s", r.method, path, body, rec.Code, rec.Body.String(), rig.logs.String())
		}
		if (rec.Code == http.StatusBadRequest) != (answer.Error.Code == "bad_request") {
			t.Fatalf("%s %q %q: %d %q", r.method, path, body, rec.Code, answer.Error.Code)
		}
		if !oneObject(body) && rec.Code != http.StatusBadRequest {
			t.Fatalf("%s %q: the malformed body %q answered %d %q, want 400 bad_request", r.method, path, body, rec.Code, answer.Error.Code)
		}
		now := rig.snapshot(t)
		if rec.Code == http.StatusBadRequest && now != last {
			t.Fatalf("%s %q: the malformed body %q changed the directory", r.method, path, body)
		}
		last = now
	})
}

// A body followed by a stray "}" or "]", or null, is malformed: decode let
// them through until FuzzDecodeBody found it.
func TestMalformedBodyRefused(t *testing.T) {
	t.Parallel()
	rig := newBodyRig(t)
	before := rig.snapshot(t)
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/api/v1/auth/login", `{"identifier":"agathe.fuzz-px","password":"wrong"}}`},
		{"POST", "/api/v1/auth/login", `{"identifier":"agathe.fuzz-px","password":"wrong"}]`},
		{"POST", "/api/v1/auth/resend", `null`},
		{"POST", "/api/v1/structures", `{"siret":"44306184100047","name":"Autre","category":"Notaire"}}`},
		{"PATCH", "/api/v1/me", `null`},
		{"PATCH", "/api/v1/me", `{"firstName":"Agnès"}]`},
		{"POST", "/api/v1/structures", `{"siret":"44306184100047","name":"` + strings.Repeat("a", 64<<10) + `"}`},
	} {
		req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+rig.token)
		rec := httptest.NewRecorder()
		rig.handler.ServeHTTP(rec, req)
		var answer struct {
			Error struct{ Code string } `json:"error"`
		}
		json.Unmarshal(rec.Body.Bytes(), &answer)
		if rec.Code != http.StatusBadRequest || answer.Error.Code != "bad_request" {
			t.Errorf("%s %s %.60q: %d %q, want 400 bad_request", tc.method, tc.path, tc.body, rec.Code, answer.Error.Code)
		}
	}
	if after := rig.snapshot(t); after != before {
		t.Errorf("malformed bodies changed the directory")
	}
}
