package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/mozillazg/go-unidecode"

	"github.com/dgfip/apex-partenaires/directory"
)

// The self-service pages: the guide's section 5 « Renouveler son mot de
// passe », « Gestion des données personnelles » and « Consultation des
// comptes et services de la structure ». They make the same domain calls
// as the JSON API of api_selfservice.go.

const (
	resetCookie      = "apex_reset"       // the reset id, between the request and the SMS code
	resetTokenCookie = "apex_reset_token" // the token given for a right SMS code, until the new password
	resetCookiePath  = "/mot-de-passe"
	resetCookieAge   = 3600 // seconds: the longest a code or a link lives

	consultationPageSize = 50
	maxSearchLength      = 100
)

func init() {
	homeLinks["Consultation des comptes et services de la structure"] = "/consultation"
	homeLinks["Gestion des données personnelles"] = "/donnees-personnelles"
}

// registerSelfServicePages adds the self-service pages: forgotten password,
// personal data, consultation of the structure.
func (s *Server) registerSelfServicePages(g, signedIn *gin.RouterGroup) {
	g.GET("/mot-de-passe/oublie", s.page(s.handleForgotPage))
	g.POST("/mot-de-passe/oublie", s.checkCSRF, s.page(s.handleForgotForm))
	g.GET("/mot-de-passe/code", s.page(s.handleResetCodePage))
	g.POST("/mot-de-passe/code", s.checkCSRF, s.page(s.handleResetCodeForm))
	g.GET("/mot-de-passe/renouveler", s.page(s.handleRenewPage))
	g.POST("/mot-de-passe/renouveler", s.checkCSRF, s.page(s.handleRenewForm))
	g.GET("/mot-de-passe/renouveler/:token", s.page(s.handleRenewPage))
	g.POST("/mot-de-passe/renouveler/:token", s.checkCSRF, s.page(s.handleRenewForm))

	signedIn.GET("/donnees-personnelles", s.page(s.handlePersonalDataPage))
	signedIn.POST("/donnees-personnelles", s.checkCSRF, s.page(s.handlePersonalDataForm))
	signedIn.POST("/donnees-personnelles/enregistrer", s.checkCSRF, s.page(s.handlePersonalDataSave))
	signedIn.GET("/donnees-personnelles/mot-de-passe", s.page(s.handleChangePasswordPage))
	signedIn.POST("/donnees-personnelles/mot-de-passe", s.checkCSRF, s.page(s.handleChangePasswordForm))

	signedIn.GET("/consultation", s.page(s.handleConsultation))
	signedIn.GET("/consultation/:siret", s.page(s.handleConsultation))
	signedIn.GET("/consultation/compte/:identifier", s.page(s.handleConsultationAccount))
}

// noStore keeps a page out of every cache: captchas, codes, personal data.
func noStore(c *gin.Context) { c.Header("Cache-Control", "no-store") }

// formErrors are a form's problems by field, each shown under its field.
type formErrors map[string][]string

func (f formErrors) add(field, message string) { f[field] = append(f[field], message) }

// addProblems files the problems of an invalid-input error under the form's
// fields, named by the domain's field names; it reports whether there were any.
func (f formErrors) addProblems(err error, fields map[string]string) bool {
	var ie *directory.InvalidError
	if !errors.As(err, &ie) || len(ie.Problems) == 0 {
		return false
	}
	for _, p := range ie.Problems {
		field, ok := fields[p.Field]
		if !ok {
			field = "form"
		}
		f.add(field, p.Message)
	}
	return true
}

// formNotice is the alert at the top of a form with errors under its
// fields; problems of no field of the form are told in it.
func formNotice(f formErrors) *notice {
	if len(f) == 0 {
		return nil
	}
	if general := f["form"]; len(general) > 0 {
		return &notice{Kind: "error", Title: "Erreur", Message: strings.Join(general, " ")}
	}
	msg := "Le formulaire contient une erreur : corrigez le champ signalé ci-dessous."
	if len(f) > 1 {
		msg = "Le formulaire contient des erreurs : corrigez les champs signalés ci-dessous."
	}
	return &notice{Kind: "error", Title: "Erreur", Message: msg}
}

