package directory

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// The reviews' job: it starts a review when one is due, mails its
// reviewers, reminds them, and at the deadline withdraws or flags what was
// not confirmed (Jobs.Reviews).

// reviewPeople are the accounts of a structure (or the agents) as the job
// reads them: each with its notices.
type reviewPeople struct {
	byID    map[string]*Person
	notices map[string][]string
	order   []*Person
}

func (j Jobs) readPeople(ctx context.Context, base string) (*reviewPeople, error) {
	entries, err := j.Store.searchAll(ctx, "review people", base, ldap.ScopeWholeSubtree, "(objectClass=apexPerson)", jobPersonAttrs)
	if err != nil {
		return nil, err
	}
	out := &reviewPeople{byID: map[string]*Person{}, notices: map[string][]string{}}
	for _, e := range entries {
		p := j.Store.personFromEntry(e)
		if p.Identifier == "" {
			continue
		}
		out.byID[p.Identifier] = p
		out.notices[p.Identifier] = e.GetAttributeValues("apexNotice")
		out.order = append(out.order, p)
	}
	return out, nil
}

// Reviews is the reviews' job: it starts a review every Review.Period,
// writes its lines (the habilitations active accounts of structures hold
// then) and mails every reviewer who has lines, reminds those who still
// have some at each of Review.Reminders before the deadline, finishes the
// withdrawals cut half way, and at the deadline withdraws (or flags) the
// lines not confirmed, mailing the accounts whose habilitation goes. Each
// step is a compare-and-swap (a line's state, the review's state, a
// notice on the reviewer), so a run stopped anywhere and resumed, or two
// instances at once, never withdraw, record nor mail anything twice.
func (j Jobs) Reviews(ctx context.Context, progress Progress) (map[string]int, error) {
	pol := j.Review.withDefaults()
	now := j.Store.now()
	res := jobResult{}
	list, err := j.Store.reviews(ctx)
	if err != nil {
		return nil, err
	}
	var r *Review
	if len(list) > 0 {
		r = &list[0]
	}
	if r == nil || r.State == ReviewClosed && !now.Before(r.Start.Add(pol.Period)) {
		if r, err = j.startReview(ctx, now, pol); err != nil {
			return res, err
		}
		res["started"]++
	}
	if r.State == ReviewOpening {
		if err := j.openReview(ctx, res, r, progress); err != nil {
			return res, err
		}
	}
	if r.State == ReviewOpen {
		if err := j.finishWithdrawals(ctx, res, r); err != nil {
			return res, err
		}
		if now.Before(r.Deadline) {
			return res, j.reviewMails(ctx, res, r, pol, now)
		}
		if err := j.Store.setReviewState(ctx, r, ReviewOpen, ReviewClosing); err != nil && !lostRace(err) {
			return res, err
		}
		r.State = ReviewClosing
	}
	if r.State == ReviewClosing {
		return res, j.closeReview(ctx, res, r)
	}
	return res, nil
}

// startReview adds the review that starts now; another instance's add of
// the same review is read back.
func (j Jobs) startReview(ctx context.Context, now time.Time, pol ReviewPolicy) (*Review, error) {
	start := now.UTC().Truncate(time.Second)
	r := &Review{ID: start.Format(reviewIDLayout), Start: start, Deadline: start.Add(pol.Duration), Mode: pol.Mode, State: ReviewOpening}
	err := j.Store.addReview(ctx, r)
	if errors.Is(err, ErrConflict) {
		return j.Store.findReview(ctx, r.ID)
	}
	return r, err
}

