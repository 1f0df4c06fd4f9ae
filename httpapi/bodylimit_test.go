package httpapi_test

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgfip/apex-partenaires/directory"
)

// zeros reads as many zero bytes as asked.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// multipartBody is a form of fields and one file part of size bytes,
// streamed (never held in memory), with its content type and length.
func multipartBody(t *testing.T, fields url.Values, size int64) (io.Reader, string, int64) {
	t.Helper()
	var head bytes.Buffer
	w := multipart.NewWriter(&head)
	for k, vs := range fields {
		for _, v := range vs {
			w.WriteField(k, v)
		}
	}
	if _, err := w.CreateFormFile("fichier", "gros.bin"); err != nil {
		t.Fatal(err)
	}
	prefix := bytes.Clone(head.Bytes())
	head.Reset()
	w.Close()
	tail := head.Bytes()
	return io.MultiReader(bytes.NewReader(prefix), io.LimitReader(zeros{}, size), bytes.NewReader(tail)),
		w.FormDataContentType(), int64(len(prefix)) + size + int64(len(tail))
}

// uploads lists the multipart temporary files left in dir.
func uploads(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "multipart-*"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// A multipart POST with a 60 MB file part to a public form left its file in
// $TMPDIR for ever: the client-address middleware replaced the request, and
// net/http removes only the original request's files. No form takes files:
// multipart is refused everywhere before anything is read, bodies are
// bounded, and nothing is left on disk.
func TestNoFileIsEverKept(t *testing.T) {
	e := newEnv(t) // before TMPDIR moves: the package's slapd may start here, and outlives the test
	base := e.instance()
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where mime/multipart writes parts over its memory limit
	p := e.person("Fabien", "Fichier", directory.RoleAdministrateur, "")
	inv, err := e.store.CreateInvitation(ctx, directory.NewInvitation{Email: uniqueEmail("fichier"), Role: directory.RoleCollaborateur, SIRET: siret, Service: "Comptabilité"})
	if err != nil {
		t.Fatal(err)
	}
	c := newFormClient(t, base)
	c.get("/connexion")
	csrf := c.cookie("/", "apex_csrf")
	const size = 60 << 20

	send := func(method, path string, body io.Reader, contentType string, length int64) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = length // -1: chunked, the length unknown to the server
		req.Header.Set("Content-Type", contentType)
		res, err := c.http.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		return res, string(raw)
	}
	for _, tc := range []struct {
		path    string
		fields  url.Values
		chunked bool
	}{
		{"/connexion", url.Values{"csrf": {csrf}, "identifier": {p.Identifier}, "password": {password}}, false},
		{"/connexion", url.Values{"csrf": {csrf}, "identifier": {p.Identifier}, "password": {password}}, true},
		{"/creation/" + url.PathEscape(inv.Token), url.Values{"csrf": {csrf}, "nom": {"Fichier"}, "prenom": {"Fanny"}}, false},
		{"/mot-de-passe/oublie", url.Values{"csrf": {csrf}, "identifier": {p.Identifier}}, false},
		{"/mot-de-passe/oublie", url.Values{"csrf": {csrf}, "identifier": {p.Identifier}}, true},
		{"/route-inconnue", url.Values{"csrf": {csrf}}, false},
	} {
		body, contentType, length := multipartBody(t, tc.fields, size)
		if tc.chunked {
			length = -1
		}
		res, page := send(http.MethodPost, tc.path, body, contentType, length)
		if res.StatusCode != http.StatusUnsupportedMediaType || !strings.Contains(page, "Ce formulaire n&#39;accepte pas de fichier.") {
			t.Errorf("multipart %s (chunked %v): %d, want 415 and the French page\n%s", tc.path, tc.chunked, res.StatusCode, mainText(page))
		}
		if left := uploads(t, tmp); len(left) > 0 {
			t.Errorf("multipart %s (chunked %v) left %v", tc.path, tc.chunked, left)
		}
	}

	body, contentType, length := multipartBody(t, url.Values{"identifier": {p.Identifier}, "password": {password}}, size)
	res, answer := send(http.MethodPost, "/api/v1/auth/login", body, contentType, length)
	if res.StatusCode != http.StatusUnsupportedMediaType || !strings.Contains(answer, `"unsupported_media_type"`) {
		t.Errorf("multipart to the API: %d %s", res.StatusCode, answer)
	}

	// A big urlencoded form is refused as well, its length known or not.
	big := url.Values{"csrf": {csrf}, "identifier": {p.Identifier}, "password": {password}, "x": {strings.Repeat("a", 1<<20)}}.Encode()
	for _, length := range []int64{int64(len(big)), -1} {
		res, page := send(http.MethodPost, "/connexion", strings.NewReader(big), "application/x-www-form-urlencoded", length)
		if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(page, "Le formulaire envoyé est trop volumineux.") {
			t.Errorf("a 1 MiB form (length %d): %d\n%s", length, res.StatusCode, mainText(page))
		}
	}
	// A form under the bound still works.
	if page := c.post("/connexion", url.Values{"identifier": {p.Identifier}, "password": {password}}); page.Status != http.StatusSeeOther {
		t.Errorf("a small form after the refused ones: %d\n%s", page.Status, mainText(page.Body))
	}
	if left := uploads(t, tmp); len(left) > 0 {
		t.Errorf("left on disk: %v", left)
	}
}