// ---------------------------------------------------------------------------
// Forgotten password (guide section 5)

type forgotPage struct {
	base
	Notice     *notice
	Identifier string
	Answer     string
	CaptchaID  string
	Errors     formErrors
}

func (s *Server) renderForgot(c *gin.Context, status int, page forgotPage) error {
	if page.CaptchaID == "" {
		id, err := s.newCaptcha(c)
		if err != nil {
			return err
		}
		page.CaptchaID = id
	}
	noStore(c)
	s.render(c, status, "motdepasse_oublie.tmpl", page)
	return nil
}

func (s *Server) handleForgotPage(c *gin.Context) error {
	return s.renderForgot(c, http.StatusOK, forgotPage{base: s.base(c, "Mot de passe oublié"), Errors: formErrors{}})
}

// handleForgotForm sends the request (« Envoyer code de sécurité ») or
// draws a new captcha (« Afficher une nouvelle image »).
func (s *Server) handleForgotForm(c *gin.Context) error {
	page := forgotPage{
		base:       s.base(c, "Mot de passe oublié"),
		Identifier: strings.TrimSpace(c.PostForm("identifier")),
		Answer:     strings.TrimSpace(c.PostForm("captcha")),
		Errors:     formErrors{},
	}
	if utf8.RuneCountInString(page.Identifier) > 128 { // no identifier is that long
		page.Identifier = string([]rune(page.Identifier)[:128])
	}
	if c.PostForm("nouvelle-image") != "" {
		page.Answer = ""
		page.Notice = &notice{Kind: "info", Title: "Nouvelle image", Message: "Une nouvelle image a été affichée : saisissez ses 6 chiffres."}
		return s.renderForgot(c, http.StatusOK, page)
	}
	captchaID := c.PostForm("captcha-id")
	if page.Identifier == "" {
		page.Errors.add("identifier", "Saisissez votre identifiant.")
	}
	if page.Answer == "" {
		page.Errors.add("captcha", "Saisissez les 6 chiffres de l'image.")
	}
	if len(page.Errors) > 0 {
		// The captcha was not tried: it stays.
		if _, err := s.selfService().CaptchaDigits(c.Request.Context(), captchaID); err == nil {
			page.CaptchaID = captchaID
		}
		page.Notice = formNotice(page.Errors)
		return s.renderForgot(c, http.StatusUnprocessableEntity, page)
	}
	reset, err := s.selfService().Forgot(c.Request.Context(), page.Identifier, captchaID, page.Answer)
	if errors.Is(err, directory.ErrInvalidCaptcha) {
		page.Answer = ""
		page.Errors.add("captcha", "Les caractères saisis ne correspondent pas à l'image. Saisissez ceux de la nouvelle image ci-dessous.")
		page.Notice = formNotice(page.Errors)
		return s.renderForgot(c, http.StatusUnprocessableEntity, page)
	}
	if err != nil {
		return err
	}
	s.setCookie(c, resetTokenCookie, "", resetCookiePath, -1, http.SameSiteStrictMode)
	s.setCookie(c, resetCookie, reset, resetCookiePath, resetCookieAge, http.SameSiteStrictMode)
	c.Redirect(http.StatusSeeOther, "/mot-de-passe/code")
	return nil
}

// resetCodePage is the page after a request: the same for every identifier.
type resetCodePage struct {
	base
	Notice  *notice
	Pending bool // a request of this browser waits for its code; otherwise only a new request helps
	Errors  formErrors
}

func (s *Server) handleResetCodePage(c *gin.Context) error {
	noStore(c)
	page := resetCodePage{base: s.base(c, "Code de sécurité"), Errors: formErrors{}}
	if reset, _ := s.cookie(c, resetCookie); reset != "" {
		page.Pending = true
	} else {
		page.Notice = &notice{Kind: "info", Title: "Aucune demande en cours", Message: "Aucune demande de renouvellement de mot de passe n'est en cours sur ce navigateur."}
	}
	s.render(c, http.StatusOK, "motdepasse_code.tmpl", page)
	return nil
}

