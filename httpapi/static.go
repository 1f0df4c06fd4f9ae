package httpapi

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// The static files (the DSFR, apex.css, the scripts) are embedded in the
// binary, each text file beside its gzip and brotli forms, made by
//
//go:generate go run ./internal/assetgen compress static
//
// (static_test.go fails when they are missing or do not match). Pages name
// them through the asset template function, /static/<version>/<file>,
// where the version is a digest of every file: such a URL never changes
// its content, and browsers keep it a year. The same files are served
// without a version too, cached an hour.

//go:embed static
var staticFiles embed.FS

const (
	// cacheVersioned is for a URL that names the content it serves.
	cacheVersioned = "public, max-age=31536000, immutable"
	// cacheUnversioned is for the rest: addresses typed or kept from an
	// older version's page.
	cacheUnversioned = "public, max-age=3600"
)

// assets are the static files, read once at start.
type assets struct {
	version string            // hex digest of every file's name and content
	files   map[string]*asset // by path under static/: dsfr/dsfr.min.css
}

// asset is one static file, with its compressed forms when it has some.
type asset struct {
	contentType string
	digest      string // of its content, for its ETag
	identity    []byte
	gzip        []byte // nil when the file has no .gz
	brotli      []byte // nil when the file has no .br
}

// versionPattern is what a version looks like in a URL.
var versionPattern = regexp.MustCompile(`^[0-9a-f]{16}$`)

// loadAssets reads the embedded static files.
func loadAssets() (*assets, error) {
	sub, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return nil, err
	}
	a := &assets{files: map[string]*asset{}}
	all := sha256.New()
	err = fs.WalkDir(sub, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(name) == ".gz" || path.Ext(name) == ".br" {
			return err
		}
		body, err := fs.ReadFile(sub, name)
		if err != nil {
			return err
		}
		digest := sha256.Sum256(body)
		f := &asset{contentType: contentType(name), digest: hex.EncodeToString(digest[:8]), identity: body}
		for _, enc := range []struct {
			ext  string
			into *[]byte
		}{{".gz", &f.gzip}, {".br", &f.brotli}} {
			if b, err := fs.ReadFile(sub, name+enc.ext); err == nil {
				*enc.into = b
			}
		}
		a.files[name] = f
		fmt.Fprintf(all, "%s\x00%x\x00", name, digest)
		return nil
	})
	if err != nil {
		return nil, err
	}
	a.version = hex.EncodeToString(all.Sum(nil)[:8])
	return a, nil
}

// contentTypes are the types of the static files by their extension,
// fixed here rather than read from the machine's MIME table.
var contentTypes = map[string]string{
	".css":   "text/css; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".ico":   "image/x-icon",
	".woff2": "font/woff2",
	".woff":  "font/woff",
	".md":    "text/plain; charset=utf-8",
	"":       "text/plain; charset=utf-8", // VERSION
}

func contentType(name string) string {
	if t, ok := contentTypes[path.Ext(name)]; ok {
		return t
	}
	return "application/octet-stream"
}

// url is the versioned URL of a static file, for the templates (asset);
// a file that is not there is an error, which fails the page.
func (a *assets) url(name string) (string, error) {
	if _, ok := a.files[name]; !ok {
		return "", fmt.Errorf("no static file %q", name)
	}
	return "/static/" + a.version + "/" + name, nil
}

// serveStatic serves GET and HEAD /static/*path: /static/<version>/<file>
// for a year when the version is this binary's, an hour otherwise (an old
// page's version, or none). The body is brotli or gzip when the browser
// accepts it and the file has that form.
func (s *Server) serveStatic(c *gin.Context) {
	name := strings.TrimPrefix(c.Param("path"), "/")
	cache := cacheUnversioned
	if version, rest, ok := strings.Cut(name, "/"); ok && versionPattern.MatchString(version) {
		name = rest
		if version == s.assets.version {
			cache = cacheVersioned
		}
	}
	f, ok := s.assets.files[name]
	if !ok {
		s.notFound(c)
		return
	}
	body, encoding := f.identity, ""
	accept := c.GetHeader("Accept-Encoding")
	switch {
	case f.brotli != nil && accepts(accept, "br"):
		body, encoding = f.brotli, "br"
	case f.gzip != nil && accepts(accept, "gzip"):
		body, encoding = f.gzip, "gzip"
	}
	h := c.Writer.Header()
	h.Set("Cache-Control", cache)
	h.Set("Content-Type", f.contentType)
	if f.brotli != nil || f.gzip != nil {
		h.Set("Vary", "Accept-Encoding")
	}
	etag := f.digest
	if encoding != "" {
		// ServeContent leaves out the length of an encoded body, and its
		// ranges would be of the encoded bytes: send it whole.
		h.Set("Content-Encoding", encoding)
		h.Set("Content-Length", strconv.Itoa(len(body)))
		c.Request.Header.Del("Range")
		etag += "-" + encoding
	}
	h.Set("ETag", strconv.Quote(etag))
	http.ServeContent(c.Writer, c.Request, name, time.Time{}, bytes.NewReader(body))
}

// accepts tells whether an Accept-Encoding header accepts a content coding:
// named or as *, with a quality above zero.
func accepts(header, coding string) bool {
	star := false
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(part, ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if name != coding && name != "*" {
			continue
		}
		ok := true
		for _, p := range strings.Split(params, ";") {
			if k, v, found := strings.Cut(strings.TrimSpace(p), "="); found && strings.EqualFold(strings.TrimSpace(k), "q") {
				q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				ok = err == nil && q > 0
			}
		}
		if name == coding {
			return ok
		}
		star = ok
	}
	return star
}
