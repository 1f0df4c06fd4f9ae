package notify

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
)

// The mails of the reviews of habilitations (directory.ReviewNotifier):
// to a reviewer, the start of a review and its reminders; to a person,
// a habilitation withdrawn at a review's deadline.

var (
	reviewStarted   = reviewMailTemplate[ReviewData]("review_started")
	reviewReminder  = reviewMailTemplate[ReviewData]("review_reminder")
	reviewWithdrawn = reviewMailTemplate[ReviewWithdrawnData]("review_withdrawn")
)

// reviewMailTemplate is mustMailTemplate, initialized after paris: this
// file comes before templates.go, and the check of the templates at init
// needs it.
func reviewMailTemplate[D any](name string) mailTemplate[D] {
	_ = paris
	return mustMailTemplate[D](name)
}

// ReviewData is the data of the mails to a reviewer.
type ReviewData struct {
	FirstName string    // greets the reviewer; may be empty
	Lines     int       // the lines they have to decide
	Deadline  time.Time // the review's deadline
	Flag      bool      // the deadline only flags what is not confirmed
	PublicURL string    // the service's address, base of the link; required
}

// DeadlineDay is the deadline's day in French.
func (d ReviewData) DeadlineDay() string { return frenchDate(d.Deadline) }

// Plural is "s" when there are several lines.
func (d ReviewData) Plural() string {
	if d.Lines > 1 {
		return "s"
	}
	return ""
}

// ReviewURL is the reviewer's page: PublicURL/gestion/revue.
func (d ReviewData) ReviewURL() string { return strings.TrimRight(d.PublicURL, "/") + "/gestion/revue" }

func (d ReviewData) check() []string {
	var problems []string
	if d.Lines <= 0 {
		problems = append(problems, "no line")
	}
	if d.Deadline.IsZero() {
		problems = append(problems, "no deadline")
	}
	return checkLinkURL(problems, d.PublicURL)
}

// ReviewStarted renders the mail that opens a review for a reviewer.
func (Mails) ReviewStarted(to string, d ReviewData) (Message, error) {
	return reviewStarted.render(to, d, d.check())
}

// ReviewReminder renders the reminder of a review to a reviewer.
func (Mails) ReviewReminder(to string, d ReviewData) (Message, error) {
	return reviewReminder.render(to, d, d.check())
}

// ReviewWithdrawnData is the data of the mail that tells a person that
// a habilitation was withdrawn at a review's deadline.
type ReviewWithdrawnData struct {
	FirstName       string // greets the person; may be empty
	Identifier      string // the account's identifier
	Role            string // an administrator turns to the DGFiP, others to their structure
	ApplicationName string
	Profile         string
}

// ReviewWithdrawn renders the mail of a habilitation withdrawn at a review's deadline.
func (Mails) ReviewWithdrawn(to string, d ReviewWithdrawnData) (Message, error) {
	var problems []string
	if strings.TrimSpace(d.ApplicationName) == "" || strings.TrimSpace(d.Profile) == "" {
		problems = append(problems, "no habilitation")
	}
	return reviewWithdrawn.render(to, d, problems)
}

// ReviewStarted mails a reviewer that a review started, with lines to decide.
func (n Notifier) ReviewStarted(ctx context.Context, to *directory.Person, r *directory.Review, lines int) error {
	return n.reviewMail(ctx, to, r, lines, n.Mails.ReviewStarted)
}

// ReviewReminder mails a reviewer who still has lines to decide.
func (n Notifier) ReviewReminder(ctx context.Context, to *directory.Person, r *directory.Review, left int) error {
	return n.reviewMail(ctx, to, r, left, n.Mails.ReviewReminder)
}

func (n Notifier) reviewMail(ctx context.Context, to *directory.Person, r *directory.Review, lines int, render func(string, ReviewData) (Message, error)) error {
	if to == nil || r == nil {
		return errors.New("notify: review mail: no reviewer or no review")
	}
	m, err := render(to.Email, ReviewData{FirstName: to.FirstName, Lines: lines, Deadline: r.Deadline,
		Flag: r.Mode == directory.ReviewFlag, PublicURL: n.PublicURL})
	if err != nil {
		return err
	}
	return n.Mailer.Send(ctx, m)
}

// ReviewWithdrawn mails p that its habilitation to the application's
// profile was withdrawn at r's deadline.
func (n Notifier) ReviewWithdrawn(ctx context.Context, p *directory.Person, app *directory.Application, profile string, r *directory.Review) error {
	if p == nil || app == nil {
		return errors.New("notify: review withdrawal: no account or no application")
	}
	m, err := n.Mails.ReviewWithdrawn(p.Email, ReviewWithdrawnData{
		FirstName: p.FirstName, Identifier: p.Identifier, Role: string(p.Role), ApplicationName: app.Name, Profile: profile,
	})
	if err != nil {
		return err
	}
	return n.Mailer.Send(ctx, m)
}
