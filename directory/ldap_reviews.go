package directory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// The reviews of habilitations live under ou=system, which only the
// service reads and writes (slapd ACL):
//
//	ou=reviews,ou=system,SUFFIX
//	  cn=TREE.ID          applicationProcess + apexReview: its start,
//	                      deadline, mode and state, and the job's passes
//	                      done (apexReviewDone); description: ID
//	    cn=SIRET          applicationProcess + apexReviewSummary: the
//	                      structure's name and its lines counted by state
//	    cn=LINE           applicationProcess + apexReviewLine: one
//	                      habilitation (account, profile) held at the start
//
// TREE is the tree's hash (as the limits' and the jobs'), so that two
// trees on one server keep their reviews apart. LINE is the SHA-256 of
// the account's identifier and the habilitation (32 hex digits): a line
// added twice (an opening stopped half way and done again) is refused
// the second time, so a review never holds a line twice.
//
// Why one entry per line, and not values on the person: a review is a
// record that outlives the accounts it names (an account removed keeps
// its lines, « déjà retirée », in the result and its export); its lines
// are small entries of their own, so that a decision rewrites and
// replicates one line of a few hundred bytes rather than the account's
// whole entry (its history included), and the people and the DGFiP
// applications that read accounts never read it; and an old review goes
// with its subtree. The state of a line is indexed (apexReviewState): the
// job finds what is left at the deadline, or a withdrawal cut half way,
// without reading the others. Each change of a line is a compare-and-swap
// of its state (the delete of the value read), so two reviewers, or a
// reviewer and the job, or two instances of the job, never both decide
// one line.
//
// What the agents' progress list reads is a summary per structure,
// counted by each decision (an increment, which slapd applies
// atomically): a list of thousands of structures never reads their lines.
// A decision cut between its line's write and its count leaves the
// structure's counts one off until the deadline, when the job counts
// every structure again from its lines; the page of one structure always
// counts from its lines.

func (s *Store) reviewsDN() string { return "ou=reviews," + s.system }

func (s *Store) reviewDN(id string) string {
	return rdn("cn", s.limitTree()+"."+id) + "," + s.reviewsDN()
}

func reviewLineDN(r *Review, id string) string { return rdn("cn", id) + "," + r.dn }

func reviewSummaryDN(r *Review, siret string) string { return rdn("cn", siret) + "," + r.dn }

// reviewLineID names the line of an account's habilitation.
func reviewLineID(account, application, profile string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(account) + "\x00" + application + "\x00" + profile))
	return hex.EncodeToString(sum[:16])
}

var reviewAttrs = []string{"description", "apexReviewStart", "apexReviewDeadline", "apexReviewMode", "apexReviewState", "apexReviewDone",
	"apexReviewPending", "apexReviewConfirmed", "apexReviewWithdrawn", "apexReviewGone", "apexReviewFlagged"}

func (s *Store) reviewFromEntry(e *ldap.Entry) Review {
	return Review{
		ID:       e.GetAttributeValue("description"),
		Start:    parseLDAPTime(e.GetAttributeValue("apexReviewStart")),
		Deadline: parseLDAPTime(e.GetAttributeValue("apexReviewDeadline")),
		Mode:     ReviewMode(e.GetAttributeValue("apexReviewMode")),
		State:    ReviewState(e.GetAttributeValue("apexReviewState")),
		Totals:   countsFromEntry(e),
		dn:       e.DN,
		done:     e.GetAttributeValues("apexReviewDone"),
	}
}

