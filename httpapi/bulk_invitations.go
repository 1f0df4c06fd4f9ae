package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/directory"
)

// Bulk invitations: a CSV file of e-mail, role and service, checked row by
// row (the API's dry run, the pages' preview), then invited row by row
// through the invitation workflow (directory.Accounts.InviteBulk). The
// work is bound to the request that confirms it: the API answers when it
// is done, the page streams its progress as it goes (a <progress> per step,
// the last one alone shown by the stylesheet, no script), then the result.
// Nothing is kept between the preview and the confirmation but the file's
// text, posted again by the preview's form and checked again, so that
// either may be served by any instance.

// bulkFileBound bounds a bulk invitation's file: MaxBulkRows rows of 400
// bytes, more than an address of 254 characters, a role and a service.
const bulkFileBound = 2 << 20

// bulkBodyBound bounds the body of its requests: the file and the form
// around it.
const bulkBodyBound = bulkFileBound + maxBody

// csvRoutes are the API routes that take text/csv besides JSON.
var csvRoutes = map[string]bool{"POST /api/v1/structures/:siret/invitations/bulk": true}

// fileTooLarge is a bulk invitation's file over its bound.
func fileTooLarge(err error) error {
	return &httpError{http.StatusRequestEntityTooLarge, "request_too_large",
		"Le fichier envoyé dépasse 2 Mo : une invitation à partir d'un fichier compte au plus 5 000 lignes. Découpez-le en plusieurs fichiers.", err}
}

// keepWriting gives a long answer two more minutes: apexd's server ends
// an answer after a minute otherwise (http.Server.WriteTimeout).
func keepWriting(c *gin.Context) {
	http.NewResponseController(c.Writer).SetWriteDeadline(time.Now().Add(2 * time.Minute))
}

// bulkRowView is a row and its outcome, as the API and the pages show it.
type bulkRowView struct {
	Line    int    `json:"line"`
	Email   string `json:"email"`
	Role    string `json:"role,omitempty"`
	Service string `json:"service,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message"`
	ID      string `json:"id,omitempty"` // the request id of the invitation made
	Outcome string `json:"-"`            // the code in French, for the pages
}

type bulkReportView struct {
	DryRun  bool          `json:"dryRun"`
	Total   int           `json:"total"`
	Ready   int           `json:"ready"`
	Invited int           `json:"invited"`
	Refused int           `json:"refused"`
	Rows    []bulkRowView `json:"rows"`
}

func newBulkReportView(r *directory.BulkReport) bulkReportView {
	v := bulkReportView{DryRun: r.DryRun, Total: len(r.Rows), Ready: r.Count(directory.BulkReady), Invited: r.Invited(),
		Refused: r.Refused(), Rows: make([]bulkRowView, len(r.Rows))}
	for i, row := range r.Rows {
		v.Rows[i] = bulkRowView{Line: row.Line, Email: row.Email, Role: row.Role, Service: row.Service,
			Code: row.Code, Message: row.Message, ID: row.RequestID, Outcome: bulkOutcome(row.Code)}
	}
	return v
}

// bulkRowRequest is a row of the API's JSON form.
type bulkRowRequest struct {
	Email   string `json:"email"`
	Role    string `json:"role"`
	Service string `json:"service"`
}

// readBulkRows reads the rows of the API's body: a CSV file (text/csv,
// as the pages take it) or a JSON array of rows, each numbered by its rank.
func readBulkRows(c *gin.Context) ([]directory.BulkRow, error) {
	raw, err := io.ReadAll(c.Request.Body)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, fileTooLarge(err)
	case err != nil:
		return nil, fmt.Errorf("%w: %v", errBadRequest, err)
	case c.ContentType() == "text/csv":
		return directory.ReadBulkCSV(bytes.NewReader(raw))
	}
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) == 0 || t[0] != '[' {
		return nil, fmt.Errorf("%w: not a JSON array", errBadRequest)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var list []bulkRowRequest
	if err := dec.Decode(&list); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data", errBadRequest)
	}
	rows := make([]directory.BulkRow, len(list))
	for i, r := range list {
		rows[i] = directory.BulkRow{Line: i + 1, Email: r.Email, Role: r.Role, Service: r.Service}
	}
	return rows, nil
}

