package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/directory"
)

// The reviews of habilitations (directory.Reviews): those who manage
// habilitations confirm or withdraw them, line by line or a page at a
// time; agents follow each structure's progress; the result is exported
// as CSV. The API's routes are under /reviews/{review}, where {review} is
// a review's id or "current" (the latest); the pages under /gestion/revue.

type reviewView struct {
	ID       string    `json:"id"`
	Start    time.Time `json:"start"`
	Deadline time.Time `json:"deadline"`
	Mode     string    `json:"mode"`
	State    string    `json:"state"`
}

func newReviewView(r *directory.Review) reviewView {
	return reviewView{ID: r.ID, Start: r.Start, Deadline: r.Deadline, Mode: string(r.Mode), State: string(r.State)}
}

type reviewCountsView struct {
	Pending   int `json:"pending"`
	Confirmed int `json:"confirmed"`
	Withdrawn int `json:"withdrawn"`
	Gone      int `json:"alreadyWithdrawn"`
	Flagged   int `json:"flagged"`
}

func newReviewCountsView(c directory.ReviewCounts) reviewCountsView {
	return reviewCountsView{Pending: c.Pending, Confirmed: c.Confirmed, Withdrawn: c.Withdrawn, Gone: c.Gone, Flagged: c.Flagged}
}

type reviewLineView struct {
	ID            string     `json:"id"`
	Account       string     `json:"account"`
	Name          string     `json:"name"`
	Role          string     `json:"role"`
	SIRET         string     `json:"siret"`
	StructureName string     `json:"structureName,omitempty"`
	Service       string     `json:"service,omitempty"`
	Application   string     `json:"application"`
	Profile       string     `json:"profile"`
	State         string     `json:"state"`
	DecidedBy     string     `json:"decidedBy,omitempty"`
	DecidedAt     *time.Time `json:"decidedAt,omitempty"`
	Decidable     bool       `json:"decidable"`
}

func newReviewLineView(it directory.ReviewItem) reviewLineView {
	v := reviewLineView{ID: it.ID, Account: it.Account, Name: it.Name, Role: string(it.Role), SIRET: it.SIRET, StructureName: it.StructureName,
		Service: it.Service, Application: it.Application, Profile: it.Profile, State: string(it.ShownState()), DecidedBy: it.DecidedBy,
		Decidable: it.Decidable}
	if !it.DecidedAt.IsZero() {
		at := it.DecidedAt
		v.DecidedAt = &at
	}
	return v
}

func (s *Server) handleListReviews(c *gin.Context) error {
	list, err := s.reviews.List(c.Request.Context(), account(c))
	if err != nil {
		return err
	}
	out := make([]reviewView, len(list))
	for i := range list {
		out[i] = newReviewView(&list[i])
	}
	c.JSON(http.StatusOK, gin.H{"reviews": out})
	return nil
}

// lineStateParam reads the state a list of lines is filtered by.
func lineStateParam(c *gin.Context) (directory.LineState, error) {
	st := directory.LineState(c.Query("state"))
	if st != "" && (!st.Valid() || st == directory.LineWithdrawing) {
		return "", &directory.InvalidError{Problems: []directory.Problem{{Field: "state",
			Message: "L'état doit être pending, confirmed, withdrawn, gone ou flagged."}}}
	}
	return st, nil
}

func (s *Server) reviewLines(c *gin.Context, review string) (*directory.ReviewLinesPage, error) {
	lq, err := readListQuery(c)
	if err != nil {
		return nil, err
	}
	state, err := lineStateParam(c)
	if err != nil {
		return nil, err
	}
	return s.reviews.Lines(c.Request.Context(), account(c), directory.ReviewLinesQuery{
		Review: review, Query: lq.Query, State: state, Page: lq.Page, Size: lq.Size})
}

func (s *Server) handleReviewLines(c *gin.Context) error {
	p, err := s.reviewLines(c, c.Param("review"))
	if err != nil {
		return err
	}
	lines := make([]reviewLineView, len(p.Lines))
	for i, it := range p.Lines {
		lines[i] = newReviewLineView(it)
	}
	c.JSON(http.StatusOK, gin.H{"review": newReviewView(p.Review), "counts": newReviewCountsView(p.Counts),
		"lines": lines, "total": p.Total, "page": p.Page, "size": p.Size})
	return nil
}

type reviewDecisionBody struct {
	Decision string   `json:"decision"`
	Lines    []string `json:"lines"`
}

type lineOutcomeView struct {
	Line    string `json:"line"`
	Outcome string `json:"outcome"`
}

