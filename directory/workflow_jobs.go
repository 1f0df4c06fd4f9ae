package directory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// AccessNotifier mails what the scheduled jobs tell people. The notify
// package implements it.
type AccessNotifier interface {
	// DormancyWarning tells p that its account, last used at lastUse (or
	// active since then, unused), will be disabled at deadline unless used.
	DormancyWarning(ctx context.Context, p *Person, lastUse, deadline time.Time) error
	// AccountDisabled tells p that its account was disabled, for cause:
	// unused since lastUse, or its end date reached.
	AccountDisabled(ctx context.Context, p *Person, cause DisableCause, lastUse time.Time) error
	// ManagedAccountDisabled tells to, who manages p (or the agents'
	// mailbox for an administrator), that p's account was disabled.
	ManagedAccountDisabled(ctx context.Context, to Recipient, p *Person, cause DisableCause, lastUse time.Time) error
	// EndWarning tells p that its account (app nil) or its habilitation
	// to the application's profile ends at end.
	EndWarning(ctx context.Context, p *Person, app *Application, profile string, end time.Time) error
	// HabilitationEnded tells p that its habilitation to the
	// application's profile was withdrawn at its end date.
	HabilitationEnded(ctx context.Context, p *Person, app *Application, profile string) error
	// InvitationReminder sends an invitee whose link expires soon a new
	// link, valid until the same expiry; the old one stops working.
	InvitationReminder(ctx context.Context, inv *Invitation, structure *Structure) error
}

// Recipient is someone told about an account they manage.
type Recipient struct {
	Email     string
	FirstName string // "" for a shared mailbox
}

// DisableCause says why a job disabled an account.
type DisableCause string

const (
	CauseDormancy DisableCause = "dormancy" // unused for too long
	CauseEndDate  DisableCause = "end_date" // its end date came
)

// Jobs is the work of the scheduled jobs (package jobs runs them, each
// once for the whole directory): dormant accounts, end dates, invitation
// reminders. Every step is one compare-and-swap modify of the account's
// entry that makes the change, records the mail that goes with it (a
// notice, apexNotice) and keeps the event in its history, all or nothing;
// the mail leaves after, from the instance whose modify passed. So a run
// stopped anywhere and resumed, or two instances on one account, never
// change, mail or record anything twice; a mail may be lost if apexd dies
// between the modify and the spool (see docs/limitations.md).
type Jobs struct {
	Store    *Store
	Notifier AccessNotifier
	// Audit gets one line per change made, as the workflows' events.
	Audit  *slog.Logger
	Policy AccessPolicy
	// AgentsMailbox is the address of the DGFiP agents' shared mailbox,
	// told when an administrator's account is disabled; "" tells nobody.
	AgentsMailbox string
	// Log gets a line per mail that could not be sent (never an address
	// nor a name: the account's request id).
	Log *slog.Logger
}

// Names of the jobs, as the scheduler and the configuration know them.
const (
	JobDormancy            = "dormancy"
	JobEndDates            = "end-dates"
	JobInvitationReminders = "invitation-reminders"
)

// jobPersonAttrs are what a job reads of an account.
var jobPersonAttrs = append(append([]string(nil), personAttrs...), "apexNotice")

// jobResult counts what a run did, by kind, for the log.
type jobResult map[string]int

func (j Jobs) logger() *slog.Logger {
	if j.Log != nil {
		return j.Log
	}
	return slog.New(slog.DiscardHandler)
}

// mailed counts a mail sent, or logs one that could not be.
func (j Jobs) mailed(res jobResult, job string, p *Person, err error) {
	if err == nil {
		res["mails"]++
		return
	}
	res["mails_not_sent"]++
	j.logger().Warn("tâche planifiée : mail non envoyé", "job", job, "request", p.RequestID, "error", err.Error())
}

