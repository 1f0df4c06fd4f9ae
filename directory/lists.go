package directory

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mozillazg/go-unidecode"
)

// The management lists (structures, accounts, requests, pending
// invitations): each searches and pages in the directory, sorted by name,
// so that no page reads more than itself (see ldap_lists.go).

// Bounds of a list's page and search.
const (
	DefaultListSize = 50
	MaxListSize     = 200
	// MaxSearchLength is the longest search kept, in characters; the rest is dropped.
	MaxSearchLength = 100
	// maxSearchWords bounds the words of a search that are matched (each
	// one is a clause of the filter); the others are dropped.
	maxSearchWords = 6
)

// ListQuery is what every management list takes: a search and a page.
type ListQuery struct {
	// Query holds words, each of which must be found in the names (accents
	// and case aside), the identifier, the mail or the SIRET.
	Query string
	Page  int // from 1
	Size  int // per page: DefaultListSize when zero, MaxListSize at most
}

// normalized bounds the page and the size, and trims the search.
func (q ListQuery) normalized() ListQuery {
	if q.Size <= 0 {
		q.Size = DefaultListSize
	}
	q.Size = min(q.Size, MaxListSize)
	q.Page = max(q.Page, 1)
	// Invisible characters (a NUL, which slapd takes for the end of the
	// value) separate words like spaces.
	q.Query = strings.TrimSpace(strings.Map(func(r rune) rune {
		if invisible(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(q.Query, " ")))
	if utf8.RuneCountInString(q.Query) > MaxSearchLength {
		q.Query = string([]rune(q.Query)[:MaxSearchLength])
	}
	return q
}

// words are the words of the search that are matched.
func (q ListQuery) words() []string {
	w := strings.Fields(q.Query)
	return w[:min(len(w), maxSearchWords)]
}

// AccountQuery selects a page of the accounts someone manages.
type AccountQuery struct {
	ListQuery
	State   AccountState // one state; all when empty
	Role    Role         // one role; all when empty
	Service string       // one service of the structure; all when empty
	SIRET   string       // agents: the administrators of one structure; all when empty
}

// Validate checks the state and the role asked for.
func (q *AccountQuery) Validate() error {
	var problems []Problem
	if q.State != "" && !q.State.Valid() {
		problems = append(problems, Problem{"state", "L'état doit être invited, submitted, active, refused ou disabled."})
	}
	if q.Role != "" && !q.Role.Valid() {
		problems = append(problems, Problem{"role", "Le rôle doit être administrateur, responsable, collaborateur ou agent."})
	}
	q.Service = strings.TrimSpace(q.Service)
	q.SIRET = NormalizeSIRET(q.SIRET)
	return invalid(problems)
}

// AccountPage is one page of a list of accounts, by name.
type AccountPage struct {
	Accounts []Person // no mobile
	Total    int      // accounts in all pages
	Page     int
	Size     int
}

// StructurePage is one page of the structures, by name.
type StructurePage struct {
	Structures []Structure
	Total      int
	Page       int
	Size       int
}

// ExportedHabilitation is a row of an application's habilitations: a
// profile, the account that holds it and the name of its structure.
type ExportedHabilitation struct {
	Profile       string
	Account       Person
	StructureName string
}

// SortKey is what the lists sort by and search in, accents and case aside:
// each part transliterated to lower-case ASCII (unidecode), with letters
// and digits only, the parts joined by a space. « Élodie » sorts between
// « Edgar » and « Émile », « de la Fontaine » as « delafontaine ». The
// service writes it with every name; what writes entries offline (the
// benchmark's LDIF) sets it too.
func SortKey(parts ...string) string {
	var b strings.Builder
	for _, part := range parts {
		folded := strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, strings.ToLower(unidecode.Unidecode(part)))
		if folded == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(folded)
	}
	return b.String()
}

// personSortKey is the sort key of an account: its last then first name;
// its mail while invited, when it has no name yet (the lists show the mail
// in place of the name).
func personSortKey(firstName, lastName, email string, state AccountState) string {
	if state == StateInvited {
		return nonEmptyKey(strings.ToLower(strings.TrimSpace(email)))
	}
	return nonEmptyKey(SortKey(lastName, firstName))
}

// structureSortKey is the sort key of a structure: its name.
func structureSortKey(name string) string { return nonEmptyKey(SortKey(name)) }

// nonEmptyKey is k, or "-" for a name without letters nor digits (« & »):
// a directory string is never empty.
func nonEmptyKey(k string) string {
	if k == "" {
		return "-"
	}
	return k
}

// digitsOnly reports whether s holds only decimal digits.
func digitsOnly(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool { return !unicode.IsDigit(r) || r > '9' }) < 0
}
