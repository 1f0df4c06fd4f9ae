package httpapi

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/directory"
)

// The personal data (guide « Gestion des données personnelles »): names,
// mail and mobile, each change shown in a summary before it is saved; and
// the change of the password.

type updateMeRequest struct {
	LastName  *string `json:"lastName"`
	FirstName *string `json:"firstName"`
	Email     *string `json:"email"`
	Mobile    *string `json:"mobile"`
	// CurrentPassword is required to change the mail or the mobile.
	CurrentPassword string `json:"currentPassword"`
}

func (s *Server) handleUpdateMe(c *gin.Context) error {
	var req updateMeRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	p, err := s.selfService.UpdateMe(c.Request.Context(), account(c), directory.PersonUpdate{
		FirstName: req.FirstName, LastName: req.LastName, Email: req.Email, Mobile: req.Mobile,
	}, req.CurrentPassword)
	if err != nil {
		err = refine(err, directory.ErrConflict, http.StatusConflict, "email_taken", emailTakenByColleague)
		return refineCurrentPassword(err)
	}
	view, err := s.accountView(c, account(c), p)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, newMeView(view, p))
	return nil
}

// personalData is what a person may change of their account.
type personalData struct {
	LastName  string
	FirstName string
	Email     string
	Mobile    string // as typed, or as shown: 06 12 34 56 78
}

func currentPersonalData(p *directory.Person) personalData {
	return personalData{LastName: p.LastName, FirstName: p.FirstName, Email: p.Email, Mobile: displayMobile(p.Mobile)}
}

func postedPersonalData(c *gin.Context) personalData {
	return personalData{
		LastName:  strings.TrimSpace(c.PostForm("nom")),
		FirstName: strings.TrimSpace(c.PostForm("prenom")),
		Email:     strings.TrimSpace(c.PostForm("email")),
		Mobile:    strings.TrimSpace(c.PostForm("mobile")),
	}
}

// personalDataFields are the form's fields by the domain's names.
var personalDataFields = map[string]string{"lastName": "nom", "firstName": "prenom", "email": "email", "mobile": "mobile"}

// personalDataChange is a checked change: the update of the fields that
// differ from the account, and the new data, normalised.
type personalDataChange struct {
	update directory.PersonUpdate
	next   personalData
}

func (ch personalDataChange) empty() bool {
	u := ch.update
	return u.LastName == nil && u.FirstName == nil && u.Email == nil && u.Mobile == nil
}

// sensitive reports whether the change needs the current password: a new
// mail or mobile, where a renewal of the password goes.
func (ch personalDataChange) sensitive() bool {
	return ch.update.Email != nil || ch.update.Mobile != nil
}

// checkPersonalData checks the posted data as the directory will, filing
// problems under their fields, and keeps only what changes.
func checkPersonalData(p *directory.Person, d personalData, f formErrors) personalDataChange {
	u := directory.PersonUpdate{LastName: &d.LastName, FirstName: &d.FirstName, Email: &d.Email, Mobile: &d.Mobile}
	f.addProblems(u.Validate(), personalDataFields)
	ch := personalDataChange{next: personalData{LastName: *u.LastName, FirstName: *u.FirstName, Email: *u.Email, Mobile: displayMobile(*u.Mobile)}}
	if *u.LastName != p.LastName {
		ch.update.LastName = u.LastName
	}
	if *u.FirstName != p.FirstName {
		ch.update.FirstName = u.FirstName
	}
	if *u.Email != p.Email {
		ch.update.Email = u.Email
	}
	if *u.Mobile != p.Mobile {
		ch.update.Mobile = u.Mobile
	}
	return ch
}

type personalDataPage struct {
	base
	Notice     *notice
	Pending    *pendingEmail
	Identifier string
	Data       personalData
	Errors     formErrors
	Fields     []textField
}

// textField is a text field of a form, with its errors.
type textField struct {
	Name, Label, Hint, Type, Value, Autocomplete string
	Required                                     bool
	Errors                                       []string
}

func (s *Server) renderPersonalData(c *gin.Context, status int, page personalDataPage) {
	noStore(c)
	if page.Errors == nil {
		page.Errors = formErrors{}
	}
	if len(page.Errors) > 0 {
		page.Notice = formNotice(page.Errors)
	}
	page.Identifier = account(c).Identifier
	if page.Pending == nil {
		page.Pending = pendingEmailOf(account(c))
	}
	d := page.Data
	page.Fields = []textField{
		{Name: "nom", Label: "Nom", Type: "text", Value: d.LastName, Autocomplete: "family-name", Required: true},
		{Name: "prenom", Label: "Prénom", Type: "text", Value: d.FirstName, Autocomplete: "given-name", Required: true},
		{Name: "email", Label: "Adresse mail", Type: "email", Value: d.Email, Autocomplete: "email", Required: true,
			Hint: "Par exemple marie.martin@exemple.fr. En cas de changement, un mail est envoyé à l'ancienne et à la nouvelle adresse : la nouvelle ne remplace l'ancienne qu'une fois confirmée, avec le code ou le lien reçu."},
		{Name: "mobile", Label: "Numéro de téléphone portable (facultatif)", Type: "tel", Value: d.Mobile, Autocomplete: "tel",
			Hint: "Par exemple 06 12 34 56 78, ou +32 470 12 34 56 hors de France. Il sert à recevoir un code de sécurité par SMS si vous oubliez votre mot de passe ; laissez le champ vide pour le retirer."},
	}
	for i := range page.Fields {
		page.Fields[i].Errors = page.Errors[page.Fields[i].Name]
	}
	s.render(c, status, "donnees_formulaire.tmpl", page)
}

