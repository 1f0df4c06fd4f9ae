package notify

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
)

// Notifier renders the mails and SMS of the directory's workflows and
// hands them to a Mailer (in apexd and apexctl, a Queue) or an SMSSender.
// It implements directory.Notifier, directory.LifecycleNotifier,
// directory.SelfServiceNotifier, directory.MigrationNotifier and
// directory.AccessNotifier.
type Notifier struct {
	Mailer    Mailer
	Mails     Mails
	SMS       SMSSender        // the security codes of password renewals; required by ResetCode only
	PublicURL string           // base of the links in mails: the configured address, never a request's Host
	Now       func() time.Time // the clock of the times shown in mails; time.Now when nil
}

var (
	_ directory.Notifier            = Notifier{}
	_ directory.LifecycleNotifier   = Notifier{}
	_ directory.SelfServiceNotifier = Notifier{}
	_ directory.MigrationNotifier   = Notifier{}
	_ directory.AccessNotifier      = Notifier{}
)

func (n Notifier) now() time.Time {
	if n.Now != nil {
		return n.Now()
	}
	return time.Now()
}

// LoginCode mails a sign-in verification code.
func (n Notifier) LoginCode(ctx context.Context, to *directory.Person, code string, validFor time.Duration) error {
	m, err := n.Mails.SignInCode(to.Email, SignInCodeData{
		FirstName:    to.FirstName,
		Code:         code,
		ValidMinutes: int(validFor / time.Minute),
		PublicURL:    n.PublicURL,
	})
	if err != nil {
		return err
	}
	m.Expires = time.Now().Add(validFor)
	return n.Mailer.Send(ctx, m)
}

// Invitation mails the link to the pre-creation form of an invited account.
func (n Notifier) Invitation(ctx context.Context, inv *directory.Invitation, st *directory.Structure) error {
	if inv == nil || inv.Person == nil || st == nil {
		return errors.New("notify: invitation: no invitation or no structure")
	}
	m, err := n.Mails.Invitation(inv.Person.Email, InvitationData{
		Role:          string(inv.Person.Role),
		StructureName: st.Name,
		SIRET:         st.SIRET,
		Service:       inv.Person.Service,
		PublicURL:     n.PublicURL,
		Token:         inv.Token,
		ExpiresAt:     inv.ExpiresAt,
	})
	if err != nil {
		return err
	}
	return n.Mailer.Send(ctx, m)
}

// Approved mails its identifier to a validated account.
func (n Notifier) Approved(ctx context.Context, p *directory.Person) error {
	if p == nil {
		return errors.New("notify: approved: no account")
	}
	m, err := n.Mails.Approved(p.Email, ApprovedData{
		FirstName:  p.FirstName,
		Identifier: p.Identifier,
		PublicURL:  n.PublicURL,
	})
	if err != nil {
		return err
	}
	return n.Mailer.Send(ctx, m)
}

// Refused mails the reason of a refused request.
func (n Notifier) Refused(ctx context.Context, p *directory.Person) error {
	if p == nil {
		return errors.New("notify: refused: no account")
	}
	m, err := n.Mails.Refused(p.Email, RefusedData{
		FirstName: p.FirstName,
		Role:      string(p.Role),
		Reason:    p.RefusalReason,
	})
	if err != nil {
		return err
	}
	return n.Mailer.Send(ctx, m)
}

// Habilitated tells an account it was given a profile of an application,
// and by whom (nil: the back office, « la DGFiP »).
func (n Notifier) Habilitated(ctx context.Context, p *directory.Person, app *directory.Application, profile string, by *directory.Person) error {
	if p == nil || app == nil {
		return errors.New("notify: habilitated: no account or no application")
	}
	d := HabilitatedData{
		FirstName:       p.FirstName,
		Identifier:      p.Identifier,
		Role:            string(p.Role),
		Service:         p.Service,
		ApplicationName: app.Name,
		Profile:         profile,
	}
	if by != nil {
		d.GrantedBy = managerName(by)
	}
	m, err := n.Mails.Habilitated(p.Email, d)
	if err != nil {
		return err
	}
	return n.Mailer.Send(ctx, m)
}

