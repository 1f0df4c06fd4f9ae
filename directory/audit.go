package directory

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"time"
)

// The audit trail: every change attempted through the workflows is an
// Event. Each one is written as one structured log line ("audit"), and the
// attempts that got past the authorization check are kept in the history of
// the account they concern (apexHistory, ldap_history.go), which every
// instance reads. A refused attempt is a log line only: it changes nothing
// in the directory, so that nobody can flush someone's history by being
// refused. An event never holds a password, a code, a token nor a link.

// Action names what an event did, in the log and in the stored history.
type Action string

const (
	ActionCreateStructure   Action = "structure.create"
	ActionCreateService     Action = "service.create"
	ActionRenameService     Action = "service.rename"
	ActionDeleteService     Action = "service.delete"
	ActionCreateApplication Action = "application.create"
	ActionUpdateApplication Action = "application.update"
	ActionAddProfile        Action = "application.add_profile"
	ActionApplicationSignIn Action = "application.signin" // a sign-in to an application (OpenID Connect): a log line only
	ActionInvite            Action = "account.invite"
	ActionInviteBulk        Action = "account.invite_bulk" // a file of invitations, each row an ActionInvite of its own
	ActionResendInvitation  Action = "account.resend_invitation"
	ActionApprove           Action = "account.approve"
	ActionRefuse            Action = "account.refuse"
	ActionDisable           Action = "account.disable"
	ActionEnable            Action = "account.enable"
	ActionMove              Action = "account.move"
	ActionRemove            Action = "account.remove"
	ActionGrant             Action = "habilitation.grant"
	ActionRevoke            Action = "habilitation.revoke"
	ActionResetPassword     Action = "password.reset"
	ActionChangePassword    Action = "password.change"
	ActionUpdatePersonal    Action = "personal_data.update"
	// Exports change nothing: their events are log lines only.
	ActionExportAccounts      Action = "export.accounts"
	ActionExportHabilitations Action = "export.habilitations"
	// An account's end date set, changed or removed (detail: the day, or
	// empty); a held habilitation's (detail: "application/profile day").
	ActionSetEndDate         Action = "account.end_date"
	ActionSetHabilitationEnd Action = "habilitation.end_date"
	// What the scheduled jobs do (workflow_jobs.go), by no one (Actor is
	// empty, Source "apexd:<job>"): a dormancy warning mailed (detail: the
	// day of the disabling announced), an account disabled for dormancy,
	// an end date's warning mailed (detail: "account day" or
	// "application/profile day"), an account disabled or a habilitation
	// withdrawn at its end date, an invitation's reminder mailed with a new
	// link.
	ActionDormancyWarning    Action = "account.dormancy_warning"
	ActionDormancyDisable    Action = "account.dormancy_disable"
	ActionEndWarning         Action = "account.end_warning"
	ActionEndAccount         Action = "account.end"
	ActionEndHabilitation    Action = "habilitation.end"
	ActionInvitationReminder Action = "account.invitation_reminder"
	// Reviews of habilitations (workflow_reviews.go): a line confirmed or
	// withdrawn by a reviewer, in the history of the account concerned
	// (detail: "application/profile review"); withdrawn or flagged at the
	// deadline by the job (Actor empty, Source "apexd:reviews"); a mail to
	// a reviewer, in the reviewer's history (detail: "review start" or
	// "review reminder").
	ActionReviewConfirm  Action = "habilitation.review_confirm"
	ActionReviewWithdraw Action = "habilitation.review_withdraw"
	ActionReviewFlag     Action = "habilitation.review_flag"
	ActionReviewNotice   Action = "review.notice"
	// The helpdesk's (workflow_helpdesk.go): an account unlocked, a
	// renewal link sent, a mail address corrected (waiting for its
	// confirmation), an invitation cancelled; and the confirmation of a
	// new mail address, by the person (detail: "code" or "link").
	ActionUnlock           Action = "account.unlock"
	ActionSendRenewalLink  Action = "password.renewal_link"
	ActionCorrectEmail     Action = "account.email_correction"
	ActionCancelInvitation Action = "account.cancel_invitation"
	ActionConfirmEmail     Action = "personal_data.email_confirmation"
)

// Outcomes of an event besides the error names of eventOutcome.
const (
	OutcomeSuccess = "success"
	OutcomeRefused = "refused"
)

// Event is one change attempted: who, what, when, from where, outcome.
type Event struct {
	At        time.Time
	Actor     string // the identifier of who acted (for a password renewal, the account itself); empty when unknown
	ActorRole Role
	Action    Action
	Account   string // the account concerned: its identifier, or its request id before validation
	Structure string // the SIRET concerned
	Service   string // the service concerned
	Detail    string // what else tells the change: a profile, the service moved to, the fields changed
	Source    string // where the request came from: the client's address, or "apexctl"
	Outcome   string // OutcomeSuccess, OutcomeRefused, or an error's name (eventOutcome)
	// target is the entry that keeps the event: set once the attempt is
	// known to concern an existing account the actor may act on.
	target *Person
	// kept: the change's own modify already added the event to the history.
	kept bool
}

type sourceKey struct{}