// handleResetCodeForm checks the SMS code (« Valider le code de sécurité
// saisi ») and leads to the new password.
func (s *Server) handleResetCodeForm(c *gin.Context) error {
	noStore(c)
	page := resetCodePage{base: s.base(c, "Code de sécurité"), Errors: formErrors{}}
	reset, _ := s.cookie(c, resetCookie)
	if reset == "" {
		page.Notice = &notice{Kind: "error", Title: "Demande expirée", Message: "Votre demande de renouvellement n'est plus valable : faites une nouvelle demande."}
		s.render(c, http.StatusUnauthorized, "motdepasse_code.tmpl", page)
		return nil
	}
	page.Pending = true
	code := strings.Join(strings.Fields(c.PostForm("code")), "")
	if code == "" {
		page.Errors.add("code", "Saisissez le code de sécurité reçu par SMS.")
		page.Notice = formNotice(page.Errors)
		s.render(c, http.StatusUnprocessableEntity, "motdepasse_code.tmpl", page)
		return nil
	}
	token, err := s.selfService().VerifyCode(c.Request.Context(), reset, code)
	switch {
	case err == nil:
		s.setCookie(c, resetCookie, "", resetCookiePath, -1, http.SameSiteStrictMode)
		s.setCookie(c, resetTokenCookie, token, resetCookiePath, resetCookieAge, http.SameSiteStrictMode)
		c.Redirect(http.StatusSeeOther, "/mot-de-passe/renouveler")
		return nil
	case errors.Is(err, directory.ErrInvalidCode):
		// Wrong, too old (10 minutes) or out of tries (5) get one answer:
		// telling them apart would tell which identifiers exist.
		page.Errors.add("code", "Le code de sécurité saisi est incorrect ou n'est plus valable (10 minutes, 5 essais). Vérifiez le SMS reçu, ou faites une nouvelle demande.")
		page.Notice = formNotice(page.Errors)
		s.render(c, http.StatusUnauthorized, "motdepasse_code.tmpl", page)
		return nil
	}
	return err
}

// passwordRule is one of the guide's rules, with the name the gauge script
// checks it by (empty for the history, which only the directory knows).
type passwordRule struct {
	Key  string
	Text string
}

// passwordRuleKeys name directory.PasswordRules for password-gauge.js, in order.
var passwordRuleKeys = []string{"length", "case", "digits", "special", ""}

func passwordRules() []passwordRule {
	rules := make([]passwordRule, len(directory.PasswordRules))
	for i, text := range directory.PasswordRules {
		rules[i] = passwordRule{Text: text}
		if i < len(passwordRuleKeys) {
			rules[i].Key = passwordRuleKeys[i]
		}
	}
	return rules
}

// passwordPage is the form of a new password, from a renewal (SMS code or
// mail link) or from the personal data (with the current password).
type passwordPage struct {
	base
	Heading string
	Intro   string
	Notice  *notice
	Action  string // where the form goes; empty when it cannot be shown
	Current bool   // asks for the current password
	Button  string
	Rules   []passwordRule
	Errors  formErrors
	Done    bool   // the password was changed
	Back    string // the link of the final page
	BackTo  string // its text
}

func (s *Server) newRenewPage(c *gin.Context, action string) passwordPage {
	return passwordPage{
		base:    s.base(c, "Nouveau mot de passe"),
		Heading: "Choisir un nouveau mot de passe",
		Intro:   "Saisissez votre nouveau mot de passe, puis confirmez-le.",
		Action:  action,
		Button:  "Valider le nouveau mot de passe",
		Rules:   passwordRules(),
		Errors:  formErrors{},
	}
}

// resetToken is the renewal's token: the mail's link, or the cookie given
// for the right SMS code; and the path its form posts to.
func (s *Server) resetToken(c *gin.Context) (token, action string) {
	if t := c.Param("token"); t != "" {
		return t, "/mot-de-passe/renouveler/" + url.PathEscape(t)
	}
	t, _ := s.cookie(c, resetTokenCookie)
	return t, "/mot-de-passe/renouveler"
}

