package dsfr

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A Bundle is the part of the DSFR the pages use, made of the per-part
// files of its npm package.
type Bundle struct {
	Version string   // of the package: 1.15.3
	Parts   []string // core, then component/<id> and utility/… in the DSFR's order
	CSS     string   // the parts' styles, screen and print, dark theme left out
	JS      string   // the parts' scripts (core, the components and what their scripts need)
	// Files are the files of dist/ that the CSS refers to (fonts, icons),
	// relative to dist/, where the CSS sits too.
	Files []string
	// Owners tells, for each class the pages use, the part that styles it.
	Owners map[string]string
	// Unstyled are the classes the pages use that no part of the DSFR
	// styles: hooks of its markup (fr-footer__content-item), or typos.
	Unstyled []string
}

// part is one folder of dist/ with its own styles: core, a component, a utility.
type part struct {
	name   string         // core, component/button, utility/icons/icons-system
	dir    string         // in dist/
	id     string         // button
	styles []rule         // main, then print
	first  map[string]int // class → selectors that start with it
	all    map[string]int // class → selectors that name it
}

// Build makes the bundle of the classes used out of the npm package
// unpacked in pkg (the folder that holds package.json and dist/).
func Build(pkg string, used Classes) (*Bundle, error) {
	b := &Bundle{Owners: map[string]string{}}
	var meta struct{ Version string }
	raw, err := os.ReadFile(filepath.Join(pkg, "package.json"))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &meta); err != nil || meta.Version == "" {
		return nil, fmt.Errorf("dsfr: no version in %s/package.json (%v)", pkg, err)
	}
	b.Version = meta.Version
	dist := filepath.Join(pkg, "dist")
	parts, err := readParts(pkg, dist)
	if err != nil {
		return nil, err
	}

	selected := map[string]bool{"core": true}
	for _, name := range sortedKeys(used.Names) {
		p := owner(parts, name, func(classes map[string]int) int { return classes[name] })
		if p == nil {
			b.Unstyled = append(b.Unstyled, name)
			continue
		}
		selected[p.name], b.Owners[name] = true, p.name
	}
	for _, prefix := range sortedKeys(used.Prefixes) {
		p := owner(parts, prefix, func(classes map[string]int) int {
			n := 0
			for c, count := range classes {
				if strings.HasPrefix(c, prefix) && c != prefix {
					n += count
				}
			}
			return n
		})
		if p == nil {
			b.Unstyled = append(b.Unstyled, prefix+"*")
			continue
		}
		selected[p.name], b.Owners[prefix+"*"] = true, p.name
	}

	var css strings.Builder
	files := map[string]bool{}
	for _, p := range parts {
		if !selected[p.name] {
			continue
		}
		b.Parts = append(b.Parts, p.name)
		styles := lightOnly(p.styles)
		if err := rewriteURLs(styles, p.dir, dist, files); err != nil {
			return nil, fmt.Errorf("dsfr: %s: %w", p.name, err)
		}
		writeCSS(&css, styles)
	}
	b.CSS = fmt.Sprintf("/*! DSFR v%s | SPDX-License-Identifier: Etalab-2.0 | License-Filename: LICENSE.md | restricted use (see terms and conditions) | parts: %s */\n",
		b.Version, strings.Join(b.Parts, ", ")) + css.String() + "\n"
	b.Files = sortedKeys(files)
	if b.JS, err = scripts(pkg, dist, b); err != nil {
		return nil, err
	}
	return b, nil
}

