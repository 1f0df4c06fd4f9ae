package directory_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/notify"
)

// The reviews of habilitations (workflow_reviews.go) against the real
// slapd and SMTP server, with a clock the test moves.

// reviewWorld is a job world with two structures, an application with
// two profiles, and the people who hold them.
type reviewWorld struct {
	*jobWorld
	rv                      directory.Reviews
	admin, respA, respP     *directory.Person // testSIRET: services Accueil and Paie
	c1, c2, c3              *directory.Person // collaborateurs: c1, c2 in Accueil, c3 in Paie
	otherAdmin, otherCollab *directory.Person // otherSIRET
	agent                   *directory.Person
	t0                      time.Time
}

func newReviewWorld(t *testing.T, mode directory.ReviewMode) *reviewWorld {
	t.Helper()
	w := &reviewWorld{jobWorld: newJobWorld(t)}
	w.t0 = w.clock.Now()
	relay := w.jobsA.Notifier.(notify.Notifier)
	w.jobsA.ReviewNotifier, w.jobsB.ReviewNotifier = relay, relay
	w.jobsA.Review = directory.ReviewPolicy{Mode: mode}
	w.jobsB.Review = w.jobsA.Review
	w.rv = directory.Reviews{Store: w.a, Audit: w.jobsA.Audit}
	mustStructure(t, w.a, testSIRET, "Accueil", "Paie")
	mustStructure(t, w.a, otherSIRET, "Greffe")
	if err := w.a.CreateApplication(ctx, directory.Application{ID: "ficoba", Name: "FICOBA", Profiles: []string{"consultation", "mise-a-jour"}}); err != nil {
		t.Fatal(err)
	}
	mk := func(first string, role directory.Role, siret, service string, profiles ...string) *directory.Person {
		p := mustPerson(t, w.a, directory.NewPerson{FirstName: first, LastName: "Revue", Email: strings.ToLower(first) + ".revue@example.fr",
			Role: role, SIRET: siret, Service: service})
		for _, pr := range profiles {
			if err := w.a.AddHabilitation(ctx, p.Identifier, "ficoba", pr); err != nil {
				t.Fatal(err)
			}
		}
		return w.reload(p)
	}
	w.admin = mk("Alice", directory.RoleAdministrateur, testSIRET, "", "consultation", "mise-a-jour")
	w.respA = mk("Romain", directory.RoleResponsable, testSIRET, "Accueil", "consultation")
	w.respP = mk("Rose", directory.RoleResponsable, testSIRET, "Paie", "consultation")
	w.c1 = mk("Cyril", directory.RoleCollaborateur, testSIRET, "Accueil", "consultation", "mise-a-jour")
	w.c2 = mk("Chloe", directory.RoleCollaborateur, testSIRET, "Accueil", "consultation")
	w.c3 = mk("Camille", directory.RoleCollaborateur, testSIRET, "Paie", "consultation")
	w.otherAdmin = mk("Olivier", directory.RoleAdministrateur, otherSIRET, "", "consultation")
	w.otherCollab = mk("Oscar", directory.RoleCollaborateur, otherSIRET, "Greffe", "consultation")
	w.agent = mk("Agathe", directory.RoleAgent, "", "")
	return w
}

func (w *reviewWorld) reload(p *directory.Person) *directory.Person {
	w.t.Helper()
	got, err := w.a.FindPerson(ctx, p.Identifier)
	if err != nil {
		w.t.Fatal(err)
	}
	return got
}

// at moves the clock to t0+d and runs the reviews' job on instance A.
func (w *reviewWorld) at(d time.Duration) map[string]int {
	w.t.Helper()
	w.clock.Add(w.t0.Add(d).Sub(w.clock.Now()))
	return runJob(w.t, "reviews", w.jobsA.Reviews, &memProgress{})
}

