package directory

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// An application's address that the rules accept is one the provider may
// send a browser to: an absolute https URL (http only to the machine
// itself), printable ASCII, without user nor fragment, kept as given.
func FuzzApplicationURL(f *testing.F) {
	for _, s := range []string{"https://ficoba.dgfip.gouv.fr/retour", "http://127.0.0.1:8080/cb", "http://[::1]/cb", "http://localhost/",
		"http://ficoba.fr/", "https://a#b", "https://u:p@a/", "javascript:alert(1)", "https:///x", "//a/b", "https://a/\u00e9", "https://a b/",
		"HTTPS://A/", "https://a/%zz", "https://a:99999/", "http://127.0.0.1.nip.io/", "http://0x7f.1/", "https:a/b", " https://a/ "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		uris, home := []string{s}, s
		if len(checkAppURLs(&uris, &home)) > 0 {
			return
		}
		for _, v := range append(uris, home) {
			if v == "" {
				continue
			}
			if v != strings.TrimSpace(s) {
				t.Fatalf("%q kept as %q", s, v)
			}
			u, err := url.Parse(v)
			if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || strings.Contains(v, "#") || len(v) > oidcURIMax {
				t.Fatalf("%q accepted: %+v %v", v, u, err)
			}
			if u.Scheme != "https" && (u.Scheme != "http" || !loopbackHost(u.Hostname())) {
				t.Fatalf("%q accepted with the scheme %q, host %q", v, u.Scheme, u.Hostname())
			}
			for i := range len(v) {
				if v[i] <= ' ' || v[i] > '~' {
					t.Fatalf("%q accepted with the byte %#x", v, v[i])
				}
			}
		}
	})
}

// A sign-in request reads back from its record as it was written, and a
// record that is not one reads as nothing.
func FuzzOIDCRequestRecord(f *testing.F) {
	f.Add("état", "n", "https://a/cb", "v1 {}")
	f.Add("", "\xff", "x", `v1 {"client":"a","expires":"2026-01-01T00:00:00Z"}`)
	f.Fuzz(func(t *testing.T, state, nonce, uri, raw string) {
		age := int64(len(state))
		r := &OIDCRequest{ClientID: "ficoba", RedirectURI: uri, Scopes: []string{"openid"}, State: state, Nonce: nonce,
			ResponseType: "code", CodeChallenge: "c", CodeChallengeMethod: "S256", MaxAge: &age,
			Created: time.Unix(1_800_000_000, 0).UTC(), Expires: time.Unix(1_800_001_800, 0).UTC()}
		// What Validate lets through (and a URI checked as the
		// application's) is UTF-8: that reads back whole.
		if passThrough(state) && passThrough(nonce) && utf8.ValidString(uri) {
			if back, ok := parseOIDCRequestRecord(oidcRequestRecord(r)); !ok || !reflect.DeepEqual(back, r) {
				t.Fatalf("%+v read back as %+v (%v)", r, back, ok)
			}
		}
		if got, ok := parseOIDCRequestRecord(raw); ok && (got.ClientID == "" || got.Expires.IsZero()) {
			t.Fatalf("%q read as a request: %+v", raw, got)
		}
		if cn := oidcCodeRequest(raw); cn != "" && (len(raw) != 16+1+64+1+43 || raw[16] != '.' || raw[81] != '.' || cn != raw[:81]) {
			t.Fatalf("%q taken for a code", raw)
		}
	})
}
