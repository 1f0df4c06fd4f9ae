package httpapi

import (
	"errors"
	"math/big"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/directory"
)

// FuzzBoundedNumber holds the parsing of numbers read from requests to an
// oracle in arbitrary precision: a value is accepted exactly when it is a
// decimal whole number within the bounds, with that value, and a query
// string of any bytes gives the default, a number within the bounds, or an
// invalid-request error naming the parameter; never a panic.
func FuzzBoundedNumber(f *testing.F) {
	for _, s := range []string{"", "1", "50", "200", "201", "0", "-1", "+7", "007", "99999999999999999999", "-99999999999999999999",
		"9223372036854775807", "9223372036854775808", "-9223372036854775808", "1e3", "1.0", " 1", "1 ", "0x10", "1_000", "١", "\xff", "%31"} {
		f.Add(s, int64(1), int64(maxPage), "page="+s)
	}
	f.Add("5", int64(-10), int64(10), "page=5&page=6")
	f.Add("-3", int64(-9223372036854775808), int64(9223372036854775807), "size=%00&page=%2B1")
	f.Fuzz(func(t *testing.T, s string, lo, hi int64, rawQuery string) {
		if lo > hi {
			lo, hi = hi, lo
		}
		n, ok := parseBounded(s, int(lo), int(hi))
		want, isNumber := new(big.Int).SetString(s, 10)
		inRange := isNumber && want.Cmp(big.NewInt(lo)) >= 0 && want.Cmp(big.NewInt(hi)) <= 0
		if ok != inRange || ok && int64(n) != want.Int64() {
			t.Fatalf("parseBounded(%q, %d, %d) = %d, %v; the oracle says %v in range: %v", s, lo, hi, n, ok, want, inRange)
		}

		for _, b := range []boundedNumber{pageParam, sizeParam} {
			c, _ := gin.CreateTestContext(httptest.NewRecorder())
			c.Request = httptest.NewRequest("GET", "/", nil)
			c.Request.URL.RawQuery = rawQuery
			got, err := b.read(c)
			var ie *directory.InvalidError
			switch {
			case err == nil && (got < b.min || got > b.max):
				t.Fatalf("%s from %q: %d, out of [%d, %d]", b.name, rawQuery, got, b.min, b.max)
			case err != nil && (!errors.As(err, &ie) || len(ie.Problems) != 1 || ie.Problems[0].Field != b.name || !errors.Is(err, directory.ErrInvalid)):
				t.Fatalf("%s from %q: %v, want one problem on %s", b.name, rawQuery, err, b.name)
			}
		}
	})
}
