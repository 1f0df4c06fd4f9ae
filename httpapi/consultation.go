package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/mozillazg/go-unidecode"

	"github.com/dgfip/apex-partenaires/directory"
)

// The consultation of a structure (guide « Consultation des comptes et
// services de la structure »): its services and validated accounts, page by
// page, and the detail of one account; never the mobile of someone else.

const (
	consultationPageSize = 50
	maxSearchLength      = 100
)

// directoryEntry is an account in a consultation list: never a mobile.
type directoryEntry struct {
	Identifier string `json:"identifier"`
	FirstName  string `json:"firstName"`
	LastName   string `json:"lastName"`
	Email      string `json:"email"`
	Role       string `json:"role"`
	State      string `json:"state"`
	Service    string `json:"service,omitempty"`
}

type serviceCountView struct {
	Name     string `json:"name"`
	Accounts int    `json:"accounts"`
}

func (s *Server) handleDirectory(c *gin.Context) error {
	page, err := pageParam.read(c)
	if err != nil {
		return err
	}
	size, err := sizeParam.read(c)
	if err != nil {
		return err
	}
	d, err := s.consultation.Directory(c.Request.Context(), account(c), directory.DirectoryQuery{
		SIRET: directory.NormalizeSIRET(c.Param("siret")), Service: c.Query("service"), Query: c.Query("q"), Page: page, Size: size,
	})
	if err != nil {
		return err
	}
	services := make([]serviceCountView, len(d.Services))
	for i, sv := range d.Services {
		services[i] = serviceCountView{Name: sv.Name, Accounts: sv.Accounts}
	}
	accounts := make([]directoryEntry, len(d.Accounts))
	for i, p := range d.Accounts {
		accounts[i] = directoryEntry{Identifier: p.Identifier, FirstName: p.FirstName, LastName: p.LastName,
			Email: p.Email, Role: string(p.Role), State: string(p.State), Service: p.Service}
	}
	c.JSON(http.StatusOK, gin.H{"services": services, "accounts": accounts, "total": d.Total, "page": d.Page, "size": d.Size})
	return nil
}

type serviceRow struct {
	Name     string
	Accounts int
	Href     string
	Selected bool
}

type accountRow struct {
	Name       string
	Identifier string
	Role       string
	Service    string
	State      stateView
	Href       string
}

// pageLink is an entry of the DSFR pagination.
type pageLink struct {
	Number  int
	Href    string
	Current bool
	Gap     bool // an ellipsis between two numbers
}

type pagination struct {
	First, Prev, Next, Last string // empty on the first or the last page
	Pages                   []pageLink
}

// newPagination gives the first and last pages and two on each side of
// the current one; nil when everything fits in one page.
func newPagination(current, size, total int, href func(int) string) *pagination {
	count := (total + size - 1) / size
	if count <= 1 {
		return nil
	}
	p := &pagination{}
	if current > 1 {
		p.First, p.Prev = href(1), href(current-1)
	}
	if current < count {
		p.Next, p.Last = href(current+1), href(count)
	}
	shown := 0
	for n := 1; n <= count; n++ {
		if n != 1 && n != count && (n < current-2 || n > current+2) {
			continue
		}
		if shown != 0 && n > shown+1 {
			p.Pages = append(p.Pages, pageLink{Gap: true})
		}
		p.Pages = append(p.Pages, pageLink{Number: n, Href: href(n), Current: n == current})
		shown = n
	}
	return p
}

type consultationPage struct {
	base
	Notice     *notice
	Agent      bool   // may consult every structure
	Chooser    bool   // an agent's form to choose a structure
	SIRET      string // as typed in the chooser
	SIRETError string
	Structure  structureView
	Path       string // of this list, without query
	Query      string
	Service    string
	Filtered   bool
	Services   []serviceRow
	Accounts   []accountRow
	Total      int
	Page       int
	PageCount  int
	Pagination *pagination
}

