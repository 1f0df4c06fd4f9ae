//go:build lighthouse

package httpapi_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
)

// make lighthouse (also run by make bench) runs Lighthouse (npm, pinned in
// package-lock.json) in its mobile mode on every page of the router, in the
// state where it renders (the pages of the accessibility walk: pageCases,
// pageSetups), on Debian's Chromium, against the service on loopback; it
// fails when a page's performance score is under 90 or its accessibility
// score under 100. Scores follow the machine's load: each page is measured
// lighthouseRuns times, one run after the other, and judged by the median.
// It is built only with the lighthouse tag, never by make test.

const (
	lighthouseRuns        = 3
	minPerformance        = 0.90
	minAccessibility      = 1.00
	lighthouseRunTimeout  = 3 * time.Minute
	lighthouseChromeFlags = "--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage"
)

// lighthouseRun is what one run of Lighthouse measured of a page.
type lighthouseRun struct {
	Performance, Accessibility float64
	FCP, LCP, TBT, SI          float64 // milliseconds
	CLS                        float64
	Bytes                      float64 // transferred
}

func TestLighthouse(t *testing.T) {
	bin := lighthouseBin(t)
	e := newEnv(t)
	base, srv := e.server()
	f := &a11yFixture{e: e, base: base, app: "ficoba"}
	if err := e.store.CreateApplication(ctx, directory.Application{ID: f.app, Name: "FICOBA", Profiles: []string{"consultation"}}); err != nil {
		t.Fatal(err)
	}

	var admin *directory.Person
	var adminSession string
	type result struct {
		page   string
		median lighthouseRun
	}
	var results []result
	// One subtest a page, one after the other: -run 'TestLighthouse/GET_/consultation' measures one.
	for _, c := range pageCases(t, f, srv) {
		t.Run(c.name, func(t *testing.T) {
			// Who the page is for, and the cookie that says so.
			var p *directory.Person
			var cookie string
			switch {
			case c.state == anonymous:
			case c.state == afterPassword:
				p = f.person(t, "Page", directory.RoleAdministrateur, "")
				status, body := call(t, "POST", base+"/api/v1/auth/login", "", map[string]string{"identifier": p.Identifier, "password": password})
				challenge, _ := body["challenge"].(string)
				if status != http.StatusOK || challenge == "" {
					t.Fatalf("sign in %s through the API: %d", p.Identifier, status)
				}
				cookie = "apex_challenge=" + challenge
			case c.who != nil:
				p = c.who(t)
				cookie = "apex_session=" + e.on(t).signIn(base+"/api/v1", p.Identifier, p.Email, password)
			default:
				if admin == nil {
					admin = f.person(t, "Page", directory.RoleAdministrateur, "")
					adminSession = e.on(t).signIn(base+"/api/v1", admin.Identifier, admin.Email, password)
				}
				p, cookie = admin, "apex_session="+adminSession
			}
			path := c.path(t, p)
			var runs []lighthouseRun
			var perf []string
			for range lighthouseRuns {
				r := runLighthouse(t, bin, base+path, cookie)
				runs, perf = append(runs, r), append(perf, fmt.Sprintf("%.0f", 100*r.Performance))
			}
			m := medianRun(runs)
			results = append(results, result{c.name, m})
			t.Logf("performance %.0f (%s)  accessibility %.0f  FCP %.0f ms  LCP %.0f ms  TBT %.0f ms  CLS %.3f  SI %.0f ms  %.1f KiB  load %s",
				100*m.Performance, strings.Join(perf, " "), 100*m.Accessibility, m.FCP, m.LCP, m.TBT, m.CLS, m.SI, m.Bytes/1024, loadAverage())
			if m.Performance < minPerformance {
				t.Errorf("performance %.0f, under %.0f", 100*m.Performance, 100*minPerformance)
			}
			if m.Accessibility < minAccessibility {
				t.Errorf("accessibility %.0f, under %.0f", 100*m.Accessibility, 100*minAccessibility)
			}
		})
	}

	var table strings.Builder
	fmt.Fprintf(&table, "Lighthouse %s, mobile, median of %d runs:\n", lighthouseVersion(t), lighthouseRuns)
	fmt.Fprintf(&table, "| page | performance | accessibility | FCP | LCP | TBT | CLS | SI | transferred |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		m := r.median
		fmt.Fprintf(&table, "| %s | %.0f | %.0f | %.2f s | %.2f s | %.0f ms | %.3f | %.2f s | %.0f KiB |\n",
			r.page, 100*m.Performance, 100*m.Accessibility, m.FCP/1000, m.LCP/1000, m.TBT, m.CLS, m.SI/1000, m.Bytes/1024)
	}
	t.Log("\n" + table.String())
}

