package directory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/mozillazg/go-unidecode"
)

// ReviewNotifier mails what the reviews of habilitations tell people. The
// notify package implements it.
type ReviewNotifier interface {
	// ReviewStarted tells a reviewer that the review r started, with the
	// lines they may decide.
	ReviewStarted(ctx context.Context, to *Person, r *Review, lines int) error
	// ReviewReminder tells a reviewer that lines are left to decide
	// before r's deadline.
	ReviewReminder(ctx context.Context, to *Person, r *Review, left int) error
	// ReviewWithdrawn tells p that its habilitation to the application's
	// profile was withdrawn at r's deadline, nobody having confirmed it.
	ReviewWithdrawn(ctx context.Context, p *Person, app *Application, profile string, r *Review) error
}

// JobReviews is the reviews' job, as the scheduler and the configuration know it.
const JobReviews = "reviews"

var (
	errLineDecided      = fmt.Errorf("%w: review line decided before", ErrAlreadyDecided)
	errHabilitationGone = errors.New("habilitation withdrawn by other means")
)

// Reviews is the door of those who review habilitations: administrators
// and responsables review the habilitations of the accounts they manage,
// with the profiles they hold (CanReview); agents those of the
// administrators, and see each structure's progress. Every decision is
// an event of the audit trail, kept in the history of the account
// concerned.
//
// Who reviews a line is never fixed: it is whoever may decide it when
// they act (CanReview on the account as it is then). So a reviewer who
// leaves (disabled, removed, moved) leaves nothing behind: the other
// administrators of the structure, who may decide every line of its
// responsables and collaborateurs whose profile they hold, have them
// already, and a new responsable of the service has them at once. A line
// that no active reviewer may decide any more is shown to the agents, in
// the structure's progress, as « sans relecteur »; it is not handed to
// them, since agents habilitate administrators only and know nothing of a
// structure's staff: like any line not confirmed, it is withdrawn (or
// flagged) at the deadline, and the structure's administrator may grant
// it again.
type Reviews struct {
	Store *Store
	// Audit gets one line per decision attempted; none when nil. The
	// accounts' histories are kept either way.
	Audit *slog.Logger
	// Source is where the decisions come from when their context does not
	// say (WithSource).
	Source string
}

