package dsfr

import (
	"fmt"
	"regexp"
	"strings"
)

// A rule is one statement of a stylesheet, as far as the bundle needs to
// know: the selectors of a style rule, the rules inside a conditional
// at-rule, the rest kept as written. Comments are dropped.
type rule struct {
	prelude string // selectors, or the at-rule and its condition
	block   string // declarations (or the whole inside of @font-face, @keyframes)
	rules   []rule // the rules of @media, @supports, @layer, @container
	nested  bool   // rules holds the inside of the block
	closed  bool   // a statement without a block: @charset "UTF-8";
}

// conditional at-rules hold rules; every other at-rule's block is kept whole.
var conditional = regexp.MustCompile(`^@(media|supports|layer|container|document)\b`)

// parseCSS reads a stylesheet into rules.
func parseCSS(src string) ([]rule, error) {
	p := &cssParser{src: src}
	rules, err := p.rules()
	if err != nil {
		return nil, err
	}
	if p.i < len(p.src) {
		return nil, fmt.Errorf("css: unexpected } at byte %d", p.i)
	}
	return rules, nil
}

type cssParser struct {
	src string
	i   int
}

// rules reads rules up to the end of the input or an unmatched }.
func (p *cssParser) rules() ([]rule, error) {
	var out []rule
	for {
		p.space()
		if p.i >= len(p.src) || p.src[p.i] == '}' {
			return out, nil
		}
		prelude, end, err := p.until("{;")
		if err != nil {
			return nil, err
		}
		r := rule{prelude: strings.TrimSpace(prelude)}
		if end == ';' {
			r.closed = true
			out = append(out, r)
			continue
		}
		if conditional.MatchString(r.prelude) {
			r.nested = true
			if r.rules, err = p.rules(); err != nil {
				return nil, err
			}
			if p.i >= len(p.src) {
				return nil, fmt.Errorf("css: %q is not closed", r.prelude)
			}
			p.i++ // }
		} else if r.block, err = p.block(); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
}

// space skips white space and comments.
func (p *cssParser) space() {
	for p.i < len(p.src) {
		switch {
		case strings.ContainsRune(" \t\r\n\f", rune(p.src[p.i])):
			p.i++
		case strings.HasPrefix(p.src[p.i:], "/*"):
			end := strings.Index(p.src[p.i+2:], "*/")
			if end < 0 {
				p.i = len(p.src)
				return
			}
			p.i += 2 + end + 2
		default:
			return
		}
	}
}

// until reads up to one of the stop bytes outside strings, comments,
// parentheses and brackets, and steps over it; comments are left out of
// what it returns.
func (p *cssParser) until(stops string) (string, byte, error) {
	var b strings.Builder
	depth := 0
	for p.i < len(p.src) {
		c := p.src[p.i]
		switch {
		case c == '"' || c == '\'':
			s, err := p.str()
			if err != nil {
				return "", 0, err
			}
			b.WriteString(s)
			continue
		case c == '\\' && p.i+1 < len(p.src):
			b.WriteString(p.src[p.i : p.i+2])
			p.i += 2
			continue
		case strings.HasPrefix(p.src[p.i:], "/*"):
			p.space()
			continue
		case c == '(' || c == '[':
			depth++
		case c == ')' || c == ']':
			depth--
		case depth == 0 && strings.IndexByte(stops, c) >= 0:
			p.i++
			return b.String(), c, nil
		case depth == 0 && c == '}':
			return "", 0, fmt.Errorf("css: unexpected } at byte %d", p.i)
		}
		b.WriteByte(c)
		p.i++
	}
	return "", 0, fmt.Errorf("css: unexpected end after %q", b.String())
}

// block reads the inside of a block whose { was read, and its }.
func (p *cssParser) block() (string, error) {
	var b strings.Builder
	for {
		part, end, err := p.until("{}")
		if err != nil {
			return "", err
		}
		b.WriteString(part)
		if end == '}' {
			return strings.TrimSpace(b.String()), nil
		}
		inner, err := p.block()
		if err != nil {
			return "", err
		}
		b.WriteString("{" + inner + "}")
	}
}

// str reads a quoted string, quotes included.
func (p *cssParser) str() (string, error) {
	quote, start := p.src[p.i], p.i
	for p.i++; p.i < len(p.src); p.i++ {
		switch p.src[p.i] {
		case '\\':
			p.i++
		case quote:
			p.i++
			return p.src[start:p.i], nil
		}
	}
	return "", fmt.Errorf("css: string not closed at byte %d", start)
}

// writeCSS writes rules back, minified as they came.
func writeCSS(b *strings.Builder, rules []rule) {
	for _, r := range rules {
		switch {
		case r.closed:
			b.WriteString(r.prelude + ";")
		case r.nested:
			if len(r.rules) == 0 {
				continue // the DSFR's empty "media sm" markers
			}
			b.WriteString(r.prelude + "{")
			writeCSS(b, r.rules)
			b.WriteString("}")
		default:
			b.WriteString(r.prelude + "{" + r.block + "}")
		}
	}
}

// styleRule tells a rule made of selectors from an at-rule.
func (r rule) styleRule() bool { return !r.closed && !r.nested && !strings.HasPrefix(r.prelude, "@") }

// splitTop splits s at the separators that are outside parentheses,
// brackets and strings.
func splitTop(s string, separator func(c byte) bool) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			i++
		case c == '"' || c == '\'':
			for i++; i < len(s) && s[i] != c; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		case c == '(' || c == '[':
			depth++
		case c == ')' || c == ']':
			depth--
		case depth == 0 && separator(c):
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// selectors splits a selector list.
func selectors(prelude string) []string {
	var out []string
	for _, s := range splitTop(prelude, func(c byte) bool { return c == ',' }) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// firstCompound is a selector's first compound selector: .fr-header in
// ".fr-header .fr-btn", a.fr-link:hover in "a.fr-link:hover>span".
func firstCompound(selector string) string {
	parts := splitTop(selector, func(c byte) bool { return strings.IndexByte(" >+~\t\n", c) >= 0 })
	return parts[0]
}

// classPattern matches a class selector, escapes included (.fr-cell--fixed\@md).
var classPattern = regexp.MustCompile(`\.((?:[a-zA-Z0-9_-]|\\.)+)`)

// selectorClasses are the classes a selector names, unescaped, out of its
// attribute selectors' values ([href$=".pdf"] names no class).
func selectorClasses(selector string) []string {
	var out []string
	for _, m := range classPattern.FindAllStringSubmatch(stripAttributes(selector), -1) {
		out = append(out, unescape(m[1]))
	}
	return out
}

// stripAttributes removes the attribute selectors of a selector.
func stripAttributes(selector string) string {
	var b strings.Builder
	depth := 0
	for i := 0; i < len(selector); i++ {
		c := selector[i]
		switch {
		case c == '\\' && i+1 < len(selector):
			if depth == 0 {
				b.WriteString(selector[i : i+2])
			}
			i++
			continue
		case c == '[':
			depth++
		case c == ']':
			depth--
			continue
		}
		if depth == 0 {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// unescape removes the backslashes of an identifier (fr-cell--fixed\@md).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// eachStyleRule calls f with every style rule, inside at-rules too.
func eachStyleRule(rules []rule, f func(r *rule)) {
	for i := range rules {
		r := &rules[i]
		if r.nested {
			eachStyleRule(r.rules, f)
		} else if r.styleRule() {
			f(r)
		}
	}
}

// DefinedClasses are the classes that the selectors of a stylesheet name.
func DefinedClasses(css string) (map[string]bool, error) {
	rules, err := parseCSS(css)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	eachStyleRule(rules, func(r *rule) {
		for _, s := range selectors(r.prelude) {
			for _, c := range selectorClasses(s) {
				out[c] = true
			}
		}
	})
	return out, nil
}
