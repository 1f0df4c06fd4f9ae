package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
)

// postJSON is call with the answer's headers, and a forged X-Forwarded-For.
func postJSON(t *testing.T, url, forwardedFor string, body any) (*http.Response, map[string]any) {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", forwardedFor)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	return res, out
}

func TestSignInLimitAcrossInstancesAnswers429(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.cfg.Limits = directory.LimitPolicy{SignInAddress: directory.Limit{Max: 2, Window: 15 * time.Minute}}
	one, oneServer := e.server()
	two := e.instance()
	p := e.person("Théo", "Trop", directory.RoleAdministrateur, "")
	for i, base := range []string{one, two} { // wrong passwords of two identifiers from one address
		wrong := map[string]string{"identifier": []string{p.Identifier, "nobody.here-px"}[i], "password": "Wrong-Password-42!"}
		if status, body := call(t, "POST", base+"/api/v1/auth/login", "", wrong); status != http.StatusUnauthorized {
			t.Fatalf("a wrong password: %d %v", status, body)
		}
	}
	res, body := postJSON(t, one+"/api/v1/auth/login", "", map[string]string{"identifier": p.Identifier, "password": password})
	if res.StatusCode != http.StatusTooManyRequests || errorCode(body) != "too_many_requests" {
		t.Fatalf("over the limit: %d %v, want 429 too_many_requests", res.StatusCode, body)
	}
	if got := res.Header.Get("Retry-After"); got != "900" {
		t.Errorf("Retry-After %q, want 900 (seconds)", got)
	}
	if msg := body["error"].(map[string]any)["message"]; msg != "Trop de tentatives. Réessayez dans 15 minutes." {
		t.Errorf("message %q", msg)
	}

	// The page says it in French, with the same header.
	page := newFormClient(t, two).post("/connexion", url.Values{"identifier": {p.Identifier}, "password": {password}})
	page.want(t, "sign-in page over the limit", http.StatusTooManyRequests, "Trop de tentatives. Réessayez dans 15 minutes.")
	if got := page.Header.Get("Retry-After"); got != "900" {
		t.Errorf("page Retry-After %q, want 900", got)
	}

	metrics := scrape(t, oneServer)
	for _, want := range []string{
		`apex_rate_limited_total{limit="signin_address"} 1`,
		`apex_rate_limited_total{limit="captcha_address"} 0`,
		`apex_signins_total{outcome="rate_limited",step="password"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics of the first instance lack %s", want)
		}
	}

	e.clock.Add(15 * time.Minute)
	if status, body := call(t, "POST", two+"/api/v1/auth/login", "", map[string]string{"identifier": p.Identifier, "password": password}); status != http.StatusOK {
		t.Errorf("after the window: %d %v", status, body)
	}
}

// The client address is the connection's: an X-Forwarded-For from a proxy
// that is not trusted changes nothing.
func TestAddressLimitIgnoresForgedForwardedFor(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.cfg.Limits = directory.LimitPolicy{CaptchaAddress: directory.Limit{Max: 3, Window: time.Hour}}
	base := e.instance()
	for i, forged := range []string{"", "203.0.113.1", "203.0.113.2"} {
		if res, body := postJSON(t, base+"/api/v1/captcha", forged, nil); res.StatusCode != http.StatusCreated {
			t.Fatalf("captcha %d: %d %v", i+1, res.StatusCode, body)
		}
	}
	res, body := postJSON(t, base+"/api/v1/captcha", "203.0.113.3", nil)
	if res.StatusCode != http.StatusTooManyRequests || errorCode(body) != "too_many_requests" || res.Header.Get("Retry-After") != "3600" {
		t.Fatalf("the fourth captcha: %d %v, Retry-After %q", res.StatusCode, body, res.Header.Get("Retry-After"))
	}
	// The forgotten-password page draws a captcha too: its error page is in French.
	page := newFormClient(t, base).get("/mot-de-passe/oublie")
	page.want(t, "forgotten password over the captcha limit", http.StatusTooManyRequests, "Trop de tentatives. Réessayez dans 60 minutes.")
}