// apply runs req, a job's change of p's entry, with ev kept in the
// account's history by the same modify, then writes ev's log line. Errors:
// ErrConflict when the change lost its compare-and-swap (another instance
// made it, or the account changed meanwhile): nothing was done.
func (j Jobs) apply(ctx context.Context, op string, req *ldap.ModifyRequest, p *Person, ev *Event) error {
	ev.about(p)
	ev.At, ev.Outcome = j.Store.now().UTC(), OutcomeSuccess
	req.Add("apexHistory", []string{ev.record(0)})
	req.Controls = append(req.Controls, postRead{[]string{"apexHistory"}})
	var history []string
	err := j.Store.do(ctx, op, func(c *ldap.Conn) error {
		res, err := c.ModifyWithResult(req)
		if err == nil {
			history, err = postReadValues(res.Controls, "apexHistory")
		}
		return err
	})
	if err != nil {
		return err
	}
	ev.kept = true
	recordEvent(ctx, j.Store, j.Audit, ev, nil)
	j.Store.pruneHistory(context.WithoutCancel(ctx), op, req.DN, history)
	return nil
}

func jobEvent(job string, action Action, detail string) *Event {
	return &Event{Action: action, Detail: detail, Source: "apexd:" + job}
}

// lostRace reports an error that says another change came first: the
// step is skipped, and the next run looks again.
func lostRace(err error) bool { return errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound) }

// disable adds to req the change of an active account to disabled, as
// SetState does (its sessions and pending renewal end with it).
func disable(req *ldap.ModifyRequest) {
	req.Delete("apexAccountState", []string{string(StateActive)})
	req.Add("apexAccountState", []string{string(StateDisabled)})
	req.Replace("apexSession", nil)
	req.Replace("apexReset", nil)
}

// managers are the people told when an account they manage is disabled
// (Store.managersOf).
func (j Jobs) managers(ctx context.Context, p *Person) ([]Recipient, error) {
	return j.Store.managersOf(ctx, p, j.AgentsMailbox)
}

// tellDisabled mails p and those who manage it that its account was disabled.
func (j Jobs) tellDisabled(ctx context.Context, res jobResult, job string, p *Person, cause DisableCause, lastUse time.Time) {
	j.mailed(res, job, p, j.Notifier.AccountDisabled(ctx, p, cause, lastUse))
	to, err := j.managers(ctx, p)
	if err != nil {
		j.mailed(res, job, p, fmt.Errorf("find managers: %w", err))
		return
	}
	for _, r := range to {
		j.mailed(res, job, p, j.Notifier.ManagedAccountDisabled(ctx, r, p, cause, lastUse))
	}
}

// ---- Dormant accounts ----

// Dormancy disables the accounts of structures (agents are not concerned:
// apexctl manages them) unused for Policy.DormancyAfter, after mailing
// the person each of Policy.DormancyWarnings before; it mails the person
// and those who manage the account when it happens.
//
// An account's last use is its last sign-in or bind (authTimestamp), or
// when it last became active (apexActiveSince: validated, enabled again)
// if that is later: a sign-in before the disabling starts its period
// again, and so does enabling it. Each warning is mailed once, and says
// the day of the disabling; a warning mailed late (the job did not run)
// moves the disabling so that the person always has the warning's time:
// an account is disabled only once its last warning's time has passed.
//
// The due accounts are found by two indexed searches, never by reading
// every account: those used, whose last bind and activation are both old
// enough (authTimestamp and apexActiveSince, ordered indexes); and those
// never used (no authTimestamp), whose activation is old enough and no
// older than the cursor: the oldest activation among the never-used
// accounts still on their way to being disabled (older ones were disabled
// or used since). The cursor moves only once a run went through.
func (j Jobs) Dormancy(ctx context.Context, progress Progress) (map[string]int, error) {
	pol := j.Policy.withDefaults()
	stages := slices.Clone(pol.DormancyWarnings)
	slices.Sort(stages) // the closest to the disabling first
	now := j.Store.now()
	threshold := now.Add(-pol.DormancyAfter)
	if len(stages) > 0 {
		threshold = threshold.Add(stages[len(stages)-1])
	}
	var floor time.Time
	if c, err := strconv.ParseInt(progress.Cursor(), 10, 64); err == nil {
		floor = time.Unix(c, 0).UTC()
	}
	const op = "dormancy"
	base := j.Store.structuresDN()
	active := and("(objectClass=apexPerson)", eq("apexAccountState", string(StateActive)))
	used, err := j.Store.searchAll(ctx, op, base, ldap.ScopeWholeSubtree,
		and(active, le("authTimestamp", stamp(threshold)), le("apexActiveSince", stamp(threshold))), jobPersonAttrs)
	if err != nil {
		return nil, err
	}
	neverUsed := []string{active, not("(authTimestamp=*)"), le("apexActiveSince", stamp(threshold))}
	if !floor.IsZero() {
		neverUsed = append(neverUsed, ge("apexActiveSince", stamp(floor)))
	}
	never, err := j.Store.searchAll(ctx, op, base, ldap.ScopeWholeSubtree, and(neverUsed...), jobPersonAttrs)
	if err != nil {
		return nil, err
	}
	res := jobResult{"found": len(used) + len(never)}
	cursor := threshold
	for i, e := range append(used, never...) {
		pending, err := j.dormant(ctx, res, e, now, pol.DormancyAfter, stages)
		if err != nil {
			return res, err
		}
		if p := j.Store.personFromEntry(e); pending && i >= len(used) && p.ActiveSince.Before(cursor) {
			cursor = p.ActiveSince
		}
	}
	if err := progress.SaveCursor(ctx, strconv.FormatInt(cursor.Unix(), 10)); err != nil {
		return res, err
	}
	return res, nil
}