// RequestSubmitted mails to, who may decide it, that the request of p
// waits for its decision.
func (n Notifier) RequestSubmitted(ctx context.Context, to directory.Recipient, p *directory.Person, st *directory.Structure) error {
	if p == nil || st == nil {
		return errors.New("notify: request submitted: no request or no structure")
	}
	m, err := n.Mails.RequestSubmitted(to.Email, RequestSubmittedData{
		FirstName: to.FirstName, Name: strings.TrimSpace(p.FirstName + " " + p.LastName), Role: string(p.Role),
		StructureName: st.Name, SIRET: st.SIRET, Service: p.Service, PublicURL: n.PublicURL,
	})
	if err != nil {
		return err
	}
	return n.Mailer.Send(ctx, m)
}

// ResetCode sends a password renewal's security code by SMS to the
// account's mobile (guide section 5). Its errors name neither the number
// nor the code.
func (n Notifier) ResetCode(ctx context.Context, p *directory.Person, code string, validFor time.Duration) error {
	if p == nil {
		return errors.New("notify: reset code: no account")
	}
	if n.SMS == nil {
		return errors.New("notify: reset code: no SMS sender")
	}
	m, err := ResetCodeSMS(p.Mobile, code, validFor)
	if err != nil {
		return err
	}
	return n.SMS.SendSMS(ctx, m)
}

// ResetLink mails a password renewal link to an account without a mobile;
// the link is built from PublicURL.
func (n Notifier) ResetLink(ctx context.Context, p *directory.Person, token string, validFor time.Duration) error {
	if p == nil {
		return errors.New("notify: reset link: no account")
	}
	m, err := n.Mails.ResetLink(p.Email, ResetLinkData{
		FirstName:  p.FirstName,
		Identifier: p.Identifier,
		PublicURL:  n.PublicURL,
		Token:      token,
		ValidFor:   validFor,
	})
	if err != nil {
		return err
	}
	return n.Mailer.Send(ctx, m)
}

// RenewalLink mails p a password renewal link that by, who helps the
// account, asked for: the forgotten password's link, at p's address.
func (n Notifier) RenewalLink(ctx context.Context, p *directory.Person, token string, validFor time.Duration, by *directory.Person) error {
	if p == nil || by == nil {
		return errors.New("notify: renewal link: no account or no manager")
	}
	m, err := n.Mails.ResetLink(p.Email, ResetLinkData{
		FirstName:   p.FirstName,
		Identifier:  p.Identifier,
		PublicURL:   n.PublicURL,
		Token:       token,
		ValidFor:    validFor,
		RequestedBy: managerName(by),
	})
	if err != nil {
		return err
	}
	return n.Mailer.Send(ctx, m)
}

// MailChangeRequested mails the new address of p (change.Email) its
// confirmation's code and link, and tells p's address, still the
// account's, that a new one waits; by is who set it, nil when the person
// did. Both are rendered before either is sent.
func (n Notifier) MailChangeRequested(ctx context.Context, p *directory.Person, change *directory.MailChange, by *directory.Person) error {
	if p == nil || change == nil {
		return errors.New("notify: mail change: no account or no change")
	}
	var requestedBy string
	if by != nil {
		requestedBy = managerName(by)
	}
	d := MailChangeNewData{
		FirstName: p.FirstName, Identifier: p.Identifier, RequestedBy: requestedBy,
		PublicURL: n.PublicURL, Token: change.Token, ExpiresAt: change.ExpiresAt,
	}
	if by == nil {
		d.Code = change.Code // a manager's correction is confirmed by the link and the password only
	}
	toNew, err := n.Mails.MailChangeNew(change.Email, d)
	if err != nil {
		return err
	}
	toOld, err := n.Mails.MailChangeOld(p.Email, MailChangeOldData{
		FirstName: p.FirstName, Identifier: p.Identifier, Role: string(p.Role), RequestedBy: requestedBy,
		NewEmail: change.Email, RequestedAt: n.now(), PublicURL: n.PublicURL,
	})
	if err != nil {
		return err
	}
	toNew.Expires = change.ExpiresAt
	return errors.Join(n.Mailer.Send(ctx, toNew), n.Mailer.Send(ctx, toOld))
}