// owner is the part that styles a class, or nil. Among the parts whose
// selectors start with it (.fr-btn--secondary{…}): core if it is one of
// them, else the one whose id begins the class's block (fr-input-group:
// input), else the one that starts the most selectors with it. A class
// that parts only name after another (.fr-search-bar .fr-input--error)
// belongs to core or to the part of its block, or to none.
func owner(parts []*part, class string, has func(map[string]int) int) *part {
	var first, anywhere []*part
	for _, p := range parts {
		if has(p.first) > 0 {
			first = append(first, p)
		}
		if has(p.all) > 0 {
			anywhere = append(anywhere, p)
		}
	}
	candidates, starts := first, true
	if len(first) == 0 {
		candidates, starts = anywhere, false
	}
	if len(candidates) == 0 {
		return nil
	}
	if candidates[0].name == "core" {
		return candidates[0]
	}
	block := strings.TrimPrefix(class, "fr-")
	if i := strings.Index(block, "__"); i >= 0 {
		block = block[:i]
	}
	if i := strings.Index(block, "--"); i >= 0 {
		block = block[:i]
	}
	var best *part
	for _, p := range candidates {
		if strings.HasPrefix(block, p.id) && (best == nil || len(p.id) > len(best.id)) {
			best = p
		}
	}
	if best != nil || !starts {
		return best
	}
	for _, p := range candidates {
		if best == nil || has(p.first) > has(best.first) {
			best = p
		}
	}
	return best
}

var scssImport = regexp.MustCompile(`@import '([a-z-]+)/main';`)