// renderUnusableToken shows why a renewal cannot go on, and how to start over.
func (s *Server) renderUnusableToken(c *gin.Context, page passwordPage, err error) error {
	page.Action = ""
	var status int
	switch {
	case err == nil: // no token at all
		status = http.StatusOK
		page.Notice = &notice{Kind: "info", Title: "Aucune demande en cours", Message: "Aucun renouvellement de mot de passe n'est en cours sur ce navigateur."}
	case errors.Is(err, directory.ErrTokenExpired):
		status = http.StatusGone
		page.Notice = &notice{Kind: "error", Title: "Lien expiré", Message: "Ce lien de renouvellement a expiré : faites une nouvelle demande de renouvellement de mot de passe."}
	case errors.Is(err, directory.ErrInvalidToken):
		status = http.StatusNotFound
		page.Notice = &notice{Kind: "error", Title: "Lien invalide", Message: "Ce lien de renouvellement n'est pas valide ou a déjà été utilisé : faites une nouvelle demande de renouvellement de mot de passe."}
	default:
		return err
	}
	if c.Param("token") == "" {
		s.setCookie(c, resetTokenCookie, "", resetCookiePath, -1, http.SameSiteStrictMode)
	}
	page.Title = "Renouvellement impossible"
	page.Heading = "Renouvellement du mot de passe"
	page.Intro = ""
	s.render(c, status, "motdepasse_nouveau.tmpl", page)
	return nil
}

// handleRenewPage shows the new password form, changing nothing: mail
// scanners open links.
func (s *Server) handleRenewPage(c *gin.Context) error {
	noStore(c)
	token, action := s.resetToken(c)
	page := s.newRenewPage(c, action)
	if token == "" {
		return s.renderUnusableToken(c, page, nil)
	}
	if err := s.selfService().CheckToken(c.Request.Context(), token); err != nil {
		return s.renderUnusableToken(c, page, err)
	}
	s.render(c, http.StatusOK, "motdepasse_nouveau.tmpl", page)
	return nil
}

// checkNewPassword checks a new password and its confirmation, as far as
// the service can before the directory: every problem at once.
func checkNewPassword(f formErrors, next, confirmation string) {
	if next == "" {
		f.add("password", "Saisissez votre nouveau mot de passe.")
	} else {
		f.addProblems(directory.CheckPassword(next), map[string]string{"password": "password"})
	}
	switch {
	case confirmation == "":
		f.add("confirmation", "Confirmez votre nouveau mot de passe.")
	case next != confirmation:
		f.add("confirmation", "Les deux mots de passe saisis ne sont pas identiques.")
	}
}

// passwordErrors files what the directory refused in a new password under
// its field; it reports whether err was such a refusal.
func passwordErrors(f formErrors, err error) bool {
	if errors.Is(err, directory.ErrPasswordInHistory) {
		kind, _ := classify(err)
		f.add("password", kind.message)
		return true
	}
	if errors.Is(err, directory.ErrPasswordPolicy) || errors.Is(err, directory.ErrInvalid) {
		if !f.addProblems(err, map[string]string{"password": "password"}) {
			f.add("password", "Le mot de passe ne respecte pas les règles.")
		}
		return true
	}
	return false
}

// handleRenewForm sets the new password (« Valider le nouveau mot de passe »).
func (s *Server) handleRenewForm(c *gin.Context) error {
	noStore(c)
	token, action := s.resetToken(c)
	page := s.newRenewPage(c, action)
	if token == "" {
		return s.renderUnusableToken(c, page, nil)
	}
	ctx := c.Request.Context()
	next, confirmation := c.PostForm("password"), c.PostForm("confirmation")
	checkNewPassword(page.Errors, next, confirmation)
	if len(page.Errors) > 0 {
		// A dead link says so before the form's mistakes; Reset checks the
		// token itself otherwise.
		if err := s.selfService().CheckToken(ctx, token); err != nil {
			return s.renderUnusableToken(c, page, err)
		}
	} else {
		err := s.selfService().Reset(ctx, token, next)
		switch {
		case err == nil:
			if c.Param("token") == "" {
				s.setCookie(c, resetTokenCookie, "", resetCookiePath, -1, http.SameSiteStrictMode)
			}
			page.Title = "Mot de passe renouvelé"
			page.Heading = "Votre mot de passe a été renouvelé"
			page.Intro = "Vous pouvez vous connecter avec votre identifiant et votre nouveau mot de passe. Un mail de confirmation vous a été envoyé."
			page.Done, page.Action = true, ""
			page.Back, page.BackTo = "/connexion", "Retour à la page d'authentification"
			s.render(c, http.StatusOK, "motdepasse_nouveau.tmpl", page)
			return nil
		case errors.Is(err, directory.ErrInvalidToken), errors.Is(err, directory.ErrTokenExpired):
			return s.renderUnusableToken(c, page, err)
		case !passwordErrors(page.Errors, err):
			return err
		}
	}
	page.Notice = formNotice(page.Errors)
	s.render(c, http.StatusUnprocessableEntity, "motdepasse_nouveau.tmpl", page)
	return nil
}