// FuzzRequestBodies sends bodies of any type and size, declared or chunked,
// to public and signed-in forms and API routes: never a 500, multipart
// always 415, no write past the bound ever succeeds (a declared length over
// it is refused before a byte is read: 400 on the API, 413 on pages, or 415
// for a type the route does not take), and no file is left on disk.
func FuzzRequestBodies(f *testing.F) {
	types := []string{"application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "MULTIPART/Form-Data; boundary=x",
		"multipart/mixed; boundary=x", "multipart/form-data", "multipart/form-data; boundary=", "text/plain", "", "application/json; charset=utf-8"}
	for i := range types {
		for _, pad := range []uint16{0, 1023, 1024, 1025, 4000} {
			f.Add(uint8(i), types[i], []byte("--x\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\"\r\n\r\n"), pad, false)
			f.Add(uint8(i+3), types[i], []byte(`{"identifier":"a","password":"b"}`), pad, true)
		}
	}
	rig := newBodyRig(f)
	tmp := f.TempDir()
	f.Setenv("TMPDIR", tmp) // after the rig: the package's slapd must not start in it
	routes := []struct{ method, path string }{
		{"POST", "/connexion"},
		{"POST", "/creation/" + url.PathEscape(rig.defaults["invitation"])},
		{"POST", "/mot-de-passe/oublie"},
		{"POST", "/gestion/services"},
		{"POST", "/api/v1/auth/login"},
		{"POST", "/api/v1/structures"},
		{"PATCH", "/api/v1/me"},
		{"GET", "/consultation"},
	}
	f.Fuzz(func(t *testing.T, route uint8, contentType string, body []byte, pad uint16, chunked bool) {
		r := routes[int(route)%len(routes)]
		body = append(bytes.Clone(body), bytes.Repeat([]byte("a"), int(pad)*64)...) // up to 4 MiB
		req := httptest.NewRequest(r.method, r.path, bytes.NewReader(body))
		if chunked {
			req.ContentLength = -1
		}
		req.Header.Set("Content-Type", contentType)
		req.AddCookie(&http.Cookie{Name: "apex_session", Value: rig.token})
		if strings.HasPrefix(r.path, "/api/") {
			req.Header.Set("Authorization", "Bearer "+rig.token)
		}
		rec := httptest.NewRecorder()
		rig.handler.ServeHTTP(rec, req)

		multipartType := strings.HasPrefix(strings.ToLower(strings.TrimSpace(contentType)), "multipart/")
		switch {
		case rec.Code >= 500:
			t.Fatalf("%s %s %q, %d bytes: %d", r.method, r.path, contentType, len(body), rec.Code)
		case multipartType && rec.Code != http.StatusUnsupportedMediaType:
			t.Fatalf("%s %s %q: %d, want 415", r.method, r.path, contentType, rec.Code)
		case len(body) > 64<<10 && r.method != http.MethodGet && rec.Code < 400: // a GET reads no body
			t.Fatalf("%s %s %q, %d bytes (chunked %v): %d", r.method, r.path, contentType, len(body), chunked, rec.Code)
		case len(body) > 64<<10 && !chunked && rec.Code != http.StatusBadRequest && rec.Code != http.StatusRequestEntityTooLarge && rec.Code != http.StatusUnsupportedMediaType:
			t.Fatalf("%s %s %q, %d bytes declared: %d, want 400, 413 or 415", r.method, r.path, contentType, len(body), rec.Code)
		}
		if left := uploads(t, tmp); len(left) > 0 {
			t.Fatalf("%s %s %q: left %v", r.method, r.path, contentType, left)
		}
	})
}
