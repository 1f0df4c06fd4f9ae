package directory

import (
	"context"
	"sort"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// DirectoryQuery selects a page of a structure's accounts (guide
// « Consultation des comptes et services de la structure »).
type DirectoryQuery struct {
	SIRET   string
	Service string // one service; empty for all
	Query   string // a part of the identifier, first name or last name
	Page    int    // from 1
	Size    int    // accounts per page: 50 when zero, 200 at most
}

// DirectoryPage is one page of a structure's accounts, with its services.
type DirectoryPage struct {
	Services []ServiceCount // every service of the structure, with its matching accounts
	Accounts []Person       // this page, by last then first name; no mobile, no habilitations
	Total    int            // matching accounts in all pages
	Page     int
	Size     int
}

// ServiceCount is a service and how many matching accounts it holds.
type ServiceCount struct {
	Name     string
	Accounts int
}

// directoryAttrs are what a consultation list shows: never the mobile.
var directoryAttrs = []string{"uid", "givenName", "sn", "mail", "apexRole", "apexAccountState", "apexSiret"}

// Directory returns a page of the validated accounts (active or disabled)
// of a structure. The search asks slapd only for the listed attributes, in
// pages, and this returns only the asked page. Errors: ErrNotFound when
// the structure does not exist.
func (s *Store) Directory(ctx context.Context, q DirectoryQuery) (*DirectoryPage, error) {
	const op = "directory"
	q.SIRET = NormalizeSIRET(q.SIRET)
	if q.Size <= 0 {
		q.Size = 50
	}
	if q.Size > 200 {
		q.Size = 200
	}
	if q.Page < 1 {
		q.Page = 1
	}
	services, err := s.ListServices(ctx, q.SIRET)
	if err != nil {
		return nil, err
	}
	filters := []string{"(objectClass=apexPerson)", "(uid=*)", or(eq("apexAccountState", string(StateActive)), eq("apexAccountState", string(StateDisabled)))}
	if t := strings.TrimSpace(q.Query); t != "" {
		filters = append(filters, or(contains("uid", t), contains("givenName", t), contains("sn", t)))
	}
	entries, err := s.searchAll(ctx, op, s.structureDN(q.SIRET), ldap.ScopeWholeSubtree, and(filters...), directoryAttrs)
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	var accounts []Person
	for _, e := range entries {
		p := Person{
			Identifier: e.GetAttributeValue("uid"), FirstName: e.GetAttributeValue("givenName"), LastName: e.GetAttributeValue("sn"),
			Email: e.GetAttributeValue("mail"), Role: Role(e.GetAttributeValue("apexRole")),
			State: AccountState(e.GetAttributeValue("apexAccountState")), SIRET: e.GetAttributeValue("apexSiret"),
			Service: s.serviceOf(e.DN),
		}
		counts[p.Service]++
		if q.Service == "" || p.Service == q.Service {
			accounts = append(accounts, p)
		}
	}
	page := &DirectoryPage{Total: len(accounts), Page: q.Page, Size: q.Size}
	for _, sv := range services {
		page.Services = append(page.Services, ServiceCount{Name: sv.Name, Accounts: counts[sv.Name]})
	}
	sort.Slice(accounts, func(i, j int) bool {
		a, b := accounts[i], accounts[j]
		if la, lb := strings.ToLower(a.LastName), strings.ToLower(b.LastName); la != lb {
			return la < lb
		}
		if fa, fb := strings.ToLower(a.FirstName), strings.ToLower(b.FirstName); fa != fb {
			return fa < fb
		}
		return a.Identifier < b.Identifier
	})
	from := (q.Page - 1) * q.Size
	if from < len(accounts) {
		page.Accounts = accounts[from:min(from+q.Size, len(accounts))]
	}
	return page, nil
}
