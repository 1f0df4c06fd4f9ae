package directory

import (
	"context"
	"sort"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// directoryAttrs are what a consultation list shows: never the mobile.
var directoryAttrs = []string{"uid", "givenName", "sn", "mail", "apexRole", "apexAccountState", "apexSiret"}

// directoryPage returns a page of the validated accounts (active or disabled)
// of a structure. The search asks slapd only for the listed attributes, in
// pages; the sorted listing then serves the next pages for a few seconds.
// Errors: ErrNotFound when the structure does not exist.
func (s *Store) directoryPage(ctx context.Context, q DirectoryQuery) (*DirectoryPage, error) {
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
	q.Query = strings.TrimSpace(q.Query)
	key := directoryKey{q.SIRET, q.Service, strings.ToLower(q.Query)}
	listing, ok := s.listings.get(key, s.now())
	if !ok {
		var err error
		if listing, err = s.listDirectory(ctx, q); err != nil {
			return nil, err
		}
		s.listings.put(key, listing)
	}
	page := &DirectoryPage{Services: listing.services, Total: len(listing.accounts), Page: q.Page, Size: q.Size}
	// Compared before multiplying: (Page-1)*Size overflows for pages far past the end.
	if q.Page-1 < (len(listing.accounts)+q.Size-1)/q.Size {
		from := (q.Page - 1) * q.Size
		page.Accounts = listing.accounts[from:min(from+q.Size, len(listing.accounts))]
	}
	return page, nil
}

func (s *Store) listDirectory(ctx context.Context, q DirectoryQuery) (directoryListing, error) {
	const op = "directory"
	services, err := s.ListServices(ctx, q.SIRET)
	if err != nil {
		return directoryListing{}, err
	}
	filters := []string{"(objectClass=apexPerson)", "(uid=*)", or(eq("apexAccountState", string(StateActive)), eq("apexAccountState", string(StateDisabled)))}
	if t := q.Query; t != "" {
		filters = append(filters, or(contains("uid", t), contains("givenName", t), contains("sn", t)))
	}
	entries, err := s.searchAll(ctx, op, s.structureDN(q.SIRET), ldap.ScopeWholeSubtree, and(filters...), directoryAttrs)
	if err != nil {
		return directoryListing{}, err
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
	listing := directoryListing{at: s.now()}
	for _, sv := range services {
		listing.services = append(listing.services, ServiceCount{Name: sv.Name, Accounts: counts[sv.Name]})
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
	listing.accounts = accounts
	return listing, nil
}
