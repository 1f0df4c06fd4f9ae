package directory

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/mozillazg/go-unidecode"
)

// Bulk invitations: a file of rows (e-mail, role, service), each checked
// as an invitation of its own would be, then invited one by one through
// the same steps (Accounts.InviteBulk). The file is the CSV that Excel
// writes, in French or in English.

// MaxBulkRows is the most rows one bulk invitation takes.
const MaxBulkRows = 5000

// BulkRow is one row to invite, as read.
type BulkRow struct {
	Line    int // its line in the file (from 1, the header counted), or its rank in a list
	Email   string
	Role    string // a role's name; empty: the only role the inviter may give
	Service string // empty: a responsable's own service
}

// The codes of a row's outcome, stable (the API's). A row is ready (a dry
// run), invited, or refused with one of the others.
const (
	BulkReady          = "ok"
	BulkInvited        = "invited"
	BulkInvalidEmail   = "invalid_email"
	BulkInvalidRole    = "invalid_role"
	BulkMissingService = "missing_service"
	BulkUnknownService = "unknown_service"
	BulkNotAllowed     = "not_allowed"     // a role or a service beyond the inviter's rights
	BulkDuplicate      = "duplicate"       // the address is on an earlier row
	BulkAlreadyInvited = "already_invited" // an invitation or a request waits for it in the structure
	BulkAccountExists  = "account_exists"  // an account of the structure has it
	BulkLimitReached   = "too_many_invitations"
	BulkNotDone        = "not_done"    // the run stopped before the row
	BulkMailFailed     = "mail_failed" // invited, but its mail could not be queued
)

// BulkResult is a row and its outcome.
type BulkResult struct {
	BulkRow
	Code      string // one of the Bulk codes
	Message   string // French, for the person who sent the file
	RequestID string // of the invitation, once made
}

// Refused says whether the row was not invited, nor would be.
func (r BulkResult) Refused() bool {
	return r.Code != BulkReady && r.Code != BulkInvited && r.Code != BulkMailFailed
}

// BulkReport is the outcome of every row, in the order of the file.
type BulkReport struct {
	DryRun    bool
	Structure *Structure
	Rows      []BulkResult
}

// Count is how many rows have one of codes.
func (r *BulkReport) Count(codes ...string) int {
	n := 0
	for _, row := range r.Rows {
		for _, c := range codes {
			if row.Code == c {
				n++
				break
			}
		}
	}
	return n
}

// Invited is how many rows were invited (their mail sent or not).
func (r *BulkReport) Invited() int { return r.Count(BulkInvited, BulkMailFailed) }

// Refused is how many rows were not invited, nor would be.
func (r *BulkReport) Refused() int {
	n := 0
	for _, row := range r.Rows {
		if row.Refused() {
			n++
		}
	}
	return n
}

// bulkFileError is a file that cannot be read as rows: one problem, on the
// file as a whole.
func bulkFileError(format string, args ...any) error {
	return &InvalidError{[]Problem{{"file", fmt.Sprintf(format, args...)}}}
}

// The names a header may give its columns, folded (foldHeader).
var bulkColumns = map[string]string{
	"email": "email", "mail": "email", "courriel": "email", "adressemail": "email", "adresseemail": "email",
	"adressecourriel": "email", "adresseelectronique": "email", "emailaddress": "email", "mailaddress": "email",
	"role": "role", "roleducompte": "role", "typedecompte": "role",
	"service": "service", "nomduservice": "service", "servicename": "service",
}

