package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
	"github.com/dgfip/apex-partenaires/httpapi"
	"github.com/dgfip/apex-partenaires/notify"
)

// The OpenAPI document names every API route and no other.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv, err := httpapi.New(httpapi.Config{
		PublicURL:    "http://127.0.0.1",
		Health:       e.store,
		Consultation: directory.Consultation{Store: e.store},
		SignIn:       directory.SignIn{Store: e.store, Notifier: notify.Notifier{Mailer: &notify.Outbox{}}},
		Accounts:     directory.Accounts{Store: e.store, Notifier: notify.Notifier{Mailer: &notify.Outbox{}}},
		SelfService:  directory.SelfService{Store: e.store, Notifier: notify.Notifier{Mailer: &notify.Outbox{}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	for _, r := range srv.Routes() {
		if p, ok := strings.CutPrefix(r.Path, "/api/v1"); ok {
			routes = append(routes, r.Method+" "+openAPIPath(p))
		}
	}
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi version %q", doc.OpenAPI)
	}
	var documented []string
	verbs := map[string]bool{"get": true, "put": true, "post": true, "delete": true, "patch": true, "head": true, "options": true}
	for path, ops := range doc.Paths {
		for method := range ops {
			if verbs[method] {
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	sort.Strings(routes)
	sort.Strings(documented)
	if strings.Join(routes, "\n") != strings.Join(documented, "\n") {
		t.Errorf("routes and openapi.json differ:\nroutes:\n  %s\ndocumented:\n  %s", strings.Join(routes, "\n  "), strings.Join(documented, "\n  "))
	}

	res, err := http.Get(e.instance() + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || string(served) != string(raw) {
		t.Errorf("GET /api/v1/openapi.json: %d, %d bytes", res.StatusCode, len(served))
	}
}

// openAPIPath writes gin's :param as OpenAPI's {param}.
func openAPIPath(p string) string {
	parts := strings.Split(p, "/")
	for i, part := range parts {
		if name, ok := strings.CutPrefix(part, ":"); ok {
			parts[i] = "{" + name + "}"
		}
	}
	return strings.Join(parts, "/")
}

func TestHealthReadinessMetricsAndHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base, srv := e.server()
	p := e.person("Mila", "Metrics", directory.RoleAdministrateur, "")
	call(t, "POST", base+"/api/v1/auth/login", "", map[string]string{"identifier": p.Identifier, "password": "Wrong-Password-42!"})
	call(t, "POST", base+"/api/v1/auth/login", "", map[string]string{"identifier": p.Identifier, "password": password})

	if res, body := get(t, base+"/healthz"); res.StatusCode != http.StatusOK || body != "ok\n" {
		t.Errorf("healthz: %d %q", res.StatusCode, body)
	}
	if res, body := get(t, base+"/readyz"); res.StatusCode != http.StatusOK {
		t.Errorf("readyz: %d %q", res.StatusCode, body)
	}
	e.code(p.Email, 1) // the queued mail is sent
	metrics := scrape(t, srv)
	for _, want := range []string{
		`apex_signins_total{outcome="invalid_credentials",step="password"} 1`,
		`apex_signins_total{outcome="success",step="password"} 1`,
		`apex_http_requests_total{method="POST",route="/api/v1/auth/login",status="401"} 1`,
		`apex_http_request_duration_seconds_bucket{method="POST",route="/api/v1/auth/login"`,
		`apex_ldap_pool_connections{state="idle"}`,
		`apex_ldap_pool_connections{state="in_use"}`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// The metrics are not on the service's port: apexd serves them apart.
	for _, path := range []string{"/metrics", "/metrics/", "/api/v1/metrics"} {
		if res, _ := get(t, base+path); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s on the service: %d, want 404", path, res.StatusCode)
		}
	}
	res, _ := get(t, base+"/connexion")
	for header, want := range map[string]string{
		"Content-Security-Policy": "frame-ancestors 'none'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"X-Frame-Options":         "DENY",
	} {
		if !strings.Contains(res.Header.Get(header), want) {
			t.Errorf("%s = %q, want %q", header, res.Header.Get(header), want)
		}
	}
	// The design system is served by the binary itself, cached by browsers.
	if res, css := get(t, base+"/static/dsfr/dsfr.min.css"); res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/css") ||
		res.Header.Get("Cache-Control") != "public, max-age=3600" || len(css) < 100000 {
		t.Errorf("DSFR stylesheet: %d %s %q, %d bytes", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"), len(css))
	}
	if csp := res.Header.Get("Content-Security-Policy"); strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP allows inline code: %s", csp)
	}
	// Neither passwords nor codes reach the logs.
	if e.logs.Holds(password) || e.logs.Holds(e.code(p.Email, 1)) {
		t.Errorf("a secret is in the logs")
	}
}

// /readyz says when the directory cannot be reached; /healthz does not care.
func TestReadinessFollowsTheDirectory(t *testing.T) {
	t.Parallel()
	srv := slapdtest.Start(t)
	cfg := slapdtest.StoreConfig(srv, slapdtest.NewBase(t, srv))
	store := slapdtest.OpenStore(t, cfg)
	api, err := httpapi.New(httpapi.Config{
		PublicURL:    "http://127.0.0.1",
		Health:       store,
		Consultation: directory.Consultation{Store: store},
		SignIn:       directory.SignIn{Store: store, Notifier: notify.Notifier{Mailer: &notify.Outbox{}}},
		Accounts:     directory.Accounts{Store: store, Notifier: notify.Notifier{Mailer: &notify.Outbox{}}},
		SelfService:  directory.SelfService{Store: store, Notifier: notify.Notifier{Mailer: &notify.Outbox{}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, api)
	srv.Kill()
	res, body := get(t, ts+"/readyz")
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "directory_unavailable") {
		t.Errorf("readyz with slapd down: %d %s", res.StatusCode, body)
	}
	if res, _ := get(t, ts+"/healthz"); res.StatusCode != http.StatusOK {
		t.Errorf("healthz with slapd down: %d", res.StatusCode)
	}
	status, out := call(t, "POST", ts+"/api/v1/auth/login", "", map[string]string{"identifier": "a.b-px", "password": password})
	if status != http.StatusServiceUnavailable || errorCode(out) != "directory_unavailable" {
		t.Errorf("login with slapd down: %d %v", status, out)
	}
}