// managerName names one who manages an account in a mail to it: their
// names and their role, « Jean Durand (administrateur de votre
// structure) », or « l'assistance de la DGFiP » for an agent; it
// follows « par » in the mails.
func managerName(by *directory.Person) string {
	name := strings.TrimSpace(by.FirstName + " " + by.LastName)
	switch by.Role {
	case directory.RoleAgent:
		return "l'assistance de la DGFiP"
	case directory.RoleAdministrateur:
		return name + " (administrateur de votre structure)"
	case directory.RoleResponsable:
		return name + " (responsable de votre service)"
	}
	return name
}

// PasswordChanged mails that the account's password was just changed.
func (n Notifier) PasswordChanged(ctx context.Context, p *directory.Person) error {
	if p == nil {
		return errors.New("notify: password changed: no account")
	}
	m, err := n.Mails.PasswordChanged(p.Email, PasswordChangedData{
		FirstName:  p.FirstName,
		Identifier: p.Identifier,
		Role:       string(p.Role),
		ChangedAt:  n.now(),
		PublicURL:  n.PublicURL,
	})
	if err != nil {
		return err
	}
	return n.Mailer.Send(ctx, m)
}

// MobileChanged mails email, the account's address before any change of
// it made at the same time (p.Email when empty), that the account's mobile
// is now p.Mobile, or was removed.
func (n Notifier) MobileChanged(ctx context.Context, p *directory.Person, email string) error {
	if p == nil {
		return errors.New("notify: mobile changed: no account")
	}
	if email == "" {
		email = p.Email
	}
	m, err := n.Mails.MobileChanged(email, MobileChangedData{
		FirstName:  p.FirstName,
		Identifier: p.Identifier,
		Role:       string(p.Role),
		NewMobile:  p.Mobile,
		ChangedAt:  n.now(),
		PublicURL:  n.PublicURL,
	})
	if err != nil {
		return err
	}
	return n.Mailer.Send(ctx, m)
}