// handleConsultation shows one's structure (/consultation), or the one an
// agent chose (/consultation?siret= or /consultation/:siret).
func (s *Server) handleConsultation(c *gin.Context) error {
	noStore(c)
	actor := account(c)
	agent := actor.Role == directory.RoleAgent
	title := "Consultation des comptes et services de la structure"
	siret := c.Param("siret")
	path := "/consultation"
	if siret == "" && agent {
		page := consultationPage{base: s.base(c, title), Agent: true, Chooser: true}
		typed, asked := c.GetQuery("siret")
		if !asked {
			s.render(c, http.StatusOK, "consultation_structure.tmpl", page)
			return nil
		}
		page.SIRET = strings.TrimSpace(typed)
		n := directory.NormalizeSIRET(page.SIRET)
		if err := directory.CheckSIRET(n); err != nil {
			var ie *directory.InvalidError
			page.SIRETError = "Le SIRET n'est pas valide."
			if errors.As(err, &ie) && len(ie.Problems) > 0 {
				page.SIRETError = ie.Problems[0].Message
			}
			page.Notice = formNotice(formErrors{"siret": {page.SIRETError}})
			s.render(c, http.StatusUnprocessableEntity, "consultation_structure.tmpl", page)
			return nil
		}
		c.Redirect(http.StatusSeeOther, "/consultation/"+n)
		return nil
	}
	if siret == "" {
		siret = actor.SIRET
	} else {
		siret = directory.NormalizeSIRET(siret)
		path = "/consultation/" + url.PathEscape(siret)
	}
	ctx := c.Request.Context()
	st, err := s.consultation.Structure(ctx, actor, siret)
	switch {
	case errors.Is(err, directory.ErrForbidden):
		return errOtherStructure
	case errors.Is(err, directory.ErrNotFound):
		return errNoStructure
	case err != nil:
		return err
	}
	page := consultationPage{
		base:      s.base(c, title),
		Agent:     agent,
		Structure: structureView{SIRET: st.SIRET, Name: st.Name, Category: st.Category},
		Path:      path,
		Query:     searchText(c.Query("q")),
		Service:   c.Query("service"),
	}
	page.Filtered = page.Query != "" || page.Service != ""
	n, err := pageParam.read(c)
	if err != nil {
		return &httpError{status: http.StatusBadRequest, code: "invalid_request", message: pageParam.message(), err: err}
	}
	q := directory.DirectoryQuery{SIRET: siret, Service: page.Service, Query: page.Query, Page: n, Size: consultationPageSize}
	d, err := s.consultation.Directory(ctx, actor, q)
	if err != nil {
		return err
	}
	if last := max((d.Total+d.Size-1)/d.Size, 1); d.Page > last { // past the end: the last page
		q.Page = last
		if d, err = s.consultation.Directory(ctx, actor, q); err != nil {
			return err
		}
	}
	href := func(query, service string, n int) string {
		v := url.Values{}
		if query != "" {
			v.Set("q", query)
		}
		if service != "" {
			v.Set("service", service)
		}
		if n > 1 {
			v.Set("page", strconv.Itoa(n))
		}
		if len(v) == 0 {
			return path
		}
		return path + "?" + v.Encode()
	}
	// Services in alphabetical order, accents aside (« Études » after
	// « Direction »); a copy: the store may share its slice with other requests.
	services := slices.Clone(d.Services)
	slices.SortFunc(services, func(a, b directory.ServiceCount) int {
		return strings.Compare(strings.ToLower(unidecode.Unidecode(a.Name)), strings.ToLower(unidecode.Unidecode(b.Name)))
	})
	for _, sv := range services {
		page.Services = append(page.Services, serviceRow{Name: sv.Name, Accounts: sv.Accounts, Href: href(page.Query, sv.Name, 1), Selected: sv.Name == page.Service})
	}
	for _, p := range d.Accounts {
		page.Accounts = append(page.Accounts, accountRow{
			Name: p.FirstName + " " + p.LastName, Identifier: p.Identifier, Role: roleLabel(string(p.Role)),
			Service: p.Service, State: newStateView(p.State), Href: "/consultation/compte/" + url.PathEscape(p.Identifier),
		})
	}
	page.Total, page.Page = d.Total, d.Page
	page.PageCount = max((d.Total+d.Size-1)/d.Size, 1)
	page.Pagination = newPagination(d.Page, d.Size, d.Total, func(n int) string { return href(page.Query, page.Service, n) })
	if page.PageCount > 1 {
		page.Title = title + " — page " + strconv.Itoa(d.Page) + " sur " + strconv.Itoa(page.PageCount)
	}
	s.render(c, http.StatusOK, "consultation_structure.tmpl", page)
	return nil
}

// handleAccountDetail shows an account of one's structure: identifier,
// names, mail, role, service, state, habilitations; the mobile only to its owner.
func (s *Server) handleAccountDetail(c *gin.Context) error {
	actor := account(c)
	p, err := s.consultation.Account(c.Request.Context(), actor, c.Param("identifier"))
	if err != nil {
		return err
	}
	view, err := s.accountView(c, actor, p)
	if err != nil {
		return err
	}
	out := meView{accountView: view}
	if p.Identifier == actor.Identifier {
		out = newMeView(view, p)
	}
	c.JSON(http.StatusOK, struct {
		meView
		State string `json:"state"`
	}{out, string(p.State)})
	return nil
}

type consultationAccountPage struct {
	base
	View   accountView
	State  stateView
	Own    bool
	Mobile string // the account's own mobile, to its owner only
	Back   string
	// History links the account's history, for those who may see it.
	History string
}

// handleConsultationAccount shows an account of one's structure:
// identifier, names, mail, role, service, state, habilitations; never the
// mobile of someone else.
func (s *Server) handleConsultationAccount(c *gin.Context) error {
	noStore(c)
	actor := account(c)
	p, err := s.consultation.Account(c.Request.Context(), actor, c.Param("identifier"))
	switch {
	case errors.Is(err, directory.ErrNotFound):
		return errNoAccount
	case errors.Is(err, directory.ErrForbidden):
		return errOtherStructure
	case err != nil:
		return err
	}
	view, err := s.accountView(c, actor, p)
	if err != nil {
		return err
	}
	page := consultationAccountPage{
		base:  s.base(c, p.FirstName+" "+p.LastName+" — Consultation des comptes"),
		View:  view,
		State: newStateView(p.State),
		Own:   p.Identifier == actor.Identifier,
		Back:  "/consultation",
	}
	if page.Own {
		page.Mobile = displayMobile(p.Mobile)
	}
	if directory.CanSeeHistory(actor, p) {
		page.History = "/gestion/comptes/" + url.PathEscape(p.Identifier) + "/historique"
	}
	if actor.Role == directory.RoleAgent && p.SIRET != "" {
		page.Back = "/consultation/" + url.PathEscape(p.SIRET)
	}
	s.render(c, http.StatusOK, "consultation_compte.tmpl", page)
	return nil
}