// lines are the reviewer's lines, as "first name application/profile state".
func (w *reviewWorld) lines(reviewer *directory.Person) []string {
	w.t.Helper()
	page, err := w.rv.Lines(ctx, w.reload(reviewer), directory.ReviewLinesQuery{Size: 200})
	if err != nil {
		w.t.Fatalf("lines of %s: %v", reviewer.FirstName, err)
	}
	var out []string
	for _, l := range page.Lines {
		first, _, _ := strings.Cut(l.Name, " ")
		out = append(out, first+" "+l.Habilitation()+" "+string(l.ShownState()))
	}
	slices.Sort(out)
	return out
}

// line finds the id of the line of p's habilitation in reviewer's lines.
func (w *reviewWorld) line(reviewer, p *directory.Person, profile string) string {
	w.t.Helper()
	page, err := w.rv.Lines(ctx, w.reload(reviewer), directory.ReviewLinesQuery{Size: 200})
	if err != nil {
		w.t.Fatal(err)
	}
	for _, l := range page.Lines {
		if l.Account == p.Identifier && l.Profile == profile {
			return l.ID
		}
	}
	w.t.Fatalf("%s has no line for %s's %s", reviewer.FirstName, p.FirstName, profile)
	return ""
}

func (w *reviewWorld) holds(p *directory.Person, profile string) bool {
	return w.reload(p).HasProfile("ficoba", profile)
}

