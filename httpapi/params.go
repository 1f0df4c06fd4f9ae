package httpapi

import (
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/directory"
)

// Bounds of the numbers read from query strings. A consultation page past
// the end is empty (the API) or the last one (the page); maxPage only keeps
// the arithmetic far from overflowing: 100,000 pages of 50 accounts are
// 500 times the biggest structure of the benchmark.
const (
	maxPage        = 100000
	maxPageSize    = 200
	defaultPageLen = 50
)

// boundedNumber is a query parameter holding a whole number.
type boundedNumber struct {
	name     string // the parameter, and the field of the error's details
	label    string // its French name, capitalised
	min, max int
	def      int // when the parameter is absent or empty
}

var (
	pageParam = boundedNumber{name: "page", label: "Le numéro de page", min: 1, max: maxPage, def: 1}
	sizeParam = boundedNumber{name: "size", label: "La taille de page", min: 1, max: maxPageSize, def: defaultPageLen}
)

// read returns the parameter's value: its default when absent or empty, an
// *directory.InvalidError naming the parameter when it is given twice, is
// not a whole number or lies outside [min, max]. It never panics, whatever
// the query.
func (b boundedNumber) read(c *gin.Context) (int, error) {
	values := c.Request.URL.Query()[b.name]
	switch {
	case len(values) == 0 || len(values) == 1 && values[0] == "":
		return b.def, nil
	case len(values) == 1:
		if n, ok := parseBounded(values[0], b.min, b.max); ok {
			return n, nil
		}
	}
	return 0, &directory.InvalidError{Problems: []directory.Problem{{Field: b.name, Message: b.message()}}}
}

func (b boundedNumber) message() string {
	return b.label + " doit être un nombre entier de " + strconv.Itoa(b.min) + " à " + strconv.Itoa(b.max) + "."
}

// parseBounded reads s as a decimal whole number (an optional sign, then
// digits; no space) and accepts it only within [min, max]. Values past
// int64 are refused, never clamped: strconv returns the largest int with
// its range error, which must not reach arithmetic.
func parseBounded(s string, min, max int) (int, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < int64(min) || n > int64(max) {
		return 0, false
	}
	return int(n), true
}