// dormant warns or disables one account found by Dormancy, as due; it
// reports whether the account is still on its way to being disabled.
func (j Jobs) dormant(ctx context.Context, res jobResult, e *ldap.Entry, now time.Time, after time.Duration, stages []time.Duration) (bool, error) {
	p := j.Store.personFromEntry(e)
	if p.ActiveSince.IsZero() || p.Role == RoleAgent {
		return false, nil
	}
	basis := p.ActiveSince
	if p.LastSignIn.After(basis) {
		basis = p.LastSignIn
	}
	deadline := basis.Add(after)
	prefix := dormancyNoticePrefix(basis)
	sent := map[time.Duration]bool{}
	var stale []string // notices of an earlier basis
	for _, v := range e.GetAttributeValues("apexNotice") {
		n, ok := parseDormancyNotice(v)
		switch {
		case !ok:
		case !n.basis.Equal(basis):
			stale = append(stale, v)
		default:
			sent[n.stage] = true
			if n.deadline.After(deadline) {
				deadline = n.deadline
			}
		}
	}
	// The compare-and-swap of every step: still active, not used nor
	// enabled again since it was read.
	same := []string{eq("apexAccountState", string(StateActive)), eq("apexActiveSince", ldapTime(p.ActiveSince))}
	if p.LastSignIn.IsZero() {
		same = append(same, not("(authTimestamp=*)"))
	} else {
		same = append(same, le("authTimestamp", ldapTime(p.LastSignIn)))
	}
	if !now.Before(deadline) && (len(stages) == 0 || sent[stages[0]]) {
		req := ldap.NewModifyRequest(e.DN, []ldap.Control{assertion{and(same...)}})
		disable(req)
		var notices []string
		for _, v := range e.GetAttributeValues("apexNotice") {
			if strings.HasPrefix(v, "v1 dormancy ") {
				notices = append(notices, v)
			}
		}
		if len(notices) > 0 {
			req.Delete("apexNotice", notices)
		}
		err := j.apply(ctx, "disable dormant account", req, p, jobEvent(JobDormancy, ActionDormancyDisable, Day(basis)))
		if lostRace(err) {
			return true, nil // used, moved or changed meanwhile: the next run reads it again
		}
		if err != nil {
			return false, err
		}
		res["disabled"]++
		p.State = StateDisabled
		j.tellDisabled(ctx, res, JobDormancy, p, CauseDormancy, basis)
		return false, nil
	}
	// The warning due now: the closest to the disabling whose time has
	// come (a later one is not sent once a closer one is).
	for _, stage := range stages {
		if now.Before(deadline.Add(-stage)) {
			continue
		}
		if sent[stage] {
			return true, nil
		}
		announced := deadline
		if late := now.Add(stage); late.After(announced) {
			announced = late.UTC().Truncate(time.Second)
		}
		notice := dormancyNotice{basis: basis, stage: stage, deadline: announced}
		// Once per stage and basis, whatever the deadline another instance
		// would have computed.
		once := not(startsWith("apexNotice", fmt.Sprintf("%s %d ", prefix, int64(stage/time.Second))))
		req := ldap.NewModifyRequest(e.DN, []ldap.Control{assertion{and(append(same, once)...)}})
		req.Add("apexNotice", []string{notice.String()})
		if len(stale) > 0 {
			req.Delete("apexNotice", stale)
		}
		err := j.apply(ctx, "warn dormant account", req, p, jobEvent(JobDormancy, ActionDormancyWarning, Day(announced)))
		if lostRace(err) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		res["warned"]++
		j.mailed(res, JobDormancy, p, j.Notifier.DormancyWarning(ctx, p, basis, announced))
		return true, nil
	}
	return true, nil
}