// openReview writes a review's lines, structure by structure (by SIRET,
// the cursor naming the last one done), then opens it. A line written
// twice is refused the second time, so an opening stopped half way and
// done again writes each once.
func (j Jobs) openReview(ctx context.Context, res jobResult, r *Review, progress Progress) error {
	structures, err := j.Store.reviewStructures(ctx)
	if err != nil {
		return err
	}
	slices.SortFunc(structures, func(a, b Structure) int { return strings.Compare(a.SIRET, b.SIRET) })
	after := ""
	if c, ok := strings.CutPrefix(progress.Cursor(), r.ID+" "); ok {
		after = c
	}
	for _, st := range structures {
		if st.SIRET <= after {
			continue
		}
		people, err := j.Store.activeStructurePersons(ctx, st.SIRET)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		var counts ReviewCounts
		for _, p := range people {
			for _, h := range p.Habilitations {
				l := ReviewLine{
					ID: reviewLineID(p.Identifier, h.Application, h.Profile), Account: p.Identifier,
					Name: strings.TrimSpace(p.FirstName + " " + p.LastName), Role: p.Role, SIRET: st.SIRET, Service: p.Service,
					Application: h.Application, Profile: h.Profile,
				}
				added, err := j.Store.addReviewLine(ctx, r, l)
				if err != nil {
					return err
				}
				if added {
					res["lines"]++
				}
				counts.Pending++
			}
		}
		if counts.Pending > 0 {
			if err := j.Store.putSummary(ctx, r, st.SIRET, st.Name, counts); err != nil {
				return err
			}
		}
		if err := progress.SaveCursor(ctx, r.ID+" "+st.SIRET); err != nil {
			return err
		}
	}
	sums, err := j.Store.summaries(ctx, r)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if err := j.Store.setReviewTotals(ctx, r, summedCounts(sums)); err != nil {
		return err
	}
	if err := j.Store.setReviewState(ctx, r, ReviewOpening, ReviewOpen); err != nil && !lostRace(err) {
		return err
	}
	r.State = ReviewOpen
	return progress.SaveCursor(ctx, "")
}

// finishWithdrawals finishes the withdrawals cut half way (a reviewer's
// request or a run stopped between the habilitation's withdrawal and the
// line's), recording each by who decided it.
func (j Jobs) finishWithdrawals(ctx context.Context, res jobResult, r *Review) error {
	lines, err := j.Store.reviewLines(ctx, r, eq("apexReviewState", string(LineWithdrawing)))
	if err != nil {
		return err
	}
	for i := range lines {
		l := &lines[i]
		p, err := j.Store.FindPerson(ctx, l.Account)
		if errors.Is(err, ErrNotFound) {
			p = nil
		} else if err != nil {
			return err
		}
		if err := j.withdrawn(ctx, res, r, l, p); err != nil {
			return err
		}
	}
	return nil
}

// withdrawn finishes the withdrawal of the line l of p (nil: removed),
// then records it and, when the deadline withdrew it, mails p; counts go
// to the structure's summary.
func (j Jobs) withdrawn(ctx context.Context, res jobResult, r *Review, l *ReviewLine, p *Person) error {
	finished, err := withdrawLine(ctx, j.Store, r, l, p, j.Store.now())
	if err != nil || !finished {
		return err
	}
	res["withdrawn"]++
	if r.State == ReviewOpen {
		j.count(ctx, r, l.SIRET, LineWithdrawn)
	}
	if p == nil {
		return nil
	}
	ev := jobEvent(JobReviews, ActionReviewWithdraw, l.Habilitation()+" "+r.ID)
	ev.Actor = l.DecidedBy // a reviewer's withdrawal, finished by the job
	if err := j.apply(ctx, "record review withdrawal", ldap.NewModifyRequest(p.dn, nil), p, ev); err != nil && !lostRace(err) {
		return err
	}
	if l.DecidedBy == "" {
		app, err := j.Store.FindApplication(ctx, l.Application)
		if err != nil {
			app = &Application{ID: l.Application, Name: l.Application}
		}
		j.mailed(res, JobReviews, p, j.reviewNotifier().ReviewWithdrawn(ctx, p, app, l.Profile, r))
	}
	return nil
}

// count moves one line of a structure's summary from pending to state.
func (j Jobs) count(ctx context.Context, r *Review, siret string, state LineState) {
	delta := ReviewCounts{Pending: -1}
	delta.add(state, 1)
	if err := j.Store.countSummary(ctx, r, siret, delta); err != nil {
		j.logger().Warn("revue : décompte non mis à jour", "review", r.ID, "error", err.Error())
	}
}

func (j Jobs) reviewNotifier() ReviewNotifier {
	if j.ReviewNotifier != nil {
		return j.ReviewNotifier
	}
	return noReviewMails{}
}

type noReviewMails struct{}

var errNoReviewNotifier = errors.New("no review notifier")

func (noReviewMails) ReviewStarted(context.Context, *Person, *Review, int) error {
	return errNoReviewNotifier
}
func (noReviewMails) ReviewReminder(context.Context, *Person, *Review, int) error {
	return errNoReviewNotifier
}
func (noReviewMails) ReviewWithdrawn(context.Context, *Person, *Application, string, *Review) error {
	return errNoReviewNotifier
}

