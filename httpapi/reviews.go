package httpapi

import (
	"encoding/csv"
	"fmt"
	"net/http"
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
	if st != "" && !st.Valid() {
		return "", &directory.InvalidError{Problems: []directory.Problem{{Field: "state",
			Message: "L'état doit être pending, confirmed, withdrawn, gone ou flagged."}}}
	}
	return st, nil
}

func (s *Server) reviewLines(c *gin.Context, review string) (*directory.ReviewLinesPage, error) {
	page, err := pageParam.read(c)
	if err != nil {
		return nil, err
	}
	size, err := sizeParam.read(c)
	if err != nil {
		return nil, err
	}
	state, err := lineStateParam(c)
	if err != nil {
		return nil, err
	}
	return s.reviews.Lines(c.Request.Context(), account(c), directory.ReviewLinesQuery{
		Review: review, Query: c.Query("q"), State: state, Page: page, Size: size})
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
	page, err := pageParam.read(c)
	if err != nil {
		return err
	}
	size, err := sizeParam.read(c)
	if err != nil {
		return err
	}
	p, err := s.reviews.Structures(c.Request.Context(), account(c), directory.ReviewStructuresQuery{
		Review: c.Param("review"), Query: c.Query("q"), Unfinished: c.Query("unfinished") == "true", Page: page, Size: size})
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
// CSV (separator ";", UTF-8 with a BOM, for spreadsheets set to French),
// line by line as the directory hands them: nothing is written before
// every check passed, so a refusal is the usual error; an error once
// lines were sent cuts the file short, and is logged.
func (s *Server) writeReviewCSV(c *gin.Context, review, siret string) error {
	var w *csv.Writer
	rows := 0
	start := func(r *directory.Review) error {
		c.Header("Content-Type", "text/csv; charset=utf-8")
		c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="revue-habilitations-%s.csv"`, r.ID))
		noStore(c)
		c.Status(http.StatusOK)
		if _, err := c.Writer.WriteString("\ufeff"); err != nil {
			return err
		}
		w = csv.NewWriter(c.Writer)
		w.Comma = ';'
		w.UseCRLF = true
		return w.Write(csvHeader)
	}
	r, err := s.reviews.Export(c.Request.Context(), account(c), review, siret, start, func(it directory.ReviewItem) error {
		decidedAt, decidedBy := "", it.DecidedBy
		if !it.DecidedAt.IsZero() && it.State != directory.LineGone {
			decidedAt = parisTime(&it.DecidedAt)
			if decidedBy == "" {
				decidedBy = "(date limite)"
			}
		}
		if err := w.Write(csvCells(it.SIRET, it.StructureName, it.Service, it.Account, it.Name, roleLabel(string(it.Role)),
			it.Application, it.Profile, lineStateLabels[it.ShownState()], decidedBy, decidedAt)); err != nil {
			return err
		}
		if rows++; rows%200 == 0 {
			w.Flush()
		}
		return w.Error()
	})
	if w == nil {
		return err // nothing sent: the usual answer
	}
	w.Flush()
	if err == nil {
		err = w.Error()
	}
	if err != nil {
		s.log.Error("export de revue interrompu", "review", r.ID, "error", err.Error())
		c.Abort()
	}
	return nil
}

// csvCells guards each cell from being read as a formula by a spreadsheet.
func csvCells(cells ...string) []string {
	for i, v := range cells {
		if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
			cells[i] = "'" + v
		}
	}
	return cells
}