// visibleReview is the review id names ("" or "current": the latest one
// that has opened). Errors: ErrNotFound.
func (rv Reviews) visibleReview(ctx context.Context, id string) (*Review, error) {
	if id == "" || id == "current" {
		list, err := rv.Store.reviews(ctx)
		if err != nil {
			return nil, err
		}
		for i := range list {
			if list[i].State != ReviewOpening {
				return &list[i], nil
			}
		}
		return nil, fmt.Errorf("find review: none open yet: %w", ErrNotFound)
	}
	r, err := rv.Store.findReview(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.State == ReviewOpening {
		return nil, fmt.Errorf("find review %s: still opening: %w", id, ErrNotFound)
	}
	return r, nil
}

// List returns the reviews that opened, the latest first: to those who
// review. Errors: ErrForbidden.
func (rv Reviews) List(ctx context.Context, actor *Person) ([]Review, error) {
	if !actor.isReviewer() {
		return nil, forbidden("list reviews")
	}
	list, err := rv.Store.reviews(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(list, func(r Review) bool { return r.State == ReviewOpening }), nil
}

// Lines returns a page of the lines actor reviews in a review, with
// their counts. Errors: ErrForbidden, ErrNotFound (no such review).
func (rv Reviews) Lines(ctx context.Context, actor *Person, q ReviewLinesQuery) (*ReviewLinesPage, error) {
	if !actor.isReviewer() {
		return nil, forbidden("review lines")
	}
	r, err := rv.visibleReview(ctx, q.Review)
	if err != nil {
		return nil, err
	}
	items, err := rv.scope(ctx, actor, r)
	if err != nil {
		return nil, err
	}
	out := &ReviewLinesPage{Review: r, Open: r.Open(rv.Store.now()), Page: max(q.Page, 1), Size: q.Size}
	if out.Size <= 0 {
		out.Size = 50
	}
	out.Size = min(out.Size, 200)
	query := fold(strings.TrimSpace(q.Query))
	var matching []ReviewItem
	for _, it := range items {
		out.Counts.add(it.ShownState(), 1)
		if q.State != "" && it.ShownState() != q.State {
			continue
		}
		if query != "" && !strings.Contains(it.searchText(), query) {
			continue
		}
		matching = append(matching, it)
	}
	out.Total = len(matching)
	if out.Page-1 < (len(matching)+out.Size-1)/out.Size {
		from := (out.Page - 1) * out.Size
		out.Lines = matching[from:min(from+out.Size, len(matching))]
	}
	return out, nil
}

// ShownState is the line's state as a reviewer sees it: a pending line
// whose habilitation is gone is « déjà retirée ».
func (it ReviewItem) ShownState() LineState {
	if (it.State == LinePending || it.State == LineWithdrawing) && !it.Held {
		if it.State == LineWithdrawing {
			return LineWithdrawn
		}
		return LineGone
	}
	if it.State == LineWithdrawing {
		return LinePending
	}
	return it.State
}

func (it ReviewItem) searchText() string {
	return fold(strings.Join([]string{it.Name, it.Account, it.Service, it.SIRET, it.StructureName, it.Habilitation()}, " "))
}

// fold is s lower-cased without accents, for searching.
func fold(s string) string { return strings.ToLower(unidecode.Unidecode(s)) }

// scope returns every line of r that actor may decide (or could have), as
// the accounts are now, sorted by structure, service and name. It reads
// the lines and accounts of actor's structure (an agent: the
// administrators'), never the whole directory's.
func (rv Reviews) scope(ctx context.Context, actor *Person, r *Review) ([]ReviewItem, error) {
	var lines []ReviewLine
	var people []Person
	names := map[string]string{}
	var err error
	if actor.Role == RoleAgent {
		admin := RoleAdministrateur
		if lines, err = rv.Store.reviewLines(ctx, r, eq("apexRole", string(admin))); err != nil {
			return nil, err
		}
		if people, err = rv.Store.ListPersons(ctx, PersonFilter{Role: &admin}); err != nil {
			return nil, err
		}
		sums, err := rv.Store.summaries(ctx, r)
		if err != nil {
			return nil, err
		}
		for _, s := range sums {
			names[s.SIRET] = s.Name
		}
	} else {
		if lines, err = rv.Store.reviewLines(ctx, r, eq("apexSiret", actor.SIRET)); err != nil {
			return nil, err
		}
		if people, err = rv.Store.ListPersons(ctx, PersonFilter{SIRET: &actor.SIRET}); err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}
	byID := make(map[string]*Person, len(people))
	for i := range people {
		byID[people[i].Identifier] = &people[i]
	}
	open := r.Open(rv.Store.now())
	var out []ReviewItem
	for _, l := range lines {
		p := byID[l.Account]
		target := p
		if target == nil {
			target = l.snapshotPerson()
		}
		if !CanReview(actor, target, l.Application, l.Profile) {
			continue
		}
		it := ReviewItem{ReviewLine: l, Held: p != nil && p.HasProfile(l.Application, l.Profile), StructureName: names[l.SIRET]}
		it.Decidable = open && l.State == LinePending && it.Held
		out = append(out, it)
	}
	sortItems(out)
	return out, nil
}

func sortItems(items []ReviewItem) {
	slices.SortFunc(items, func(a, b ReviewItem) int {
		for _, c := range [][2]string{
			{fold(a.StructureName), fold(b.StructureName)}, {a.SIRET, b.SIRET}, {fold(a.Service), fold(b.Service)},
			{fold(a.Name), fold(b.Name)}, {a.Account, b.Account}, {a.Application, b.Application}, {a.Profile, b.Profile},
		} {
			if n := strings.Compare(c[0], c[1]); n != 0 {
				return n
			}
		}
		return 0
	})
}

// Decide confirms or withdraws lines of a review. Every line must be one
// actor may decide (CanReview), or nothing is done (ErrForbidden); each
// line then gets its outcome: a line decided before, by anyone, is left
// as it is (already_decided), and one whose habilitation was withdrawn by
// other means is recorded « déjà retirée » (already_withdrawn). Each
// decision is an audit event in the account's history. Errors: ErrInvalid
// (the decision or the lines), ErrForbidden, ErrNotFound (the review or a
// line), ErrReviewClosed (its deadline came).
func (rv Reviews) Decide(ctx context.Context, actor *Person, review string, d ReviewDecision, lines []string) (*DecisionResult, error) {
	const op = "decide review lines"
	ids, err := checkDecision(d, lines)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	action := ActionReviewConfirm
	if d == DecisionWithdraw {
		action = ActionReviewWithdraw
	}
	record := func(ev *Event, err error) {
		if ev.Source == "" {
			ev.Source = rv.Source
		}
		recordEvent(ctx, rv.Store, rv.Audit, ev, err)
	}
	if !actor.isReviewer() {
		ev := newEvent(ctx, actor, action)
		record(ev, forbidden(op))
		return nil, forbidden(op)
	}
	r, err := rv.visibleReview(ctx, review)
	if err != nil {
		return nil, err
	}
	now := rv.Store.now()
	if !r.Open(now) {
		return nil, fmt.Errorf("%s %s: %w", op, r.ID, ErrReviewClosed)
	}
	// Everything is read and checked before anything changes.
	type work struct {
		line   *ReviewLine
		person *Person // nil: removed
		ev     *Event
	}
	todo := make([]work, 0, len(ids))
	for _, id := range ids {
		l, err := rv.Store.reviewLine(ctx, r, id)
		if err != nil {
			return nil, err
		}
		p, err := rv.Store.FindPerson(ctx, l.Account)
		if errors.Is(err, ErrNotFound) {
			p = nil
		} else if err != nil {
			return nil, err
		}
		target := p
		if target == nil {
			target = l.snapshotPerson()
		}
		ev := newEvent(ctx, actor, action)
		ev.Detail = l.Habilitation() + " " + r.ID
		ev.about(target)
		if !CanReview(actor, target, l.Application, l.Profile) {
			record(ev, forbidden(op))
			return nil, forbidden(op)
		}
		if p != nil {
			ev.keepOn(p)
		}
		todo = append(todo, work{l, p, ev})
	}
	res := &DecisionResult{}
	deltas := map[string]*ReviewCounts{}
	defer func() {
		for siret, delta := range deltas {
			if err := rv.Store.countSummary(context.WithoutCancel(ctx), r, siret, *delta); err != nil && rv.Audit != nil {
				rv.Audit.Error("review: count decisions", "review", r.ID, "structure", siret, "error", err.Error())
			}
		}
	}()
	for _, w := range todo {
		outcome, err := rv.decideOne(ctx, r, actor, d, w.line, w.person)
		if err != nil && !errors.Is(err, errLineDecided) && !errors.Is(err, errHabilitationGone) {
			record(w.ev, err)
			return res, err
		}
		if outcome != OutcomeAlreadyDecided {
			delta := deltas[w.line.SIRET]
			if delta == nil {
				delta = &ReviewCounts{}
				deltas[w.line.SIRET] = delta
			}
			delta.add(LinePending, -1)
			delta.add(w.line.State, 1)
		}
		// A withdrawal that another instance finished is recorded there.
		if outcome != "" {
			record(w.ev, err)
		}
		res.Lines = append(res.Lines, w.line.ID)
		res.Outcomes = append(res.Outcomes, outcome)
	}
	return res, nil
}

// decideOne decides one line read as l, of the account p (nil: removed).
// Its outcome is "" for a withdrawal that another instance finished.
func (rv Reviews) decideOne(ctx context.Context, r *Review, actor *Person, d ReviewDecision, l *ReviewLine, p *Person) (LineOutcome, error) {
	now := rv.Store.now()
	if l.State != LinePending {
		return OutcomeAlreadyDecided, errLineDecided
	}
	if p == nil || !p.HasProfile(l.Application, l.Profile) {
		err := rv.Store.swapLineState(ctx, r, l, LinePending, LineGone, "", now)
		if lostRace(err) {
			return OutcomeAlreadyDecided, errLineDecided
		}
		if err != nil {
			return "", err
		}
		return OutcomeAlreadyWithdrawn, errHabilitationGone
	}
	if d == DecisionConfirm {
		err := rv.Store.swapLineState(ctx, r, l, LinePending, LineConfirmed, actor.Identifier, now)
		if lostRace(err) {
			return OutcomeAlreadyDecided, errLineDecided
		}
		return OutcomeConfirmed, err
	}
	err := rv.Store.swapLineState(ctx, r, l, LinePending, LineWithdrawing, actor.Identifier, now)
	if lostRace(err) {
		return OutcomeAlreadyDecided, errLineDecided
	}
	if err != nil {
		return "", err
	}
	finished, err := withdrawLine(ctx, rv.Store, r, l, p, now)
	if err != nil {
		return "", err
	}
	if !finished {
		return "", nil
	}
	return OutcomeWithdrawn, nil
}

// withdrawLine finishes the withdrawal of a line being withdrawn: the
// habilitation goes (a membership already gone changes nothing), with its
// end date, then the line is withdrawn, a compare-and-swap of which one
// instance wins; finished is false when another did. A withdrawal stopped
// between the two is finished by the next call, from the reviewer's page
// or the job.
func withdrawLine(ctx context.Context, s *Store, r *Review, l *ReviewLine, p *Person, now time.Time) (finished bool, err error) {
	if p != nil {
		if err := s.revoke(ctx, p, l.Application, l.Profile); err != nil && !errors.Is(err, ErrNotFound) {
			return false, err
		}
		// As Revoke: an end record left behind is harmless (the end-date
		// job drops the records of profiles not held).
		s.setEnd(ctx, p, endKey(l.Application, l.Profile), time.Time{})
	}
	err = s.swapLineState(ctx, r, l, LineWithdrawing, LineWithdrawn, "", now)
	if lostRace(err) {
		return false, nil
	}
	return err == nil, err
}

// Structures returns a page of the structures of a review with their
// counts, and the review's totals: to agents. The counts are the
// summaries' and the review's, kept by each decision: the list never
// reads the lines, and slapd sorts and pages it.
// Errors: ErrForbidden, ErrNotFound.
func (rv Reviews) Structures(ctx context.Context, actor *Person, q ReviewStructuresQuery) (*ReviewStructuresPage, error) {
	if !actor.isAgent() {
		return nil, forbidden("review structures")
	}
	r, err := rv.visibleReview(ctx, q.Review)
	if err != nil {
		return nil, err
	}
	out := &ReviewStructuresPage{Review: r, Totals: r.Totals, Page: max(q.Page, 1), Size: q.Size}
	if out.Size <= 0 {
		out.Size = 50
	}
	out.Size = min(out.Size, 200)
	out.Structures, out.Total, err = rv.Store.summariesPage(ctx, r, strings.TrimSpace(q.Query), q.Unfinished, out.Page, out.Size)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Structure returns a structure's review: its counts read from its lines,
// and each reviewer's share: to agents and to the structure's
// administrators. Errors: ErrForbidden, ErrNotFound.
func (rv Reviews) Structure(ctx context.Context, actor *Person, review, siret string) (*StructureReview, error) {
	siret = NormalizeSIRET(siret)
	if !CanSeeReviewProgress(actor, siret) {
		return nil, forbidden("review structure")
	}
	r, err := rv.visibleReview(ctx, review)
	if err != nil {
		return nil, err
	}
	st, err := rv.Store.FindStructure(ctx, siret)
	if err != nil {
		return nil, err
	}
	lines, err := rv.Store.reviewLines(ctx, r, eq("apexSiret", siret))
	if err != nil {
		return nil, err
	}
	people, err := rv.Store.ListPersons(ctx, PersonFilter{SIRET: &siret})
	if err != nil {
		return nil, err
	}
	byID := map[string]*Person{}
	var reviewers []*Person
	for i := range people {
		p := &people[i]
		byID[p.Identifier] = p
		if p.isReviewer() {
			reviewers = append(reviewers, p)
		}
	}
	out := &StructureReview{Review: r, Structure: StructureProgress{SIRET: siret, Name: st.Name}}
	agents := &Person{Role: RoleAgent, State: StateActive}
	shares := make([]ReviewerProgress, len(reviewers))
	var agentShare ReviewerProgress
	for i, p := range reviewers {
		shares[i] = ReviewerProgress{Identifier: p.Identifier, Name: strings.TrimSpace(p.FirstName + " " + p.LastName), Role: p.Role}
	}
	for _, l := range lines {
		p := byID[l.Account]
		target := p
		if target == nil {
			target = l.snapshotPerson()
		}
		it := ReviewItem{ReviewLine: l, Held: p != nil && p.HasProfile(l.Application, l.Profile)}
		state := it.ShownState()
		out.Structure.Counts.add(l.State, 1)
		covered := false
		for i, rp := range reviewers {
			if CanReview(rp, target, l.Application, l.Profile) {
				shares[i].Counts.add(state, 1)
				covered = true
			}
			if l.DecidedBy == rp.Identifier {
				shares[i].Decided++
			}
		}
		if CanReview(agents, target, l.Application, l.Profile) {
			agentShare.Counts.add(state, 1)
			covered = true
			if l.DecidedBy != "" && byID[l.DecidedBy] == nil {
				agentShare.Decided++
			}
		}
		if !covered && state == LinePending {
			out.Orphans++
		}
	}
	for _, s := range shares {
		if s.Counts.Total() > 0 || s.Decided > 0 {
			out.Reviewers = append(out.Reviewers, s)
		}
	}
	if agentShare.Counts.Total() > 0 {
		agentShare.Role, agentShare.Name = RoleAgent, "Agents de la DGFiP"
		out.Reviewers = append(out.Reviewers, agentShare)
	}
	return out, nil
}

// Export hands emit the lines of a review that actor may read, in order:
// an agent's are the whole review's, structure by structure (or one
// structure's, siret), read one structure at a time, so that a national
// review is never held whole in memory; another reviewer's are those in
// their charge (siret empty or their own). Nothing is emitted before
// every check passed: then start is called, once, before any line.
// Errors: ErrForbidden, ErrNotFound, and start's and emit's.
func (rv Reviews) Export(ctx context.Context, actor *Person, review, siret string, start func(*Review) error, emit func(ReviewItem) error) (*Review, error) {
	if !actor.isReviewer() {
		return nil, forbidden("export review")
	}
	siret = NormalizeSIRET(siret)
	if actor.Role != RoleAgent && siret != "" && siret != actor.SIRET {
		return nil, forbidden("export review")
	}
	r, err := rv.visibleReview(ctx, review)
	if err != nil {
		return nil, err
	}
	if actor.Role != RoleAgent {
		items, err := rv.scope(ctx, actor, r)
		if err != nil {
			return nil, err
		}
		if st, err := rv.Store.FindStructure(ctx, actor.SIRET); err == nil {
			for i := range items {
				items[i].StructureName = st.Name
			}
		}
		if err := start(r); err != nil {
			return r, err
		}
		for _, it := range items {
			if err := emit(it); err != nil {
				return r, err
			}
		}
		return r, nil
	}
	sums, err := rv.Store.summaries(ctx, r)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(sums, func(a, b StructureProgress) int { return strings.Compare(a.SIRET, b.SIRET) })
	if siret != "" {
		sums = slices.DeleteFunc(sums, func(s StructureProgress) bool { return s.SIRET != siret })
	}
	if err := start(r); err != nil {
		return r, err
	}
	for _, s := range sums {
		lines, err := rv.Store.reviewLines(ctx, r, eq("apexSiret", s.SIRET))
		if err != nil {
			return r, err
		}
		items := make([]ReviewItem, len(lines))
		for i, l := range lines {
			items[i] = ReviewItem{ReviewLine: l, Held: l.State != LineGone, StructureName: s.Name}
		}
		sortItems(items)
		for _, it := range items {
			if err := emit(it); err != nil {
				return r, err
			}
		}
	}
	return r, nil
}
