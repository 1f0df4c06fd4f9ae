package dsfr

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

func TestUsedClasses(t *testing.T) {
	fsys := fstest.MapFS{
		"templates/page.tmpl": {Data: []byte(`<div class="fr-alert fr-alert--{{.Kind}} fr-mb-4w" data-fr-opened="false">
<input class="fr-input{{if .E}} fr-input--error{{end}}"><p>fr-</p>`)},
		"labels.go":      {Data: []byte("package x\nvar b = \"fr-badge--\" + \"ok\"\nvar c = `fr-btn fr-btn--sm`\n// fr-comment is not a class\n")},
		"labels_test.go": {Data: []byte("package x\nvar t = \"fr-test-only\"\n")},
	}
	c, err := Used(fsys)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"fr-alert", "fr-alert--*", "fr-badge--*", "fr-btn", "fr-btn--sm", "fr-input", "fr-input--error", "fr-mb-4w"}
	if got := c.Sorted(); !reflect.DeepEqual(got, want) {
		t.Errorf("Used: %v, want %v", got, want)
	}
	if got := c.Names["fr-input"]; !reflect.DeepEqual(got, []string{"templates/page.tmpl"}) {
		t.Errorf("fr-input emitted by %v", got)
	}
}

func TestParseAndWriteCSS(t *testing.T) {
	src := `/*! banner */a{color:red}@media (min-width:48em){/*! media md */.fr-a:hover,[data-x="}"] .fr-b\@md{content:"{;}"}}@media (min-width:62em){/*! empty */}` +
		`@font-face{font-family:M;src:url(../fonts/M.woff2) format("woff2")}@keyframes k{0%{opacity:0}to{opacity:1}}.fr-c>.fr-d:not(.fr-e,.fr-f){x:y}`
	rules, err := parseCSS(src)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	writeCSS(&b, rules)
	want := `a{color:red}@media (min-width:48em){.fr-a:hover,[data-x="}"] .fr-b\@md{content:"{;}"}}` +
		`@font-face{font-family:M;src:url(../fonts/M.woff2) format("woff2")}@keyframes k{0%{opacity:0}to{opacity:1}}.fr-c>.fr-d:not(.fr-e,.fr-f){x:y}`
	if b.String() != want {
		t.Errorf("written back:\n%s\nwant\n%s", b.String(), want)
	}
	defined, err := DefinedClasses(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"fr-a", "fr-b@md", "fr-c", "fr-d", "fr-e", "fr-f"} {
		if !defined[c] {
			t.Errorf("%s not found among %v", c, defined)
		}
	}
	if len(defined) != 6 {
		t.Errorf("defined: %v", defined)
	}
	for _, bad := range []string{"a{", "a{b:c}}", `a{content:"}`} {
		if _, err := parseCSS(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// writeTree writes files under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// A package of three components and a utility: the bundle takes core, the
// components whose classes are used (and the scripts their scripts need),
// no dark theme, URLs made relative to dist/.
func TestBuild(t *testing.T) {
	pkg := t.TempDir()
	writeTree(t, pkg, map[string]string{
		"package.json":                                    `{"name": "@gouvfr/dsfr", "version": "9.9.9"}`,
		"src/dsfr/component/main.scss":                    "@import 'button/main';\n@import 'card/main';\n@import 'header/main';\n",
		"src/dsfr/component/main.js":                      "import './button/main.js';\nimport './card/main.js';\nimport './header/main.js';\n",
		"src/dsfr/component/button/.package.yml":          "id: button\nscript:\n  - core\n",
		"src/dsfr/component/header/.package.yml":          "id: header\nscript:\n  - core\n  - button\n",
		"dist/core/core.main.min.css":                     `:root{--x:1}:root[data-fr-theme=dark]{--x:2}@font-face{src:url(../fonts/M.woff2)}.fr-grid-row{display:flex}`,
		"dist/core/core.print.min.css":                    `@media print{.fr-no-print{display:none}}`,
		"dist/core/core.module.min.js":                    "/*! DSFR v9.9.9 */\nconst a=1;window.dsfr={};\n//# sourceMappingURL=core.module.min.js.map\n",
		"dist/fonts/M.woff2":                              "font",
		"dist/icons/close.svg":                            "<svg/>",
		"dist/component/button/button.main.min.css":       `.fr-btn{a:b}.fr-btn--close:before{mask-image:url(../../icons/close.svg)}.fr-btns-group{c:d}`,
		"dist/component/button/button.module.min.js":      "/*! DSFR v9.9.9 */\nconst a=2;\n",
		"dist/component/card/card.main.min.css":           `.fr-card{a:b}.fr-card .fr-btn{e:f}.fr-btns-group.fr-card__x{g:h}`,
		"dist/component/header/header.main.min.css":       `.fr-header{a:b}.fr-header .fr-header__menu{i:j}[data-fr-theme=dark] .fr-header,.fr-header--x{k:l}`,
		"dist/component/header/header.print.min.css":      `@media print{.fr-header{display:none}}`,
		"dist/component/header/header.module.min.js":      "const a=3;\n",
		"dist/utility/icons/icons-x/icons-x.main.min.css": `.fr-icon-x:before{content:""}`,
	})
	used := Classes{
		Names:    map[string][]string{"fr-btn": nil, "fr-btns-group": nil, "fr-header__menu": nil, "fr-grid-row": nil, "fr-footer__item": nil},
		Prefixes: map[string][]string{"fr-btn--": nil},
	}
	b, err := Build(pkg, used)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"core", "component/button", "component/header"}; !reflect.DeepEqual(b.Parts, want) {
		t.Errorf("parts %v, want %v", b.Parts, want)
	}
	if want := []string{"fr-footer__item"}; !reflect.DeepEqual(b.Unstyled, want) {
		t.Errorf("unstyled %v, want %v", b.Unstyled, want)
	}
	for class, want := range map[string]string{"fr-btns-group": "component/button", "fr-header__menu": "component/header", "fr-grid-row": "core", "fr-btn--*": "component/button"} {
		if b.Owners[class] != want {
			t.Errorf("%s owned by %q, want %q", class, b.Owners[class], want)
		}
	}
	wantCSS := `:root{--x:1}@font-face{src:url(fonts/M.woff2)}.fr-grid-row{display:flex}@media print{.fr-no-print{display:none}}` +
		`.fr-btn{a:b}.fr-btn--close:before{mask-image:url(icons/close.svg)}.fr-btns-group{c:d}` +
		`.fr-header{a:b}.fr-header .fr-header__menu{i:j}.fr-header--x{k:l}@media print{.fr-header{display:none}}` + "\n"
	if _, css, _ := strings.Cut(b.CSS, "*/\n"); css != wantCSS {
		t.Errorf("CSS:\n%s\nwant\n%s", css, wantCSS)
	}
	if want := []string{"fonts/M.woff2", "icons/close.svg"}; !reflect.DeepEqual(b.Files, want) {
		t.Errorf("files %v, want %v", b.Files, want)
	}
	wantJS := "{\nconst a=1;window.dsfr={};\n}\n{\nconst a=2;\n}\n{\nconst a=3;\n}\n"
	if _, js, _ := strings.Cut(b.JS, "*/\n"); js != wantJS {
		t.Errorf("JS:\n%s\nwant\n%s", js, wantJS)
	}
}

func TestNotLatin(t *testing.T) {
	got, err := notLatin()
	if err != nil {
		t.Fatal(err)
	}
	want := "U+0100-0130,U+0132-0151,U+0154-02BA,U+02BD-02C5,U+02C7-02D9,U+02DB,U+02DD-1FFF,U+2070-2073,U+2075-20AB,U+20AD-2121," +
		"U+2123-2190,U+2192,U+2194-2211,U+2213-2214,U+2216-FEFE,U+FF00-FFFC,U+FFFE-10FFFF"
	if got != want {
		t.Errorf("notLatin:\n%s\nwant\n%s", got, want)
	}
}

// Each WOFF2 font gets a face for its Latin subset and one for the rest.
func TestSplitFonts(t *testing.T) {
	b := &Bundle{CSS: "/*! banner */\n" + `@font-face{font-display:swap;font-family:M;src:url(fonts/M.woff2) format("woff2"),url(fonts/M.woff) format("woff")}` +
		`@font-face{font-family:N;src:url(fonts/N.woff)}.fr-a{b:c}`}
	var asked []string
	err := b.SplitFonts(func(file string) (string, error) {
		asked = append(asked, file)
		return "fonts/M-latin.woff2", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rest, _ := notLatin()
	want := "/*! banner */\n" +
		`@font-face{font-display:swap;font-family:M;src:url(fonts/M.woff2) format("woff2"),url(fonts/M.woff) format("woff");unicode-range:` + rest + `}` +
		`@font-face{font-display:swap;font-family:M;src:url(fonts/M-latin.woff2) format("woff2"),url(fonts/M.woff) format("woff");unicode-range:` + Latin + `}` +
		`@font-face{font-family:N;src:url(fonts/N.woff)}.fr-a{b:c}` + "\n"
	if b.CSS != want {
		t.Errorf("CSS:\n%s\nwant\n%s", b.CSS, want)
	}
	if !reflect.DeepEqual(asked, []string{"fonts/M.woff2"}) {
		t.Errorf("subsets asked: %v", asked)
	}
}