func (s *Server) handleReviewDecision(c *gin.Context) error {
	var body reviewDecisionBody
	if err := decode(c, &body); err != nil {
		return err
	}
	res, err := s.reviews.Decide(c.Request.Context(), account(c), c.Param("review"), directory.ReviewDecision(body.Decision), body.Lines)
	if err != nil {
		return err
	}
	out := make([]lineOutcomeView, len(res.Lines))
	for i := range res.Lines {
		out[i] = lineOutcomeView{Line: res.Lines[i], Outcome: string(res.Outcomes[i])}
	}
	c.JSON(http.StatusOK, gin.H{"results": out})
	return nil
}

type structureProgressView struct {
	SIRET  string           `json:"siret"`
	Name   string           `json:"name"`
	Counts reviewCountsView `json:"counts"`
}

func (s *Server) handleReviewStructures(c *gin.Context) error {
	lq, err := readListQuery(c)
	if err != nil {
		return err
	}
	p, err := s.reviews.Structures(c.Request.Context(), account(c), directory.ReviewStructuresQuery{
		Review: c.Param("review"), Query: lq.Query, Unfinished: c.Query("unfinished") == "true", Page: lq.Page, Size: lq.Size})
	if err != nil {
		return err
	}
	out := make([]structureProgressView, len(p.Structures))
	for i, st := range p.Structures {
		out[i] = structureProgressView{SIRET: st.SIRET, Name: st.Name, Counts: newReviewCountsView(st.Counts)}
	}
	c.JSON(http.StatusOK, gin.H{"review": newReviewView(p.Review), "totals": newReviewCountsView(p.Totals),
		"structures": out, "total": p.Total, "page": p.Page, "size": p.Size})
	return nil
}

type reviewerProgressView struct {
	Identifier string           `json:"identifier,omitempty"`
	Name       string           `json:"name"`
	Role       string           `json:"role"`
	Counts     reviewCountsView `json:"counts"`
	Decided    int              `json:"decided"`
}

func (s *Server) handleReviewStructure(c *gin.Context) error {
	sr, err := s.reviews.Structure(c.Request.Context(), account(c), c.Param("review"), c.Param("siret"))
	if err != nil {
		return err
	}
	out := make([]reviewerProgressView, len(sr.Reviewers))
	for i, r := range sr.Reviewers {
		out[i] = reviewerProgressView{Identifier: r.Identifier, Name: r.Name, Role: string(r.Role), Counts: newReviewCountsView(r.Counts), Decided: r.Decided}
	}
	c.JSON(http.StatusOK, gin.H{"review": newReviewView(sr.Review),
		"structure": structureProgressView{SIRET: sr.Structure.SIRET, Name: sr.Structure.Name, Counts: newReviewCountsView(sr.Structure.Counts)},
		"reviewers": out, "withoutReviewer": sr.Orphans})
	return nil
}

func (s *Server) handleReviewExport(c *gin.Context) error {
	return s.writeReviewCSV(c, c.Param("review"), c.Query("siret"))
}

// lineStateLabels name a line's state in French.
var lineStateLabels = map[directory.LineState]string{
	directory.LinePending:   "À décider",
	directory.LineConfirmed: "Confirmée",
	directory.LineWithdrawn: "Retirée",
	directory.LineGone:      "Déjà retirée",
	directory.LineFlagged:   "Signalée, non confirmée",
}

var csvHeader = []string{"SIRET", "Structure", "Service", "Identifiant", "Nom", "Rôle", "Application", "Profil", "État", "Décidé par", "Décidé le"}

// writeReviewCSV streams the lines of a review that the actor may read as
// an export (exports.go: « ; », UTF-8 with a BOM), structure by structure
// as the directory hands them: nothing is written before every check
// passed, so a refusal is answered as usual.
func (s *Server) writeReviewCSV(c *gin.Context, review, siret string) error {
	var e *csvExport
	_, err := s.reviews.Export(c.Request.Context(), account(c), review, siret, func(r *directory.Review) error {
		e = s.newCSVExport(c, "revue-habilitations-"+r.ID+".csv", csvHeader...)
		return nil
	}, func(it directory.ReviewItem) error {
		decidedAt, decidedBy := "", it.DecidedBy
		if !it.DecidedAt.IsZero() && it.State != directory.LineGone {
			decidedAt = csvTime(it.DecidedAt)
			if decidedBy == "" {
				decidedBy = "(date limite)"
			}
		}
		return e.row(it.SIRET, it.StructureName, it.Service, it.Account, it.Name, roleLabel(string(it.Role)),
			it.Application, it.Profile, lineStateLabels[it.ShownState()], decidedBy, decidedAt)
	})
	if e == nil {
		return err
	}
	return e.finish(err)
}

