package dsfr

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// Latin is what the Latin subset of a font holds: Latin-1, the French
// ligatures and the typographic punctuation (’ « » …), the euro sign. The
// pages are in French; a name in another script (Łukasz, Nguyễn) takes the
// whole font, which the browser fetches only for a page that has one.
const Latin = "U+0000-00FF,U+0131,U+0152-0153,U+02BB-02BC,U+02C6,U+02DA,U+02DC,U+2000-206F,U+2074,U+20AC,U+2122,U+2191,U+2193,U+2212,U+2215,U+FEFF,U+FFFD"

// notLatin is the rest of Unicode: the range of the whole font's face.
func notLatin() (string, error) {
	type span struct{ lo, hi rune }
	var latin []span
	for _, r := range strings.Split(Latin, ",") {
		var s span
		r = strings.TrimPrefix(r, "U+")
		lo, hi, isRange := strings.Cut(r, "-")
		if _, err := fmt.Sscanf(lo, "%X", &s.lo); err != nil {
			return "", fmt.Errorf("dsfr: range %q: %w", r, err)
		}
		s.hi = s.lo
		if isRange {
			if _, err := fmt.Sscanf(hi, "%X", &s.hi); err != nil {
				return "", fmt.Errorf("dsfr: range %q: %w", r, err)
			}
		}
		if len(latin) > 0 && s.lo <= latin[len(latin)-1].hi {
			return "", fmt.Errorf("dsfr: Latin's ranges must be in order: %q", r)
		}
		latin = append(latin, s)
	}
	var out []string
	next := rune(0)
	for _, s := range latin {
		if s.lo > next {
			out = append(out, unicodeRange(next, s.lo-1))
		}
		next = s.hi + 1
	}
	return strings.Join(append(out, unicodeRange(next, 0x10FFFF)), ","), nil
}

func unicodeRange(lo, hi rune) string {
	if lo == hi {
		return fmt.Sprintf("U+%04X", lo)
	}
	return fmt.Sprintf("U+%04X-%04X", lo, hi)
}

var woff2URL = regexp.MustCompile(`url\((["']?)([^"')]+\.woff2)(["']?)\)`)

// SplitFonts gives each font of the bundle two faces: its Latin subset for
// the characters of Latin, and the whole font for the others. subset is
// given the WOFF2 file (relative to dist/), writes its subset beside the
// bundle and returns its name. A page in French then loads the subsets
// alone, about half the size. The WOFF fallback of old browsers stays whole.
func (b *Bundle) SplitFonts(subset func(file string) (string, error)) error {
	rest, err := notLatin()
	if err != nil {
		return err
	}
	rules, err := parseCSS(b.CSS)
	if err != nil {
		return err
	}
	banner, _, _ := strings.Cut(b.CSS, "*/")
	var out []rule
	for _, r := range rules {
		m := woff2URL.FindStringSubmatch(r.block)
		if r.prelude != "@font-face" || m == nil || strings.Contains(r.block, "unicode-range") {
			out = append(out, r)
			continue
		}
		whole := m[2]
		latin, err := subset(whole)
		if err != nil {
			return fmt.Errorf("dsfr: subset of %s: %w", whole, err)
		}
		if path.Dir(latin) != path.Dir(whole) {
			return fmt.Errorf("dsfr: the subset of %s must be beside it, not %s", whole, latin)
		}
		sub := r
		sub.block = strings.Replace(r.block, m[0], "url("+m[1]+latin+m[3]+")", 1) + ";unicode-range:" + Latin
		r.block += ";unicode-range:" + rest
		out = append(out, r, sub)
	}
	var css strings.Builder
	writeCSS(&css, out)
	b.CSS = banner + "*/\n" + css.String() + "\n"
	return nil
}
