package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/testkit"
)

// The browser tests drive Debian's Chromium, which make deps installs, over
// the DevTools protocol. One browser runs per top-level test and its
// subtests; each subtest gets a browser context of its own (its own cookies:
// the apexd instances all live on 127.0.0.1, and cookies ignore the port).

// chromiumPath is Debian's Chromium.
const chromiumPath = "/usr/bin/chromium"

const (
	browserStartTimeout = 60 * time.Second // the first start reads a cold disk
	tabTimeout          = 2 * time.Minute  // everything done in one tab
	pageTimeout         = 15 * time.Second // one page to load after an action
)

// screenshotDirEnv names a folder where the tests save a screenshot of each
// page they check, for a person to look at (never the repository).
const screenshotDirEnv = "APEX_SCREENSHOTS"

// browser is one headless Chromium.
type browser struct {
	ctx context.Context // its first tab, the parent of every other
}

// startBrowser starts a headless Chromium for t and its subtests, stopped
// when t ends. A missing Chromium fails the test: make deps installs it.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("Chromium is missing (%v): run make deps", err)
	}
	output := &testkit.LogBuffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox, // Chromium refuses its sandbox to root, and CI runs as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1024),
		chromedp.CombinedOutput(output),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	// The browser lives as long as ctx: bound its start without a deadline on ctx.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	var err error
	select {
	case err = <-started:
	case <-time.After(browserStartTimeout):
		err = fmt.Errorf("no answer after %s", browserStartTimeout)
	}
	if err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("start Chromium (%s): %v\n%s", chromiumPath, err, output.String())
	}
	t.Cleanup(func() {
		stop, done := context.WithTimeout(ctx, 10*time.Second)
		defer done()
		if err := chromedp.Cancel(stop); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("close Chromium: %v", err)
		}
		cancel()
		cancelAlloc()
	})
	return &browser{ctx: ctx}
}

// on is the env for a subtest of the test that made it: its helpers fail
// that subtest, from its own goroutine.
func (e *env) on(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// tab is one tab in a browser context of its own, on one apexd instance.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string // the instance's URL

	person    *directory.Person // who the tab signs in as, when a test says
	challenge string            // the challenge of passwordStepDirect
}

// cspWatcher runs first in every document the tab loads: it records the
// violations of the Content-Security-Policy, which would mean an inline
// script or style in the pages.
const cspWatcher = `window.__apexCSP = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__apexCSP.push(e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + (e.sourceFile || '?') + ':' + e.lineNumber);
});`

// tab opens a tab in a fresh browser context, closed when t ends.
func (b *browser) tab(t *testing.T, base string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	ctx, cancelTimeout := context.WithTimeout(ctx, tabTimeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancel()
	})
	tb := &tab{t: t, ctx: ctx, base: base}
	tb.do("watch CSP violations", chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		_, err := cdp.Call(ctx, target, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspWatcher})
		return err
	}))
	return tb
}

// on is the same tab for a subtest, which must not run in parallel with
// another user of the tab.
func (tb *tab) on(t *testing.T) *tab {
	c := *tb
	c.t = t
	return &c
}

// do runs browser actions, failing the test on an error.
func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](tb *tab, expr string) T {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		tb.t.Fatalf("evaluate %q: %v", expr, err)
	}
	return v
}

// open loads a page by its address, as a person typing it would.
func (tb *tab) open(path string) {
	tb.t.Helper()
	tb.do("open "+path, chromedp.Navigate(tb.base+path))
	tb.waitLoaded()
}

// openStatus is open, returning the HTTP status of the page.
func (tb *tab) openStatus(path string) int64 {
	tb.t.Helper()
	res, err := chromedp.Run(tb.ctx, chromedp.NavigateResponse(tb.base+path))
	if err != nil {
		tb.t.Fatalf("open %s: %v", path, err)
	}
	tb.waitLoaded()
	return res.Status
}

// waitLoaded waits until the current document is fully loaded.
func (tb *tab) waitLoaded() {
	tb.t.Helper()
	tb.waitFor("the page to load", `document.readyState === "complete"`)
}