func (s *Server) handlePersonalDataPage(c *gin.Context) error {
	s.renderPersonalData(c, http.StatusOK, personalDataPage{
		base: s.base(c, "Gestion des données personnelles"),
		Data: currentPersonalData(account(c)),
	})
	return nil
}

// summaryRow is a line of the summary: one piece of data, before and after.
type summaryRow struct {
	Label   string
	Before  string
	After   string
	Changed bool
}

type personalDataSummaryPage struct {
	base
	Notice       *notice
	Identifier   string
	Rows         []summaryRow
	Next         personalData
	EmailChange  bool
	MobileChange bool
	// Current asks for the current password (a change of mail or mobile),
	// with its errors.
	Current       bool
	CurrentErrors []string
}

// handlePersonalDataForm checks the changes (« Valider les modifications
// apportées ») and shows their summary.
func (s *Server) handlePersonalDataForm(c *gin.Context) error {
	p := account(c)
	d := postedPersonalData(c)
	page := personalDataPage{base: s.base(c, "Gestion des données personnelles"), Data: d, Errors: formErrors{}}
	ch := checkPersonalData(p, d, page.Errors)
	if len(page.Errors) > 0 {
		s.renderPersonalData(c, http.StatusUnprocessableEntity, page)
		return nil
	}
	if ch.empty() {
		page.Notice = &notice{Kind: "info", Title: "Aucune modification", Message: "Vous n'avez modifié aucune de vos données personnelles."}
		s.renderPersonalData(c, http.StatusOK, page)
		return nil
	}
	s.renderPersonalDataSummary(c, http.StatusOK, p, ch, nil)
	return nil
}

// renderPersonalDataSummary shows the changes before they are saved, with
// the current password's field when they need it, and its errors.
func (s *Server) renderPersonalDataSummary(c *gin.Context, status int, p *directory.Person, ch personalDataChange, currentErrors []string) {
	before := currentPersonalData(p)
	orNone := func(v string) string {
		if v == "" {
			return "Non renseigné"
		}
		return v
	}
	row := func(label, before, after string) summaryRow {
		return summaryRow{Label: label, Before: orNone(before), After: orNone(after), Changed: before != after}
	}
	page := personalDataSummaryPage{
		base:       s.base(c, "Récapitulatif des modifications"),
		Identifier: p.Identifier,
		Rows: []summaryRow{
			row("Nom", before.LastName, ch.next.LastName),
			row("Prénom", before.FirstName, ch.next.FirstName),
			row("Adresse mail", before.Email, ch.next.Email),
			row("Numéro de téléphone portable", before.Mobile, ch.next.Mobile),
		},
		Next:          ch.next,
		EmailChange:   ch.update.Email != nil,
		MobileChange:  ch.update.Mobile != nil,
		Current:       ch.sensitive(),
		CurrentErrors: currentErrors,
	}
	if len(currentErrors) > 0 {
		page.Notice = formNotice(formErrors{"current": currentErrors})
	}
	noStore(c)
	s.render(c, status, "donnees_recapitulatif.tmpl", page)
}

type personalDataDonePage struct {
	base
	EmailChange  bool
	MobileChange bool
	OldEmail     string
	NewEmail     string
	Expires      *time.Time
}