// ---- Pages ----

// reviewRow is a line on the reviewer's page.
type reviewRow struct {
	ID          string
	Name        string // the person's name, the row's header
	Identifier  string
	Role        string
	Service     string
	Structure   string // for agents: the structure's name and SIRET
	Application string
	Profile     string
	State       string
	Badge       string
	Decided     string // « par X le … »
	Decidable   bool
}

var lineBadges = map[directory.LineState]string{
	directory.LinePending:   "fr-badge--info",
	directory.LineConfirmed: "fr-badge--success",
	directory.LineWithdrawn: "fr-badge--warning",
	directory.LineGone:      "fr-badge--new",
	directory.LineFlagged:   "fr-badge--error",
}

type stateOption struct {
	Value, Label string
	Selected     bool
}

type reviewPage struct {
	base
	formState
	NoReview   bool // none opened yet
	Review     reviewView
	Open       bool
	Flag       bool // the deadline only flags
	Deadline   string
	Agent      bool
	Progress   string // the link to the structure's progress, for its administrators
	Counts     directory.ReviewCounts
	Query      string
	State      string
	States     []stateOption
	Filtered   bool
	Rows       []reviewRow
	Decidable  int
	Total      int
	Page       int
	PageCount  int
	Pagination *pagination
	Return     string // this page with its query, where the decisions come back to
	Export     string
}

const reviewPageSize = 50

// reviewPageQuery is the query of the reviewer's page.
func reviewPageQuery(query, state string, n int) string {
	v := url.Values{}
	if query != "" {
		v.Set("q", query)
	}
	if state != "" {
		v.Set("etat", state)
	}
	if n > 1 {
		v.Set("page", strconv.Itoa(n))
	}
	return v.Encode()
}

func reviewPageHref(query, state string, n int) string {
	if q := reviewPageQuery(query, state, n); q != "" {
		return "/gestion/revue?" + q
	}
	return "/gestion/revue"
}

// errNoReview: no review opened yet, or none where the link points.
var errNoReview = &httpError{status: http.StatusNotFound, code: "not_found", message: "Aucune revue des habilitations n'est en cours : vous recevrez un mail quand la prochaine commencera."}

func (s *Server) handleReviewPage(c *gin.Context) error {
	noStore(c)
	p, err := s.reviewPage(c, c.Request.URL.Query())
	return s.showPage(c, "gestion_revue.tmpl", p, err)
}

// reviewPage builds the reviewer's page for the query of its address (q,
// etat, page).
func (s *Server) reviewPage(c *gin.Context, params url.Values) (*reviewPage, error) {
	actor := account(c)
	query := searchText(params.Get("q"))
	state := directory.LineState(params.Get("etat"))
	if !state.Valid() || state == directory.LineWithdrawing {
		state = ""
	}
	n, ok := parseBounded(params.Get("page"), pageParam.min, pageParam.max)
	if params.Get("page") == "" {
		n, ok = 1, true
	}
	if !ok {
		return nil, &httpError{status: http.StatusBadRequest, code: "invalid_request", message: pageParam.message()}
	}
	q := directory.ReviewLinesQuery{Query: query, State: state, Page: n, Size: reviewPageSize}
	lp, err := s.reviews.Lines(c.Request.Context(), actor, q)
	if errors.Is(err, directory.ErrNotFound) { // none opened yet: the page says so
		return &reviewPage{base: s.base(c, "Revue des habilitations"), NoReview: true}, nil
	}
	if err != nil {
		return nil, err
	}
	if last := max((lp.Total+lp.Size-1)/lp.Size, 1); lp.Page > last {
		q.Page = last
		if lp, err = s.reviews.Lines(c.Request.Context(), actor, q); err != nil {
			return nil, err
		}
	}
	r := lp.Review
	p := &reviewPage{
		base: s.base(c, "Revue des habilitations"), Review: newReviewView(r), Open: lp.Open,
		Flag: r.Mode == directory.ReviewFlag, Deadline: parisTime(&r.Deadline), Agent: actor.Role == directory.RoleAgent,
		Counts: lp.Counts, Query: query, State: string(state), Filtered: query != "" || state != "",
		Total: lp.Total, Page: lp.Page, PageCount: max((lp.Total+lp.Size-1)/lp.Size, 1),
		Return: reviewPageQuery(query, string(state), lp.Page), Export: "/gestion/revue/export.csv",
	}
	if directory.CanSeeReviewProgress(actor, actor.SIRET) && !p.Agent {
		p.Progress = "/gestion/revue/structures/" + url.PathEscape(actor.SIRET)
	}
	p.States = []stateOption{{"", "Tous les états", state == ""}}
	for _, st := range []directory.LineState{directory.LinePending, directory.LineConfirmed, directory.LineWithdrawn, directory.LineGone, directory.LineFlagged} {
		p.States = append(p.States, stateOption{string(st), lineStateLabels[st], st == state})
	}
	for _, it := range lp.Lines {
		row := reviewRow{ID: it.ID, Name: it.Name, Identifier: it.Account, Role: roleLabel(string(it.Role)), Service: it.Service,
			Application: it.Application, Profile: it.Profile, State: lineStateLabels[it.ShownState()], Badge: lineBadges[it.ShownState()],
			Decidable: it.Decidable && p.Open}
		if row.Name == "" {
			row.Name = it.Account
		}
		if p.Agent {
			row.Structure = strings.TrimSpace(it.StructureName + " (SIRET " + it.SIRET + ")")
		}
		if !it.DecidedAt.IsZero() && it.ShownState() != directory.LineGone {
			by := it.DecidedBy
			if by == "" {
				by = "la date limite"
			}
			row.Decided = "par " + by + " le " + parisTime(&it.DecidedAt)
		}
		if row.Decidable {
			p.Decidable++
		}
		p.Rows = append(p.Rows, row)
	}
	p.Pagination = newPagination(lp.Page, lp.Size, lp.Total, func(n int) string { return reviewPageHref(query, string(state), n) })
	if p.PageCount > 1 {
		p.Title += " — page " + strconv.Itoa(p.Page) + " sur " + strconv.Itoa(p.PageCount)
	}
	return p, nil
}

