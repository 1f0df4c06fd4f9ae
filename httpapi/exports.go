package httpapi

import (
	"encoding/csv"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/directory"
)

// The exports: the accounts of a structure, for its administrators, and
// the habilitations of an application, for agents. Each is a CSV that
// French Excel opens as it is (UTF-8 with a byte order mark, « ; » between
// cells, CRLF), written to the response as the directory's pages arrive:
// the answer never holds more than one page of entries.

// csvExport writes one export. Its status and headers go with its first
// row, so that an error before it (forbidden, not found, unavailable) is
// answered as any other.
type csvExport struct {
	s      *Server
	c      *gin.Context
	file   string
	header []string
	w      *csv.Writer
}

func (s *Server) newCSVExport(c *gin.Context, file string, header ...string) *csvExport {
	return &csvExport{s: s, c: c, file: file, header: header}
}

func (e *csvExport) start() {
	h := e.c.Writer.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="`+e.file+`"`)
	noStore(e.c)
	e.c.Status(http.StatusOK)
	e.w = csv.NewWriter(e.c.Writer)
	e.w.Comma, e.w.UseCRLF = ';', true
	e.c.Writer.WriteString("\uFEFF") // the BOM: without it, Excel reads the file as Windows-1252
	e.w.Write(e.header)
}

// row writes a row, each cell made safe for a spreadsheet (csvCell).
// Errors: the client's connection's.
func (e *csvExport) row(cells ...string) error {
	if e.w == nil {
		e.start()
	}
	for i, v := range cells {
		cells[i] = csvCell(v)
	}
	e.w.Write(cells)
	return e.w.Error()
}

// finish ends the export with the error that stopped it, if any. Before
// the first row, the error is returned, to be answered as usual. After it
// the status is gone: the connection is cut, so that the client sees a
// failed download and never takes a short file for the whole one.
func (e *csvExport) finish(err error) error {
	if err != nil && e.w == nil {
		return err
	}
	if err != nil {
		e.s.log.Warn("export cut", "file", e.file, "error", err.Error())
		panic(http.ErrAbortHandler)
	}
	if e.w == nil {
		e.start()
	}
	e.w.Flush()
	return nil
}

// csvCell makes a value safe in a spreadsheet: Excel and LibreOffice read
// a cell that begins with = + - @ (or a tab, a carriage return) as a
// formula, which could compute or link anything (CSV injection). A ' before
// it makes it text. The CSV writer quotes what holds « ; », « " » or a line break.
func csvCell(v string) string {
	if t := strings.TrimLeft(v, " "); t != "" && strings.ContainsRune("=+-@\t\r", rune(t[0])) {
		return "'" + v
	}
	return v
}

// csvTime writes a date as French Excel reads one: 04/12/2026 15:04, in
// Paris time; nothing for none.
func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(parisZone).Format("02/01/2006 15:04")
}

// csvState is a state as the lists name it (Actif, Invité, …).
func csvState(st directory.AccountState) string {
	if l, ok := stateLabels[st]; ok {
		return l.label
	}
	return string(st)
}

// exportDate is the day of an export, in its file's name.
func exportDate() string { return time.Now().In(parisZone).Format("20060102") }

func (s *Server) handleExportAccounts(c *gin.Context) error {
	return s.exportAccounts(c, directory.NormalizeSIRET(c.Param("siret")))
}

// handleExportAccountsPage exports the accounts of one's own structure.
func (s *Server) handleExportAccountsPage(c *gin.Context) error {
	return s.exportAccounts(c, account(c).SIRET)
}

func (s *Server) exportAccounts(c *gin.Context, siret string) error {
	ctx := c.Request.Context()
	actor := account(c)
	apps, err := s.consultation.Applications(ctx, actor)
	if err != nil {
		return err
	}
	names := newApplicationNames(apps)
	e := s.newCSVExport(c, "comptes-"+siret+"-"+exportDate()+".csv",
		"Identifiant", "Prénom", "Nom", "Adresse mail", "Rôle", "Service", "État", "Habilitations", "Dernière connexion")
	err = s.accounts.ExportAccounts(ctx, actor, siret, func(a *directory.Person) error {
		var habilitations []string
		for _, h := range a.Habilitations {
			habilitations = append(habilitations, names.of(h.Application)+" ("+h.Profile+")")
		}
		return e.row(a.Identifier, a.FirstName, a.LastName, a.Email, roleLabel(string(a.Role)), a.Service,
			csvState(a.State), strings.Join(habilitations, ", "), csvTime(a.LastSignIn))
	})
	return e.finish(err)
}

func (s *Server) handleExportHabilitations(c *gin.Context) error {
	id := c.Param("application")
	if !validExportID(id) {
		return directory.ErrNotFound
	}
	e := s.newCSVExport(c, "habilitations-"+id+"-"+exportDate()+".csv",
		"Application", "Profil", "Identifiant", "Prénom", "Nom", "Adresse mail", "Rôle", "SIRET", "Structure", "Service", "État", "Dernière connexion")
	err := s.accounts.ExportHabilitations(c.Request.Context(), account(c), id, func(app *directory.Application, h *directory.ExportedHabilitation) error {
		a := h.Account
		return e.row(app.Name, h.Profile, a.Identifier, a.FirstName, a.LastName, a.Email, roleLabel(string(a.Role)),
			a.SIRET, h.StructureName, a.Service, csvState(a.State), csvTime(a.LastSignIn))
	})
	return e.finish(err)
}

// validExportID: an application's id goes into the file's name, so only
// the characters an id may hold (lower-case letters, digits, hyphens).
func validExportID(id string) bool {
	return id != "" && len(id) <= 64 && strings.Trim(id, "abcdefghijklmnopqrstuvwxyz0123456789-") == ""
}