// handlePersonalDataSave saves the changes of the summary (« Enregistrer
// les modifications apportées »), or goes back to the form to correct them.
func (s *Server) handlePersonalDataSave(c *gin.Context) error {
	p := account(c)
	d := postedPersonalData(c)
	page := personalDataPage{base: s.base(c, "Gestion des données personnelles"), Data: d, Errors: formErrors{}}
	if c.PostForm("modifier") != "" {
		s.renderPersonalData(c, http.StatusOK, page)
		return nil
	}
	ch := checkPersonalData(p, d, page.Errors)
	if len(page.Errors) > 0 {
		s.renderPersonalData(c, http.StatusUnprocessableEntity, page)
		return nil
	}
	if !ch.empty() {
		current := c.PostForm("current")
		if ch.sensitive() && current == "" {
			s.renderPersonalDataSummary(c, http.StatusUnprocessableEntity, p, ch, []string{"Saisissez votre mot de passe actuel pour enregistrer une nouvelle adresse mail ou un nouveau numéro de téléphone portable."})
			return nil
		}
		updated, err := s.selfService.UpdateMe(c.Request.Context(), p, ch.update, current)
		switch {
		case errors.Is(err, directory.ErrInvalidCredentials):
			s.renderPersonalDataSummary(c, http.StatusUnprocessableEntity, p, ch, []string{"Le mot de passe actuel est incorrect."})
			return nil
		case errors.Is(err, directory.ErrAccountLocked):
			kind, _ := classify(err)
			s.renderPersonalDataSummary(c, kind.status, p, ch, []string{kind.message})
			return nil
		case errors.Is(err, directory.ErrConflict):
			page.Errors.add("email", "Cette adresse mail est déjà utilisée par un autre compte de votre structure : saisissez-en une autre.")
			s.renderPersonalData(c, http.StatusConflict, page)
			return nil
		case page.Errors.addProblems(err, personalDataFields):
			s.renderPersonalData(c, http.StatusUnprocessableEntity, page)
			return nil
		case err != nil:
			return err
		}
		c.Set(accountKey, updated) // the page's header shows the new names
		p = updated
	}
	noStore(c)
	s.render(c, http.StatusOK, "donnees_confirmation.tmpl", personalDataDonePage{
		base:         s.base(c, "Modifications enregistrées"),
		EmailChange:  ch.update.Email != nil,
		MobileChange: ch.update.Mobile != nil,
		OldEmail:     p.Email,
		NewEmail:     ch.next.Email,
		Expires:      timeOrNil(p.PendingEmailExpires),
	})
	return nil
}

type changePasswordRequest struct {
	Current string `json:"current"`
	New     string `json:"new"`
}

func (s *Server) handleChangePassword(c *gin.Context) error {
	var req changePasswordRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := required([2]string{"current", req.Current}, [2]string{"new", req.New}); err != nil {
		return err
	}
	if err := s.selfService.ChangePassword(c.Request.Context(), account(c), req.Current, req.New); err != nil {
		return refineCurrentPassword(newPasswordField(err))
	}
	c.Status(http.StatusNoContent)
	return nil
}

// newPasswordField names the new password's broken rules after its field
// in PUT /me/password's body (new), still answered invalid_password.
func newPasswordField(err error) error {
	if !errors.Is(err, directory.ErrPasswordPolicy) {
		return err
	}
	return &httpError{status: http.StatusUnprocessableEntity, code: "invalid_password",
		message: "Le mot de passe ne respecte pas les règles.", err: asField(err, "password", "new")}
}

// refineCurrentPassword answers a wrong current password as such: the
// person is signed in, so it is no sign-in failure (401).
func refineCurrentPassword(err error) error {
	return refine(err, directory.ErrInvalidCredentials, http.StatusUnprocessableEntity, "invalid_current_password", "Le mot de passe actuel est incorrect.")
}

func (s *Server) newChangePasswordPage(c *gin.Context) passwordPage {
	return passwordPage{
		base:    s.base(c, "Modifier mon mot de passe"),
		Heading: "Modifier mon mot de passe",
		Intro:   "Saisissez votre mot de passe actuel, puis votre nouveau mot de passe et sa confirmation.",
		Action:  "/donnees-personnelles/mot-de-passe",
		Current: true,
		Button:  "Valider le nouveau mot de passe",
		Rules:   passwordRules(),
		Errors:  formErrors{},
	}
}

func (s *Server) handleChangePasswordPage(c *gin.Context) error {
	noStore(c)
	s.render(c, http.StatusOK, "motdepasse_nouveau.tmpl", s.newChangePasswordPage(c))
	return nil
}

func (s *Server) handleChangePasswordForm(c *gin.Context) error {
	noStore(c)
	page := s.newChangePasswordPage(c)
	current, next, confirmation := c.PostForm("current"), c.PostForm("password"), c.PostForm("confirmation")
	if current == "" {
		page.Errors.add("current", "Saisissez votre mot de passe actuel.")
	}
	checkNewPassword(page.Errors, next, confirmation)
	status := http.StatusUnprocessableEntity
	if len(page.Errors) == 0 {
		err := s.selfService.ChangePassword(c.Request.Context(), account(c), current, next)
		switch {
		case err == nil:
			page.Title = "Mot de passe modifié"
			page.Heading = "Votre mot de passe a été modifié"
			page.Intro = "Utilisez votre nouveau mot de passe lors de vos prochaines connexions. Un mail de confirmation vous a été envoyé."
			page.Done, page.Action = true, ""
			page.Back, page.BackTo = "/donnees-personnelles", "Retour à mes données personnelles"
			s.render(c, http.StatusOK, "motdepasse_nouveau.tmpl", page)
			return nil
		case errors.Is(err, directory.ErrInvalidCredentials):
			page.Errors.add("current", "Le mot de passe actuel est incorrect.")
		case errors.Is(err, directory.ErrAccountLocked):
			kind, _ := classify(err)
			status = kind.status
			page.Errors.add("current", kind.message)
		case !passwordErrors(page.Errors, err):
			return err
		}
	}
	page.Notice = formNotice(page.Errors)
	s.render(c, status, "motdepasse_nouveau.tmpl", page)
	return nil
}