// reviews returns the reviews of this tree, the latest first.
func (s *Store) reviews(ctx context.Context) ([]Review, error) {
	entries, err := s.searchAll(ctx, "list reviews", s.reviewsDN(), ldap.ScopeSingleLevel,
		and("(objectClass=apexReview)", startsWith("cn", s.limitTree()+".")), reviewAttrs)
	if errors.Is(err, ErrNotFound) {
		return nil, nil // no review ever started
	}
	if err != nil {
		return nil, err
	}
	out := make([]Review, 0, len(entries))
	for _, e := range entries {
		if r := s.reviewFromEntry(e); validReviewID(r.ID) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out, nil
}

// findReview reads a review by ID; "" and "current" name the latest.
// Errors: ErrNotFound.
func (s *Store) findReview(ctx context.Context, id string) (*Review, error) {
	const op = "find review"
	if id == "" || id == "current" {
		list, err := s.reviews(ctx)
		if err != nil {
			return nil, err
		}
		if len(list) == 0 {
			return nil, fmt.Errorf("%s: none started: %w", op, ErrNotFound)
		}
		return &list[0], nil
	}
	if !validReviewID(id) {
		return nil, fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	e, err := s.searchOne(ctx, op, s.reviewDN(id), ldap.ScopeBaseObject, "(objectClass=apexReview)", reviewAttrs)
	if err != nil {
		return nil, err
	}
	r := s.reviewFromEntry(e)
	return &r, nil
}

// addReview adds a review, and ou=reviews the first time. Errors:
// ErrConflict when a review of that ID exists.
func (s *Store) addReview(ctx context.Context, r *Review) error {
	const op = "add review"
	r.dn = s.reviewDN(r.ID)
	add := func(c *ldap.Conn) error {
		req := ldap.NewAddRequest(r.dn, nil)
		req.Attribute("objectClass", []string{"applicationProcess", "apexReview"})
		req.Attribute("cn", []string{s.limitTree() + "." + r.ID})
		req.Attribute("description", []string{r.ID})
		req.Attribute("apexReviewStart", []string{ldapTime(r.Start)})
		req.Attribute("apexReviewDeadline", []string{ldapTime(r.Deadline)})
		req.Attribute("apexReviewMode", []string{string(r.Mode)})
		req.Attribute("apexReviewState", []string{string(r.State)})
		return c.Add(req)
	}
	err := s.do(ctx, op, add)
	if errors.Is(err, ErrNotFound) {
		err = s.do(ctx, op, func(c *ldap.Conn) error {
			req := ldap.NewAddRequest(s.reviewsDN(), nil)
			req.Attribute("objectClass", []string{"organizationalUnit"})
			req.Attribute("ou", []string{"reviews"})
			req.Attribute("description", []string{"Reviews of habilitations: their lines and counts (only the service reads them)"})
			return c.Add(req)
		})
		if err == nil || errors.Is(err, ErrConflict) {
			err = s.do(ctx, op, add)
		}
	}
	return err
}

// setReviewState moves a review from one state to another, as a
// compare-and-swap. Errors: ErrConflict when it is not in state from.
func (s *Store) setReviewState(ctx context.Context, r *Review, from, to ReviewState) error {
	err := s.do(ctx, "set review state", func(c *ldap.Conn) error {
		req := ldap.NewModifyRequest(r.dn, nil)
		req.Delete("apexReviewState", []string{string(from)})
		req.Add("apexReviewState", []string{string(to)})
		return c.Modify(req)
	})
	if err == nil {
		r.State = to
	}
	return err
}

// markReviewDone records that the job's pass went through; done already
// by another instance is no error.
func (s *Store) markReviewDone(ctx context.Context, r *Review, pass string) error {
	err := s.do(ctx, "mark review pass", func(c *ldap.Conn) error {
		req := ldap.NewModifyRequest(r.dn, nil)
		req.Add("apexReviewDone", []string{pass})
		return c.Modify(req)
	})
	if err == nil || errors.Is(err, ErrConflict) {
		r.done = append(r.done, pass)
		return nil
	}
	return err
}

// passDone reports whether the job's pass went through.
func (r *Review) passDone(pass string) bool {
	for _, d := range r.done {
		if d == pass {
			return true
		}
	}
	return false
}

// ---- Lines ----

var reviewLineAttrs = []string{"cn", "apexReviewAccount", "displayName", "apexRole", "apexSiret", "apexService",
	"apexReviewProfile", "apexReviewState", "apexDecidedBy", "apexDecidedAt"}

func (s *Store) reviewLineFromEntry(e *ldap.Entry) ReviewLine {
	app, profile, _ := strings.Cut(e.GetAttributeValue("apexReviewProfile"), "/")
	return ReviewLine{
		ID:          e.GetAttributeValue("cn"),
		Account:     e.GetAttributeValue("apexReviewAccount"),
		Name:        e.GetAttributeValue("displayName"),
		Role:        Role(e.GetAttributeValue("apexRole")),
		SIRET:       e.GetAttributeValue("apexSiret"),
		Service:     s.serviceName(e.GetAttributeValue("apexService")),
		Application: app,
		Profile:     profile,
		State:       LineState(e.GetAttributeValue("apexReviewState")),
		DecidedBy:   e.GetAttributeValue("apexDecidedBy"),
		DecidedAt:   parseLDAPTime(e.GetAttributeValue("apexDecidedAt")),
	}
}

// serviceName reads a service's name out of its DN; "" when dn is not a
// service of this tree.
func (s *Store) serviceName(dn string) string {
	parsed, err := ldap.ParseDN(dn)
	if err != nil {
		return ""
	}
	structures, err := ldap.ParseDN(s.structuresDN())
	if err != nil || !structures.AncestorOfFold(parsed) || len(parsed.RDNs) != len(structures.RDNs)+2 {
		return ""
	}
	return parsed.RDNs[0].Attributes[0].Value
}

// addReviewLine adds a line, pending; added is false when the review
// holds it already.
func (s *Store) addReviewLine(ctx context.Context, r *Review, l ReviewLine) (added bool, err error) {
	err = s.do(ctx, "add review line", func(c *ldap.Conn) error {
		req := ldap.NewAddRequest(reviewLineDN(r, l.ID), nil)
		req.Attribute("objectClass", []string{"applicationProcess", "apexReviewLine"})
		req.Attribute("cn", []string{l.ID})
		req.Attribute("apexReviewAccount", []string{l.Account})
		req.Attribute("apexReviewProfile", []string{l.Habilitation()})
		req.Attribute("apexReviewState", []string{string(LinePending)})
		req.Attribute("apexRole", []string{string(l.Role)})
		req.Attribute("apexSiret", []string{l.SIRET})
		if l.Name != "" {
			req.Attribute("displayName", []string{l.Name})
		}
		if l.Service != "" {
			req.Attribute("apexService", []string{s.serviceDN(l.SIRET, l.Service)})
		}
		return c.Add(req)
	})
	if errors.Is(err, ErrConflict) {
		return false, nil
	}
	return err == nil, err
}

// reviewLines returns the lines of a review that match filter.
func (s *Store) reviewLines(ctx context.Context, r *Review, filter string) ([]ReviewLine, error) {
	entries, err := s.searchAll(ctx, "review lines", r.dn, ldap.ScopeSingleLevel,
		and("(objectClass=apexReviewLine)", filter), reviewLineAttrs)
	if err != nil {
		return nil, err
	}
	out := make([]ReviewLine, len(entries))
	for i, e := range entries {
		out[i] = s.reviewLineFromEntry(e)
	}
	return out, nil
}

// reviewLine reads one line. Errors: ErrNotFound.
func (s *Store) reviewLine(ctx context.Context, r *Review, id string) (*ReviewLine, error) {
	if !lineIDPattern.MatchString(id) {
		return nil, fmt.Errorf("review line: %w", ErrNotFound)
	}
	e, err := s.searchOne(ctx, "review line", reviewLineDN(r, id), ldap.ScopeBaseObject, "(objectClass=apexReviewLine)", reviewLineAttrs)
	if err != nil {
		return nil, err
	}
	l := s.reviewLineFromEntry(e)
	return &l, nil
}

// swapLineState moves a line from one state to another as a
// compare-and-swap, recording who (by, when not empty) and when. Errors:
// ErrConflict when the line is no longer in state from (another decision
// came first), ErrNotFound.
func (s *Store) swapLineState(ctx context.Context, r *Review, l *ReviewLine, from, to LineState, by string, at time.Time) error {
	err := s.do(ctx, "decide review line", func(c *ldap.Conn) error {
		req := ldap.NewModifyRequest(reviewLineDN(r, l.ID), nil)
		req.Delete("apexReviewState", []string{string(from)})
		req.Add("apexReviewState", []string{string(to)})
		if by != "" {
			req.Replace("apexDecidedBy", []string{by})
		}
		req.Replace("apexDecidedAt", []string{ldapTime(at)})
		return c.Modify(req)
	})
	if err == nil {
		l.State, l.DecidedAt = to, at.UTC().Truncate(time.Second)
		if by != "" {
			l.DecidedBy = by
		}
	}
	return err
}

// ---- Summaries ----

var reviewSummaryAttrs = []string{"apexSiret", "apexLabel", "apexReviewPending", "apexReviewConfirmed", "apexReviewWithdrawn", "apexReviewGone", "apexReviewFlagged"}

// countAttrs are the summary's counters, in the order of ReviewCounts' fields.
var countAttrs = [5]string{"apexReviewPending", "apexReviewConfirmed", "apexReviewWithdrawn", "apexReviewGone", "apexReviewFlagged"}

func (c ReviewCounts) values() [5]int {
	return [5]int{c.Pending, c.Confirmed, c.Withdrawn, c.Gone, c.Flagged}
}

func countsFromEntry(e *ldap.Entry) ReviewCounts {
	var v [5]int
	for i, a := range countAttrs {
		v[i], _ = strconv.Atoi(e.GetAttributeValue(a))
	}
	return ReviewCounts{Pending: v[0], Confirmed: v[1], Withdrawn: v[2], Gone: v[3], Flagged: v[4]}
}

// summaries returns the structures of a review with their counts.
func (s *Store) summaries(ctx context.Context, r *Review) ([]StructureProgress, error) {
	entries, err := s.searchAll(ctx, "review summaries", r.dn, ldap.ScopeSingleLevel, "(objectClass=apexReviewSummary)", reviewSummaryAttrs)
	if err != nil {
		return nil, err
	}
	out := make([]StructureProgress, len(entries))
	for i, e := range entries {
		out[i] = StructureProgress{SIRET: e.GetAttributeValue("apexSiret"), Name: e.GetAttributeValue("apexLabel"), Counts: countsFromEntry(e)}
	}
	return out, nil
}

// putSummary writes a structure's counts, adding its summary the first
// time; only the job writes them whole (at the opening, before anyone
// decides, and at the deadline, once decisions are closed).
func (s *Store) putSummary(ctx context.Context, r *Review, siret, name string, c ReviewCounts) error {
	const op = "write review summary"
	dn := reviewSummaryDN(r, siret)
	v := c.values()
	err := s.do(ctx, op, func(conn *ldap.Conn) error {
		req := ldap.NewAddRequest(dn, nil)
		req.Attribute("objectClass", []string{"applicationProcess", "apexReviewSummary"})
		req.Attribute("cn", []string{siret})
		req.Attribute("apexSiret", []string{siret})
		if name != "" {
			req.Attribute("apexLabel", []string{name})
		}
		req.Attribute("apexSortKey", []string{structureSortKey(name)})
		for i, a := range countAttrs {
			req.Attribute(a, []string{strconv.Itoa(v[i])})
		}
		return conn.Add(req)
	})
	if !errors.Is(err, ErrConflict) {
		return err
	}
	return s.do(ctx, op, func(conn *ldap.Conn) error {
		req := ldap.NewModifyRequest(dn, nil)
		for i, a := range countAttrs {
			req.Replace(a, []string{strconv.Itoa(v[i])})
		}
		return conn.Modify(req)
	})
}

// countSummary adds delta to a structure's counts and to the review's
// totals, each in one modify that slapd applies atomically (increments),
// whatever other decisions do meanwhile.
func (s *Store) countSummary(ctx context.Context, r *Review, siret string, delta ReviewCounts) error {
	if err := s.incrementCounts(ctx, reviewSummaryDN(r, siret), delta); err != nil {
		return err
	}
	return s.incrementCounts(ctx, r.dn, delta)
}

func (s *Store) incrementCounts(ctx context.Context, dn string, delta ReviewCounts) error {
	v := delta.values()
	req := ldap.NewModifyRequest(dn, nil)
	for i, a := range countAttrs {
		if v[i] != 0 {
			req.Increment(a, strconv.Itoa(v[i]))
		}
	}
	if len(req.Changes) == 0 {
		return nil
	}
	return s.do(ctx, "count review lines", func(c *ldap.Conn) error { return c.Modify(req) })
}

// setReviewTotals writes a review's totals whole: the job, once the
// summaries are whole (at the opening, before anyone decides; at the
// deadline, once decisions are closed).
func (s *Store) setReviewTotals(ctx context.Context, r *Review, c ReviewCounts) error {
	v := c.values()
	err := s.do(ctx, "write review totals", func(conn *ldap.Conn) error {
		req := ldap.NewModifyRequest(r.dn, nil)
		for i, a := range countAttrs {
			req.Replace(a, []string{strconv.Itoa(v[i])})
		}
		return conn.Modify(req)
	})
	if err == nil {
		r.Totals = c
	}
	return err
}

// summedCounts are the totals of summaries.
func summedCounts(sums []StructureProgress) ReviewCounts {
	var t [5]int
	for _, s := range sums {
		for i, n := range s.Counts.values() {
			t[i] += n
		}
	}
	return ReviewCounts{Pending: t[0], Confirmed: t[1], Withdrawn: t[2], Gone: t[3], Flagged: t[4]}
}

// summaryOrder sorts a review's structures by name, then SIRET.
var summaryOrder = []sortKey{{"apexSortKey", "caseExactOrderingMatch"}, {"apexSiret", "numericStringOrderingMatch"}}

// summariesPage returns a page of a review's structures, sorted by name in
// slapd (a VLV page, as the management lists): each word of query found
// in the name (accents and case aside) or the SIRET; with unfinished, only
// those with lines left.
func (s *Store) summariesPage(ctx context.Context, r *Review, query string, unfinished bool, page, size int) ([]StructureProgress, int, error) {
	filters := []string{"(objectClass=apexReviewSummary)"}
	for _, w := range strings.Fields(query) {
		k := SortKey(w)
		if k == "" {
			continue
		}
		terms := []string{contains("apexSortKey", k)}
		if digitsOnly(w) {
			terms = append(terms, contains("apexSiret", w))
		}
		filters = append(filters, or(terms...))
	}
	if unfinished {
		filters = append(filters, "(apexReviewPending>=1)")
	}
	entries, total, err := s.sortedPage(ctx, "review structures", listSearch{r.dn, ldap.ScopeSingleLevel, and(filters...), reviewSummaryAttrs, summaryOrder}, page, size)
	if err != nil {
		return nil, 0, err
	}
	out := make([]StructureProgress, len(entries))
	for i, e := range entries {
		out[i] = StructureProgress{SIRET: e.GetAttributeValue("apexSiret"), Name: e.GetAttributeValue("apexLabel"), Counts: countsFromEntry(e)}
	}
	return out, total, nil
}

// ---- What the job reads ----

// activeStructurePersons returns the active accounts of a structure with
// their habilitations, for the opening of a review.
func (s *Store) activeStructurePersons(ctx context.Context, siret string) ([]Person, error) {
	active := AccountState(StateActive)
	return s.ListPersons(ctx, PersonFilter{SIRET: &siret, State: &active})
}

// reviewStructures returns every structure, for the opening of a review
// (one search under ou=structures, paged by the server).
func (s *Store) reviewStructures(ctx context.Context) ([]Structure, error) {
	entries, err := s.searchAll(ctx, "review structures", s.structuresDN(), ldap.ScopeSingleLevel, "(objectClass=apexStructure)", structureAttrs)
	if err != nil {
		return nil, err
	}
	out := make([]Structure, len(entries))
	for i, e := range entries {
		out[i] = *structureFromEntry(e)
	}
	return out, nil
}
