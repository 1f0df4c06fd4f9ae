// Package dsfr builds the part of the État's design system (DSFR) that the
// pages use: its core and the components whose classes the templates and
// the Go code of httpapi emit, out of the per-component files of its npm
// package. httpapi's tests read the same classes to check that the bundle
// it serves styles every one of them.
package dsfr

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Classes are the DSFR classes a set of sources emits.
type Classes struct {
	// Names are complete class names: fr-btn, fr-alert--error.
	Names map[string][]string // class → the files that emit it
	// Prefixes are classes completed at run time, such as "fr-badge--"
	// followed by a template action or joined to a Go value.
	Prefixes map[string][]string
}

// Sorted lists the names, then the prefixes (each with a trailing "*").
func (c Classes) Sorted() []string {
	var out []string
	for n := range c.Names {
		out = append(out, n)
	}
	for p := range c.Prefixes {
		out = append(out, p+"*")
	}
	sort.Strings(out)
	return out
}

// frClass matches a DSFR class in text: "fr-" and the characters of a class
// name, not preceded by a character of a name (data-fr-opened is an
// attribute, not a class).
var frClass = regexp.MustCompile(`(^|[^a-zA-Z0-9_-])(fr-[a-zA-Z0-9_-]*)`)

// Used reads the classes that the pages of fsys emit: every fr- class in its
// templates (templates/*.tmpl) and in the string literals of its Go files
// (*.go but the tests). A class that ends with a hyphen is completed at
// run time, by a template action (fr-alert--{{.Kind}}) or by Go
// ("fr-badge--" + badge): it counts as a prefix.
func Used(fsys fs.FS) (Classes, error) {
	c := Classes{Names: map[string][]string{}, Prefixes: map[string][]string{}}
	templates, err := fs.Glob(fsys, "templates/*.tmpl")
	if err != nil {
		return c, err
	}
	for _, name := range templates {
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return c, err
		}
		c.scan(string(src), name)
	}
	goFiles, err := fs.Glob(fsys, "*.go")
	if err != nil {
		return c, err
	}
	for _, name := range goFiles {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return c, err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path.Base(name), src, parser.SkipObjectResolution)
		if err != nil {
			return c, err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err == nil {
				c.scan(s, name)
			}
			return true
		})
	}
	return c, nil
}

// scan adds the classes of text, read from file.
func (c Classes) scan(text, file string) {
	for _, m := range frClass.FindAllStringSubmatch(text, -1) {
		name := m[2]
		if len(name) <= len("fr-") {
			continue
		}
		into := c.Names
		if strings.HasSuffix(name, "-") {
			into = c.Prefixes
		}
		if files := into[name]; len(files) == 0 || files[len(files)-1] != file {
			into[name] = append(files, file)
		}
	}
}