// submit runs an action that leaves the current page (a form sent, a link
// followed) and waits until the next document is loaded at path.
func (tb *tab) submit(path string, action chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	eval[bool](tb, `window.__apexLeaving = true`)
	tb.do("leave "+tb.path(), action)
	tb.waitFor("the page "+path, fmt.Sprintf(`!window.__apexLeaving && document.readyState === "complete" && location.pathname === %q`, path))
}

// waitFor polls a JavaScript condition until it holds. It keeps polling
// through navigations, where the page has no context to evaluate in.
func (tb *tab) waitFor(what, cond string) {
	tb.t.Helper()
	deadline := time.Now().Add(pageTimeout)
	var last error
	for {
		ctx, cancel := context.WithDeadline(tb.ctx, deadline)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		cancel()
		if err == nil && ok {
			return
		}
		if err != nil {
			last = err
		}
		if tb.ctx.Err() != nil || time.Now().After(deadline) {
			tb.t.Fatalf("waiting for %s: still at %s (%v)", what, tb.safePath(), last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// path is the path of the current page.
func (tb *tab) path() string {
	tb.t.Helper()
	return eval[string](tb, `location.pathname`)
}

// safePath is path for error messages: it never fails.
func (tb *tab) safePath() string {
	p, err := chromedp.Run(tb.ctx, chromedp.Evaluate[string](`location.pathname`))
	if err != nil {
		return "?"
	}
	return p
}

// text is the visible text of the first element matching a CSS selector.
func (tb *tab) text(selector string) string {
	tb.t.Helper()
	s, err := chromedp.Run(tb.ctx, chromedp.Text(chromedp.CSS(selector), chromedp.NodeReady))
	if err != nil {
		tb.t.Fatalf("text of %s on %s: %v", selector, tb.safePath(), err)
	}
	return strings.Join(strings.Fields(s), " ")
}

// texts are the texts of every element matching a CSS selector, white space collapsed.
func (tb *tab) texts(selector string) []string {
	tb.t.Helper()
	return eval[[]string](tb, fmt.Sprintf(`Array.from(document.querySelectorAll(%q), (e) => e.innerText.replace(/\s+/g, ' ').trim())`, selector))
}

// fill sets the value of a field (the keyboard test types its fields key
// by key; the others save that time).
func (tb *tab) fill(selector, value string) {
	tb.t.Helper()
	tb.do("fill "+selector, chromedp.SetValue(chromedp.CSS(selector), value, chromedp.NodeVisible))
}

// click clicks a button or a link by its text and waits for the page it leads to.
func (tb *tab) click(text, path string) {
	tb.t.Helper()
	sel := chromedp.Search(fmt.Sprintf(`//*[self::button or self::a][normalize-space()=%q]`, text))
	tb.submit(path, chromedp.Click(sel, chromedp.NodeVisible))
}

// cspViolations are the CSP violations of the current document.
func (tb *tab) cspViolations() []string {
	tb.t.Helper()
	return eval[[]string](tb, `window.__apexCSP || ["the CSP watcher did not run"]`)
}

// deadLinks fetches, with the tab's cookies, every link of the page to
// this site (not those within the page) and returns those that lead to an
// error, with their status.
func (tb *tab) deadLinks() []string {
	tb.t.Helper()
	dead, err := chromedp.Run(tb.ctx, chromedp.Evaluate[[]string](`(() => {
  const links = Array.from(document.querySelectorAll('a[href]'))
    .filter((a) => !a.getAttribute('href').startsWith('#') && new URL(a.href).origin === location.origin)
    .map((a) => a.href);
  return Promise.all(Array.from(new Set(links), (href) =>
    fetch(href, {credentials: 'same-origin'}).then((r) => r.ok ? '' : href + ' ' + r.status, (e) => href + ' ' + e)))
    .then((all) => all.filter((x) => x !== ''));
})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("check the links of %s: %v", tb.safePath(), err)
	}
	return dead
}

// focused describes the element that has the keyboard focus: its tag, id
// and text, never a field's value.
func (tb *tab) focused() string {
	tb.t.Helper()
	return eval[string](tb, `(() => {
  const e = document.activeElement;
  if (!e || e === document.body) return 'body';
  const tag = e.tagName.toLowerCase();
  if (tag === 'input' || tag === 'textarea' || tag === 'select') return tag + '#' + e.id;
  return tag + ' "' + e.innerText.replace(/\s+/g, ' ').trim() + '"';
})()`)
}

// press presses keys on the keyboard, on whatever has the focus.
func (tb *tab) press(keys string) {
	tb.t.Helper()
	tb.do("press keys", chromedp.KeyEvent(keys))
}

// tabTo presses Tab until the focus is on want (as focused describes it),
// failing after that many presses with the path the focus took.
func (tb *tab) tabTo(want string, presses int) {
	tb.t.Helper()
	var path []string
	for range presses {
		tb.press(kb.Tab)
		got := tb.focused()
		path = append(path, got)
		if got == want {
			return
		}
	}
	tb.t.Fatalf("%s: %s not reached with %d Tab presses; the focus went %s", tb.safePath(), want, presses, strings.Join(path, " → "))
}

var unsafeInFileName = regexp.MustCompile(`[^a-zA-Z0-9_-]+`)

// screenshot saves a full-page screenshot as name.png in the folder that
// APEX_SCREENSHOTS names, when it names one.
func (tb *tab) screenshot(name string) {
	tb.t.Helper()
	dir := os.Getenv(screenshotDirEnv)
	if dir == "" {
		return
	}
	if _, err := chromedp.Run(tb.ctx, chromedp.Evaluate[bool](`document.fonts.ready.then(() => true)`, chromedp.EvalAwaitPromise)); err != nil {
		tb.t.Fatalf("wait for the fonts: %v", err)
	}
	png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.t.Fatalf("screenshot: %v", err)
	}
	name = unsafeInFileName.ReplaceAllString(name, "_")
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
}

// signInPassword goes through the first step of the sign-in only.
func (tb *tab) signInPassword(p *directory.Person) {
	tb.t.Helper()
	tb.open("/connexion")
	tb.fill("#identifier", p.Identifier)
	tb.fill("#password", password)
	tb.click("Se connecter", "/connexion/verification")
}

// signInDirect opens a session through the API and hands its cookie to the
// tab: for the tests of what comes after the sign-in, which other tests go
// through page by page.
func (tb *tab) signInDirect(e *env, p *directory.Person) {
	tb.t.Helper()
	tb.setCookie("apex_session", e.signIn(tb.base+"/api/v1", p.Identifier, p.Email, password), "/")
}

// clearField empties a field.
func clearField(tb *tab, selector string) {
	tb.t.Helper()
	eval[bool](tb, `(() => { document.querySelector(`+jsString(selector)+`).value = ''; return true })()`)
}

// typeInto types into a field key by key, as a person does, so that its
// scripts hear every input.
func typeInto(tb *tab, selector, value string) {
	tb.t.Helper()
	clearField(tb, selector)
	tb.do("type into "+selector, chromedp.SendKeys(chromedp.CSS(selector), value, chromedp.NodeVisible))
}

// passwordStepDirect does the first sign-in step through the API and hands
// its challenge to the tab; it returns the challenge.
func (tb *tab) passwordStepDirect(p *directory.Person) string {
	tb.t.Helper()
	challenge := tb.loginDirect(p)
	tb.setCookie("apex_challenge", challenge, "/connexion")
	return challenge
}

// loginDirect checks p's password through the API and returns the challenge.
func (tb *tab) loginDirect(p *directory.Person) string {
	tb.t.Helper()
	status, body := call(tb.t, "POST", tb.base+"/api/v1/auth/login", "", map[string]string{"identifier": p.Identifier, "password": password})
	challenge, _ := body["challenge"].(string)
	if status != http.StatusOK || challenge == "" {
		tb.t.Fatalf("sign in %s through the API: %d", p.Identifier, status)
	}
	return challenge
}

// setCookie sets an HttpOnly cookie of the instance in the tab's browser context.
func (tb *tab) setCookie(name, value, path string) {
	tb.t.Helper()
	tb.do("set the cookie "+name, chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		_, err := cdp.Call(ctx, target, network.SetCookie, network.SetCookieParams{
			Name: name, Value: value, URL: tb.base + path, Path: path,
			HTTPOnly: new(true), SameSite: network.CookieSameSiteLax,
		})
		return err
	}))
}

// jsString quotes s for JavaScript.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