// dryRunParam reads ?dryRun=: true or false, absent is false.
func dryRunParam(c *gin.Context) (bool, error) {
	switch values := c.Request.URL.Query()["dryRun"]; {
	case len(values) == 0:
		return false, nil
	case len(values) == 1 && (values[0] == "true" || values[0] == "false"):
		return values[0] == "true", nil
	}
	return false, invalidField("dryRun", "dryRun doit valoir true ou false.")
}

func (s *Server) handleBulkInvite(c *gin.Context) error {
	dryRun, err := dryRunParam(c)
	if err != nil {
		return err
	}
	rows, err := readBulkRows(c)
	if err != nil {
		return err
	}
	ctx, actor, siret := c.Request.Context(), account(c), c.Param("siret")
	var report *directory.BulkReport
	if dryRun {
		report, err = s.accounts.CheckBulk(ctx, actor, siret, rows)
	} else {
		report, err = s.accounts.InviteBulk(ctx, actor, siret, rows, func(int, int) { keepWriting(c) })
	}
	if err != nil {
		return err
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, newBulkReportView(report))
	return nil
}

// The pages: the upload form, the preview (every row's problem, and a form
// that posts the file's text again to confirm), the run and its result.

// bulkUploadPage is the form that takes the file.
type bulkUploadPage struct {
	base
	formState
	Agent    bool     // agents name the structure: its SIRET
	SIRET    string   // the structure, for agents
	Service  string   // a responsable's service, where their file invites
	Services []string // an administrator's services, to name in the file
	Model    template.URL
}

// bulkModel is a file to start from, as the upload form offers it.
func bulkModel(actor *directory.Person) template.URL {
	rows := [][]string{{"Adresse mail", "Rôle", "Service"}}
	switch actor.Role {
	case directory.RoleAgent:
		rows = append(rows, []string{"prenom.nom@exemple.fr", "administrateur", ""})
	case directory.RoleResponsable:
		rows = append(rows, []string{"prenom.nom@exemple.fr", "collaborateur", actor.Service})
	default:
		rows = append(rows, []string{"prenom.nom@exemple.fr", "collaborateur", "Comptabilité"},
			[]string{"prenom2.nom2@exemple.fr", "responsable", "Comptabilité"})
	}
	return csvDataURL(rows)
}

// csvDataURL is a CSV file as French Excel opens it (";", UTF-8 with its
// byte order mark, CRLF) in a data: URL, for a link that downloads it
// without another request (the result of a run lives in its page only).
// A cell that a spreadsheet would read as a formula is quoted with "'".
func csvDataURL(rows [][]string) template.URL {
	var b bytes.Buffer
	b.WriteString("\ufeff")
	w := csv.NewWriter(&b)
	w.Comma, w.UseCRLF = ';', true
	for _, row := range rows {
		safe := make([]string, len(row))
		for i, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				cell = "'" + cell
			}
			safe[i] = cell
		}
		w.Write(safe)
	}
	w.Flush()
	return template.URL("data:text/csv;charset=utf-8;base64," + base64.StdEncoding.EncodeToString(b.Bytes()))
}