// EmailChanged mails the former address oldEmail that the account's
// address was replaced (the new one shown masked), and the new address,
// p.Email, that it is now the account's. Both are rendered before either
// is sent; when oldEmail is empty or the same address in another case,
// only the new address is mailed.
func (n Notifier) EmailChanged(ctx context.Context, p *directory.Person, oldEmail string) error {
	if p == nil {
		return errors.New("notify: email changed: no account")
	}
	now := n.now()
	var msgs []Message
	if oldEmail != "" && !strings.EqualFold(oldEmail, p.Email) {
		m, err := n.Mails.EmailChangedOld(oldEmail, EmailChangedOldData{
			FirstName:  p.FirstName,
			Identifier: p.Identifier,
			Role:       string(p.Role),
			NewEmail:   p.Email,
			ChangedAt:  now,
			PublicURL:  n.PublicURL,
		})
		if err != nil {
			return err
		}
		msgs = append(msgs, m)
	}
	m, err := n.Mails.EmailChangedNew(p.Email, EmailChangedNewData{
		FirstName:  p.FirstName,
		Identifier: p.Identifier,
		Role:       string(p.Role),
		PublicURL:  n.PublicURL,
	})
	if err != nil {
		return err
	}
	msgs = append(msgs, m)
	var errs []error
	for _, m := range msgs {
		if err := n.Mailer.Send(ctx, m); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// MobileChecked mails an account that the mobile number oldMobile, stored
// before libphonenumber's rules, was corrected to p.Mobile, or removed
// when p.Mobile is empty. Its errors never hold a number.
func (n Notifier) MobileChecked(ctx context.Context, p *directory.Person, oldMobile string) error {
	if p == nil {
		return errors.New("notify: mobile checked: no account")
	}
	m, err := n.Mails.MobileChecked(p.Email, MobileCheckedData{
		FirstName:  p.FirstName,
		Identifier: p.Identifier,
		Mobile:     p.Mobile,
		OldMobile:  oldMobile,
		PublicURL:  n.PublicURL,
	})
	if err != nil {
		return err
	}
	return n.Mailer.Send(ctx, m)
}

// DormancyWarning mails an account that it will be disabled at deadline
// unless it is used.
func (n Notifier) DormancyWarning(ctx context.Context, p *directory.Person, lastUse, deadline time.Time) error {
	if p == nil {
		return errors.New("notify: dormancy warning: no account")
	}
	m, err := n.Mails.DormancyWarning(p.Email, DormancyWarningData{
		FirstName: p.FirstName, Identifier: p.Identifier, LastUse: lastUse, Deadline: deadline, PublicURL: n.PublicURL,
	})
	if err != nil {
		return err
	}
	return n.Mailer.Send(ctx, m)
}

// AccountDisabled mails an account that a job disabled it.
func (n Notifier) AccountDisabled(ctx context.Context, p *directory.Person, cause directory.DisableCause, lastUse time.Time) error {
	if p == nil {
		return errors.New("notify: account disabled: no account")
	}
	m, err := n.Mails.AccountDisabled(p.Email, AccountDisabledData{
		FirstName: p.FirstName, Identifier: p.Identifier, Role: string(p.Role), Cause: string(cause), LastUse: lastUse,
	})
	if err != nil {
		return err
	}
	return n.Mailer.Send(ctx, m)
}

// ManagedAccountDisabled mails one who manages p (or the agents' mailbox)
// that a job disabled p's account.
func (n Notifier) ManagedAccountDisabled(ctx context.Context, to directory.Recipient, p *directory.Person, cause directory.DisableCause, lastUse time.Time) error {
	if p == nil {
		return errors.New("notify: managed account disabled: no account")
	}
	m, err := n.Mails.ManagedAccountDisabled(to.Email, ManagedAccountDisabledData{
		FirstName: to.FirstName, Name: strings.TrimSpace(p.FirstName + " " + p.LastName), Identifier: p.Identifier,
		Role: string(p.Role), Structure: p.SIRET, Cause: string(cause), LastUse: lastUse, PublicURL: n.PublicURL,
	})
	if err != nil {
		return err
	}
	return n.Mailer.Send(ctx, m)
}

// EndWarning mails an account that it (app nil), or its habilitation to
// the application's profile, ends at end.
func (n Notifier) EndWarning(ctx context.Context, p *directory.Person, app *directory.Application, profile string, end time.Time) error {
	if p == nil {
		return errors.New("notify: end warning: no account")
	}
	d := EndWarningData{FirstName: p.FirstName, Identifier: p.Identifier, Role: string(p.Role), End: end}
	if app != nil {
		d.ApplicationName, d.Profile = app.Name, profile
	}
	m, err := n.Mails.EndWarning(p.Email, d)
	if err != nil {
		return err
	}
	return n.Mailer.Send(ctx, m)
}

// HabilitationEnded mails an account that its habilitation to the
// application's profile was withdrawn at its end date.
func (n Notifier) HabilitationEnded(ctx context.Context, p *directory.Person, app *directory.Application, profile string) error {
	if p == nil || app == nil {
		return errors.New("notify: habilitation ended: no account or no application")
	}
	m, err := n.Mails.HabilitationEnded(p.Email, HabilitationEndedData{
		FirstName: p.FirstName, Identifier: p.Identifier, Role: string(p.Role), ApplicationName: app.Name, Profile: profile,
	})
	if err != nil {
		return err
	}
	return n.Mailer.Send(ctx, m)
}

// InvitationReminder mails an invitee the new link of an invitation that
// expires soon.
func (n Notifier) InvitationReminder(ctx context.Context, inv *directory.Invitation, st *directory.Structure) error {
	if inv == nil || inv.Person == nil || st == nil {
		return errors.New("notify: invitation reminder: no invitation or no structure")
	}
	m, err := n.Mails.InvitationReminder(inv.Person.Email, InvitationData{
		Role: string(inv.Person.Role), StructureName: st.Name, SIRET: st.SIRET, Service: inv.Person.Service,
		PublicURL: n.PublicURL, Token: inv.Token, ExpiresAt: inv.ExpiresAt,
	})
	if err != nil {
		return err
	}
	return n.Mailer.Send(ctx, m)
}