// readParts reads core, the components in the order of the DSFR's own
// stylesheet (src/dsfr/component/main.scss), then the utilities.
func readParts(pkg, dist string) ([]*part, error) {
	order, err := os.ReadFile(filepath.Join(pkg, "src/dsfr/component/main.scss"))
	if err != nil {
		return nil, err
	}
	dirs := []string{"core"}
	for _, m := range scssImport.FindAllStringSubmatch(string(order), -1) {
		dirs = append(dirs, "component/"+m[1])
	}
	var utilities []string
	err = filepath.WalkDir(filepath.Join(dist, "utility"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		dir := filepath.Dir(p)
		if d.Name() == filepath.Base(dir)+".main.min.css" {
			rel, err := filepath.Rel(dist, dir)
			utilities = append(utilities, filepath.ToSlash(rel))
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(utilities)
	var parts []*part
	for _, dir := range append(dirs, utilities...) {
		id := path.Base(dir)
		p := &part{name: dir, dir: dir, id: id, first: map[string]int{}, all: map[string]int{}}
		// Screen styles without those of old browsers (main), then print
		// styles; a part without that split has one stylesheet.
		for _, kind := range []string{"main.", "print.", ""} {
			src, err := os.ReadFile(filepath.Join(dist, dir, id+"."+kind+"min.css"))
			if errors.Is(err, fs.ErrNotExist) || (kind == "" && len(p.styles) > 0) {
				continue
			}
			if err != nil {
				return nil, err
			}
			rules, err := parseCSS(string(src))
			if err != nil {
				return nil, fmt.Errorf("dsfr: %s %smin.css: %w", dir, kind, err)
			}
			p.styles = append(p.styles, rules...)
		}
		if len(p.styles) == 0 {
			return nil, fmt.Errorf("dsfr: %s has no stylesheet", dir)
		}
		eachStyleRule(p.styles, func(r *rule) {
			for _, s := range selectors(r.prelude) {
				for _, c := range selectorClasses(firstCompound(s)) {
					p.first[c]++
				}
				for _, c := range selectorClasses(s) {
					p.all[c]++
				}
			}
		})
		parts = append(parts, p)
	}
	return parts, nil
}

// darkTheme matches the selectors of the dark theme, which the pages never
// take: the layout sets data-fr-scheme="light" and the bundle has no
// scheme script to change it.
var darkTheme = regexp.MustCompile(`\[data-fr-theme=["']?dark["']?\]`)

// lightOnly drops the dark theme's selectors, and the rules left without one.
func lightOnly(rules []rule) []rule {
	var out []rule
	for _, r := range rules {
		switch {
		case r.nested:
			r.rules = lightOnly(r.rules)
		case r.styleRule():
			var kept []string
			for _, s := range selectors(r.prelude) {
				if !darkTheme.MatchString(s) {
					kept = append(kept, s)
				}
			}
			if len(kept) == 0 {
				continue
			}
			r.prelude = strings.Join(kept, ",")
		}
		out = append(out, r)
	}
	return out
}

var cssURL = regexp.MustCompile(`url\(\s*(["']?)([^"')]+)(["']?)\s*\)`)

// rewriteURLs makes the relative URLs of a part's styles relative to dist/,
// where the bundle is, and notes the files they name.
func rewriteURLs(rules []rule, dir, dist string, files map[string]bool) error {
	var err error
	for i := range rules {
		r := &rules[i]
		if r.nested {
			if e := rewriteURLs(r.rules, dir, dist, files); e != nil {
				return e
			}
			continue
		}
		r.block = cssURL.ReplaceAllStringFunc(r.block, func(u string) string {
			m := cssURL.FindStringSubmatch(u)
			target := m[2]
			if strings.HasPrefix(target, "data:") || strings.Contains(target, "://") || strings.HasPrefix(target, "#") {
				return u
			}
			clean := path.Join(dir, target)
			if strings.HasPrefix(clean, "../") {
				err = fmt.Errorf("url(%s) is out of dist/", target)
				return u
			}
			if _, e := os.Stat(filepath.Join(dist, clean)); e != nil {
				err = e
				return u
			}
			files[clean] = true
			return "url(" + m[1] + clean + m[3] + ")"
		})
	}
	return err
}

// scripts joins core's script and those of the parts chosen that have
// one, with the scripts these need (their .package.yml), in the order of
// the DSFR's own script (src/dsfr/component/main.js). Each part's script
// is a block of its own: they all declare the same names at their top.
func scripts(pkg, dist string, b *Bundle) (string, error) {
	order, err := os.ReadFile(filepath.Join(pkg, "src/dsfr/component/main.js"))
	if err != nil {
		return "", err
	}
	want := map[string]bool{}
	var need func(id string) error
	need = func(id string) error {
		if want[id] || id == "core" {
			return nil
		}
		if _, err := os.Stat(filepath.Join(dist, "component", id, id+".module.min.js")); err != nil {
			return nil // a component without a script
		}
		want[id] = true
		raw, err := os.ReadFile(filepath.Join(pkg, "src/dsfr/component", id, ".package.yml"))
		if err != nil {
			return err
		}
		var meta struct{ Script []string }
		if err := yaml.Unmarshal(raw, &meta); err != nil {
			return fmt.Errorf("dsfr: %s/.package.yml: %w", id, err)
		}
		for _, dep := range meta.Script {
			if err := need(dep); err != nil {
				return err
			}
		}
		return nil
	}
	for _, name := range b.Parts {
		if id, ok := strings.CutPrefix(name, "component/"); ok {
			if err := need(id); err != nil {
				return "", err
			}
		}
	}
	files := []string{"core/core.module.min.js"}
	for _, m := range regexp.MustCompile(`import '\./([a-z-]+)/main\.js';`).FindAllStringSubmatch(string(order), -1) {
		if want[m[1]] {
			files = append(files, "component/"+m[1]+"/"+m[1]+".module.min.js")
			delete(want, m[1])
		}
	}
	if len(want) > 0 {
		return "", fmt.Errorf("dsfr: scripts not in component/main.js: %v", sortedKeys(want))
	}
	var js strings.Builder
	fmt.Fprintf(&js, "/*! DSFR v%s | SPDX-License-Identifier: Etalab-2.0 | License-Filename: LICENSE.md | restricted use (see terms and conditions) | scripts: %s */\n",
		b.Version, strings.Join(files, ", "))
	for _, f := range files {
		src, err := os.ReadFile(filepath.Join(dist, f))
		if err != nil {
			return "", err
		}
		var lines []string
		for _, line := range strings.Split(strings.TrimSpace(string(src)), "\n") {
			if !strings.HasPrefix(line, "//# sourceMappingURL=") && !strings.HasPrefix(line, "/*! DSFR v") {
				lines = append(lines, line)
			}
		}
		js.WriteString("{\n" + strings.Join(lines, "\n") + "\n}\n")
	}
	return js.String(), nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