func (s *Server) bulkUploadPage(c *gin.Context, siret string) (*bulkUploadPage, error) {
	actor := account(c)
	p := &bulkUploadPage{base: s.base(c, "Inviter à partir d'un fichier"), formState: formState{Errors: formErrors{}}, Model: bulkModel(actor)}
	switch actor.Role {
	case directory.RoleAgent:
		p.Agent, p.SIRET = true, directory.NormalizeSIRET(siret)
		return p, nil
	case directory.RoleResponsable:
		p.Service = actor.Service
	}
	if !directory.CanInviteInBulk(actor, actor.SIRET) {
		return nil, directory.ErrForbidden
	}
	if actor.Role == directory.RoleAdministrateur {
		services, err := s.consultation.Services(c.Request.Context(), actor, actor.SIRET)
		if err != nil {
			return nil, err
		}
		p.Services = []string{}
		for _, sv := range services {
			p.Services = append(p.Services, sv.Name)
		}
	}
	return p, nil
}

func (s *Server) handleBulkPage(c *gin.Context) error {
	p, err := s.bulkUploadPage(c, c.Query("siret"))
	return s.showPage(c, "gestion_inviter_fichier.tmpl", p, err)
}

// bulkTable is a table of rows (the partial bulk-rows).
type bulkTable struct {
	ID, Caption string
	Rows        []bulkRowView
	Outcome     bool // a column for the outcome, and the message as its reason
}

// bulkLinks are where a bulk invitation's pages lead: another file, and
// back where the person came from.
type bulkLinks struct {
	Back, Home, HomeText string
}

func newBulkLinks(c *gin.Context, siret string) bulkLinks {
	if account(c).Role == directory.RoleAgent {
		return bulkLinks{Back: "/gestion/inviter/fichier?siret=" + siret, Home: "/agent/structures/" + siret, HomeText: "Retour à la structure"}
	}
	return bulkLinks{Back: "/gestion/inviter/fichier", Home: "/gestion/comptes", HomeText: "Retour à la gestion des comptes"}
}

// bulkPreviewPage is the file checked: its rows with a problem, those
// ready, and the form that confirms.
type bulkPreviewPage struct {
	base
	bulkLinks
	Structure *directory.Structure
	SIRET     string // posted again: the structure an agent named
	FileName  string
	Content   string // the file's text, posted again to confirm
	Problems  []bulkRowView
	Ready     []bulkRowView

	TotalText, ReadyText, ProblemsText, ConfirmText string
	ProblemsTable, ReadyTable                       bulkTable
}

// bulkRunPage is the page of a run: its progress while it goes, then its
// result. It is rendered twice, cut at bulkCut: before the run (what
// comes before the progress) and after it (what follows).
type bulkRunPage struct {
	base
	bulkLinks
	Structure *directory.Structure
	FileName  string
	ReadyText string // the rows to invite
	Done      bool
	Problems  []bulkRowView // the rows not invited, with their reason
	Result    template.URL  // the result of every row, as a CSV file

	InvitedText, NotInvitedText string
	ProblemsTable               bulkTable
}

// countOf writes a count and its noun, singular up to 1 as French does,
// thousands apart: « 0 ligne », « 5 000 lignes ».
func countOf(n int, one, many string) string {
	digits := strconv.Itoa(n)
	var b strings.Builder
	for i, d := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteString("\u00a0")
		}
		b.WriteRune(d)
	}
	if n <= 1 {
		return b.String() + " " + one
	}
	return b.String() + " " + many
}

// bulkStep is one step of a run's progress.
type bulkStep struct {
	N, Done, Total, Percent int
}

// bulkCut is where a run's page is cut for its progress to stream in.
const bulkCut = `<span id="suite-progression"></span>`

// bulkFormSIRET is the structure a bulk invitation's form acts on: an
// agent's names it, the others' is their own.
func bulkFormSIRET(c *gin.Context) string {
	if actor := account(c); actor.Role != directory.RoleAgent {
		return actor.SIRET
	}
	return directory.NormalizeSIRET(c.PostForm("siret"))
}

// readUpload reads up to limit bytes of an uploaded file, then removes
// the form's temporary files at once, before any answer is written
// (limitBodies removes them too, but only once the handler has returned).
func readUpload(c *gin.Context, header *multipart.FileHeader, limit int64) ([]byte, error) {
	defer func() {
		if form := c.Request.MultipartForm; form != nil {
			form.RemoveAll()
		}
	}()
	f, err := header.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}