// reviewMails sends the review's first mails, once its lines are written,
// then each reminder when its time comes: the closest to the deadline
// whose time has come (a farther one is never sent after it, nor one
// whose time came before the review started).
func (j Jobs) reviewMails(ctx context.Context, res jobResult, r *Review, pol ReviewPolicy, now time.Time) error {
	if !r.passDone("start") {
		if err := j.mailReviewers(ctx, res, r, "start"); err != nil {
			return err
		}
		if err := j.Store.markReviewDone(ctx, r, "start"); err != nil {
			return err
		}
	}
	stages := slices.Clone(pol.Reminders)
	slices.Sort(stages) // the closest to the deadline first
	for i, stage := range stages {
		at := r.Deadline.Add(-stage)
		if now.Before(at) {
			continue
		}
		pass := "reminder " + strconv.FormatInt(int64(stage/time.Second), 10)
		if r.passDone(pass) {
			break
		}
		if at.After(r.Start) {
			if err := j.mailReviewers(ctx, res, r, pass); err != nil {
				return err
			}
		}
		// This stage, and the farther ones, are done: never sent after it.
		for _, farther := range stages[i:] {
			if err := j.Store.markReviewDone(ctx, r, "reminder "+strconv.FormatInt(int64(farther/time.Second), 10)); err != nil {
				return err
			}
		}
		break
	}
	return nil
}

// mailReviewers mails, once each, every active reviewer who has lines
// left to decide in the review: administrators and responsables,
// structure by structure, and the agents for the administrators' lines.
func (j Jobs) mailReviewers(ctx context.Context, res jobResult, r *Review, pass string) error {
	sums, err := j.Store.summaries(ctx, r)
	if err != nil {
		return err
	}
	adminLines := 0
	for _, s := range sums {
		lines, err := j.Store.reviewLines(ctx, r, and(eq("apexSiret", s.SIRET), eq("apexReviewState", string(LinePending))))
		if err != nil {
			return err
		}
		if len(lines) == 0 {
			continue
		}
		people, err := j.readPeople(ctx, j.Store.structureDN(s.SIRET))
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if people == nil {
			people = &reviewPeople{byID: map[string]*Person{}}
		}
		left := map[string]int{}
		for _, l := range lines {
			p := people.byID[l.Account]
			if p == nil || !p.HasProfile(l.Application, l.Profile) {
				continue // « déjà retirée »: nothing to decide
			}
			if l.Role == RoleAdministrateur {
				adminLines++
				continue
			}
			for _, rp := range people.order {
				if rp.isReviewer() && CanReview(rp, p, l.Application, l.Profile) {
					left[rp.Identifier]++
				}
			}
		}
		for _, rp := range people.order {
			if n := left[rp.Identifier]; n > 0 {
				if err := j.mailReviewer(ctx, res, r, pass, rp, people.notices[rp.Identifier], n); err != nil {
					return err
				}
			}
		}
	}
	if adminLines == 0 {
		return nil
	}
	agents, err := j.readPeople(ctx, j.Store.agentsDN())
	if err != nil {
		return err
	}
	for _, a := range agents.order {
		if a.isAgent() {
			if err := j.mailReviewer(ctx, res, r, pass, a, agents.notices[a.Identifier], adminLines); err != nil {
				return err
			}
		}
	}
	return nil
}

// mailReviewer mails one reviewer, once: the modify that records the
// notice (and drops those of earlier reviews) keeps the event in the
// reviewer's history; a second add of the notice fails.
func (j Jobs) mailReviewer(ctx context.Context, res jobResult, r *Review, pass string, p *Person, notices []string, n int) error {
	notice := reviewNotice(r.ID, pass)
	if slices.Contains(notices, notice) {
		return nil
	}
	req := ldap.NewModifyRequest(p.dn, nil)
	req.Add("apexNotice", []string{notice})
	var stale []string
	for _, v := range notices {
		if strings.HasPrefix(v, reviewNoticePrefix) && !strings.HasPrefix(v, reviewNoticePrefix+r.ID+" ") {
			stale = append(stale, v)
		}
	}
	if len(stale) > 0 {
		req.Delete("apexNotice", stale)
	}
	kind, _, _ := strings.Cut(pass, " ")
	err := j.apply(ctx, "notify reviewer", req, p, jobEvent(JobReviews, ActionReviewNotice, r.ID+" "+kind))
	if lostRace(err) {
		return nil
	}
	if err != nil {
		return err
	}
	res["notices"]++
	if pass == "start" {
		j.mailed(res, JobReviews, p, j.reviewNotifier().ReviewStarted(ctx, p, r, n))
	} else {
		j.mailed(res, JobReviews, p, j.reviewNotifier().ReviewReminder(ctx, p, r, n))
	}
	return nil
}

