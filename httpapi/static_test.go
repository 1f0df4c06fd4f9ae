package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"image/png"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"

	"github.com/dgfip/apex-partenaires/httpapi/internal/dsfr"
)

// The static files as pages get them: compressed, versioned and cached a
// year, the DSFR cut down to what the templates use. What these tests read
// from disk is what the binary embeds (httpapi/static).

// compressible are the kinds of static files that go generate compresses.
var compressible = map[string]bool{".css": true, ".js": true, ".svg": true, ".ico": true, ".md": true}

// Every text file of static/ has gzip and brotli forms beside it that give
// it back byte for byte, unless that form would not be smaller; no form is
// left without its file.
func TestStaticFilesPrecompressed(t *testing.T) {
	t.Parallel()
	const fix = "run go generate ./httpapi"
	err := filepath.WalkDir("static", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if ext := filepath.Ext(name); ext == ".gz" || ext == ".br" {
			if _, err := os.Stat(strings.TrimSuffix(name, ext)); err != nil {
				t.Errorf("%s is left without its file: %s", name, fix)
			}
			return nil
		}
		src, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		for _, enc := range []struct {
			ext     string
			decode  func(io.Reader) (io.Reader, error)
			smaller func([]byte) int
		}{
			{".gz", func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }, gzipSize},
			{".br", func(r io.Reader) (io.Reader, error) { return brotli.NewReader(r), nil }, brotliSize},
		} {
			packed, err := os.ReadFile(name + enc.ext)
			if errors.Is(err, fs.ErrNotExist) {
				if compressible[filepath.Ext(name)] && enc.smaller(src) < len(src) {
					t.Errorf("%s has no %s form: %s", name, enc.ext, fix)
				}
				continue
			}
			if err != nil {
				return err
			}
			r, err := enc.decode(bytes.NewReader(packed))
			if err != nil {
				t.Errorf("%s%s: %v", name, enc.ext, err)
				continue
			}
			if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, src) {
				t.Errorf("%s%s does not give %s back (%v): %s", name, enc.ext, name, err, fix)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func gzipSize(src []byte) int {
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	w.Write(src)
	w.Close()
	return b.Len()
}

func brotliSize(src []byte) int {
	var b bytes.Buffer
	w := brotli.NewWriterLevel(&b, brotli.BestCompression)
	w.Write(src)
	w.Close()
	return b.Len()
}

// staticURL finds, in a page, the versioned address of a static file.
func staticURL(t *testing.T, page, file string) string {
	t.Helper()
	m := regexp.MustCompile(`"(/static/[0-9a-f]{16}/` + regexp.QuoteMeta(file) + `)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no versioned link to %s in the page", file)
	}
	return m[1]
}

// fetch gets url as a browser accepting encodings would, without Go's own
// decompression.
func fetch(t *testing.T, method, url string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

// decoded is a body without its content coding.
func decoded(t *testing.T, res *http.Response, body []byte) []byte {
	t.Helper()
	var r io.Reader = bytes.NewReader(body)
	switch res.Header.Get("Content-Encoding") {
	case "br":
		r = brotli.NewReader(r)
	case "gzip":
		gz, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		r = gz
	case "":
	default:
		t.Fatalf("unexpected Content-Encoding %q", res.Header.Get("Content-Encoding"))
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Static files: brotli or gzip as the browser accepts, the same bytes as
// on disk; a year under the binary's version, an hour otherwise; 304 for
// what the browser has; no .gz, .br nor folder served by its own name.
func TestStaticFilesServed(t *testing.T) {
	t.Parallel()
	base := newEnv(t).instance()
	_, login := get(t, base+"/connexion")
	css := staticURL(t, login, "dsfr/dsfr.min.css")
	version := strings.Split(css, "/")[2]
	onDisk, err := os.ReadFile("static/dsfr/dsfr.min.css")
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		accept, encoding string
	}{
		{"gzip, deflate, br, zstd", "br"},
		{"br;q=1.0, gzip;q=0.8", "br"},
		{"gzip, deflate", "gzip"},
		{"br;q=0, gzip", "gzip"},
		{"*", "br"},
		{"", ""},
		{"identity", ""},
		{"gzip;q=0, br;q=0", ""},
	} {
		res, body := fetch(t, "GET", base+css, map[string]string{"Accept-Encoding": tc.accept})
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Encoding") != tc.encoding {
			t.Errorf("Accept-Encoding %q: %d, Content-Encoding %q, want %q", tc.accept, res.StatusCode, res.Header.Get("Content-Encoding"), tc.encoding)
			continue
		}
		for header, want := range map[string]string{
			"Cache-Control":  "public, max-age=31536000, immutable",
			"Content-Type":   "text/css; charset=utf-8",
			"Vary":           "Accept-Encoding",
			"Content-Length": strconv.Itoa(len(body)),
		} {
			if got := res.Header.Get(header); got != want {
				t.Errorf("Accept-Encoding %q: %s %q, want %q", tc.accept, header, got, want)
			}
		}
		if !bytes.Equal(decoded(t, res, body), onDisk) {
			t.Errorf("Accept-Encoding %q: the stylesheet differs from static/dsfr/dsfr.min.css", tc.accept)
		}
		// What the browser has already is not sent again.
		again, _ := fetch(t, "GET", base+css, map[string]string{"Accept-Encoding": tc.accept, "If-None-Match": res.Header.Get("ETag")})
		if again.StatusCode != http.StatusNotModified {
			t.Errorf("Accept-Encoding %q, If-None-Match %s: %d, want 304", tc.accept, res.Header.Get("ETag"), again.StatusCode)
		}
	}
	if res, body := fetch(t, "HEAD", base+css, map[string]string{"Accept-Encoding": "br"}); res.StatusCode != http.StatusOK || len(body) != 0 || res.Header.Get("Content-Encoding") != "br" {
		t.Errorf("HEAD: %d, %d bytes, Content-Encoding %q", res.StatusCode, len(body), res.Header.Get("Content-Encoding"))
	}

	// A font is compressed already: sent as it is, versioned too.
	res, body := fetch(t, "GET", base+"/static/"+version+"/dsfr/fonts/Marianne-Regular.woff2", map[string]string{"Accept-Encoding": "br, gzip"})
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Encoding") != "" || res.Header.Get("Content-Type") != "font/woff2" ||
		res.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || len(body) < 10000 {
		t.Errorf("font: %d %q %q %q, %d bytes", res.StatusCode, res.Header.Get("Content-Encoding"), res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"), len(body))
	}

	// Without this binary's version (typed, or from the page of another
	// version): the same file, cached an hour only.
	for _, p := range []string{"/static/dsfr/dsfr.min.css", "/static/0123456789abcdef/dsfr/dsfr.min.css"} {
		res, body := fetch(t, "GET", base+p, map[string]string{"Accept-Encoding": "gzip"})
		if res.StatusCode != http.StatusOK || res.Header.Get("Cache-Control") != "public, max-age=3600" || !bytes.Equal(decoded(t, res, body), onDisk) {
			t.Errorf("GET %s: %d %q", p, res.StatusCode, res.Header.Get("Cache-Control"))
		}
	}

	for _, p := range []string{
		"/static/" + version + "/dsfr/dsfr.min.css.br", "/static/dsfr/dsfr.min.css.gz",
		"/static/" + version + "/dsfr/", "/static/dsfr", "/static/", "/static/" + version + "/nothing.css",
	} {
		if res, _ := fetch(t, "GET", base+p, nil); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, res.StatusCode)
		}
	}
}

// Pages are gzipped for the browsers that accept it, error pages too.
func TestPagesCompressed(t *testing.T) {
	t.Parallel()
	base := newEnv(t).instance()
	for _, p := range []string{"/connexion", "/page-inexistante"} {
		res, body := fetch(t, "GET", base+p, map[string]string{"Accept-Encoding": "gzip, deflate, br"})
		html := decoded(t, res, body)
		if res.Header.Get("Content-Encoding") != "gzip" || res.Header.Get("Vary") != "Accept-Encoding" ||
			!bytes.HasPrefix(html, []byte("<!doctype html>")) || len(body) >= len(html)/2 {
			t.Errorf("GET %s: %d, Content-Encoding %q, Vary %q, %d bytes for %d", p, res.StatusCode, res.Header.Get("Content-Encoding"), res.Header.Get("Vary"), len(body), len(html))
		}
		res, body = fetch(t, "GET", base+p, nil)
		if res.Header.Get("Content-Encoding") != "" || !bytes.HasPrefix(body, []byte("<!doctype html>")) {
			t.Errorf("GET %s without Accept-Encoding: Content-Encoding %q", p, res.Header.Get("Content-Encoding"))
		}
	}
}

// templateFiles reads every template.
func templateFiles(t *testing.T) map[string]string {
	t.Helper()
	names, err := filepath.Glob("templates/*.tmpl")
	if err != nil || len(names) == 0 {
		t.Fatalf("no templates (%v)", err)
	}
	out := map[string]string{}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		out[path.Base(n)] = string(b)
	}
	return out
}

// Templates link static files through asset alone, so that every link is
// versioned, and carry no inline style nor script, which the CSP forbids.
func TestTemplatesLinkStaticFilesByVersion(t *testing.T) {
	t.Parallel()
	inline := regexp.MustCompile(`(?i)\sstyle\s*=|<style[\s>]|<script(\s[^>]*)?>\s*[^<\s]|\son[a-z]+\s*=`)
	asset := regexp.MustCompile(`\{\{\s*asset\s+"([^"]+)"\s*\}\}`)
	for name, src := range templateFiles(t) {
		if strings.Contains(src, "/static/") {
			t.Errorf("%s links a static file by its address: use {{asset \"…\"}}", name)
		}
		for _, m := range asset.FindAllStringSubmatch(src, -1) {
			if _, err := os.Stat(filepath.Join("static", m[1])); err != nil {
				t.Errorf("%s: {{asset %q}}: %v", name, m[1], err)
			}
		}
		if m := inline.FindString(src); m != "" {
			t.Errorf("%s has inline style or script (%q), which the CSP forbids: put it in static/", name, m)
		}
	}
}

// The DSFR bundle styles every class that the templates and the Go code
// emit: a class of a component left out of the bundle fails here.
func TestDSFRBundleStylesEveryClassUsed(t *testing.T) {
	t.Parallel()
	used, err := dsfr.Used(os.DirFS("."))
	if err != nil {
		t.Fatal(err)
	}
	if len(used.Names) < 50 {
		t.Fatalf("only %d classes found in the templates", len(used.Names))
	}
	css, err := os.ReadFile("static/dsfr/dsfr.min.css")
	if err != nil {
		t.Fatal(err)
	}
	styled, err := dsfr.DefinedClasses(string(css))
	if err != nil {
		t.Fatal(err)
	}
	// The classes of the DSFR's markup that no part of it styles, as make
	// dsfr found them in the whole package.
	version, err := os.ReadFile("static/dsfr/VERSION")
	if err != nil {
		t.Fatal(err)
	}
	unstyled := map[string]bool{}
	for _, line := range strings.Split(string(version), "\n") {
		if list, ok := strings.CutPrefix(line, "unstyled: "); ok {
			for _, c := range strings.Split(list, ", ") {
				unstyled[c] = true
			}
		}
	}
	for name, files := range used.Names {
		if !styled[name] && !unstyled[name] {
			t.Errorf("%s: the class %s is not in static/dsfr/dsfr.min.css: run make dsfr to add its component", strings.Join(files, ", "), name)
		}
	}
	for prefix, files := range used.Prefixes {
		found := unstyled[prefix+"*"]
		for c := range styled {
			found = found || strings.HasPrefix(c, prefix)
		}
		if !found {
			t.Errorf("%s: no class %s… is in static/dsfr/dsfr.min.css: run make dsfr to add its component", strings.Join(files, ", "), prefix)
		}
	}
}

// Every file a stylesheet names (fonts, icons) is embedded, where the
// stylesheet's URL leads: they all share its version.
func TestStylesheetsNameEmbeddedFiles(t *testing.T) {
	t.Parallel()
	urls := regexp.MustCompile(`url\(["']?([^"')]+)["']?\)`)
	for _, sheet := range []string{"static/dsfr/dsfr.min.css", "static/apex.css"} {
		css, err := os.ReadFile(sheet)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range urls.FindAllStringSubmatch(string(css), -1) {
			if strings.HasPrefix(m[1], "data:") {
				continue
			}
			n++
			name := path.Join(path.Dir(sheet), m[1])
			if strings.Contains(m[1], "//") || strings.HasPrefix(m[1], "/") || !strings.HasPrefix(name, "static/") {
				t.Errorf("%s: url(%s) is not a static file beside it", sheet, m[1])
			} else if _, err := os.Stat(name); err != nil {
				t.Errorf("%s: url(%s): %v", sheet, m[1], err)
			}
		}
		if sheet == "static/dsfr/dsfr.min.css" && n < 20 {
			t.Errorf("%s names only %d files", sheet, n)
		}
	}
}

// The captcha is drawn at twice the size its page shows it, so that it
// stays sharp on the screens of phones (2 or 3 pixels to a CSS pixel).
func TestCaptchaDrawnAtTwiceItsSize(t *testing.T) {
	t.Parallel()
	base := newEnv(t).instance()
	_, page := get(t, base+"/mot-de-passe/oublie")
	m := regexp.MustCompile(`<img class="apex-captcha__image" src="([^"]+)" width="(\d+)" height="(\d+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no captcha image with its size in the page:\n%s", page)
	}
	res, body := get(t, base+m[1])
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", m[1], res.StatusCode)
	}
	img, err := png.DecodeConfig(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if w, h := strconv.Itoa(img.Width/2), strconv.Itoa(img.Height/2); img.Width%2 != 0 || img.Height%2 != 0 || w != m[2] || h != m[3] {
		t.Errorf("the captcha is drawn %d×%d and shown %s×%s: want twice", img.Width, img.Height, m[2], m[3])
	}
}