// ---- End dates ----

// EndDates withdraws the habilitations and disables the accounts whose
// end date has come, mailing the person (and, for an account, those who
// manage it), after mailing the person Policy.EndWarning before. The
// accounts concerned are found by one indexed search on apexNextEnd, the
// earliest end of each: never the accounts that end later or never.
//
// A habilitation is withdrawn whatever the account's state; an account is
// disabled only when active (one invited or waiting for its validation is
// disabled once validated; the end of one disabled already is dropped).
func (j Jobs) EndDates(ctx context.Context, _ Progress) (map[string]int, error) {
	pol := j.Policy.withDefaults()
	now := j.Store.now()
	entries, err := j.Store.searchAll(ctx, "end dates", j.Store.base, ldap.ScopeWholeSubtree,
		and("(objectClass=apexPerson)", le("apexNextEnd", stamp(now.Add(pol.EndWarning)))), jobPersonAttrs)
	if err != nil {
		return nil, err
	}
	res := jobResult{"found": len(entries)}
	for _, e := range entries {
		p := j.Store.personFromEntry(e)
		records := p.endRecords()
		slices.SortFunc(records, func(a, b endRecord) int { return a.end.Compare(b.end) })
		for _, r := range records {
			var err error
			switch {
			case !now.Before(r.end):
				err = j.ended(ctx, res, e, r)
			case !now.Before(r.end.Add(-pol.EndWarning)) && !slices.Contains(e.GetAttributeValues("apexNotice"), endNotice(r)):
				err = j.endWarning(ctx, res, e, r)
			default:
				continue
			}
			if lostRace(err) {
				break // the account changed: the next run reads it again
			}
			if err != nil {
				return res, err
			}
			// The entry changed: the next record is taken from a new read.
			if e, err = j.Store.searchOne(ctx, "end dates", e.DN, ldap.ScopeBaseObject, "(objectClass=apexPerson)", jobPersonAttrs); err != nil {
				if lostRace(err) {
					break
				}
				return res, err
			}
		}
	}
	return res, nil
}

// endChange is the modify that drops the end record r of the entry e as
// read (a compare-and-swap on its end dates), with its warning's notice.
func endChange(e *ldap.Entry, p *Person, r endRecord, controls ...ldap.Control) *ldap.ModifyRequest {
	req := ldap.NewModifyRequest(e.DN, controls)
	changeEnds(req, p.ends, p.nextEnd, withEnd(p.endRecords(), r.key, time.Time{}))
	if n := endNotice(r); slices.Contains(e.GetAttributeValues("apexNotice"), n) {
		req.Delete("apexNotice", []string{n})
	}
	return req
}

// ended applies the end r of the account read as e.
func (j Jobs) ended(ctx context.Context, res jobResult, e *ldap.Entry, r endRecord) error {
	p := j.Store.personFromEntry(e)
	if r.key == endAccount {
		switch p.State {
		case StateInvited, StateSubmitted:
			return nil // disabled once validated, at the next run after it
		case StateActive:
		default: // disabled or refused already: the end has nothing left to do
			req := endChange(e, p, r)
			return j.Store.do(ctx, "drop end date", func(c *ldap.Conn) error { return c.Modify(req) })
		}
		req := endChange(e, p, r)
		disable(req)
		if err := j.apply(ctx, "end account", req, p, jobEvent(JobEndDates, ActionEndAccount, Day(r.end))); err != nil {
			return err
		}
		res["accounts_ended"]++
		p.State = StateDisabled
		j.tellDisabled(ctx, res, JobEndDates, p, CauseEndDate, p.LastSignIn)
		return nil
	}
	application, profile, _ := strings.Cut(r.key, "/")
	// The membership first, then the record: stopped between the two, the
	// next run finds the record and withdraws again, which changes nothing
	// (a membership already gone), then records it and mails.
	if err := j.Store.revoke(ctx, p, application, profile); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if err := j.apply(ctx, "end habilitation", endChange(e, p, r), p, jobEvent(JobEndDates, ActionEndHabilitation, r.key)); err != nil {
		return err
	}
	res["habilitations_ended"]++
	app, err := j.Store.FindApplication(ctx, application)
	if err != nil {
		app = &Application{ID: application, Name: application}
	}
	j.mailed(res, JobEndDates, p, j.Notifier.HabilitationEnded(ctx, p, app, profile))
	return nil
}