// closeReview applies a review's deadline, structure by structure: each
// line still pending is withdrawn (or flagged, by the review's mode),
// or recorded « déjà retirée » when its habilitation went by other means;
// the withdrawals cut half way are finished; then the structure is
// counted again from its lines. Then the review is closed.
func (j Jobs) closeReview(ctx context.Context, res jobResult, r *Review) error {
	sums, err := j.Store.summaries(ctx, r)
	if err != nil {
		return err
	}
	final := make([]StructureProgress, 0, len(sums))
	for _, s := range sums {
		lines, err := j.Store.reviewLines(ctx, r, eq("apexSiret", s.SIRET))
		if err != nil {
			return err
		}
		var people *reviewPeople
		changed := false
		for i := range lines {
			l := &lines[i]
			if l.State != LinePending && l.State != LineWithdrawing {
				continue
			}
			if people == nil {
				if people, err = j.readPeople(ctx, j.Store.structureDN(s.SIRET)); errors.Is(err, ErrNotFound) {
					people, err = &reviewPeople{byID: map[string]*Person{}}, nil
				}
				if err != nil {
					return err
				}
			}
			if err := j.closeLine(ctx, res, r, l, people.byID[l.Account]); err != nil {
				return err
			}
			changed = true
		}
		if changed { // counted from the lines as they are now, whoever changed them
			if lines, err = j.Store.reviewLines(ctx, r, eq("apexSiret", s.SIRET)); err != nil {
				return err
			}
		}
		var counts ReviewCounts
		for _, l := range lines {
			counts.add(l.State, 1)
		}
		if counts != s.Counts {
			if err := j.Store.putSummary(ctx, r, s.SIRET, s.Name, counts); err != nil {
				return err
			}
		}
		final = append(final, StructureProgress{SIRET: s.SIRET, Counts: counts})
	}
	if err := j.Store.setReviewTotals(ctx, r, summedCounts(final)); err != nil {
		return err
	}
	if err := j.Store.setReviewState(ctx, r, ReviewClosing, ReviewClosed); err != nil && !lostRace(err) {
		return err
	}
	r.State = ReviewClosed
	return nil
}

// closeLine applies the deadline to one line read as l, of the account p
// (nil: removed). The line's state after is in l, as far as this
// instance knows.
func (j Jobs) closeLine(ctx context.Context, res jobResult, r *Review, l *ReviewLine, p *Person) error {
	now := j.Store.now()
	if l.State == LineWithdrawing {
		return j.withdrawn(ctx, res, r, l, p)
	}
	if p == nil || !p.HasProfile(l.Application, l.Profile) {
		err := j.Store.swapLineState(ctx, r, l, LinePending, LineGone, "", now)
		if err == nil {
			res["gone"]++
		}
		if lostRace(err) {
			return nil
		}
		return err
	}
	if r.Mode == ReviewFlag {
		err := j.Store.swapLineState(ctx, r, l, LinePending, LineFlagged, "", now)
		if lostRace(err) {
			return nil
		}
		if err != nil {
			return err
		}
		res["flagged"]++
		err = j.apply(ctx, "record review flag", ldap.NewModifyRequest(p.dn, nil), p, jobEvent(JobReviews, ActionReviewFlag, l.Habilitation()+" "+r.ID))
		if lostRace(err) {
			return nil
		}
		return err
	}
	err := j.Store.swapLineState(ctx, r, l, LinePending, LineWithdrawing, "", now)
	if lostRace(err) {
		// Another instance (or a decision under way at the deadline) came
		// first: a withdrawal it has not finished is finished here too
		// (each step is idempotent or a compare-and-swap), so that every
		// line this run read is in its final state when its structure is
		// counted again.
		cur, rerr := j.Store.reviewLine(ctx, r, l.ID)
		if rerr != nil || cur.State != LineWithdrawing {
			return nil
		}
		return j.withdrawn(ctx, res, r, cur, p)
	}
	if err != nil {
		return err
	}
	return j.withdrawn(ctx, res, r, l, p)
}