// handleBulkForm serves the upload form's « Vérifier le fichier » (to the
// preview) and the preview's « Inviter » (to the run).
func (s *Server) handleBulkForm(c *gin.Context) error {
	siret := bulkFormSIRET(c)
	if c.PostForm("action") == "confirmer" {
		rows, err := directory.ReadBulkCSV(strings.NewReader(c.PostForm("contenu")))
		if err != nil {
			return s.bulkFailed(c, siret, err)
		}
		return s.runBulk(c, siret, c.PostForm("nom"), rows)
	}
	header, err := c.FormFile("fichier")
	if err != nil {
		return s.bulkFailed(c, siret, invalidField("file", "Choisissez le fichier à envoyer."))
	}
	raw, err := readUpload(c, header, bulkFileBound+1)
	switch {
	case err != nil:
		return err
	case len(raw) > bulkFileBound:
		return s.bulkFailed(c, siret, fileTooLarge(errTooLarge))
	}
	rows, err := directory.ReadBulkCSV(bytes.NewReader(raw))
	if err != nil {
		return s.bulkFailed(c, siret, err)
	}
	report, err := s.accounts.CheckBulk(c.Request.Context(), account(c), siret, rows)
	if err != nil {
		return s.bulkFailed(c, siret, err)
	}
	p := &bulkPreviewPage{base: s.base(c, "Vérification du fichier"), bulkLinks: newBulkLinks(c, siret), Structure: report.Structure,
		SIRET: siret, FileName: header.Filename, Content: strings.TrimPrefix(string(raw), "\ufeff")}
	for _, row := range newBulkReportView(report).Rows {
		if row.Code == directory.BulkReady {
			p.Ready = append(p.Ready, row)
		} else {
			p.Problems = append(p.Problems, row)
		}
	}
	p.TotalText = countOf(len(report.Rows), "ligne", "lignes")
	p.ReadyText = countOf(len(p.Ready), "ligne prête à être invitée", "lignes prêtes à être invitées")
	p.ProblemsText = countOf(len(p.Problems), "ligne refusée", "lignes refusées")
	p.ConfirmText = "Inviter " + countOf(len(p.Ready), "personne", "personnes")
	p.ProblemsTable = bulkTable{ID: "table-refusees", Caption: "Lignes refusées, avec ce qui les empêche d'être invitées", Rows: p.Problems}
	p.ReadyTable = bulkTable{ID: "table-pretes", Caption: "Lignes prêtes à être invitées", Rows: p.Ready}
	noStore(c)
	s.render(c, http.StatusOK, "gestion_inviter_fichier_apercu.tmpl", p)
	return nil
}

// bulkFailed shows the upload form again with what was wrong: the file
// (beside its field), the structure an agent named, or a run already
// under way; anything else is the error page.
func (s *Server) bulkFailed(c *gin.Context, siret string, err error) error {
	switch {
	case errors.Is(err, directory.ErrNotFound) && account(c).Role == directory.RoleAgent:
		err = invalidField("siret", "Aucune structure de l'annuaire ne porte ce SIRET.")
	case errors.Is(err, directory.ErrBulkRunning):
		err = &httpError{http.StatusConflict, "bulk_running", "Une invitation à partir d'un fichier est déjà en cours dans cette structure : réessayez quand elle sera terminée.", err}
	}
	var he *httpError
	if errors.As(err, &he) && he.status == http.StatusRequestEntityTooLarge {
		err = &directory.InvalidError{Problems: []directory.Problem{{Field: "file", Message: he.message}}}
	}
	f, err := sortFormError(err, "", "file", "siret")
	if err != nil {
		return err
	}
	p, err := s.bulkUploadPage(c, siret)
	if err != nil {
		return err
	}
	return s.showFailed(c, "gestion_inviter_fichier.tmpl", p, f)
}

