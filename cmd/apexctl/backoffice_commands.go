package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
)

// runAgent creates a DGFiP agent, active at once: the first account of a
// new directory, which the other back-office commands act as.
func runAgent(ctx context.Context, e *env, args []string) (err error) {
	fs := e.newFlagSet("agent", "agent create --email ADDRESS --first-name NAME --last-name NAME [--password PASSWORD] [--config FILE] [--json]")
	f := e.backOfficeFlags(fs, false)
	email := fs.String("email", "", "the agent's mail `address` (required)")
	firstName := fs.String("first-name", "", "the agent's first `name` (required)")
	lastName := fs.String("last-name", "", "the agent's last `name` (required)")
	pw := fs.String("password", "", "the agent's `password`; when omitted, one is generated and printed once")
	if args, err = parse(fs, args); err != nil {
		return err
	}
	if err := wantSubcommand(args, "create"); err != nil {
		return err
	}
	if err := requireFlags(flagValue{"email", *email}, flagValue{"first-name", *firstName}, flagValue{"last-name", *lastName}); err != nil {
		return err
	}
	generated := ""
	if *pw == "" {
		if generated, err = generatePassword(); err != nil {
			return err
		}
		*pw = generated
	}

	bo, err := e.openBackOffice(ctx, "agent", f, false)
	if err != nil {
		return err
	}
	defer bo.closeInto(e, "agent", &err)
	p, err := bo.store.CreatePerson(ctx, directory.NewPerson{
		FirstName: *firstName, LastName: *lastName, Email: *email,
		Role: directory.RoleAgent, State: directory.StateActive,
	}, *pw)
	if errors.Is(err, directory.ErrConflict) {
		return fmt.Errorf("the mail %s is already used by another agent: %w", *email, err)
	}
	if err != nil {
		return explain(err)
	}
	if *f.asJSON {
		return writeJSON(e.stdout, struct {
			personJSON
			Password string `json:"password,omitempty"` // only when generated
		}{toPersonJSON(p), generated})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Agent DGFiP créé : %s\n", p.Identifier)
	if generated != "" {
		fmt.Fprintf(&b, "Mot de passe (généré, affiché une seule fois) : %s\n", generated)
	}
	_, err = fmt.Fprint(e.stdout, b.String())
	return err
}

// runStructure creates a partner structure.
func runStructure(ctx context.Context, e *env, args []string) (err error) {
	fs := e.newFlagSet("structure", "structure create --as AGENT --siret SIRET --name NAME --category CATEGORY [--config FILE] [--json]")
	f := e.backOfficeFlags(fs, true)
	siret := fs.String("siret", "", "the structure's `SIRET`, 14 digits (required)")
	name := fs.String("name", "", "the structure's `name` (required)")
	category := fs.String("category", "", "the structure's `category` (CSP), e.g. Notaire (required)")
	if args, err = parse(fs, args); err != nil {
		return err
	}
	if err := wantSubcommand(args, "create"); err != nil {
		return err
	}
	if err := requireFlags(flagValue{"siret", *siret}, flagValue{"name", *name}, flagValue{"category", *category}); err != nil {
		return err
	}

	bo, err := e.openBackOffice(ctx, "structure", f, false)
	if err != nil {
		return err
	}
	defer bo.closeInto(e, "structure", &err)
	st, err := bo.accounts.CreateStructure(ctx, bo.agent, directory.Structure{SIRET: *siret, Name: *name, Category: *category})
	if errors.Is(err, directory.ErrConflict) {
		return fmt.Errorf("the structure %s exists already: %w", directory.NormalizeSIRET(*siret), err)
	}
	if err != nil {
		return explain(err)
	}
	if *f.asJSON {
		return writeJSON(e.stdout, struct {
			SIRET    string `json:"siret"`
			Name     string `json:"name"`
			Category string `json:"category"`
		}{st.SIRET, st.Name, st.Category})
	}
	_, err = fmt.Fprintf(e.stdout, "Structure créée : %s — %s (%s)\n", st.SIRET, st.Name, st.Category)
	return err
}

// runInvite pre-creates an account and mails it the link to its form
// (guide 1.1): agents pre-create administrators.
func runInvite(ctx context.Context, e *env, args []string) (err error) {
	fs := e.newFlagSet("invite", "invite --as AGENT --siret SIRET --email ADDRESS [--role administrateur] [--service NAME] [--config FILE] [--json]")
	f := e.backOfficeFlags(fs, true)
	siret := fs.String("siret", "", "`SIRET` of the account's structure (required)")
	email := fs.String("email", "", "the person's mail `address`, where the link goes (required)")
	role := fs.String("role", string(directory.RoleAdministrateur), "the account's `role`")
	service := fs.String("service", "", "the account's `service`, for a responsable or a collaborateur")
	if args, err = parse(fs, args); err != nil {
		return err
	}
	if len(args) != 0 {
		return usagef("takes no arguments, got %q", strings.Join(args, " "))
	}
	if err := requireFlags(flagValue{"siret", *siret}, flagValue{"email", *email}); err != nil {
		return err
	}

	bo, err := e.openBackOffice(ctx, "invite", f, true)
	if err != nil {
		return err
	}
	defer bo.closeInto(e, "invite", &err)
	inv, err := bo.accounts.Invite(ctx, bo.agent, directory.NewInvitation{
		Email: *email, Role: directory.Role(*role), SIRET: *siret, Service: *service,
	})
	switch {
	case errors.Is(err, directory.ErrConflict):
		return fmt.Errorf("the mail %s is already used by an account of structure %s: %w", *email, directory.NormalizeSIRET(*siret), err)
	case errors.Is(err, directory.ErrNotFound):
		return fmt.Errorf("no structure %s (or no such service in it): %w", directory.NormalizeSIRET(*siret), err)
	case err != nil:
		return explain(err)
	}
	p := inv.Person
	if *f.asJSON {
		return writeJSON(e.stdout, struct {
			personJSON
			ExpiresAt time.Time `json:"linkExpiresAt"`
		}{toPersonJSON(p), inv.ExpiresAt})
	}
	_, err = fmt.Fprintf(e.stdout, "Demande : %s\nLien de pré-création envoyé par mail à %s (compte %s, structure %s), valable jusqu'au %s.\n",
		p.RequestID, p.Email, p.Role, p.SIRET, inv.ExpiresAt.Local().Format("2006-01-02 15:04 MST"))
	return err
}

// runRequests lists the requests, form filled, that the agent may decide.
func runRequests(ctx context.Context, e *env, args []string) (err error) {
	fs := e.newFlagSet("requests", "requests --as AGENT [--config FILE] [--json]")
	f := e.backOfficeFlags(fs, true)
	if args, err = parse(fs, args); err != nil {
		return err
	}
	if len(args) != 0 {
		return usagef("takes no arguments, got %q", strings.Join(args, " "))
	}

	bo, err := e.openBackOffice(ctx, "requests", f, false)
	if err != nil {
		return err
	}
	defer bo.closeInto(e, "requests", &err)
	var reqs []directory.Person
	for page := 1; ; page++ {
		p, err := bo.accounts.Requests(ctx, bo.agent, directory.ListQuery{Page: page, Size: directory.MaxListSize})
		if err != nil {
			return err
		}
		reqs = append(reqs, p.Accounts...)
		if len(p.Accounts) == 0 || len(reqs) >= p.Total {
			break
		}
	}
	if *f.asJSON {
		out := make([]personJSON, len(reqs))
		for i := range reqs {
			out[i] = toPersonJSON(&reqs[i])
		}
		return writeJSON(e.stdout, out)
	}
	if len(reqs) == 0 {
		_, err := fmt.Fprintln(e.stdout, "Aucune demande à valider.")
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DEMANDE\tRÔLE\tSIRET\tSERVICE\tPRÉNOM\tNOM\tMAIL\tDEMANDÉE LE\tPAR")
	for _, p := range reqs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.RequestID, p.Role, p.SIRET, dash(p.Service),
			p.FirstName, p.LastName, p.Email, p.RequestedAt.Local().Format("2006-01-02 15:04"), dash(p.RequestedBy))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err = fmt.Fprintln(e.stdout, "apexctl approve --as AGENT DEMANDE valide une demande ; apexctl refuse --as AGENT --reason MOTIF DEMANDE la refuse.")
	return err
}

// runApprove validates a request: the account gets its identifier, by mail.
func runApprove(ctx context.Context, e *env, args []string) (err error) {
	fs := e.newFlagSet("approve", "approve --as AGENT [--config FILE] [--json] REQUEST_ID")
	f := e.backOfficeFlags(fs, true)
	if args, err = parse(fs, args); err != nil {
		return err
	}
	if len(args) != 1 {
		return usagef("want 1 argument, the request's id (apexctl requests lists them), got %d", len(args))
	}

	bo, err := e.openBackOffice(ctx, "approve", f, true)
	if err != nil {
		return err
	}
	defer bo.closeInto(e, "approve", &err)
	p, err := bo.accounts.Approve(ctx, bo.agent, args[0])
	if err != nil {
		return decisionError(args[0], err)
	}
	if *f.asJSON {
		return writeJSON(e.stdout, toPersonJSON(p))
	}
	_, err = fmt.Fprintf(e.stdout, "Compte validé : %s\nL'identifiant est envoyé par mail à %s.\n", p.Identifier, p.Email)
	return err
}

// runRefuse refuses a request; the reason goes by mail.
func runRefuse(ctx context.Context, e *env, args []string) (err error) {
	fs := e.newFlagSet("refuse", "refuse --as AGENT --reason REASON [--config FILE] [--json] REQUEST_ID")
	f := e.backOfficeFlags(fs, true)
	reason := fs.String("reason", "", "why, in French: mailed to the person as it is (required)")
	if args, err = parse(fs, args); err != nil {
		return err
	}
	if len(args) != 1 {
		return usagef("want 1 argument, the request's id (apexctl requests lists them), got %d", len(args))
	}
	if *reason == "" {
		return usagef("--reason is required: the person gets it by mail")
	}

	bo, err := e.openBackOffice(ctx, "refuse", f, true)
	if err != nil {
		return err
	}
	defer bo.closeInto(e, "refuse", &err)
	p, err := bo.accounts.Refuse(ctx, bo.agent, args[0], *reason)
	if err != nil {
		return decisionError(args[0], err)
	}
	if *f.asJSON {
		return writeJSON(e.stdout, toPersonJSON(p))
	}
	_, err = fmt.Fprintf(e.stdout, "Demande %s refusée ; le motif est envoyé par mail à %s.\n", p.RequestID, p.Email)
	return err
}

func decisionError(requestID string, err error) error {
	switch {
	case errors.Is(err, directory.ErrNotFound):
		return fmt.Errorf("no request %s: %w", requestID, err)
	case errors.Is(err, directory.ErrAlreadyDecided):
		return fmt.Errorf("request %s: the form is not filled yet, or the request was decided already: %w", requestID, err)
	}
	return explain(err)
}

// runApplication declares a DGFiP application, its profiles and its
// bind account, with which it searches the directory and binds people, and
// which is also its OpenID Connect client (the password is the client
// secret); update changes its name and addresses, add-profile adds a
// profile.
func runApplication(ctx context.Context, e *env, args []string) (err error) {
	fs := e.newFlagSet("application", "application create --as AGENT --id ID --name NAME --profiles P1,P2 [--redirect-uri URI]... [--home-url URL] [--bind-password PASSWORD] [--config FILE] [--json]\n"+
		"       apexctl application update --as AGENT --id ID [--name NAME] [--redirect-uri URI]... [--no-redirect-uri] [--home-url URL] [--config FILE] [--json]\n"+
		"       apexctl application add-profile --as AGENT --id ID --profile PROFILE [--config FILE] [--json]")
	f := e.backOfficeFlags(fs, true)
	id := fs.String("id", "", "the application's `id`: lower-case letters, digits and dashes, e.g. ficoba (required)")
	name := fs.String("name", "", "the application's `name`, e.g. FICOBA (required by create)")
	profiles := fs.String("profiles", "", "its `profiles`, comma-separated, e.g. consultation,gestion (required by create)")
	profile := fs.String("profile", "", "the `profile` that add-profile adds")
	var redirectURIs stringList
	fs.Var(&redirectURIs, "redirect-uri", "a `URI` its OpenID Connect sign-ins may return to, matched exactly (https://, or http:// to the machine itself); repeat it for several; update replaces the list")
	noRedirect := fs.Bool("no-redirect-uri", false, "update: remove every redirect URI")
	homeURL := fs.String("home-url", "", "where people open the application, which their home page links to; update with \"\" removes it")
	bindPassword := fs.String("bind-password", "", "`password` of the application's bind account, also its OpenID client secret; when omitted, one is generated and printed once")
	if args, err = parse(fs, args); err != nil {
		return err
	}
	if len(args) != 1 || !slices.Contains([]string{"create", "update", "add-profile"}, args[0]) {
		return usagef("want create, update or add-profile, got %q", strings.Join(args, " "))
	}
	given := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	switch args[0] {
	case "update":
		if err := requireFlags(flagValue{"id", *id}); err != nil {
			return err
		}
		u := directory.ApplicationUpdate{}
		if given["name"] {
			u.Name = name
		}
		if given["redirect-uri"] || *noRedirect {
			list := []string(redirectURIs)
			if list == nil {
				list = []string{}
			}
			u.RedirectURIs = &list
		}
		if given["home-url"] {
			u.HomeURL = homeURL
		}
		if u.Name == nil && u.RedirectURIs == nil && u.HomeURL == nil {
			return usagef("nothing to change: give --name, --redirect-uri, --no-redirect-uri or --home-url")
		}
		return e.changeApplication(ctx, f, "update", func(bo *backOffice) (*directory.Application, error) {
			return bo.accounts.UpdateApplication(ctx, bo.agent, *id, u)
		})
	case "add-profile":
		if err := requireFlags(flagValue{"id", *id}, flagValue{"profile", *profile}); err != nil {
			return err
		}
		return e.changeApplication(ctx, f, "add-profile", func(bo *backOffice) (*directory.Application, error) {
			app, err := bo.accounts.AddProfile(ctx, bo.agent, *id, strings.TrimSpace(*profile))
			if errors.Is(err, directory.ErrConflict) {
				return nil, fmt.Errorf("the profile %s of %s exists already: %w", *profile, *id, err)
			}
			return app, err
		})
	}
	if err := requireFlags(flagValue{"id", *id}, flagValue{"name", *name}, flagValue{"profiles", *profiles}); err != nil {
		return err
	}
	var profileList []string
	for p := range strings.SplitSeq(*profiles, ",") {
		if p = strings.TrimSpace(p); p != "" {
			profileList = append(profileList, p)
		}
	}
	generated := ""
	if *bindPassword == "" {
		if generated, err = generatePassword(); err != nil {
			return err
		}
		*bindPassword = generated
	} else if err := directory.CheckPassword(*bindPassword); err != nil {
		return fmt.Errorf("--bind-password: %w", explain(err)) // before the application is declared
	}

	bo, err := e.openBackOffice(ctx, "application", f, false)
	if err != nil {
		return err
	}
	defer bo.closeInto(e, "application", &err)
	app, err := bo.accounts.CreateApplication(ctx, bo.agent, directory.Application{ID: *id, Name: *name, Profiles: profileList,
		RedirectURIs: redirectURIs, HomeURL: *homeURL})
	if errors.Is(err, directory.ErrConflict) {
		return fmt.Errorf("the application %s exists already: %w", *id, err)
	}
	if err != nil {
		return explain(err)
	}
	dn, err := bo.store.CreateClient(ctx, app.ID, *bindPassword)
	if err != nil {
		if errors.Is(err, directory.ErrConflict) {
			err = fmt.Errorf("the bind account of %s exists already: %w", app.ID, err)
		}
		// An application nobody can read with is of no use: take it back.
		if derr := bo.store.DeleteApplication(context.WithoutCancel(ctx), app.ID); derr != nil {
			return errors.Join(explain(err), fmt.Errorf("remove the application %s again: %w", app.ID, derr))
		}
		return explain(err)
	}
	issuer := strings.TrimSuffix(bo.cfg.HTTP.PublicURL, "/")
	if *f.asJSON {
		return writeJSON(e.stdout, struct {
			applicationJSON
			BindDN   string `json:"bindDN"`
			Password string `json:"password,omitempty"` // only when generated
			LDAPURL  string `json:"ldapURL"`
			BaseDN   string `json:"baseDN"`
			Issuer   string `json:"issuer"`
		}{toApplicationJSON(app), dn, generated, bo.ldapURL, bo.cfg.LDAP.BaseDN, issuer})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Application déclarée : %s (%s), profils : %s\n", app.Name, app.ID, strings.Join(app.Profiles, ", "))
	fmt.Fprintf(&b, "Compte de l'application (bind DN) : %s\n", dn)
	if generated != "" {
		fmt.Fprintf(&b, "Mot de passe (généré, affiché une seule fois) : %s\n", generated)
	}
	fmt.Fprintf(&b, "Annuaire : %s, base %s\n", bo.ldapURL, bo.cfg.LDAP.BaseDN)
	if len(app.RedirectURIs) > 0 {
		fmt.Fprintf(&b, "OpenID Connect : émetteur %s, client_id %s, le mot de passe ci-dessus pour secret, retours %s\n",
			issuer, app.ID, strings.Join(app.RedirectURIs, " "))
	}
	_, err = fmt.Fprint(e.stdout, b.String())
	return err
}

// changeApplication runs a change of an application as the agent of f and
// prints the application as it is after.
func (e *env) changeApplication(ctx context.Context, f backOfficeFlags, sub string, change func(*backOffice) (*directory.Application, error)) (err error) {
	bo, err := e.openBackOffice(ctx, "application", f, false)
	if err != nil {
		return err
	}
	defer bo.closeInto(e, "application", &err)
	app, err := change(bo)
	if err != nil {
		return explain(err)
	}
	if *f.asJSON {
		return writeJSON(e.stdout, toApplicationJSON(app))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Application %s (%s) : profils %s\n", app.Name, app.ID, strings.Join(app.Profiles, ", "))
	fmt.Fprintf(&b, "Adresses de retour : %s\n", orNone(strings.Join(app.RedirectURIs, " ")))
	fmt.Fprintf(&b, "Adresse de l'application : %s\n", orNone(app.HomeURL))
	_, err = fmt.Fprint(e.stdout, b.String())
	return err
}

func orNone(s string) string {
	if s == "" {
		return "aucune"
	}
	return s
}

// applicationJSON is an application as the commands print it.
type applicationJSON struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	Profiles     []string `json:"profiles"`
	RedirectURIs []string `json:"redirectUris"`
	HomeURL      string   `json:"homeUrl,omitempty"`
}

func toApplicationJSON(a *directory.Application) applicationJSON {
	v := applicationJSON{ID: a.ID, Name: a.Name, Profiles: a.Profiles, RedirectURIs: a.RedirectURIs, HomeURL: a.HomeURL}
	if v.RedirectURIs == nil {
		v.RedirectURIs = []string{}
	}
	return v
}

// stringList is a flag given several times.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, " ") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// runOIDC manages the OpenID provider: rotate-key makes a new signing
// key, which every apexd signs with at once; the previous one stays
// published until the last token it signed has expired.
func runOIDC(ctx context.Context, e *env, args []string) (err error) {
	fs := e.newFlagSet("oidc", "oidc rotate-key [--config FILE] [--json]")
	f := e.backOfficeFlags(fs, false)
	if args, err = parse(fs, args); err != nil {
		return err
	}
	if err := wantSubcommand(args, "rotate-key"); err != nil {
		return err
	}
	bo, err := e.openBackOffice(ctx, "oidc", f, false)
	if err != nil {
		return err
	}
	defer bo.closeInto(e, "oidc", &err)
	flow := directory.OIDC{Store: bo.store, Policy: bo.cfg.OIDC.Policy()}
	key, err := flow.RotateKey(ctx)
	if errors.Is(err, directory.ErrConflict) {
		return fmt.Errorf("another rotation passed at the same moment: run the command again if one more is wanted: %w", err)
	}
	if err != nil {
		return err
	}
	_, published, err := flow.SigningKeys(ctx)
	if err != nil {
		return err
	}
	var ids []string
	for _, k := range published {
		ids = append(ids, k.ID)
	}
	keep := flow.Policy.KeyRetention()
	if *f.asJSON {
		return writeJSON(e.stdout, struct {
			Signing   string   `json:"signing"`
			Published []string `json:"published"`
			Retention string   `json:"retention"`
		}{key.ID, ids, keep.String()})
	}
	_, err = fmt.Fprintf(e.stdout, "Nouvelle clé de signature : %s\nClés publiées (JWKS) : %s\nLes précédentes restent publiées %s, jusqu'à l'expiration des derniers jetons qu'elles ont signés.\n",
		key.ID, strings.Join(ids, ", "), keep)
	return err
}

// runHabilitate grants a profile of an application to an account, which
// is told by mail (guide 2), or withdraws it with --revoke.
func runHabilitate(ctx context.Context, e *env, args []string) (err error) {
	fs := e.newFlagSet("habilitate", "habilitate --as AGENT [--revoke] [--config FILE] [--json] IDENTIFIER APPLICATION PROFILE")
	f := e.backOfficeFlags(fs, true)
	revoke := fs.Bool("revoke", false, "withdraw the profile instead")
	if args, err = parse(fs, args); err != nil {
		return err
	}
	if len(args) != 3 {
		return usagef("want 3 arguments, the identifier, the application's id and the profile, got %d", len(args))
	}
	identifier, application, profile := args[0], args[1], args[2]

	bo, err := e.openBackOffice(ctx, "habilitate", f, !*revoke)
	if err != nil {
		return err
	}
	defer bo.closeInto(e, "habilitate", &err)
	held := false
	if *revoke {
		err = bo.accounts.Revoke(ctx, bo.agent, identifier, application, profile)
	} else {
		var p *directory.Person
		if p, err = bo.store.FindPerson(ctx, identifier); err == nil {
			held = p.HasProfile(application, profile)
			err = bo.accounts.Grant(ctx, bo.agent, identifier, application, profile)
		}
	}
	if errors.Is(err, directory.ErrNotFound) {
		return fmt.Errorf("%s, %s/%s: no such account, application, profile or habilitation: %w", identifier, application, profile, err)
	}
	if err != nil {
		return explain(err)
	}
	if *f.asJSON {
		return writeJSON(e.stdout, struct {
			Identifier  string `json:"identifier"`
			Application string `json:"application"`
			Profile     string `json:"profile"`
			Habilitated bool   `json:"habilitated"`
			Mailed      bool   `json:"mailed"`
		}{identifier, application, profile, !*revoke, !*revoke && !held})
	}
	var msg string
	switch {
	case *revoke:
		msg = fmt.Sprintf("Habilitation retirée : %s, %s, profil %s.\n", identifier, application, profile)
	case held:
		msg = fmt.Sprintf("%s était déjà habilité à %s, profil %s : rien n'a changé.\n", identifier, application, profile)
	default:
		msg = fmt.Sprintf("%s habilité à %s, profil %s ; un mail l'en informe.\n", identifier, application, profile)
	}
	_, err = fmt.Fprint(e.stdout, msg)
	return err
}

// wantSubcommand checks that the arguments are the one word of a command
// that has a single subcommand (agent create).
func wantSubcommand(args []string, word string) error {
	if len(args) != 1 || args[0] != word {
		return usagef("want %s, got %q", word, strings.Join(args, " "))
	}
	return nil
}

type flagValue struct{ name, value string }

// requireFlags lists the required flags left empty.
func requireFlags(flags ...flagValue) error {
	var missing []string
	for _, f := range flags {
		if strings.TrimSpace(f.value) == "" {
			missing = append(missing, "--"+f.name)
		}
	}
	if len(missing) > 0 {
		return usagef("%s required", strings.Join(missing, ", "))
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
