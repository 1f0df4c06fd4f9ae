package httpapi

import (
	"bytes"
	"compress/gzip"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"net/http"
	"path"
	"sync"

	"github.com/gin-gonic/gin"
)

//go:embed templates
var templateFiles embed.FS

// pages holds one template set per page: the layout, the partials and the
// page itself, so that block names never collide between pages.
type pages struct {
	sets map[string]*template.Template
}

// pageFiles are the pages: every template but the layout and the
// partials. Each must parse, with its blocks, at start.
func pageFiles() ([]string, error) {
	names, err := fs.Glob(templateFiles, "templates/*.tmpl")
	if err != nil {
		return nil, err
	}
	var pages []string
	for _, n := range names {
		if base := path.Base(n); base != "layout.tmpl" && base != "partials.tmpl" {
			pages = append(pages, base)
		}
	}
	return pages, nil
}

// templateFuncs are the functions the templates call (labels.go).
var templateFuncs = template.FuncMap{
	"roleLabel":    roleLabel,
	"stateLabel":   stateLabel,
	"stateBadge":   stateBadge,
	"personName":   personName,
	"parisTime":    parisTime,
	"dayLabel":     dayLabel,
	"endDateField": endDateField,
}

// parsePages parses every page; their links to static files go through
// static's versioned URLs (the asset function).
func parsePages(static *assets) (*pages, error) {
	p := &pages{sets: map[string]*template.Template{}}
	files, err := pageFiles()
	if err != nil {
		return nil, err
	}
	funcs := maps.Clone(templateFuncs)
	funcs["asset"] = static.url
	for _, name := range files {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFiles,
			"templates/layout.tmpl", "templates/partials.tmpl", "templates/"+name)
		if err != nil {
			return nil, fmt.Errorf("httpapi: page %s: %w", name, err)
		}
		for _, block := range []string{"layout", "title", "content"} {
			if t.Lookup(block) == nil {
				return nil, fmt.Errorf("httpapi: page %s lacks the %q block", name, block)
			}
		}
		p.sets[name] = t
	}
	return p, nil
}

// render writes a page, rendered into a buffer first so that a template
// error becomes an error page and not half a page; gzipped for the
// browsers that accept it.
func (s *Server) render(c *gin.Context, status int, name string, data any) {
	t, ok := s.pages.sets[name]
	if !ok {
		s.log.Error("unknown page", "page", name)
		c.String(http.StatusInternalServerError, "Erreur interne")
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		s.log.Error("render page", "page", name, "error", err.Error())
		c.String(http.StatusInternalServerError, "Erreur interne")
		return
	}
	c.Header("Vary", "Accept-Encoding")
	if accepts(c.GetHeader("Accept-Encoding"), "gzip") {
		var gz bytes.Buffer
		w := gzipWriters.Get().(*gzip.Writer)
		w.Reset(&gz)
		_, err := w.Write(buf.Bytes())
		if err == nil {
			err = w.Close()
		}
		gzipWriters.Put(w)
		if err == nil {
			c.Header("Content-Encoding", "gzip")
			c.Data(status, "text/html; charset=utf-8", gz.Bytes())
			return
		}
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// gzipWriters are reused between pages: each holds a few hundred
// kilobytes of state.
var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

// base is what the layout of every page needs.
type base struct {
	Title   string
	CSRF    string
	Account *accountView // nil when nobody is signed in
}

func (s *Server) base(c *gin.Context, title string) base {
	b := base{Title: title, CSRF: s.csrfToken(c)}
	if p := account(c); p != nil {
		v := newAccountView(p, nil)
		b.Account = &v
	}
	return b
}

type errorPage struct {
	base
	Status  int
	Message string
	Advice  string // what to do about it: whom to ask (a 403)
}

// noStore keeps a page out of every cache: captchas, codes, personal data.
func noStore(c *gin.Context) { c.Header("Cache-Control", "no-store") }