// handleReviewForm takes the decisions of the reviewer's page: the button
// pressed names the decision and its line (confirm=ID, withdraw=ID), or
// every line of the page (all=confirm or all=withdraw, the page's lines
// in "line").
func (s *Server) handleReviewForm(c *gin.Context) error {
	var d directory.ReviewDecision
	var lines []string
	switch {
	case c.PostForm("confirm") != "":
		d, lines = directory.DecisionConfirm, []string{c.PostForm("confirm")}
	case c.PostForm("withdraw") != "":
		d, lines = directory.DecisionWithdraw, []string{c.PostForm("withdraw")}
	default:
		d, lines = directory.ReviewDecision(c.PostForm("all")), c.PostFormArray("line")
	}
	// Back to the page the form was on (its search, its page number).
	params, _ := url.ParseQuery(c.PostForm("retour"))
	back := reviewPageHref(params.Get("q"), params.Get("etat"), 1)
	if n, ok := parseBounded(params.Get("page"), 1, maxPage); ok {
		back = reviewPageHref(params.Get("q"), params.Get("etat"), n)
	}
	res, err := s.reviews.Decide(c.Request.Context(), account(c), "", d, lines)
	var message string
	switch {
	case errors.Is(err, directory.ErrInvalid):
		message = "Aucune ligne n'a été traitée : choisissez « Confirmer » ou « Retirer » sur une ligne, ou pour toutes les lignes de la page."
	case errors.Is(err, directory.ErrReviewClosed):
		message = "La revue est close : sa date limite est passée, plus aucune décision n'est prise."
	case err != nil:
		return err
	}
	if message != "" {
		p, perr := s.reviewPage(c, params)
		if perr != nil {
			return perr
		}
		kind, _ := classify(err)
		return s.showFailed(c, "gestion_revue.tmpl", p, &formFailure{status: kind.status, errors: formErrors{},
			notice: &notice{Kind: "error", Title: "La décision n'a pas été enregistrée", Message: message}})
	}
	var parts []string
	for _, o := range []struct {
		outcome directory.LineOutcome
		one     string
		many    string
	}{
		{directory.OutcomeConfirmed, "habilitation confirmée", "habilitations confirmées"},
		{directory.OutcomeWithdrawn, "habilitation retirée", "habilitations retirées"},
		{directory.OutcomeAlreadyWithdrawn, "habilitation déjà retirée entre-temps", "habilitations déjà retirées entre-temps"},
		{directory.OutcomeAlreadyDecided, "ligne déjà traitée, laissée telle quelle", "lignes déjà traitées, laissées telles quelles"},
	} {
		switch n := res.Count(o.outcome); {
		case n == 1:
			parts = append(parts, "1 "+o.one)
		case n > 1:
			parts = append(parts, strconv.Itoa(n)+" "+o.many)
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "la décision est enregistrée")
	}
	return s.redirectWith(c, back, "Revue enregistrée", strings.Join(parts, ", ")+".")
}