// A review: its lines as CanHabilitate says, decisions, a habilitation
// withdrawn meanwhile (« déjà retirée »), one given after the start (not
// in it), the reminders once each, and the deadline withdrawing what
// was not confirmed, once, each thing audited; the agents' progress and
// the export.
func TestReviewCampaign(t *testing.T) {
	t.Parallel()
	w := newReviewWorld(t, directory.ReviewWithdraw)

	if _, err := w.rv.Lines(ctx, w.admin, directory.ReviewLinesQuery{}); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("before any review: %v, want ErrNotFound", err)
	}
	res := w.at(time.Minute)
	if res["started"] != 1 || res["lines"] != 10 || res["notices"] != 5 {
		t.Fatalf("the start: %v, want 10 lines and 5 reviewers mailed", res)
	}
	if res := w.at(2 * time.Minute); res["started"]+res["lines"]+res["notices"] != 0 {
		t.Fatalf("run again: %v", res)
	}

	// Who sees what: a responsable their service's collaborateurs with the
	// profiles they hold; an administrator their structure's responsables
	// and collaborateurs; agents the administrators, of every structure.
	for _, c := range []struct {
		who  *directory.Person
		want []string
	}{
		{w.respA, []string{"Chloe ficoba/consultation pending", "Cyril ficoba/consultation pending"}},
		{w.respP, []string{"Camille ficoba/consultation pending"}},
		{w.admin, []string{"Camille ficoba/consultation pending", "Chloe ficoba/consultation pending", "Cyril ficoba/consultation pending",
			"Cyril ficoba/mise-a-jour pending", "Romain ficoba/consultation pending", "Rose ficoba/consultation pending"}},
		{w.otherAdmin, []string{"Oscar ficoba/consultation pending"}},
		{w.agent, []string{"Alice ficoba/consultation pending", "Alice ficoba/mise-a-jour pending", "Olivier ficoba/consultation pending"}},
	} {
		if got := w.lines(c.who); !slices.Equal(got, c.want) {
			t.Errorf("%s's lines: %q, want %q", c.who.FirstName, got, c.want)
		}
	}
	if _, err := w.rv.Lines(ctx, w.c1, directory.ReviewLinesQuery{}); !errors.Is(err, directory.ErrForbidden) {
		t.Errorf("a collaborateur's lines: %v, want ErrForbidden", err)
	}
	for _, p := range []*directory.Person{w.admin, w.respA, w.respP, w.otherAdmin, w.agent} {
		if got := w.mailsTo(p.Email); len(got) != 1 || !strings.HasPrefix(got[0], "Revue des habilitations : ") {
			t.Errorf("%s's mails: %q, want the start", p.FirstName, got)
		}
	}

	// Rights: a responsable never decides another service's line, an
	// administrator never another structure's; nothing changes.
	c3Line := w.line(w.admin, w.c3, "consultation")
	c1Cons := w.line(w.respA, w.c1, "consultation")
	c1Maj := w.line(w.admin, w.c1, "mise-a-jour")
	c2Cons := w.line(w.respA, w.c2, "consultation")
	otherLine := w.line(w.otherAdmin, w.otherCollab, "consultation")
	for _, c := range []struct {
		who   *directory.Person
		lines []string
	}{
		{w.respA, []string{c1Cons, c3Line}},
		{w.respA, []string{c1Maj}}, // a profile the responsable does not hold
		{w.admin, []string{otherLine}},
		{w.otherAdmin, []string{c1Cons}},
		{w.c1, []string{c1Cons}},
	} {
		if _, err := w.rv.Decide(ctx, w.reload(c.who), "", directory.DecisionWithdraw, c.lines); !errors.Is(err, directory.ErrForbidden) {
			t.Errorf("%s deciding %v: %v, want ErrForbidden", c.who.FirstName, c.lines, err)
		}
	}
	if !w.holds(w.c1, "consultation") || !w.holds(w.c3, "consultation") || !w.holds(w.c1, "mise-a-jour") || !w.holds(w.otherCollab, "consultation") {
		t.Fatal("a refused decision withdrew a habilitation")
	}
	if _, err := w.rv.Decide(ctx, w.admin, "", "keep", []string{c1Cons}); !errors.Is(err, directory.ErrInvalid) {
		t.Errorf("an unknown decision: %v, want ErrInvalid", err)
	}

	// A habilitation given after the start is not in the review; one
	// withdrawn meanwhile by other means is « déjà retirée ».
	acc := directory.Accounts{Store: w.a, Notifier: noMail{}}
	if err := acc.Grant(ctx, w.reload(w.admin), w.c2.Identifier, "ficoba", "mise-a-jour"); err != nil {
		t.Fatal(err)
	}
	if err := acc.Revoke(ctx, w.reload(w.admin), w.c2.Identifier, "ficoba", "consultation"); err != nil {
		t.Fatal(err)
	}
	if got, want := w.lines(w.respA), []string{"Chloe ficoba/consultation gone", "Cyril ficoba/consultation pending"}; !slices.Equal(got, want) {
		t.Errorf("after a grant and a withdrawal by other means: %q, want %q", got, want)
	}

	// Decisions: per line and for several at once.
	w.clock.Add(time.Hour)
	got, err := w.rv.Decide(ctx, w.reload(w.respA), "", directory.DecisionConfirm, []string{c1Cons, c2Cons})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Outcomes, []directory.LineOutcome{directory.OutcomeConfirmed, directory.OutcomeAlreadyWithdrawn}) {
		t.Errorf("outcomes %v", got.Outcomes)
	}
	if got, err := w.rv.Decide(ctx, w.reload(w.admin), "", directory.DecisionWithdraw, []string{c1Maj, c1Cons}); err != nil ||
		!slices.Equal(got.Outcomes, []directory.LineOutcome{directory.OutcomeWithdrawn, directory.OutcomeAlreadyDecided}) {
		t.Errorf("withdraw: %+v, %v", got, err)
	}
	if w.holds(w.c1, "mise-a-jour") || !w.holds(w.c1, "consultation") {
		t.Error("the withdrawal: c1 still holds mise-a-jour, or lost consultation")
	}
	agentAlice := w.line(w.agent, w.admin, "consultation")
	if _, err := w.rv.Decide(ctx, w.reload(w.agent), "", directory.DecisionConfirm, []string{agentAlice}); err != nil {
		t.Fatal(err)
	}

	// The reminders: 7 days and 1 day before the deadline (30 days), once
	// each, to the reviewers who still have lines to decide.
	if res := w.at(22 * day); res["notices"] != 0 {
		t.Fatalf("8 days before: %v", res)
	}
	if res := w.at(23*day + time.Minute); res["notices"] != 4 {
		t.Fatalf("7 days before: %v, want 4 reminders (not Romain: his lines are decided)", res)
	}
	if res := w.at(23*day + 2*time.Minute); res["notices"] != 0 {
		t.Fatalf("run again: %v", res)
	}
	if res := w.at(29*day + time.Minute); res["notices"] != 4 {
		t.Fatalf("1 day before: %v", res)
	}
	if res := w.at(29*day + 2*time.Minute); res["notices"] != 0 {
		t.Fatalf("run again: %v", res)
	}

	// The deadline: what was not confirmed is withdrawn, once, mailed.
	res = w.at(30*day + time.Minute)
	if res["withdrawn"] != 6 || res["mails_not_sent"] != 0 {
		t.Fatalf("the deadline: %v, want 6 withdrawn (Camille, Romain, Rose, Alice's mise-a-jour, Olivier, Oscar)", res)
	}
	if res := w.at(30*day + 2*time.Minute); len(res) != 0 {
		t.Fatalf("run again: %v", res)
	}
	if _, err := w.rv.Decide(ctx, w.reload(w.admin), "", directory.DecisionConfirm, []string{c3Line}); !errors.Is(err, directory.ErrReviewClosed) {
		t.Errorf("a decision after the deadline: %v, want ErrReviewClosed", err)
	}
	for _, c := range []struct {
		p      *directory.Person
		held   []string
		mails  []string
		events []directory.Action
	}{
		// (the last: the withdrawal of a line confirmed before, already decided)
		{w.c1, []string{"consultation"}, nil, []directory.Action{directory.ActionReviewConfirm, directory.ActionReviewWithdraw, directory.ActionReviewWithdraw}},
		{w.c2, []string{"mise-a-jour"}, nil, []directory.Action{directory.ActionGrant, directory.ActionRevoke, directory.ActionReviewConfirm}},
		{w.c3, nil, []string{"Votre habilitation à FICOBA est retirée"}, []directory.Action{directory.ActionReviewWithdraw}},
		{w.admin, []string{"consultation"}, []string{"Votre habilitation à FICOBA est retirée"}, []directory.Action{directory.ActionReviewNotice,
			directory.ActionReviewConfirm, directory.ActionReviewNotice, directory.ActionReviewNotice, directory.ActionReviewWithdraw}},
		{w.otherCollab, nil, []string{"Votre habilitation à FICOBA est retirée"}, []directory.Action{directory.ActionReviewWithdraw}},
	} {
		var held []string
		for _, pr := range []string{"consultation", "mise-a-jour"} {
			if w.holds(c.p, pr) {
				held = append(held, pr)
			}
		}
		if !slices.Equal(held, c.held) {
			t.Errorf("%s holds %v, want %v", c.p.FirstName, held, c.held)
		}
		var mails []string
		for _, m := range w.mailsTo(c.p.Email) {
			if !strings.HasPrefix(m, "Revue") && !strings.HasPrefix(m, "Rappel") {
				mails = append(mails, m)
			}
		}
		if !slices.Equal(mails, c.mails) {
			t.Errorf("%s's mails: %q, want %q", c.p.FirstName, mails, c.mails)
		}
		if c.events == nil {
			continue
		}
		if got := w.events(c.p); !slices.Equal(got, c.events) {
			t.Errorf("%s's history: %v, want %v", c.p.FirstName, got, c.events)
		}
	}
	// The reviewers' mails: the start, then a reminder at each stage to
	// those who had lines left.
	for _, c := range []struct {
		p    *directory.Person
		want int
	}{{w.admin, 3}, {w.respA, 1}, {w.respP, 3}, {w.otherAdmin, 3}, {w.agent, 3}} {
		var n int
		for _, m := range w.mailsTo(c.p.Email) {
			if strings.HasPrefix(m, "Revue") || strings.HasPrefix(m, "Rappel") {
				n++
			}
		}
		if n != c.want {
			t.Errorf("%s: %d review mails, want %d", c.p.FirstName, n, c.want)
		}
	}
	// Every decision in the audit log, the deadline's by the job; the
	// refused attempts too.
	count := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(w.audit.String()), "\n") {
		var ev struct{ Actor, Action, Account, Outcome, Source string }
		if err := json.Unmarshal([]byte(line), &ev); err != nil || !strings.Contains(ev.Action, "review") {
			continue
		}
		count[ev.Actor+" "+ev.Action+" "+ev.Account+" "+ev.Outcome]++
		count[ev.Action+" "+ev.Outcome]++
		if ev.Source == "apexd:reviews" {
			count["job "+ev.Action]++
		}
	}
	for k, want := range map[string]int{
		w.respA.Identifier + " habilitation.review_confirm " + w.c1.Identifier + " success":           1,
		w.respA.Identifier + " habilitation.review_confirm " + w.c2.Identifier + " already_withdrawn": 1,
		w.admin.Identifier + " habilitation.review_withdraw " + w.c1.Identifier + " success":          1,
		w.admin.Identifier + " habilitation.review_withdraw " + w.c1.Identifier + " already_decided":  1,
		w.agent.Identifier + " habilitation.review_confirm " + w.admin.Identifier + " success":        1,
		" habilitation.review_withdraw " + w.c3.Identifier + " success":                               1,
		"habilitation.review_withdraw refused":                                                        5,
		"job habilitation.review_withdraw":                                                            6,
		"job review.notice":                                                                           13,
		"habilitation.review_confirm success":                                                         2,
	} {
		if count[k] != want {
			t.Errorf("%d audit lines %q, want %d", count[k], k, want)
		}
	}
	if strings.Contains(w.audit.String(), "@example.fr") {
		t.Error("an address in the log")
	}

	// The agents' progress, structure by structure, and the result.
	prog, err := w.rv.Structures(ctx, w.reload(w.agent), directory.ReviewStructuresQuery{})
	if err != nil {
		t.Fatal(err)
	}
	wantTotals := directory.ReviewCounts{Confirmed: 2, Withdrawn: 7, Gone: 1}
	if prog.Totals != wantTotals || prog.Total != 2 {
		t.Errorf("progress: %+v (%d structures), want %+v", prog.Totals, prog.Total, wantTotals)
	}
	if _, err := w.rv.Structures(ctx, w.reload(w.admin), directory.ReviewStructuresQuery{}); !errors.Is(err, directory.ErrForbidden) {
		t.Errorf("an administrator's list of structures: %v, want ErrForbidden", err)
	}
	var exported []string
	if _, err := w.rv.Export(ctx, w.reload(w.agent), "", "", func(*directory.Review) error { return nil }, func(it directory.ReviewItem) error {
		exported = append(exported, it.Account+" "+it.Habilitation()+" "+string(it.State)+" "+it.DecidedBy)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(exported) != 10 || !slices.Contains(exported, w.c1.Identifier+" ficoba/consultation confirmed "+w.respA.Identifier) ||
		!slices.Contains(exported, w.c3.Identifier+" ficoba/consultation withdrawn ") ||
		!slices.Contains(exported, w.c2.Identifier+" ficoba/consultation gone ") {
		t.Errorf("export: %q", exported)
	}
	if _, err := w.rv.Export(ctx, w.reload(w.admin), "", otherSIRET, func(*directory.Review) error { return nil }, func(directory.ReviewItem) error { return nil }); !errors.Is(err, directory.ErrForbidden) {
		t.Errorf("an administrator's export of another structure: %v, want ErrForbidden", err)
	}
}

// In the mode that only flags, the deadline flags what was not
// confirmed and withdraws nothing; a reviewer who leaves gets no more
// mails, and the structure's administrator decides their lines.
func TestReviewDeadlineFlags(t *testing.T) {
	t.Parallel()
	w := newReviewWorld(t, directory.ReviewFlag)
	if res := w.at(time.Minute); res["lines"] != 10 {
		t.Fatalf("the start: %v", res)
	}
	if err := w.a.SetState(ctx, w.respP.Identifier, directory.StateActive, directory.StateDisabled); err != nil {
		t.Fatal(err)
	}
	if _, err := w.rv.Lines(ctx, w.reload(w.respP), directory.ReviewLinesQuery{}); !errors.Is(err, directory.ErrForbidden) {
		t.Errorf("a disabled reviewer's lines: %v, want ErrForbidden", err)
	}
	if _, err := w.rv.Decide(ctx, w.reload(w.admin), "", directory.DecisionConfirm, []string{w.line(w.admin, w.c3, "consultation")}); err != nil {
		t.Fatalf("the administrator decides the line of the responsable who left: %v", err)
	}
	w.at(23*day + time.Minute)
	if got := w.mailsTo(w.respP.Email); len(got) != 1 {
		t.Errorf("the reviewer who left: mails %q, want the start only", got)
	}
	res := w.at(30*day + time.Minute)
	if res["flagged"] != 9 || res["withdrawn"] != 0 {
		t.Fatalf("the deadline: %v, want 9 flagged (the disabled responsable's too), none withdrawn", res)
	}
	if res := w.at(30*day + 2*time.Minute); len(res) != 0 {
		t.Fatalf("run again: %v", res)
	}
	for _, p := range []*directory.Person{w.c1, w.c2, w.respA, w.otherCollab} {
		if !w.holds(p, "consultation") {
			t.Errorf("%s lost a flagged habilitation", p.FirstName)
		}
		if got, want := w.events(p), len(w.reload(p).Habilitations); countOf(got, directory.ActionReviewFlag) != want {
			t.Errorf("%s's history: %v, want %d flags", p.FirstName, got, want)
		}
		for _, m := range w.mailsTo(p.Email) {
			if strings.Contains(m, "retirée") {
				t.Errorf("%s was mailed %q", p.FirstName, m)
			}
		}
	}
	if got := w.events(w.c3); countOf(got, directory.ActionReviewFlag) != 0 {
		t.Errorf("the line confirmed was flagged: %v", got)
	}
	prog, err := w.rv.Structures(ctx, w.reload(w.agent), directory.ReviewStructuresQuery{Query: "Étude " + otherSIRET})
	if err != nil {
		t.Fatal(err)
	}
	if prog.Total != 1 || prog.Structures[0].SIRET != otherSIRET || prog.Structures[0].Counts != (directory.ReviewCounts{Flagged: 2}) {
		t.Errorf("the other structure's progress: %+v", prog.Structures)
	}
	if prog.Totals != (directory.ReviewCounts{Confirmed: 1, Flagged: 9}) {
		t.Errorf("totals %+v", prog.Totals)
	}
}

// Two apexd running the reviews' job at the same moment (a lease lost by
// a paused holder) start one review, mail each reviewer once per stage,
// and withdraw each line once at the deadline.
func TestReviewOnTwoInstancesDoesEachThingOnce(t *testing.T) {
	t.Parallel()
	w := newReviewWorld(t, directory.ReviewWithdraw)
	var people []*directory.Person
	for i := range 10 {
		p := mustPerson(t, w.a, directory.NewPerson{FirstName: "Jumeau", LastName: "Revue" + strings.Repeat("x", i+1),
			Email: "jumeau" + strings.Repeat("x", i+1) + "@example.fr", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Paie"})
		if err := w.a.AddHabilitation(ctx, p.Identifier, "ficoba", "consultation"); err != nil {
			t.Fatal(err)
		}
		people = append(people, p)
	}
	both := func(d time.Duration) {
		t.Helper()
		w.clock.Add(w.t0.Add(d).Sub(w.clock.Now()))
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, j := range []directory.Jobs{w.jobsA, w.jobsB} {
			wg.Go(func() { _, errs[i] = j.Reviews(ctx, &memProgress{}) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	}
	both(time.Minute)
	both(23*day + time.Minute)
	both(30*day + time.Minute)
	both(30*day + 2*time.Minute)
	reviews, err := w.rv.List(ctx, w.reload(w.agent))
	if err != nil || len(reviews) != 1 || reviews[0].State != directory.ReviewClosed {
		t.Fatalf("reviews %+v, %v: want one, closed", reviews, err)
	}
	for _, p := range append(people, w.c3, w.otherCollab) {
		if w.holds(p, "consultation") {
			t.Errorf("%s still holds the habilitation", p.LastName)
		}
		if got := w.mailsTo(p.Email); !slices.Equal(got, []string{"Votre habilitation à FICOBA est retirée"}) {
			t.Errorf("%s: mails %q", p.LastName, got)
		}
		if got := w.events(p); !slices.Equal(got, []directory.Action{directory.ActionReviewWithdraw}) {
			t.Errorf("%s: history %v", p.LastName, got)
		}
	}
	for _, p := range []*directory.Person{w.admin, w.respP, w.agent} {
		if got := w.mailsTo(p.Email); len(got) < 2 || !strings.HasPrefix(got[0], "Revue") || !strings.HasPrefix(got[1], "Rappel") ||
			slices.ContainsFunc(got[2:], func(m string) bool { return strings.HasPrefix(m, "Revue") || strings.HasPrefix(m, "Rappel") }) {
			t.Errorf("%s: mails %q, want the start and one reminder", p.FirstName, got)
		}
	}
	prog, err := w.rv.Structures(ctx, w.reload(w.agent), directory.ReviewStructuresQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if prog.Totals != (directory.ReviewCounts{Withdrawn: 20}) {
		t.Errorf("totals %+v, want 20 withdrawn", prog.Totals)
	}
}

// A withdrawal cut between the line's "withdrawing" and the habilitation's
// withdrawal (apexd stopped) is finished by the job, once, in the name of
// the reviewer who decided it; people never read the reviews' entries.
func TestReviewWithdrawalCutHalfWayIsFinishedOnce(t *testing.T) {
	t.Parallel()
	w := newReviewWorld(t, directory.ReviewWithdraw)
	w.at(time.Minute)
	id := w.line(w.respP, w.c3, "consultation")
	w.root(func(c *ldap.Conn) error {
		entries, err := search(c, "ou=reviews,ou=system,"+w.srv.Suffix, "(cn="+id+")", "1.1")
		if err != nil || len(entries) != 1 {
			t.Fatalf("the line's entry: %v, %v", entries, err)
		}
		m := ldap.NewModifyRequest(entries[0].DN, nil)
		m.Replace("apexReviewState", []string{"withdrawing"})
		m.Replace("apexDecidedBy", []string{w.respP.Identifier})
		m.Replace("apexDecidedAt", []string{w.clock.Now().UTC().Format("20060102150405Z")})
		return c.Modify(m)
	})
	if got, want := w.lines(w.respP), []string{"Camille ficoba/consultation pending"}; !slices.Equal(got, want) {
		t.Errorf("a line being withdrawn shows as %q, want %q", got, want)
	}
	for range 2 {
		if res := w.at(time.Hour); res["withdrawn"] != 0 && res["withdrawn"] != 1 {
			t.Fatalf("finishing: %v", res)
		}
	}
	if w.holds(w.c3, "consultation") {
		t.Error("the habilitation is still held")
	}
	if got := w.events(w.c3); !slices.Equal(got, []directory.Action{directory.ActionReviewWithdraw}) {
		t.Errorf("history %v, want one withdrawal", got)
	}
	if got := w.lines(w.respP); !slices.Equal(got, []string{"Camille ficoba/consultation withdrawn"}) {
		t.Errorf("lines %q", got)
	}
	if n := strings.Count(w.audit.String(), `"actor":"`+w.respP.Identifier+`","actor_role":"","action":"habilitation.review_withdraw"`); n != 1 {
		t.Errorf("%d audit lines of the withdrawal in the reviewer's name, want 1:\n%s", n, w.audit.String())
	}
	if got := w.mailsTo(w.c3.Email); len(got) != 0 {
		t.Errorf("a reviewer's withdrawal mailed %q (only the deadline's are)", got)
	}
	prog, err := w.rv.Structures(ctx, w.reload(w.agent), directory.ReviewStructuresQuery{Query: testSIRET})
	if err != nil || prog.Structures[0].Counts.Withdrawn != 1 {
		t.Errorf("the structure's counts: %+v, %v", prog, err)
	}

	// A reviewer bound to slapd reads nothing of the reviews.
	conn := dial(t, w.srv.URL)
	if err := conn.Bind(findDN(t, w.a, w.srv, "(uid="+w.admin.Identifier+")"), goodPassword); err != nil {
		t.Fatal(err)
	}
	if entries, _ := search(conn, "ou=reviews,ou=system,"+w.srv.Suffix, "(objectClass=*)", "*"); len(entries) != 0 {
		t.Errorf("a person reads %d entries of the reviews", len(entries))
	}
}

// The agents' progress: structures sorted by name, searched (accents and
// case aside, or by SIRET), only those with lines left, paged by slapd;
// the review's totals kept by each decision.
func TestReviewProgressSearchAndPage(t *testing.T) {
	t.Parallel()
	w := newReviewWorld(t, directory.ReviewWithdraw)
	const third = "55203253400646"
	if err := w.a.CreateStructure(ctx, directory.Structure{SIRET: third, Name: "Caisse Émeraude & Fils", Category: "Caisse de retraite"}); err != nil {
		t.Fatal(err)
	}
	caissier := mustPerson(t, w.a, directory.NewPerson{FirstName: "Carl", LastName: "Caisse", Email: "carl.caisse@example.fr",
		Role: directory.RoleAdministrateur, SIRET: third})
	if err := w.a.AddHabilitation(ctx, caissier.Identifier, "ficoba", "consultation"); err != nil {
		t.Fatal(err)
	}
	w.at(time.Minute)
	// Nothing left in the other structure.
	if _, err := w.rv.Decide(ctx, w.reload(w.otherAdmin), "", directory.DecisionConfirm, []string{w.line(w.otherAdmin, w.otherCollab, "consultation")}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.rv.Decide(ctx, w.reload(w.agent), "", directory.DecisionWithdraw, []string{w.line(w.agent, w.otherAdmin, "consultation")}); err != nil {
		t.Fatal(err)
	}
	agent := w.reload(w.agent)
	for _, tc := range []struct {
		q     directory.ReviewStructuresQuery
		want  []string
		total int
	}{
		{directory.ReviewStructuresQuery{}, []string{third, otherSIRET, testSIRET}, 3},
		{directory.ReviewStructuresQuery{Query: "ÉMERAUDE & fils"}, []string{third}, 1},
		{directory.ReviewStructuresQuery{Query: "443061841"}, []string{otherSIRET}, 1},
		{directory.ReviewStructuresQuery{Query: "*)(objectClass=*"}, nil, 0},
		{directory.ReviewStructuresQuery{Unfinished: true}, []string{third, testSIRET}, 2},
		{directory.ReviewStructuresQuery{Size: 2, Page: 2}, []string{testSIRET}, 3},
	} {
		page, err := w.rv.Structures(ctx, agent, tc.q)
		if err != nil {
			t.Fatalf("%+v: %v", tc.q, err)
		}
		var got []string
		for _, st := range page.Structures {
			got = append(got, st.SIRET)
		}
		if !slices.Equal(got, tc.want) || page.Total != tc.total {
			t.Errorf("%+v: %q (total %d), want %q (total %d)", tc.q, got, page.Total, tc.want, tc.total)
		}
		if want := (directory.ReviewCounts{Pending: 9, Confirmed: 1, Withdrawn: 1}); page.Totals != want {
			t.Errorf("%+v: totals %+v, want %+v", tc.q, page.Totals, want)
		}
	}
}