// ---------------------------------------------------------------------------
// Personal data (guide « Gestion des données personnelles »)

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

// displayMobile writes a French mobile as people read it (06 12 34 56 78),
// any other as stored (E.164).
func displayMobile(e164 string) string {
	if rest, ok := strings.CutPrefix(e164, "+33"); ok && len(rest) == 9 {
		d := "0" + rest
		return d[0:2] + " " + d[2:4] + " " + d[4:6] + " " + d[6:8] + " " + d[8:10]
	}
	return e164
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
	d := page.Data
	page.Fields = []textField{
		{Name: "nom", Label: "Nom", Type: "text", Value: d.LastName, Autocomplete: "family-name", Required: true},
		{Name: "prenom", Label: "Prénom", Type: "text", Value: d.FirstName, Autocomplete: "given-name", Required: true},
		{Name: "email", Label: "Adresse mail", Type: "email", Value: d.Email, Autocomplete: "email", Required: true,
			Hint: "Par exemple marie.martin@exemple.fr. En cas de changement, un mail est envoyé à l'ancienne et à la nouvelle adresse."},
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
		updated, err := s.selfService().UpdateMe(c.Request.Context(), p, ch.update, current)
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
	}
	noStore(c)
	s.render(c, http.StatusOK, "donnees_confirmation.tmpl", personalDataDonePage{
		base:         s.base(c, "Modifications enregistrées"),
		EmailChange:  ch.update.Email != nil,
		MobileChange: ch.update.Mobile != nil,
		OldEmail:     p.Email,
		NewEmail:     ch.next.Email,
	})
	return nil
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
		err := s.selfService().ChangePassword(c.Request.Context(), account(c), current, next)
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

// ---------------------------------------------------------------------------
// Consultation of the structure's accounts and services

var (
	errOtherStructure = &httpError{http.StatusForbidden, "forbidden",
		"Vous ne pouvez consulter que les comptes et les services de votre structure.", directory.ErrForbidden}
	errNoStructure = &httpError{http.StatusNotFound, "not_found",
		"Aucune structure de l'annuaire ne porte ce SIRET.", directory.ErrNotFound}
	errNoAccount = &httpError{http.StatusNotFound, "not_found",
		"Ce compte n'existe pas dans l'annuaire.", directory.ErrNotFound}
)

// stateLabels are the states of an account as the pages name them, with
// the DSFR badge that shows them.
var stateLabels = map[directory.AccountState][2]string{
	directory.StateActive:    {"Actif", "fr-badge--success"},
	directory.StateDisabled:  {"Désactivé", "fr-badge--warning"},
	directory.StateInvited:   {"Invité", "fr-badge--info"},
	directory.StateSubmitted: {"En attente de validation", "fr-badge--new"},
	directory.StateRefused:   {"Refusé", "fr-badge--error"},
}

type stateView struct {
	Label string
	Badge string
}

func newStateView(st directory.AccountState) stateView {
	l, ok := stateLabels[st]
	if !ok {
		return stateView{Label: string(st)}
	}
	return stateView{Label: l[0], Badge: l[1]}
}

type serviceRow struct {
	Name     string
	Accounts int
	Href     string
	Selected bool
}

type accountRow struct {
	Name       string
	Identifier string
	Role       string
	Service    string
	State      stateView
	Href       string
}

// pageLink is an entry of the DSFR pagination.
type pageLink struct {
	Number  int
	Href    string
	Current bool
	Gap     bool // an ellipsis between two numbers
}

type pagination struct {
	First, Prev, Next, Last string // empty on the first or the last page
	Pages                   []pageLink
}

// newPagination gives the first and last pages and two on each side of
// the current one; nil when everything fits in one page.
func newPagination(current, size, total int, href func(int) string) *pagination {
	count := (total + size - 1) / size
	if count <= 1 {
		return nil
	}
	p := &pagination{}
	if current > 1 {
		p.First, p.Prev = href(1), href(current-1)
	}
	if current < count {
		p.Next, p.Last = href(current+1), href(count)
	}
	shown := 0
	for n := 1; n <= count; n++ {
		if n != 1 && n != count && (n < current-2 || n > current+2) {
			continue
		}
		if shown != 0 && n > shown+1 {
			p.Pages = append(p.Pages, pageLink{Gap: true})
		}
		p.Pages = append(p.Pages, pageLink{Number: n, Href: href(n), Current: n == current})
		shown = n
	}
	return p
}

type consultationPage struct {
	base
	Notice     *notice
	Agent      bool   // may consult every structure
	Chooser    bool   // an agent's form to choose a structure
	SIRET      string // as typed in the chooser
	SIRETError string
	Structure  structureView
	Path       string // of this list, without query
	Query      string
	Service    string
	Filtered   bool
	Services   []serviceRow
	Accounts   []accountRow
	Total      int
	Page       int
	PageCount  int
	Pagination *pagination
}

// handleConsultation shows one's structure (/consultation), or the one an
// agent chose (/consultation?siret= or /consultation/:siret).
func (s *Server) handleConsultation(c *gin.Context) error {
	noStore(c)
	actor := account(c)
	agent := actor.Role == directory.RoleAgent
	title := "Consultation des comptes et services de la structure"
	siret := c.Param("siret")
	path := "/consultation"
	if siret == "" && agent {
		page := consultationPage{base: s.base(c, title), Agent: true, Chooser: true}
		typed, asked := c.GetQuery("siret")
		if !asked {
			s.render(c, http.StatusOK, "consultation_structure.tmpl", page)
			return nil
		}
		page.SIRET = strings.TrimSpace(typed)
		n := directory.NormalizeSIRET(page.SIRET)
		if err := directory.CheckSIRET(n); err != nil {
			var ie *directory.InvalidError
			page.SIRETError = "Le SIRET n'est pas valide."
			if errors.As(err, &ie) && len(ie.Problems) > 0 {
				page.SIRETError = ie.Problems[0].Message
			}
			page.Notice = formNotice(formErrors{"siret": {page.SIRETError}})
			s.render(c, http.StatusUnprocessableEntity, "consultation_structure.tmpl", page)
			return nil
		}
		c.Redirect(http.StatusSeeOther, "/consultation/"+n)
		return nil
	}
	if siret == "" {
		siret = actor.SIRET
	} else {
		siret = directory.NormalizeSIRET(siret)
		path = "/consultation/" + url.PathEscape(siret)
	}
	ctx := c.Request.Context()
	st, err := s.consultation().Structure(ctx, actor, siret)
	switch {
	case errors.Is(err, directory.ErrForbidden):
		return errOtherStructure
	case errors.Is(err, directory.ErrNotFound):
		return errNoStructure
	case err != nil:
		return err
	}
	page := consultationPage{
		base:      s.base(c, title),
		Agent:     agent,
		Structure: structureView{SIRET: st.SIRET, Name: st.Name, Category: st.Category},
		Path:      path,
		Query:     strings.TrimSpace(c.Query("q")),
		Service:   c.Query("service"),
	}
	if utf8.RuneCountInString(page.Query) > maxSearchLength {
		page.Query = string([]rune(page.Query)[:maxSearchLength])
	}
	page.Filtered = page.Query != "" || page.Service != ""
	n, err := pageParam.read(c)
	if err != nil {
		return &httpError{status: http.StatusBadRequest, code: "invalid_request", message: pageParam.message(), err: err}
	}
	q := directory.DirectoryQuery{SIRET: siret, Service: page.Service, Query: page.Query, Page: n, Size: consultationPageSize}
	d, err := s.consultation().Directory(ctx, actor, q)
	if err != nil {
		return err
	}
	if last := max((d.Total+d.Size-1)/d.Size, 1); d.Page > last { // past the end: the last page
		q.Page = last
		if d, err = s.consultation().Directory(ctx, actor, q); err != nil {
			return err
		}
	}
	href := func(query, service string, n int) string {
		v := url.Values{}
		if query != "" {
			v.Set("q", query)
		}
		if service != "" {
			v.Set("service", service)
		}
		if n > 1 {
			v.Set("page", strconv.Itoa(n))
		}
		if len(v) == 0 {
			return path
		}
		return path + "?" + v.Encode()
	}
	// Services in alphabetical order, accents aside (« Études » after
	// « Direction »); a copy: the store may share its slice with other requests.
	services := slices.Clone(d.Services)
	slices.SortFunc(services, func(a, b directory.ServiceCount) int {
		return strings.Compare(strings.ToLower(unidecode.Unidecode(a.Name)), strings.ToLower(unidecode.Unidecode(b.Name)))
	})
	for _, sv := range services {
		page.Services = append(page.Services, serviceRow{Name: sv.Name, Accounts: sv.Accounts, Href: href(page.Query, sv.Name, 1), Selected: sv.Name == page.Service})
	}
	for _, p := range d.Accounts {
		page.Accounts = append(page.Accounts, accountRow{
			Name: p.FirstName + " " + p.LastName, Identifier: p.Identifier, Role: roleLabel(string(p.Role)),
			Service: p.Service, State: newStateView(p.State), Href: "/consultation/compte/" + url.PathEscape(p.Identifier),
		})
	}
	page.Total, page.Page = d.Total, d.Page
	page.PageCount = max((d.Total+d.Size-1)/d.Size, 1)
	page.Pagination = newPagination(d.Page, d.Size, d.Total, func(n int) string { return href(page.Query, page.Service, n) })
	if page.PageCount > 1 {
		page.Title = title + " — page " + strconv.Itoa(d.Page) + " sur " + strconv.Itoa(page.PageCount)
	}
	s.render(c, http.StatusOK, "consultation_structure.tmpl", page)
	return nil
}

type consultationAccountPage struct {
	base
	View   accountView
	State  stateView
	Own    bool
	Mobile string // the account's own mobile, to its owner only
	Back   string
	// History links the account's history, for those who may see it.
	History string
}

// handleConsultationAccount shows an account of one's structure:
// identifier, names, mail, role, service, state, habilitations; never the
// mobile of someone else.
func (s *Server) handleConsultationAccount(c *gin.Context) error {
	noStore(c)
	actor := account(c)
	p, err := s.consultation().Account(c.Request.Context(), actor, c.Param("identifier"))
	switch {
	case errors.Is(err, directory.ErrNotFound):
		return errNoAccount
	case errors.Is(err, directory.ErrForbidden):
		return errOtherStructure
	case err != nil:
		return err
	}
	view, err := s.accountView(c, actor, p)
	if err != nil {
		return err
	}
	page := consultationAccountPage{
		base:  s.base(c, p.FirstName+" "+p.LastName+" — Consultation des comptes"),
		View:  view,
		State: newStateView(p.State),
		Own:   p.Identifier == actor.Identifier,
		Back:  "/consultation",
	}
	if page.Own {
		page.Mobile = displayMobile(p.Mobile)
	}
	if directory.CanSeeHistory(actor, p) {
		page.History = "/gestion/comptes/" + url.PathEscape(p.Identifier) + "/historique"
	}
	if actor.Role == directory.RoleAgent && p.SIRET != "" {
		page.Back = "/consultation/" + url.PathEscape(p.SIRET)
	}
	s.render(c, http.StatusOK, "consultation_compte.tmpl", page)
	return nil
}
