package directory

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Reviews of habilitations (issue 16): every ReviewPolicy.Period a review
// starts; its lines are the habilitations (account, profile) that active
// accounts of structures hold at its start. Those who could habilitate
// an account with a profile (CanReview) confirm or withdraw its line
// until the deadline; then what was not confirmed is withdrawn, or only
// flagged. The job that starts, reminds and closes a review is
// Jobs.Reviews (workflow_reviews.go), the door of the people who review
// is Reviews, the storage ldap_reviews.go.

// ReviewMode is what a review's deadline does to the lines not confirmed.
type ReviewMode string

const (
	ReviewWithdraw ReviewMode = "withdraw" // the habilitation is withdrawn
	ReviewFlag     ReviewMode = "flag"     // the line is flagged, the habilitation stays
)

// Valid reports whether m is one of the two modes.
func (m ReviewMode) Valid() bool { return m == ReviewWithdraw || m == ReviewFlag }

// ReviewPolicy says when reviews start, how long they last, when the
// reviewers are reminded and what the deadline does.
type ReviewPolicy struct {
	// Period: a review starts this long after the previous one started
	// (the first at the job's first run). 6 months (4380 h) when zero.
	Period time.Duration
	// Duration: from a review's start to its deadline. 30 days when zero.
	Duration time.Duration
	// Reminders: how long before the deadline the reviewers who still
	// have lines to decide are mailed, each once. 7 days and 1 day when nil.
	Reminders []time.Duration
	// Mode: what the deadline does to the lines not confirmed.
	// ReviewWithdraw when empty.
	Mode ReviewMode
}

// DefaultReviewPolicy is the policy of the fields left zero.
var DefaultReviewPolicy = ReviewPolicy{
	Period:    4380 * time.Hour,
	Duration:  30 * 24 * time.Hour,
	Reminders: []time.Duration{7 * 24 * time.Hour, 24 * time.Hour},
	Mode:      ReviewWithdraw,
}

func (p ReviewPolicy) withDefaults() ReviewPolicy {
	d := DefaultReviewPolicy
	if p.Period <= 0 {
		p.Period = d.Period
	}
	if p.Duration <= 0 {
		p.Duration = d.Duration
	}
	if p.Reminders == nil {
		p.Reminders = d.Reminders
	}
	if p.Mode == "" {
		p.Mode = d.Mode
	}
	return p
}

// ReviewState is where a review stands.
type ReviewState string

const (
	ReviewOpening ReviewState = "opening" // its lines are being written: nobody sees it yet
	ReviewOpen    ReviewState = "open"    // its reviewers decide, until the deadline
	ReviewClosing ReviewState = "closing" // the deadline came: the job withdraws or flags what is left
	ReviewClosed  ReviewState = "closed"  // done: its result is read and exported
)

// Review is one review of habilitations.
type Review struct {
	ID       string // the start's time, AAAAMMJJhhmmss (UTC): names it in URLs
	Start    time.Time
	Deadline time.Time
	Mode     ReviewMode
	State    ReviewState
	// Totals are its lines counted by state, kept by each decision (exact
	// once it closed).
	Totals ReviewCounts

	dn   string
	done []string // apexReviewDone's values: the job's passes that ran through
}

// Open reports whether decisions are taken at now: the review is open and
// its deadline has not come.
func (r *Review) Open(now time.Time) bool { return r.State == ReviewOpen && now.Before(r.Deadline) }

// LineState is where a line of a review stands.
type LineState string

const (
	LinePending     LineState = "pending"     // to decide
	LineConfirmed   LineState = "confirmed"   // kept by a reviewer
	LineWithdrawing LineState = "withdrawing" // being withdrawn (a withdrawal cut half way is finished by the job)
	LineWithdrawn   LineState = "withdrawn"   // withdrawn by a reviewer, or at the deadline (DecidedBy empty)
	LineGone        LineState = "gone"        // withdrawn by other means before any decision: « déjà retirée »
	LineFlagged     LineState = "flagged"     // not confirmed at the deadline, in the mode that only flags
)

// Valid reports whether s is a state a line can be asked for by.
func (s LineState) Valid() bool {
	switch s {
	case LinePending, LineConfirmed, LineWithdrawing, LineWithdrawn, LineGone, LineFlagged:
		return true
	}
	return false
}

// ReviewLine is one habilitation of one account in a review, as it was
// at the review's start and as decided since.
type ReviewLine struct {
	ID          string // 32 hex digits
	Account     string // the account's identifier
	Name        string // its first and last names at the start
	Role        Role
	SIRET       string
	Service     string // at the start (a service renamed since: its new name)
	Application string
	Profile     string
	State       LineState
	DecidedBy   string    // the reviewer's identifier; empty for the job's (and for LineGone)
	DecidedAt   time.Time // zero while pending
}

// Habilitation is the line's "application/profile".
func (l ReviewLine) Habilitation() string { return l.Application + "/" + l.Profile }

// snapshotPerson is the account of a line as it was at the start, for an
// account removed since.
func (l ReviewLine) snapshotPerson() *Person {
	return &Person{Identifier: l.Account, Role: l.Role, SIRET: l.SIRET, Service: l.Service}
}

// ReviewCounts are lines counted by state.
type ReviewCounts struct {
	Pending, Confirmed, Withdrawn, Gone, Flagged int
}

// Total is every line counted.
func (c ReviewCounts) Total() int { return c.Pending + c.Confirmed + c.Withdrawn + c.Gone + c.Flagged }

