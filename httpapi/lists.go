package httpapi

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/directory"
)

// What every list of the API and of the pages shares: the query string that
// searches and pages it (q, page, size, as the consultation's), and, on the
// pages, the search form and the pager around it (partials.tmpl:
// list-search, list-pager).

// readListQuery reads q, page and size from the query string: page and
// size within their bounds (an *directory.InvalidError naming the
// parameter otherwise), q trimmed to maxSearchLength characters.
func readListQuery(c *gin.Context) (directory.ListQuery, error) {
	page, err := pageParam.read(c)
	if err != nil {
		return directory.ListQuery{}, err
	}
	size, err := sizeParam.read(c)
	if err != nil {
		return directory.ListQuery{}, err
	}
	return directory.ListQuery{Query: searchText(c.Query("q")), Page: page, Size: size}, nil
}

// searchText is a search box's text as the lists take it: trimmed, and
// cut at maxSearchLength characters.
func searchText(q string) string {
	q = strings.TrimSpace(q)
	if utf8.RuneCountInString(q) > maxSearchLength {
		q = string([]rune(q)[:maxSearchLength])
	}
	return q
}

// readAccountQuery is readListQuery with the filters of the lists of
// accounts: state, role, service, siret (checked by the workflow).
func readAccountQuery(c *gin.Context) (directory.AccountQuery, error) {
	lq, err := readListQuery(c)
	if err != nil {
		return directory.AccountQuery{}, err
	}
	return directory.AccountQuery{ListQuery: lq, State: directory.AccountState(c.Query("state")),
		Role: directory.Role(c.Query("role")), Service: c.Query("service"), SIRET: c.Query("siret")}, nil
}

// listPageError is a page's answer to a query string it cannot read: 400,
// with the parameter's problem in French.
func listPageError(err error) error {
	if onlyField(err, "page") || onlyField(err, "size") || onlyField(err, "state") || onlyField(err, "role") {
		kind, details := classify(err)
		msg := kind.message
		if len(details) > 0 {
			msg = details[0].Message
		}
		return &httpError{status: http.StatusBadRequest, code: "invalid_request", message: msg, err: err}
	}
	return err
}

// listJSON is the body of a list of the API: its items under their name,
// and the total, page and size, as the consultation answers.
func listJSON(c *gin.Context, name string, items any, total, page, size int) {
	c.JSON(http.StatusOK, gin.H{name: items, "total": total, "page": page, "size": size})
}

// listView is a list on a page: its search form and its pager.
type listView struct {
	Path        string // of the page, without query
	SearchName  string // the accessible name of the search form: « Rechercher un compte »
	SearchLabel string // the label of the search box
	PagerLabel  string // the accessible name of the pager
	Query       string
	Selects     []listSelect
	Filtered    bool // a search or a filter narrows the list
	Total       int
	Page        int
	PageCount   int
	Pagination  *pagination

	params url.Values // the list's query string but the page
}

// listSelect is a filter of a list's search form.
type listSelect struct {
	Name    string // the parameter
	Label   string
	Options []listOption
}

type listOption struct {
	Value, Label string
	Selected     bool
}

// newListView describes a list read with q and the filters of selects,
// which found total items. A page past the end shows as the last one:
// lastPage tells the handler to read that one.
func newListView(path string, q directory.ListQuery, selects []listSelect, total int) listView {
	v := listView{Path: path, Query: q.Query, Selects: selects, Total: total, Page: q.Page, params: url.Values{}}
	if q.Query != "" {
		v.params.Set("q", q.Query)
	}
	for _, s := range selects {
		for _, o := range s.Options {
			if o.Selected && o.Value != "" {
				v.params.Set(s.Name, o.Value)
			}
		}
	}
	v.Filtered = len(v.params) > 0
	if q.Size != defaultPageLen {
		v.params.Set("size", strconv.Itoa(q.Size))
	}
	v.PageCount = max((total+q.Size-1)/q.Size, 1)
	v.Pagination = newPagination(q.Page, q.Size, total, v.href)
	return v
}

// href is the list's page n, with its search and filters.
func (v listView) href(n int) string {
	p := url.Values{}
	for k, vs := range v.params {
		p[k] = vs
	}
	if n > 1 {
		p.Set("page", strconv.Itoa(n))
	}
	if len(p) == 0 {
		return v.Path
	}
	return v.Path + "?" + p.Encode()
}

// Hidden are the parameters the search form keeps though it shows no field
// for them: the size of a page.
func (v listView) Hidden() map[string]string {
	if size := v.params.Get("size"); size != "" {
		return map[string]string{"size": size}
	}
	return nil
}

// pastTheEnd reports whether a page of a list asked for lies past its
// last one, which the page then shows instead.
func pastTheEnd(q directory.ListQuery, total int) (int, bool) {
	last := max((total+q.Size-1)/q.Size, 1)
	return last, q.Page > last
}

// titled is a page title with the page of its list: « … — page 2 sur 5 ».
func (v listView) titled(title string) string {
	if v.PageCount > 1 {
		return title + " — page " + strconv.Itoa(v.Page) + " sur " + strconv.Itoa(v.PageCount)
	}
	return title
}

// options are a select's choices: « all » first, then each value with its
// label, the one chosen selected.
func options(all, chosen string, values []string, label func(string) string) []listOption {
	out := []listOption{{Value: "", Label: all, Selected: chosen == ""}}
	for _, v := range values {
		out = append(out, listOption{Value: v, Label: label(v), Selected: v == chosen})
	}
	return out
}

// sortNames sorts names as the lists do: accents and case aside
// (« Études » after « Direction »).
func sortNames(names []string) {
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(strings.Compare(directory.SortKey(a), directory.SortKey(b)), strings.Compare(a, b))
	})
}

// Caption tells what a list's table shows: « 12 comptes correspondant à
// la recherche — page 1 sur 3 » (the participle is invariable).
func (v listView) Caption(noun, nouns string) string {
	c := strconv.Itoa(v.Total) + " " + noun
	if v.Total > 1 {
		c = strconv.Itoa(v.Total) + " " + nouns
	}
	if v.Filtered {
		c += " correspondant à la recherche"
	}
	if v.Pagination != nil {
		c += " — page " + strconv.Itoa(v.Page) + " sur " + strconv.Itoa(v.PageCount)
	}
	return c
}