// runBulk invites the rows, streaming the page: its beginning once the run
// has the structure and has checked the rows (an error before that is an
// ordinary page), a step of progress every 5 % and at least a second
// apart, then the result. A proxy must not hold the stream back
// (X-Accel-Buffering for nginx).
func (s *Server) runBulk(c *gin.Context, siret, fileName string, rows []directory.BulkRow) error {
	t := s.pages.sets["gestion_inviter_fichier_envoi.tmpl"]
	page := &bulkRunPage{base: s.base(c, "Invitations à partir d'un fichier"), bulkLinks: newBulkLinks(c, siret), FileName: fileName}
	var last bulkStep
	var lastAt time.Time
	started := false
	progress := func(done, total int) {
		keepWriting(c)
		if !started {
			started = true
			page.ReadyText = countOf(total, "personne", "personnes")
			var head bytes.Buffer
			if err := t.ExecuteTemplate(&head, "layout", page); err != nil {
				s.log.Error("render page", "page", "gestion_inviter_fichier_envoi.tmpl", "error", err.Error())
			}
			before, _, _ := strings.Cut(head.String(), bulkCut)
			noStore(c)
			c.Header("Content-Type", "text/html; charset=utf-8")
			c.Header("X-Accel-Buffering", "no")
			c.Status(http.StatusOK)
			c.Writer.WriteString(before)
		}
		percent := 100
		if total > 0 {
			percent = done * 100 / total
		}
		if total == 0 || done > 0 && done < total && (percent < last.Percent+5 || time.Since(lastAt) < time.Second) {
			c.Writer.Flush()
			return
		}
		last, lastAt = bulkStep{N: last.N + 1, Done: done, Total: total, Percent: percent}, time.Now()
		t.ExecuteTemplate(c.Writer, "bulk-step", last)
		c.Writer.Flush()
	}
	report, err := s.accounts.InviteBulk(c.Request.Context(), account(c), siret, rows, progress)
	if err != nil {
		if started { // never: a run that started ends with its report
			return nil
		}
		return s.bulkFailed(c, siret, err)
	}
	page.Done, page.Structure = true, report.Structure
	result := [][]string{{"Ligne", "Adresse mail", "Rôle", "Service", "Résultat", "Code", "Motif"}}
	for _, row := range newBulkReportView(report).Rows {
		if row.Code != directory.BulkInvited {
			page.Problems = append(page.Problems, row)
		}
		result = append(result, []string{strconv.Itoa(row.Line), row.Email, row.Role, row.Service, row.Outcome, row.Code, row.Message})
	}
	page.Result = csvDataURL(result)
	page.InvitedText = countOf(report.Invited(), "personne invitée", "personnes invitées")
	page.NotInvitedText = countOf(len(page.Problems), "ligne non invitée", "lignes non invitées")
	page.ProblemsTable = bulkTable{ID: "table-non-invitees", Caption: "Lignes non invitées, avec leur motif", Rows: page.Problems, Outcome: true}
	var full bytes.Buffer
	if err := t.ExecuteTemplate(&full, "layout", page); err != nil {
		s.log.Error("render page", "page", "gestion_inviter_fichier_envoi.tmpl", "error", err.Error())
		c.Writer.WriteString("<p>Erreur interne.</p></main></body></html>")
		return nil
	}
	_, after, _ := strings.Cut(full.String(), bulkCut)
	c.Writer.WriteString(after)
	return nil
}

// bulkOutcome names a row's outcome in French.
func bulkOutcome(code string) string {
	switch code {
	case directory.BulkReady:
		return "Prête"
	case directory.BulkInvited:
		return "Invitée"
	case directory.BulkMailFailed:
		return "Invitée, mail non envoyé"
	case directory.BulkNotDone, directory.BulkLimitReached:
		return "Non traitée"
	}
	return "Refusée"
}