// add counts one line of state s (a line being withdrawn is still pending).
func (c *ReviewCounts) add(s LineState, n int) {
	switch s {
	case LinePending, LineWithdrawing:
		c.Pending += n
	case LineConfirmed:
		c.Confirmed += n
	case LineWithdrawn:
		c.Withdrawn += n
	case LineGone:
		c.Gone += n
	case LineFlagged:
		c.Flagged += n
	}
}

// ReviewItem is a line as a reviewer sees it.
type ReviewItem struct {
	ReviewLine
	// Held: the account still holds the habilitation (a pending line that
	// is not held is « déjà retirée »).
	Held bool
	// Decidable: the line is pending and held, the review open, and the
	// reviewer may decide it.
	Decidable bool
	// StructureName is the structure's name, for the agents' lists.
	StructureName string
}

// ReviewLinesQuery selects a page of a reviewer's lines.
type ReviewLinesQuery struct {
	Review string    // a review's ID; "" or "current": the latest
	Query  string    // a part of the name, identifier, service, SIRET or habilitation
	State  LineState // one state; "" for all
	Page   int       // from 1
	Size   int       // 50 when zero, 200 at most
}

// ReviewLinesPage is a page of the lines a reviewer may decide or see.
type ReviewLinesPage struct {
	Review *Review
	Open   bool         // decisions are taken now
	Counts ReviewCounts // of every line in the reviewer's charge, whatever the query
	Lines  []ReviewItem // this page
	Total  int          // lines matching the query, in all pages
	Page   int
	Size   int
}

// ReviewDecision is what a reviewer does to lines.
type ReviewDecision string

const (
	DecisionConfirm  ReviewDecision = "confirm"
	DecisionWithdraw ReviewDecision = "withdraw"
)

// MaxDecisionLines bounds the lines of one decision: a page's.
const MaxDecisionLines = 200

// LineOutcome is what a decision did to one line.
type LineOutcome string

const (
	OutcomeConfirmed        LineOutcome = "confirmed"
	OutcomeWithdrawn        LineOutcome = "withdrawn"
	OutcomeAlreadyWithdrawn LineOutcome = "already_withdrawn" // withdrawn by other means: recorded « déjà retirée »
	OutcomeAlreadyDecided   LineOutcome = "already_decided"   // decided before (by another reviewer)
)

// DecisionResult is what a decision did, line by line, in the order given.
type DecisionResult struct {
	Lines    []string
	Outcomes []LineOutcome
}

// Count is how many lines had the outcome o.
func (r DecisionResult) Count(o LineOutcome) int {
	n := 0
	for _, x := range r.Outcomes {
		if x == o {
			n++
		}
	}
	return n
}

// StructureProgress is a structure's counts in a review.
type StructureProgress struct {
	SIRET  string
	Name   string
	Counts ReviewCounts
}

// ReviewStructuresQuery selects a page of the structures of a review.
type ReviewStructuresQuery struct {
	Review     string
	Query      string // a part of the SIRET or the name
	Unfinished bool   // only those with lines left
	Page, Size int
}

// ReviewStructuresPage is a page of structures with their counts.
type ReviewStructuresPage struct {
	Review     *Review
	Totals     ReviewCounts // of the whole review
	Structures []StructureProgress
	Total      int // matching structures
	Page, Size int
}

// ReviewerProgress is one reviewer's share of a structure's lines.
type ReviewerProgress struct {
	Identifier string // "" for the DGFiP agents, who review the administrators
	Name       string
	Role       Role
	// Counts of the lines in the reviewer's charge (CanReview), whoever decided them.
	Counts ReviewCounts
	// Decided: the lines this reviewer decided.
	Decided int
}

// StructureReview is a structure's review: its counts, exact (read from
// its lines), and each reviewer's share.
type StructureReview struct {
	Review    *Review
	Structure StructureProgress
	Reviewers []ReviewerProgress
	// Orphans are the lines left that no active reviewer may decide
	// (none holds the profile, or all left): withdrawn, or flagged, at
	// the deadline.
	Orphans int
}

// ErrReviewClosed: the review takes no more decisions (its deadline came).
var ErrReviewClosed = fmt.Errorf("%w: review closed", ErrConflict)

// reviewIDLayout names a review by its start.
const reviewIDLayout = "20060102150405"

var (
	reviewIDPattern = regexp.MustCompile(`^[0-9]{14}$`)
	lineIDPattern   = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

// validReviewID reports whether id may name a review.
func validReviewID(id string) bool { return reviewIDPattern.MatchString(id) }

// checkDecision checks a decision's lines: 1 to MaxDecisionLines ids,
// each of a line's form; duplicates are dropped.
func checkDecision(d ReviewDecision, lines []string) ([]string, error) {
	var problems []Problem
	if d != DecisionConfirm && d != DecisionWithdraw {
		problems = append(problems, Problem{"decision", "La décision doit être « confirm » ou « withdraw »."})
	}
	seen := map[string]bool{}
	var out []string
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if !lineIDPattern.MatchString(l) {
			problems = append(problems, Problem{"lines", "Une ligne de revue n'est pas valide."})
			break
		}
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	switch {
	case len(lines) == 0:
		problems = append(problems, Problem{"lines", "Choisissez au moins une ligne."})
	case len(out) > MaxDecisionLines:
		problems = append(problems, Problem{"lines", fmt.Sprintf("Une décision porte sur %d lignes au plus.", MaxDecisionLines)})
	}
	if err := invalid(problems); err != nil {
		return nil, err
	}
	return out, nil
}