func (s *Server) handleReviewExportPage(c *gin.Context) error {
	err := s.writeReviewCSV(c, "", c.Query("siret"))
	if errors.Is(err, directory.ErrNotFound) {
		return errNoReview
	}
	return err
}

type progressRow struct {
	Name, SIRET, Href string
	Counts            directory.ReviewCounts
}

type reviewStructuresPage struct {
	base
	Notice     *notice
	Review     reviewView
	Deadline   string
	Totals     directory.ReviewCounts
	Query      string
	Unfinished bool
	Filtered   bool
	Rows       []progressRow
	Total      int
	Page       int
	PageCount  int
	Pagination *pagination
}

func (s *Server) handleReviewStructuresPage(c *gin.Context) error {
	noStore(c)
	query := searchText(c.Query("q"))
	unfinished := c.Query("restant") == "1"
	n, err := pageParam.read(c)
	if err != nil {
		return &httpError{status: http.StatusBadRequest, code: "invalid_request", message: pageParam.message(), err: err}
	}
	q := directory.ReviewStructuresQuery{Query: query, Unfinished: unfinished, Page: n, Size: reviewPageSize}
	sp, err := s.reviews.Structures(c.Request.Context(), account(c), q)
	if errors.Is(err, directory.ErrNotFound) {
		return errNoReview
	}
	if err != nil {
		return err
	}
	if last := max((sp.Total+sp.Size-1)/sp.Size, 1); sp.Page > last {
		q.Page = last
		if sp, err = s.reviews.Structures(c.Request.Context(), account(c), q); err != nil {
			return err
		}
	}
	href := func(n int) string {
		v := url.Values{}
		if query != "" {
			v.Set("q", query)
		}
		if unfinished {
			v.Set("restant", "1")
		}
		if n > 1 {
			v.Set("page", strconv.Itoa(n))
		}
		if len(v) == 0 {
			return "/gestion/revue/structures"
		}
		return "/gestion/revue/structures?" + v.Encode()
	}
	p := reviewStructuresPage{base: s.base(c, "Avancement de la revue des habilitations"), Review: newReviewView(sp.Review),
		Deadline: parisTime(&sp.Review.Deadline), Totals: sp.Totals, Query: query, Unfinished: unfinished, Filtered: query != "" || unfinished,
		Total: sp.Total, Page: sp.Page, PageCount: max((sp.Total+sp.Size-1)/sp.Size, 1)}
	for _, st := range sp.Structures {
		p.Rows = append(p.Rows, progressRow{Name: st.Name, SIRET: st.SIRET, Counts: st.Counts, Href: "/gestion/revue/structures/" + url.PathEscape(st.SIRET)})
	}
	p.Pagination = newPagination(sp.Page, sp.Size, sp.Total, href)
	if p.PageCount > 1 {
		p.Title += " — page " + strconv.Itoa(p.Page) + " sur " + strconv.Itoa(p.PageCount)
	}
	s.render(c, http.StatusOK, "gestion_revue_structures.tmpl", p)
	return nil
}

type reviewerRow struct {
	Name, Role string
	Counts     directory.ReviewCounts
	Decided    int
}

type reviewStructurePage struct {
	base
	Notice    *notice
	Review    reviewView
	Deadline  string
	Structure structureProgressView
	Counts    directory.ReviewCounts
	Reviewers []reviewerRow
	Orphans   int
	Agent     bool
	Export    string
}

func (s *Server) handleReviewStructurePage(c *gin.Context) error {
	noStore(c)
	sr, err := s.reviews.Structure(c.Request.Context(), account(c), "", c.Param("siret"))
	if errors.Is(err, directory.ErrNotFound) {
		return errNoReview
	}
	if err != nil {
		return err
	}
	p := reviewStructurePage{base: s.base(c, "Avancement de la revue : "+sr.Structure.Name), Review: newReviewView(sr.Review),
		Deadline: parisTime(&sr.Review.Deadline), Structure: structureProgressView{SIRET: sr.Structure.SIRET, Name: sr.Structure.Name},
		Counts: sr.Structure.Counts, Orphans: sr.Orphans, Agent: account(c).Role == directory.RoleAgent,
		Export: "/gestion/revue/export.csv?siret=" + url.QueryEscape(sr.Structure.SIRET)}
	for _, r := range sr.Reviewers {
		name := r.Name
		if r.Identifier != "" {
			name += " (" + r.Identifier + ")"
		}
		p.Reviewers = append(p.Reviewers, reviewerRow{Name: name, Role: roleLabel(string(r.Role)), Counts: r.Counts, Decided: r.Decided})
	}
	s.render(c, http.StatusOK, "gestion_revue_structure.tmpl", p)
	return nil
}