// endWarning mails the warning of the end r of the account read as e,
// once: the notice's add fails when it is there already. An account that
// is not active, or a habilitation it does not hold, is not warned.
func (j Jobs) endWarning(ctx context.Context, res jobResult, e *ldap.Entry, r endRecord) error {
	p := j.Store.personFromEntry(e)
	var app *Application
	var profile string
	if p.State != StateActive {
		return nil
	}
	if r.key != endAccount {
		var application string
		application, profile, _ = strings.Cut(r.key, "/")
		if !p.HasProfile(application, profile) {
			return nil
		}
		found, err := j.Store.FindApplication(ctx, application)
		if err != nil {
			found = &Application{ID: application, Name: application}
		}
		app = found
	}
	req := ldap.NewModifyRequest(e.DN, nil)
	req.Add("apexNotice", []string{endNotice(r)})
	// Still ending then: the record is the one read.
	req.Delete("apexEnd", []string{r.String()})
	req.Add("apexEnd", []string{r.String()})
	if err := j.apply(ctx, "warn end date", req, p, jobEvent(JobEndDates, ActionEndWarning, r.key+" "+Day(r.end))); err != nil {
		return err
	}
	res["warned"]++
	j.mailed(res, JobEndDates, p, j.Notifier.EndWarning(ctx, p, app, profile, r.end))
	return nil
}

// ---- Invitation reminders ----

// InvitationReminders mails, once, each invitee whose link expires within
// Policy.ReminderBefore a new link valid until the same expiry (the
// directory keeps only the hash of the first one: the new one replaces
// it). The invitations are found by one indexed search on
// apexInvitationExpires.
func (j Jobs) InvitationReminders(ctx context.Context, _ Progress) (map[string]int, error) {
	pol := j.Policy.withDefaults()
	now := j.Store.now()
	entries, err := j.Store.searchAll(ctx, "invitation reminders", j.Store.base, ldap.ScopeWholeSubtree,
		and("(objectClass=apexPerson)", eq("apexAccountState", string(StateInvited)),
			le("apexInvitationExpires", stamp(now.Add(pol.ReminderBefore))), not(le("apexInvitationExpires", stamp(now)))),
		append([]string{"apexInvitation"}, jobPersonAttrs...))
	if err != nil {
		return nil, err
	}
	res := jobResult{"found": len(entries)}
	for _, e := range entries {
		stored := e.GetAttributeValue("apexInvitation")
		rec, ok := parseInvitationRecord(stored)
		notices := e.GetAttributeValues("apexNotice")
		if !ok || !now.Before(rec.expires) || slices.Contains(notices, reminderNotice(rec.expires)) {
			continue
		}
		p := j.Store.personFromEntry(e)
		token, fresh := j.Store.newInvitationToken(p.RequestID)
		fresh.expires = rec.expires
		// The old link's value is deleted: a compare-and-swap that fails
		// when the form was sent, or another reminder or a new link came.
		req := ldap.NewModifyRequest(e.DN, nil)
		req.Delete("apexInvitation", []string{stored})
		req.Add("apexInvitation", []string{fresh.String()})
		req.Add("apexNotice", []string{reminderNotice(rec.expires)})
		var stale []string
		for _, v := range notices {
			if strings.HasPrefix(v, "v1 reminder ") {
				stale = append(stale, v)
			}
		}
		if len(stale) > 0 {
			req.Delete("apexNotice", stale)
		}
		err := j.apply(ctx, "remind invitation", req, p, jobEvent(JobInvitationReminders, ActionInvitationReminder, ""))
		if lostRace(err) {
			continue
		}
		if err != nil {
			return res, err
		}
		res["reminded"]++
		st, err := j.Store.FindStructure(ctx, p.SIRET)
		if err == nil {
			err = j.Notifier.InvitationReminder(ctx, &Invitation{Person: p, Token: token, ExpiresAt: rec.expires}, st)
		}
		j.mailed(res, JobInvitationReminders, p, err)
	}
	return res, nil
}
