package directory

import (
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Role is what an account may do in APEX Partenaires.
type Role string

// The roles of the guide's glossary, and DGFiP agents.
const (
	RoleAdministrateur Role = "administrateur" // acts for a structure
	RoleResponsable    Role = "responsable"    // manages one service
	RoleCollaborateur  Role = "collaborateur"  // belongs to one service
	RoleAgent          Role = "agent"          // DGFiP back office
)

// Valid reports whether r is one of the four roles.
func (r Role) Valid() bool {
	switch r {
	case RoleAdministrateur, RoleResponsable, RoleCollaborateur, RoleAgent:
		return true
	}
	return false
}

// InService reports whether accounts of this role belong to a service.
func (r Role) InService() bool { return r == RoleResponsable || r == RoleCollaborateur }

// AccountState is where an account stands in its life.
type AccountState string

// The states of an account. Only an active account can bind.
const (
	StateInvited   AccountState = "invited"   // pre-creation mail sent, form not filled
	StateSubmitted AccountState = "submitted" // form filled, waiting for validation
	StateActive    AccountState = "active"    // validated: has an identifier and can sign in
	StateRefused   AccountState = "refused"   // request refused, with a reason
	StateDisabled  AccountState = "disabled"  // switched off by a manager
)

// Valid reports whether s is one of the five states.
func (s AccountState) Valid() bool {
	switch s {
	case StateInvited, StateSubmitted, StateActive, StateRefused, StateDisabled:
		return true
	}
	return false
}

// Structure is a partner organisation: a legal entity identified by its SIRET.
type Structure struct {
	SIRET    string
	Name     string
	Category string // "CSP", e.g. "Notaire"
}

// Validate checks a structure before it is stored; SIRET is normalised.
func (st *Structure) Validate() error {
	st.SIRET = NormalizeSIRET(st.SIRET)
	st.Name = strings.TrimSpace(st.Name)
	st.Category = strings.TrimSpace(st.Category)
	var problems []Problem
	if err := CheckSIRET(st.SIRET); err != nil {
		problems = append(problems, err.(*InvalidError).Problems...)
	}
	problems = append(problems, checkText("name", masculine("Le nom de la structure"), st.Name, 256)...)
	problems = append(problems, checkText("category", feminine("La catégorie"), st.Category, 128)...)
	return invalid(problems)
}

// Service is an organisational unit of one structure.
type Service struct {
	SIRET string
	Name  string
}

// Validate checks a service's name.
func (sv *Service) Validate() error {
	sv.Name = strings.TrimSpace(sv.Name)
	return invalid(checkText("name", masculine("Le nom du service"), sv.Name, 128))
}

// Person is an account of the annuaire, named outside the store by its
// identifier (uid), which it has once its request is validated.
type Person struct {
	Identifier    string // prenom.nom-px; empty before validation
	RequestID     string
	FirstName     string
	LastName      string
	Email         string
	Mobile        string // E.164; only its owner and the service may see it
	Role          Role
	State         AccountState
	SIRET         string // the structure; empty for agents
	Service       string // the service's name, for responsables and collaborateurs
	RequestedBy   string // identifier of who asked for the account
	RequestedAt   time.Time
	DecidedBy     string
	DecidedAt     time.Time
	RefusalReason string
	Locked        bool // locked by the password policy after repeated failures
	Habilitations []Habilitation
	// LastSignIn is the account's last successful bind, a sign-in to the
	// espace or a bind by a DGFiP application (slapd's authTimestamp,
	// written at most once an hour); zero when none was recorded.
	LastSignIn time.Time
	// ActiveSince is when the account last became active (validated,
	// created active, enabled again): dormancy counts from it when the
	// account was not used since.
	ActiveSince time.Time
	// EndDate is when the account ends (it is then disabled); zero: never.
	EndDate time.Time
	// PasswordChangedAt is when the password was last set (ppolicy's
	// pwdChangedTime): chosen in the form, renewed or changed.
	PasswordChangedAt time.Time
	// InvitationExpires is when the link of a pending invitation stops
	// working; InvitationExpired, that it had when the account was read.
	InvitationExpires time.Time
	InvitationExpired bool
	// PendingEmail is a new mail address waiting for its confirmation by
	// a code or a link sent to it, until PendingEmailExpires; Email stays
	// the account's address, where every mail goes, until then.
	// PendingEmailBy is the identifier of the manager who set it, "" when
	// the person did.
	PendingEmail        string
	PendingEmailExpires time.Time
	PendingEmailBy      string

	dn string // the entry's DN when it was read; "" for a person not read from the directory
	// ends and nextEnd are apexEnd's and apexNextEnd's values as read, for
	// the compare-and-swap of a change of end dates (ldap_ends.go).
	ends    []string
	nextEnd string
	// lockedAt is ppolicy's pwdAccountLockedTime as read, "" when unset;
	// mailChange, apexMailChange as read, for its compare-and-swap.
	lockedAt   string
	mailChange string
	// session is the stored value of the session the account was read with
	// (SignIn.Session): the one a password change keeps.
	session string
	// about is the account that the request of this session names, read in
	// the same search (SignIn.Session): aboutName is the identifier asked
	// for, "" when none was, and about is nil when no account has it.
	about     *Person
	aboutName string
}

// HasProfile reports whether the person holds the profile.
func (p *Person) HasProfile(application, profile string) bool {
	for _, h := range p.Habilitations {
		if h.Application == application && h.Profile == profile {
			return true
		}
	}
	return false
}

// habilitationEnd is the end date of a habilitation the person holds; zero: none.
func (p *Person) habilitationEnd(application, profile string) time.Time {
	for _, h := range p.Habilitations {
		if h.Application == application && h.Profile == profile {
			return h.EndDate
		}
	}
	return time.Time{}
}

// NewPerson is what creating an account needs.
type NewPerson struct {
	FirstName   string
	LastName    string
	Email       string
	Mobile      string // optional; normalised to E.164
	Role        Role
	State       AccountState // StateActive gets an identifier at once
	SIRET       string       // required but for agents
	Service     string       // required for responsables and collaborateurs
	RequestedBy string
	RequestID   string // generated when empty
}

// Validate checks every field and returns all problems at once; it
// normalises names, mail and mobile in place.
func (n *NewPerson) Validate() error {
	n.FirstName = strings.TrimSpace(n.FirstName)
	n.LastName = strings.TrimSpace(n.LastName)
	n.Email = strings.TrimSpace(n.Email)
	n.SIRET = NormalizeSIRET(n.SIRET)
	n.Service = strings.TrimSpace(n.Service)
	var problems []Problem
	problems = append(problems, checkName("firstName", masculine("Le prénom"), n.FirstName, 128)...)
	problems = append(problems, checkName("lastName", masculine("Le nom"), n.LastName, 128)...)
	// A name given must also make an identifier; one missing is said once.
	given := map[string]bool{"firstName": true, "lastName": true}
	for _, p := range problems {
		given[p.Field] = false
	}
	if _, err := Identifier(n.FirstName, n.LastName); err != nil {
		if ie, ok := err.(*InvalidError); ok {
			for _, p := range ie.Problems {
				if given[p.Field] {
					problems = append(problems, p)
				}
			}
		}
	}
	if email, ok := normalizeEmail(n.Email); ok {
		n.Email = email
	} else {
		problems = append(problems, Problem{"email", "L'adresse mail n'est pas valide."})
	}
	if n.Mobile != "" {
		if m, problem := ParseMobile(n.Mobile); problem == "" {
			n.Mobile = m
		} else {
			problems = append(problems, Problem{"mobile", problem})
		}
	}
	if !n.Role.Valid() {
		problems = append(problems, Problem{"role", "Le rôle doit être administrateur, responsable, collaborateur ou agent."})
	}
	if !n.State.Valid() {
		problems = append(problems, Problem{"state", "L'état du compte n'est pas valide."})
	}
	switch {
	case n.Role == RoleAgent:
		n.SIRET, n.Service = "", ""
	case CheckSIRET(n.SIRET) != nil:
		problems = append(problems, Problem{"siret", "La structure doit être renseignée par un SIRET valide."})
	}
	if n.Role.InService() && n.Service == "" {
		problems = append(problems, Problem{"service", "Le service doit être renseigné."})
	}
	if n.Role == RoleAdministrateur {
		n.Service = ""
	}
	return invalid(problems)
}

// PersonUpdate changes the fields that are not nil.
type PersonUpdate struct {
	FirstName *string
	LastName  *string
	Email     *string
	Mobile    *string // "" removes the mobile
	State     *AccountState
}

// Validate checks the fields that change.
func (u *PersonUpdate) Validate() error {
	var problems []Problem
	if u.FirstName != nil {
		*u.FirstName = strings.TrimSpace(*u.FirstName)
		problems = append(problems, checkName("firstName", masculine("Le prénom"), *u.FirstName, 128)...)
	}
	if u.LastName != nil {
		*u.LastName = strings.TrimSpace(*u.LastName)
		problems = append(problems, checkName("lastName", masculine("Le nom"), *u.LastName, 128)...)
	}
	if u.Email != nil {
		if email, ok := normalizeEmail(*u.Email); ok {
			*u.Email = email
		} else {
			problems = append(problems, Problem{"email", "L'adresse mail n'est pas valide."})
		}
	}
	if u.Mobile != nil && *u.Mobile != "" {
		if m, problem := ParseMobile(*u.Mobile); problem == "" {
			*u.Mobile = m
		} else {
			problems = append(problems, Problem{"mobile", problem})
		}
	}
	if u.State != nil && !u.State.Valid() {
		problems = append(problems, Problem{"state", "L'état du compte n'est pas valide."})
	}
	return invalid(problems)
}

// PersonFilter selects accounts; nil fields select everything.
type PersonFilter struct {
	SIRET   *string
	Service *string
	Role    *Role
	State   *AccountState
	Query   *string // a part of the identifier, first name or last name
}

// Application is a DGFiP application that partners are habilitated to
// through its profiles.
type Application struct {
	ID       string // short lower-case name, e.g. "ficoba"
	Name     string // e.g. "FICOBA"
	Profiles []string
	// RedirectURIs are where its OpenID Connect sign-ins may return,
	// matched exactly; none for an application that only binds.
	RedirectURIs []string
	// HomeURL is where people open it (the home page links to it); empty
	// when unknown.
	HomeURL string
}

// Validate checks an application and its profiles.
func (a *Application) Validate() error {
	a.ID = strings.TrimSpace(a.ID)
	a.Name = strings.TrimSpace(a.Name)
	var problems []Problem
	if !validSlug(a.ID) {
		problems = append(problems, Problem{"id", "L'identifiant de l'application ne doit contenir que des lettres minuscules, des chiffres et des tirets (64 au plus)."})
	}
	problems = append(problems, checkText("name", masculine("Le nom de l'application"), a.Name, 256)...)
	problems = append(problems, checkAppURLs(&a.RedirectURIs, &a.HomeURL)...)
	seen := map[string]bool{}
	for _, p := range a.Profiles {
		if !validSlug(p) {
			problems = append(problems, Problem{"profiles", "Le profil « " + p + " » ne doit contenir que des lettres minuscules, des chiffres et des tirets."})
		}
		if seen[p] {
			problems = append(problems, Problem{"profiles", "Le profil « " + p + " » est en double."})
		}
		seen[p] = true
	}
	return invalid(problems)
}

// ApplicationUpdate changes the fields of an application that are not nil.
type ApplicationUpdate struct {
	Name         *string
	RedirectURIs *[]string // an empty list removes them all
	HomeURL      *string   // "" removes it
}

// Validate checks the fields that change.
func (u *ApplicationUpdate) Validate() error {
	var problems []Problem
	if u.Name != nil {
		*u.Name = strings.TrimSpace(*u.Name)
		problems = append(problems, checkText("name", masculine("Le nom de l'application"), *u.Name, 256)...)
	}
	var uris []string
	home := ""
	if u.RedirectURIs != nil {
		uris = *u.RedirectURIs
	}
	if u.HomeURL != nil {
		home = *u.HomeURL
	}
	problems = append(problems, checkAppURLs(&uris, &home)...)
	if u.RedirectURIs != nil {
		*u.RedirectURIs = uris
	}
	if u.HomeURL != nil {
		*u.HomeURL = home
	}
	return invalid(problems)
}

// checkAppURLs trims an application's redirect URIs and home URL, drops
// empty and repeated URIs, and checks each one left.
func checkAppURLs(uris *[]string, home *string) []Problem {
	var problems []Problem
	var kept []string
	for _, u := range *uris {
		if u = strings.TrimSpace(u); u != "" && !slices.Contains(kept, u) {
			kept = append(kept, u)
			problems = append(problems, checkAppURL("redirectUris", "L'adresse de retour « "+u+" »", u)...)
		}
	}
	if len(kept) > 20 {
		problems = append(problems, Problem{"redirectUris", "Une application a 20 adresses de retour au plus."})
	}
	*uris = kept
	*home = strings.TrimSpace(*home)
	if *home != "" {
		problems = append(problems, checkAppURL("homeUrl", "L'adresse de l'application", *home)...)
	}
	return problems
}

// Habilitation is a profile of an application assigned to an account.
type Habilitation struct {
	Application string
	Profile     string
	EndDate     time.Time // when it is withdrawn; zero: never
}

// String is "application/profile", and its end date when it has one.
func (h Habilitation) String() string {
	if h.EndDate.IsZero() {
		return h.Application + "/" + h.Profile
	}
	return h.Application + "/" + h.Profile + " (fin " + Day(h.EndDate) + ")"
}

func validSlug(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// noun names a field in a French message, with the gender and number that
// its verbs and adjectives agree with: « La catégorie doit être
// renseignée », « Le nom du service est trop long ».
type noun struct {
	text     string // with its article: « La catégorie »
	feminine bool
	plural   bool
}

func masculine(text string) noun { return noun{text: text} }
func feminine(text string) noun  { return noun{text: text, feminine: true} }

// verb is the verb's singular or plural form, as the noun asks.
func (n noun) verb(singular, plural string) string {
	if n.plural {
		return plural
	}
	return singular
}

// adjective is the adjective's masculine form m or feminine form f, with
// the s of the plural when the noun is plural.
func (n noun) adjective(m, f string) string {
	a := m
	if n.feminine {
		a = f
	}
	if n.plural {
		a += "s"
	}
	return a
}

// missing, tooLong: the messages every field shares, in agreement with it.
func (n noun) missing() string {
	return n.text + " " + n.verb("doit", "doivent") + " être " + n.adjective("renseigné", "renseignée") + "."
}

func (n noun) tooLong() string {
	return n.text + " " + n.verb("est", "sont") + " trop " + n.adjective("long", "longue") + "."
}

// checkText requires a non-empty value of at most max characters, free of
// invisible characters: controls (C0, C1, DEL), format characters (bidi
// controls such as U+202E, zero-width characters, soft hyphens), line and
// paragraph separators (U+2028, U+2029) and private-use characters. The
// names of structures, services and applications and the category keep
// every other character (« Dupont & Fils »).
func checkText(field string, label noun, value string, max int) []Problem {
	switch {
	case value == "":
		return []Problem{{field, label.missing()}}
	case !utf8.ValidString(value) || strings.ContainsFunc(value, invisible):
		return []Problem{{field, label.text + " " + label.verb("contient", "contiennent") + " des caractères invalides (caractères de contrôle ou invisibles, sauts de ligne)."}}
	case utf8.RuneCountInString(value) > max:
		return []Problem{{field, label.tooLong()}}
	}
	return nil
}

func invisible(r rune) bool {
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Co)
}

// checkName requires a person's first or last name: letters of any script,
// combining marks, spaces, apostrophes (' and ’), hyphens and dots, at most
// max characters. Digits are refused too: the identifier drops them (its
// digits are the homonym's number) and no civil name holds one.
func checkName(field string, label noun, value string, max int) []Problem {
	switch {
	case value == "":
		return []Problem{{field, label.missing()}}
	case !utf8.ValidString(value) || strings.ContainsFunc(value, func(r rune) bool { return !nameRune(r) }):
		return []Problem{{field, label.text + " ne " + label.verb("doit", "doivent") + " contenir que des lettres, des espaces, des apostrophes, des tirets et des points."}}
	case utf8.RuneCountInString(value) > max:
		return []Problem{{field, label.tooLong()}}
	}
	return nil
}

func nameRune(r rune) bool {
	switch r {
	case ' ', '\'', '’', '-', '.':
		return true
	}
	return unicode.IsLetter(r) || unicode.IsMark(r)
}

func normalizeEmail(s string) (string, bool) {
	s = strings.TrimSpace(s)
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || addr.Name != "" || len(s) > 254 {
		return "", false
	}
	for _, c := range s {
		if c > 0x7e {
			return "", false // mail is an IA5 string in LDAP
		}
	}
	local, domain, _ := strings.Cut(s, "@")
	if !strings.Contains(domain, ".") {
		return "", false
	}
	return local + "@" + strings.ToLower(domain), true
}