// foldHeader is a header's cell lower-cased, without accents, spaces nor
// punctuation: « Adresse e-mail » is adresseemail, « Rôle » role.
func foldHeader(cell string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(unidecode.Unidecode(cell)) {
		if r >= 'a' && r <= 'z' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// ReadBulkCSV reads the rows of a CSV file as Excel writes it: UTF-8 with
// or without its byte order mark, ";" or "," between fields (the first
// line says which, ";" when it has as many of each; a first line "sep=;"
// says it outright), CRLF or LF, quoted fields, blank lines and rows of
// separators alone skipped, trailing separators ignored. A first line
// naming its columns (« Adresse mail;Rôle;Service », "email,role,service",
// in any order, other columns ignored) is a header; without one the
// columns are e-mail, role, service. Errors: ErrInvalid, with one problem
// on "file", for a file that is not UTF-8, a malformed quote, no address
// column, no row, or more than MaxBulkRows rows.
func ReadBulkCSV(r io.Reader) ([]BulkRow, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(raw) {
		return nil, bulkFileError("Le fichier n'est pas encodé en UTF-8 : dans Excel, enregistrez-le au format « CSV UTF-8 (délimité par des virgules) ».")
	}
	sep, skip := bulkSeparator(raw)
	cr := csv.NewReader(bytes.NewReader(raw))
	cr.Comma, cr.FieldsPerRecord, cr.TrimLeadingSpace = sep, -1, true
	columns := map[string]int{"email": 0, "role": 1, "service": 2}
	var rows []BulkRow
	first := true
	for {
		record, err := cr.Read()
		if err == io.EOF {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, bulkFileError("Ligne %d : un guillemet est mal placé. Corrigez la ligne, ou enregistrez le fichier à nouveau depuis votre tableur.", pe.Line)
		}
		if err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		if skip && line == 1 {
			continue
		}
		blank := true
		for i := range record {
			record[i] = strings.TrimSpace(record[i])
			blank = blank && record[i] == ""
		}
		if blank {
			continue
		}
		if first {
			first = false
			if header, ok := bulkHeader(record); ok {
				if _, ok := header["email"]; !ok {
					return nil, bulkFileError("La ligne d'en-tête ne nomme pas la colonne des adresses mail (« Adresse mail » ou « email »).")
				}
				columns = header
				continue
			}
		}
		if len(rows) == MaxBulkRows {
			return nil, bulkFileError("Le fichier compte plus de %s lignes à inviter : découpez-le en plusieurs fichiers de %s lignes au plus.", frenchNumber(MaxBulkRows), frenchNumber(MaxBulkRows))
		}
		cell := func(name string) string {
			if i, ok := columns[name]; ok && i < len(record) {
				return record[i]
			}
			return ""
		}
		rows = append(rows, BulkRow{Line: line, Email: cell("email"), Role: cell("role"), Service: cell("service")})
	}
	if len(rows) == 0 {
		return nil, bulkFileError("Le fichier ne contient aucune ligne à inviter.")
	}
	return rows, nil
}

// bulkSeparator reads the separator on the first line that is not blank:
// "sep=X" (which Excel writes and reads) says it and is skipped, otherwise
// the more frequent of ";" and "," outside quotes, ";" on a tie.
func bulkSeparator(raw []byte) (sep rune, skipFirst bool) {
	text := string(raw)
	for text != "" {
		line, rest, _ := strings.Cut(text, "\n")
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			text = rest
			continue
		}
		if s, ok := strings.CutPrefix(line, "sep="); ok && utf8.RuneCountInString(s) == 1 && (s == ";" || s == ",") && text == string(raw) {
			return rune(s[0]), true
		}
		semicolons, commas, quoted := 0, 0, false
		for _, c := range line {
			switch {
			case c == '"':
				quoted = !quoted
			case quoted:
			case c == ';':
				semicolons++
			case c == ',':
				commas++
			}
		}
		if commas > semicolons {
			return ',', false
		}
		return ';', false
	}
	return ';', false
}

// bulkHeader reads a header line: the column of each name it gives. A
// line is a header when one of its cells names a column and none holds an
// address.
func bulkHeader(record []string) (map[string]int, bool) {
	columns := map[string]int{}
	for i, cell := range record {
		if strings.Contains(cell, "@") {
			return nil, false
		}
		if name, ok := bulkColumns[foldHeader(cell)]; ok {
			if _, seen := columns[name]; !seen {
				columns[name] = i
			}
		}
	}
	return columns, len(columns) > 0
}

// bulkRole reads a role's name as people write it: « Collaborateur »,
// « collaboratrice », « RESPONSABLE ».
func bulkRole(s string) (Role, bool) {
	switch foldHeader(s) {
	case "administrateur", "administratrice":
		return RoleAdministrateur, true
	case "responsable":
		return RoleResponsable, true
	case "collaborateur", "collaboratrice":
		return RoleCollaborateur, true
	}
	return "", false
}

// frenchNumber writes n with a no-break space between thousands: 5 000.
func frenchNumber(n int) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString("\u00a0")
		}
		b.WriteRune(c)
	}
	return b.String()
}