// WithSource tells the workflows where the requests of ctx come from: the
// client's address for the web service, "apexctl" for the back office.
func WithSource(ctx context.Context, source string) context.Context {
	return context.WithValue(ctx, sourceKey{}, source)
}

// SourceFrom is what WithSource put in ctx, or "".
func SourceFrom(ctx context.Context) string {
	s, _ := ctx.Value(sourceKey{}).(string)
	return s
}

// newEvent starts the event of an attempt by actor (nil: nobody signed in).
func newEvent(ctx context.Context, actor *Person, action Action) *Event {
	ev := &Event{Action: action, Source: SourceFrom(ctx)}
	if actor != nil {
		ev.Actor, ev.ActorRole = actor.Identifier, actor.Role
	}
	return ev
}

// about names the account the event concerns.
func (ev *Event) about(p *Person) {
	ev.Account = p.Identifier
	if ev.Account == "" {
		ev.Account = p.RequestID
	}
	ev.Structure, ev.Service = p.SIRET, p.Service
}

// keepOn says the attempt got past the authorization check: the event goes
// into p's history, whatever its outcome.
func (ev *Event) keepOn(p *Person) {
	ev.about(p)
	ev.target = p
}

// eventOutcome names the result of an attempt.
func eventOutcome(err error) string {
	if err == nil {
		return OutcomeSuccess
	}
	for _, o := range []struct {
		err  error
		name string
	}{
		{ErrForbidden, OutcomeRefused},
		{ErrAlreadyDecided, "already_decided"},
		{errHabilitationGone, "already_withdrawn"},
		{ErrReviewClosed, "review_closed"},
		{ErrPasswordInHistory, "password_in_history"},
		{ErrPasswordPolicy, "invalid_password"},
		{ErrInvalid, "invalid"},
		{ErrInvalidToken, "invalid_link"},
		{ErrTokenExpired, "link_expired"},
		{ErrNotFound, "not_found"},
		{ErrConflict, "conflict"},
	} {
		if errors.Is(err, o.err) {
			return o.name
		}
	}
	return Outcome(err) // the sign-in's names, "error" for anything else
}

// recordEvent finishes ev with the attempt's outcome, writes its log line
// and keeps it in the history of its account when it has one. Keeping it
// never fails the change: the change is done, and the log line has it.
func recordEvent(ctx context.Context, store *Store, log *slog.Logger, ev *Event, err error) {
	if !ev.kept {
		if store != nil {
			ev.At = store.now().UTC()
		} else {
			ev.At = time.Now().UTC()
		}
		ev.Outcome = eventOutcome(err)
	}
	if log != nil {
		level := slog.LevelInfo
		if ev.Outcome == OutcomeRefused {
			level = slog.LevelWarn
		}
		log.LogAttrs(ctx, level, "audit",
			slog.String("actor", ev.Actor), slog.String("actor_role", string(ev.ActorRole)),
			slog.String("action", string(ev.Action)), slog.String("account", ev.Account),
			slog.String("structure", ev.Structure), slog.String("service", ev.Service),
			slog.String("detail", ev.Detail), slog.String("source", ev.Source),
			slog.String("outcome", ev.Outcome), slog.Time("at", ev.At))
	}
	if ev.kept || ev.target == nil || store == nil || ev.Outcome == OutcomeRefused {
		return
	}
	kerr := store.appendHistory(context.WithoutCancel(ctx), ev.target, ev.record)
	if kerr != nil && log != nil {
		log.Error("audit: keep the event in the account's history", "action", string(ev.Action), "account", ev.Account, "error", kerr.Error())
	}
}

// historyRecord is the stored form of an event, one compact JSON value of
// apexHistory. The account is the entry that holds it.
type historyRecord struct {
	At      string `json:"at"` // RFC 3339, microseconds: values must differ
	Actor   string `json:"by,omitempty"`
	Role    Role   `json:"role,omitempty"`
	Action  Action `json:"action"`
	Detail  string `json:"detail,omitempty"`
	Source  string `json:"from,omitempty"`
	Outcome string `json:"outcome"`
	Try     int    `json:"n,omitempty"`
}

const historyTimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// record is the stored form of the event; try, when not 0, tells it from
// the same event already held at the same microsecond.
func (ev *Event) record(try int) string {
	raw, _ := json.Marshal(historyRecord{
		Try: try,
		At:  ev.At.UTC().Format(historyTimeLayout), Actor: ev.Actor, Role: ev.ActorRole, Action: ev.Action,
		Detail: ev.Detail, Source: ev.Source, Outcome: ev.Outcome,
	})
	return string(raw)
}

// parseHistoryRecord reads a value of apexHistory back; ok is false for a
// value this version cannot read.
func parseHistoryRecord(value string) (Event, bool) {
	var r historyRecord
	if err := json.NewDecoder(strings.NewReader(value)).Decode(&r); err != nil {
		return Event{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, r.At)
	if err != nil || r.Action == "" {
		return Event{}, false
	}
	return Event{At: at, Actor: r.Actor, ActorRole: r.Role, Action: r.Action, Detail: r.Detail, Source: r.Source, Outcome: r.Outcome}, true
}