// lighthouseBin is Lighthouse from node_modules at the repository's root.
func lighthouseBin(t *testing.T) string {
	t.Helper()
	bin := repoFile(t, "node_modules/.bin/lighthouse")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("Lighthouse is missing (%v): run make npm-deps (npm ci)", err)
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("Chromium is missing (%v): run make browser-deps", err)
	}
	return bin
}

// repoFile is a path from the repository's root (where go.mod is).
func repoFile(t *testing.T, name string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, name)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

func lighthouseVersion(t *testing.T) string {
	var pkg struct{ Version string }
	raw, err := os.ReadFile(repoFile(t, "node_modules/lighthouse/package.json"))
	if err == nil {
		err = json.Unmarshal(raw, &pkg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return pkg.Version
}

// loadAverage is the machine's load over the last minute, which the
// scores follow: on 2 cores, above 1 or 2 the scores fall.
func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(raw))[0]
}

// runLighthouse runs Lighthouse once on url, in its default mobile mode
// (simulated slow 4G and a slowed CPU), with the cookie on every request,
// and reads its scores and metrics. It writes no report file. A run that
// Lighthouse could not finish (it happens under load) is tried again,
// twice at most.
func runLighthouse(t *testing.T, bin, url, cookie string) lighthouseRun {
	t.Helper()
	var err error
	for range 3 {
		var r lighthouseRun
		if r, err = lighthouseOnce(bin, url, cookie); err == nil {
			return r
		}
		t.Logf("lighthouse %s: %v; trying again", url, err)
	}
	t.Fatalf("lighthouse %s: %v", url, err)
	return lighthouseRun{}
}

func lighthouseOnce(bin, url, cookie string) (lighthouseRun, error) {
	args := []string{url, "--quiet", "--output=json", "--output-path=stdout",
		"--only-categories=performance,accessibility", "--chrome-flags=" + lighthouseChromeFlags}
	if cookie != "" {
		headers, _ := json.Marshal(map[string]string{"Cookie": cookie})
		args = append(args, "--extra-headers="+string(headers))
	}
	ctx, cancel := context.WithTimeout(context.Background(), lighthouseRunTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "CHROME_PATH="+chromiumPath)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return lighthouseRun{}, fmt.Errorf("%w\n%s", err, stderr.String())
	}
	var report struct {
		RuntimeError *struct{ Code, Message string } `json:"runtimeError"`
		Categories   map[string]struct {
			Score *float64 `json:"score"`
		} `json:"categories"`
		Audits map[string]struct {
			NumericValue *float64 `json:"numericValue"`
		} `json:"audits"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
		return lighthouseRun{}, fmt.Errorf("%w\n%s", err, stderr.String())
	}
	if report.RuntimeError != nil {
		return lighthouseRun{}, fmt.Errorf("%s %s", report.RuntimeError.Code, report.RuntimeError.Message)
	}
	var missing []string
	score := func(category string) float64 {
		s := report.Categories[category].Score
		if s == nil {
			missing = append(missing, category)
			return 0
		}
		return *s
	}
	audit := func(id string) float64 {
		v := report.Audits[id].NumericValue
		if v == nil {
			missing = append(missing, id)
			return 0
		}
		return *v
	}
	r := lighthouseRun{
		Performance: score("performance"), Accessibility: score("accessibility"),
		FCP: audit("first-contentful-paint"), LCP: audit("largest-contentful-paint"), TBT: audit("total-blocking-time"),
		SI: audit("speed-index"), CLS: audit("cumulative-layout-shift"), Bytes: audit("total-byte-weight"),
	}
	if len(missing) > 0 {
		return r, fmt.Errorf("no result for %s", strings.Join(missing, ", "))
	}
	return r, nil
}

// medianRun is the run of median performance, with the median
// accessibility score.
func medianRun(runs []lighthouseRun) lighthouseRun {
	byPerf := slices.Clone(runs)
	slices.SortFunc(byPerf, func(a, b lighthouseRun) int { return cmp.Compare(a.Performance, b.Performance) })
	m := byPerf[len(byPerf)/2]
	a11y := make([]float64, len(runs))
	for i, r := range runs {
		a11y[i] = r.Accessibility
	}
	slices.Sort(a11y)
	m.Accessibility = a11y[len(a11y)/2]
	return m
}
