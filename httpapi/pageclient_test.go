package httpapi_test

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/dgfip/apex-partenaires/directory"
)

// formClient is a browser without script: it keeps cookies, follows no
// redirect, and sends forms with their CSRF field.
type formClient struct {
	t    *testing.T
	base string
	jar  *cookiejar.Jar
	http *http.Client
	// csrf is the form token of a page, read for the cookies in csrfFor.
	csrf, csrfFor string
}

// formPage is an answer; Text is its body with the HTML entities decoded.
type formPage struct {
	Status   int
	Header   http.Header
	Body     string
	Text     string
	Location string
}

func newFormClient(t *testing.T, base string) *formClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &formClient{t: t, base: base, jar: jar, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *formClient) do(method, path string, form url.Values) formPage {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return formPage{Status: res.StatusCode, Header: res.Header, Body: string(raw), Text: html.UnescapeString(string(raw)), Location: res.Header.Get("Location")}
}

func (c *formClient) get(path string) formPage {
	c.t.Helper()
	return c.do(http.MethodGet, path, nil)
}

// post sends a form with the CSRF field a page of the client's state
// carries (the session's token when signed in, the cookie's otherwise),
// unless the form has one already.
func (c *formClient) post(path string, form url.Values) formPage {
	c.t.Helper()
	with := url.Values{}
	for k, v := range form {
		with[k] = v
	}
	if !with.Has("csrf") {
		with.Set("csrf", c.formToken())
	}
	return c.do(http.MethodPost, path, with)
}

var csrfFieldPattern = regexp.MustCompile(`<input type="hidden" name="csrf" value="([^"]*)">`)

// formToken reads the CSRF field of the home page, or of the sign-in page
// when not signed in, once for each state of the cookies.
func (c *formClient) formToken() string {
	c.t.Helper()
	state := func() string { return c.cookie("/", "apex_session") + " " + c.cookie("/", "apex_csrf") }
	if c.csrf != "" && c.csrfFor == state() {
		return c.csrf
	}
	for _, path := range []string{"/", "/connexion"} {
		if m := csrfFieldPattern.FindStringSubmatch(c.get(path).Body); m != nil {
			c.csrf, c.csrfFor = m[1], state()
			return c.csrf
		}
	}
	c.t.Fatal("no page with a CSRF field")
	return ""
}

// cookie is the value of the cookie name, or of __Host-name (https).
func (c *formClient) cookie(path, name string) string {
	u, _ := url.Parse(c.base + path)
	for _, k := range c.jar.Cookies(u) {
		if k.Name == name || k.Name == "__Host-"+name {
			return k.Value
		}
	}
	return ""
}

// signIn opens a session for p through the API and gives the client its
// cookie (the browser tests sign in through the pages).
func (c *formClient) signIn(e *env, p *directory.Person) *formClient {
	c.t.Helper()
	token := e.signIn(c.base+"/api/v1", p.Identifier, p.Email, password)
	u, _ := url.Parse(c.base + "/")
	c.jar.SetCookies(u, []*http.Cookie{{Name: "apex_session", Value: token, Path: "/"}})
	return c
}

// has reports whether the page holds s, in its markup or its text (the
// templates escape apostrophes in data, not in their own text).
func (p formPage) has(s string) bool {
	return strings.Contains(p.Body, s) || strings.Contains(p.Text, s)
}

// want checks an answer's status and that its body holds every text.
func (p formPage) want(t *testing.T, what string, status int, texts ...string) {
	t.Helper()
	if p.Status != status {
		t.Errorf("%s: status %d, want %d\n%s", what, p.Status, status, mainText(p.Body))
	}
	for _, s := range texts {
		if !p.has(s) {
			t.Errorf("%s: the page lacks %q\n%s", what, s, mainText(p.Body))
		}
	}
}

// redirect checks an answer is a 303 to path (a form that succeeded).
func (p formPage) redirect(t *testing.T, what, to string) {
	t.Helper()
	if p.Status != http.StatusSeeOther || p.Location != to {
		t.Errorf("%s: %d to %q, want 303 to %s\n%s", what, p.Status, p.Location, to, mainText(p.Body))
	}
}

var tags = regexp.MustCompile(`(?s)<[^>]*>`)

// mainText is the text of a page's main content, for failure messages.
func mainText(body string) string {
	if i := strings.Index(body, `<main`); i >= 0 {
		body = body[i:]
	}
	if i := strings.Index(body, `</main>`); i >= 0 {
		body = body[:i]
	}
	return strings.Join(strings.Fields(tags.ReplaceAllString(body, " ")), " ")
}
