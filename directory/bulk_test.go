package directory_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/directory/slapdtest"
	"github.com/dgfip/apex-partenaires/directory/testkit"
)

// The files people send, as spreadsheets write them: each dialect gives
// the same rows, on the lines of the file.
func TestReadBulkCSVDialects(t *testing.T) {
	t.Parallel()
	want := []directory.BulkRow{
		{Line: 2, Email: "zoé.martin@example.fr", Role: "Collaborateur", Service: "Comptabilité"},
		{Line: 4, Email: "paul@example.fr", Role: "responsable", Service: "Paie; RH"},
		{Line: 5, Email: "anne@example.fr", Role: "", Service: `Service "Nord"`},
	}
	files := map[string]string{
		"Excel, CSV UTF-8, French": "\ufeffAdresse mail;Rôle;Service\r\n" +
			"zoé.martin@example.fr;Collaborateur;Comptabilité\r\n" +
			";;\r\n" +
			"paul@example.fr;responsable;\"Paie; RH\"\r\n" +
			"anne@example.fr;;\"Service \"\"Nord\"\"\";;\r\n" +
			"\r\n",
		"commas, English header, LF": "email,role,service\n" +
			"zoé.martin@example.fr,Collaborateur,Comptabilité\n" +
			"\n" +
			"paul@example.fr,responsable,Paie; RH\n" +
			"anne@example.fr,,\"Service \"\"Nord\"\"\"\n",
		"sep= line, columns in another order, one more": "sep=,\r\n" +
			"Service,Nom,E-mail,RÔLE\r\n" +
			"Comptabilité,Zoé,zoé.martin@example.fr,Collaborateur\r\n" +
			",,,\r\n" +
			"\"Paie; RH\",Paul,paul@example.fr,responsable\r\n" +
			"\"Service \"\"Nord\"\"\",Anne,anne@example.fr\r\n" +
			",,,",
		"no header": "\r\n" +
			"zoé.martin@example.fr;Collaborateur;Comptabilité\r\n" +
			"   \r\n" +
			"paul@example.fr ; responsable ; \"Paie; RH\"\r\n" +
			"anne@example.fr;;\"Service \"\"Nord\"\"\"\r\n",
	}
	for name, file := range files {
		want := want
		if name == "sep= line, columns in another order, one more" { // its first line says the separator
			want = slices.Clone(want)
			for i := range want {
				want[i].Line++
			}
		}
		rows, err := directory.ReadBulkCSV(strings.NewReader(file))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !slices.Equal(rows, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, rows, want)
		}
	}
}

// A file that cannot be read as rows is refused as a whole, saying why in
// French on the "file" field.
func TestReadBulkCSVRefusals(t *testing.T) {
	t.Parallel()
	many := func(n int) string {
		var b strings.Builder
		b.WriteString("email;role;service\r\n")
		for i := range n {
			fmt.Fprintf(&b, "p%d@example.fr;collaborateur;Paie\r\n", i)
		}
		return b.String()
	}
	rows, err := directory.ReadBulkCSV(strings.NewReader(many(directory.MaxBulkRows)))
	if err != nil || len(rows) != directory.MaxBulkRows || rows[len(rows)-1].Line != directory.MaxBulkRows+1 {
		t.Fatalf("%d rows: %d read, %v", directory.MaxBulkRows, len(rows), err)
	}
	for name, c := range map[string]struct{ file, message string }{
		"Windows-1252":       {"email;service\r\nzoe@example.fr;Comptabilit\xe9\r\n", "Le fichier n'est pas encodé en UTF-8 : dans Excel, enregistrez-le au format « CSV UTF-8 (délimité par des virgules) »."},
		"a stray quote":      {"a@example.fr;collaborateur;Paie\r\nb@example.fr;\"collab\"orateur;Paie\r\n", "Ligne 2 : un guillemet est mal placé. Corrigez la ligne, ou enregistrez le fichier à nouveau depuis votre tableur."},
		"no address column":  {"Nom;Rôle;Service\r\nZoé;collaborateur;Paie\r\n", "La ligne d'en-tête ne nomme pas la colonne des adresses mail (« Adresse mail » ou « email »)."},
		"empty":              {"", "Le fichier ne contient aucune ligne à inviter."},
		"a header alone":     {"\ufeffAdresse mail;Rôle;Service\r\n;;\r\n", "Le fichier ne contient aucune ligne à inviter."},
		"one row too many":   {many(directory.MaxBulkRows + 1), "Le fichier compte plus de 5\u00a0000 lignes à inviter : découpez-le en plusieurs fichiers de 5\u00a0000 lignes au plus."},
		"many rows too many": {many(3 * directory.MaxBulkRows), "Le fichier compte plus de 5\u00a0000 lignes à inviter : découpez-le en plusieurs fichiers de 5\u00a0000 lignes au plus."},
	} {
		_, err := directory.ReadBulkCSV(strings.NewReader(c.file))
		var ie *directory.InvalidError
		if !errors.As(err, &ie) || len(ie.Problems) != 1 || ie.Problems[0].Field != "file" || ie.Problems[0].Message != c.message {
			t.Errorf("%s: %v, want %q on file", name, err, c.message)
		}
	}
}

// bulkEnv is a structure with two services, its administrator and the
// responsable of Accueil, and the mails the lifecycle would send.
type bulkEnv struct {
	store       *directory.Store
	acc         directory.Accounts
	mails       *recordingNotifier
	admin, resp *directory.Person
}

func newBulkEnv(t *testing.T, cfg func(*directory.StoreConfig)) *bulkEnv {
	t.Helper()
	srv := slapdtest.Shared(t)
	c := slapdtest.StoreConfig(srv, slapdtest.NewBase(t, srv))
	if cfg != nil {
		cfg(&c)
	}
	store := slapdtest.OpenStore(t, c)
	mustStructure(t, store, testSIRET, "Accueil", "Paie")
	mustStructure(t, store, otherSIRET, "Accueil")
	b := &bulkEnv{store: store, mails: &recordingNotifier{}}
	b.acc = directory.Accounts{Store: store, Notifier: b.mails}
	b.admin = mustPerson(t, store, directory.NewPerson{FirstName: "Adam", LastName: "Fichier", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	b.resp = mustPerson(t, store, directory.NewPerson{FirstName: "Rita", LastName: "Fichier", Role: directory.RoleResponsable, SIRET: testSIRET, Service: "Accueil"})
	return b
}

// codes are the outcome codes of a report, by address.
func codes(r *directory.BulkReport) map[string]string {
	out := map[string]string{}
	for _, row := range r.Rows {
		out[row.Email] = row.Code
	}
	return out
}

// invitations counts the invitation mails sent to addr.
func (b *bulkEnv) invitations(addr string) int {
	b.mails.mu.Lock()
	defer b.mails.mu.Unlock()
	n := 0
	for _, s := range b.mails.sent {
		if s == "invitation "+addr {
			n++
		}
	}
	return n
}

// Every problem a row can have, told in French with its code; the dry run
// changes nothing; the run invites the rows that pass, each with its event
// and its mail; the same file again invites nobody twice.
func TestBulkInvitationRows(t *testing.T) {
	t.Parallel()
	b := newBulkEnv(t, nil)
	srv := slapdtest.Shared(t)
	pending := mustInvite(t, b.store, "attend@example.fr", directory.RoleCollaborateur, "Accueil")
	submittedReq := mustInvite(t, b.store, "soumise@example.fr", directory.RoleCollaborateur, "Accueil")
	if _, err := b.acc.SubmitInvitation(ctx, submittedReq.Token, directory.PreCreation{FirstName: "Sou", LastName: "Mise", Password: goodPassword}); err != nil {
		t.Fatal(err)
	}
	member := mustPerson(t, b.store, directory.NewPerson{FirstName: "Marc", LastName: "Membre", Email: "membre@example.fr", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Paie"})
	// In the other structure: free in this one.
	mustPerson(t, b.store, directory.NewPerson{FirstName: "Olga", LastName: "Ailleurs", Email: "ailleurs@example.fr", Role: directory.RoleCollaborateur, SIRET: otherSIRET, Service: "Accueil"})
	rows := []directory.BulkRow{
		{Line: 2, Email: "nouveau@example.fr", Role: "collaborateur", Service: "Accueil"},
		{Line: 3, Email: "chef@example.fr", Role: "Responsable", Service: "Paie"},
		{Line: 4, Email: "ailleurs@example.fr", Role: "collaboratrice", Service: "Accueil"},
		{Line: 5, Email: "pas-une-adresse", Role: "collaborateur", Service: "Accueil"},
		{Line: 6, Email: "", Role: "collaborateur", Service: "Accueil"},
		{Line: 7, Email: "role@example.fr", Role: "stagiaire", Service: "Accueil"},
		{Line: 8, Email: "sansrole@example.fr", Role: "", Service: "Accueil"},
		{Line: 9, Email: "sansservice@example.fr", Role: "collaborateur", Service: ""},
		{Line: 10, Email: "inconnu@example.fr", Role: "collaborateur", Service: "Direction"},
		{Line: 11, Email: "admin@example.fr", Role: "administrateur"},
		{Line: 12, Email: "Nouveau@EXAMPLE.fr", Role: "collaborateur", Service: "Paie"},
		{Line: 13, Email: pending.Person.Email, Role: "collaborateur", Service: "Accueil"},
		{Line: 14, Email: "soumise@example.fr", Role: "collaborateur", Service: "Accueil"},
		{Line: 15, Email: member.Email, Role: "collaborateur", Service: "Accueil"},
	}
	want := map[string]string{
		"nouveau@example.fr": directory.BulkReady, "chef@example.fr": directory.BulkReady, "ailleurs@example.fr": directory.BulkReady,
		"pas-une-adresse": directory.BulkInvalidEmail, "": directory.BulkInvalidEmail, "role@example.fr": directory.BulkInvalidRole,
		"sansrole@example.fr": directory.BulkInvalidRole, "sansservice@example.fr": directory.BulkMissingService,
		"inconnu@example.fr": directory.BulkUnknownService, "admin@example.fr": directory.BulkNotAllowed,
		"Nouveau@EXAMPLE.fr": directory.BulkDuplicate, "attend@example.fr": directory.BulkAlreadyInvited,
		"soumise@example.fr": directory.BulkAlreadyInvited, "membre@example.fr": directory.BulkAccountExists,
	}
	messages := map[int]string{
		5: "L'adresse mail n'est pas valide.", 6: "L'adresse mail doit être renseignée.",
		7: "Le rôle doit être administrateur, responsable ou collaborateur.", 8: "Le rôle doit être renseigné : responsable ou collaborateur.",
		9: "Le service doit être renseigné.", 10: "Le service « Direction » n'existe pas dans la structure.",
		11: "Seul un agent de la DGFiP peut inviter un administrateur.", 12: "Cette adresse figure déjà à la ligne 2 du fichier.",
		13: "Déjà invitée : une invitation à cette adresse attend que la personne remplisse son formulaire.",
		14: "Déjà invitée : la demande de création de compte de cette adresse attend sa validation.",
		15: "Un compte de la structure a déjà cette adresse mail.",
	}
	tree := func() string { return slapdtest.Snapshot(t, srv, nil, b.store.BaseDN()) }

	before := tree()
	check, err := b.acc.CheckBulk(ctx, b.admin, testSIRET, rows)
	if err != nil {
		t.Fatal(err)
	}
	if got := codes(check); !maps(got, want) {
		t.Errorf("the dry run:\n got %v\nwant %v", got, want)
	}
	for _, row := range check.Rows {
		if m, ok := messages[row.Line]; ok && row.Message != m {
			t.Errorf("line %d: %q, want %q", row.Line, row.Message, m)
		}
	}
	if !check.DryRun || check.Structure.SIRET != testSIRET || check.Count(directory.BulkReady) != 3 || check.Refused() != 11 {
		t.Errorf("the dry run's report: %+v", check)
	}
	if after := tree(); after != before {
		t.Errorf("the dry run changed the directory")
	}

	logs := &testkit.LogBuffer{}
	b.acc.Audit = slog.New(slog.NewJSONHandler(logs, nil))
	report, err := b.acc.InviteBulk(ctx, b.admin, testSIRET, rows, nil)
	if err != nil {
		t.Fatal(err)
	}
	for addr := range want {
		if want[addr] == directory.BulkReady {
			want[addr] = directory.BulkInvited
		}
	}
	if got := codes(report); !maps(got, want) || report.Invited() != 3 || report.DryRun {
		t.Errorf("the run:\n got %v\nwant %v", got, want)
	}
	for _, addr := range []string{"nouveau@example.fr", "chef@example.fr", "ailleurs@example.fr"} {
		p, err := b.store.FindPersonByEmail(ctx, testSIRET, addr)
		if err != nil || p.State != directory.StateInvited || p.RequestedBy != b.admin.Identifier || b.invitations(addr) != 1 {
			t.Errorf("%s: %+v, %v, %d mails", addr, p, err, b.invitations(addr))
			continue
		}
		if n := strings.Count(logs.String(), `"action":"account.invite","account":"`+p.RequestID+`"`); n != 1 {
			t.Errorf("%s: %d audit events of its invitation, want 1:\n%s", addr, n, logs)
		}
	}
	if n := strings.Count(logs.String(), `"action":"account.invite_bulk"`); n != 1 || !strings.Contains(logs.String(), `"detail":"rows=14 invited=3 refused=11"`) {
		t.Errorf("%d audit events of the file, want 1:\n%s", n, logs)
	}
	if p, _ := b.store.FindPersonByEmail(ctx, testSIRET, "chef@example.fr"); p.Role != directory.RoleResponsable || p.Service != "Paie" {
		t.Errorf("the responsable invited: %+v", p)
	}

	// The same file again: nobody is invited twice.
	again, err := b.acc.InviteBulk(ctx, b.admin, testSIRET, rows, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.Invited() != 0 || again.Count(directory.BulkAlreadyInvited) != 5 {
		t.Errorf("the same file again: %v", codes(again))
	}
	for _, addr := range []string{"nouveau@example.fr", "chef@example.fr", "ailleurs@example.fr"} {
		if n := b.invitations(addr); n != 1 {
			t.Errorf("%s got %d invitations", addr, n)
		}
	}
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Who may send a file, and what each may invite with it: nothing changes
// for those refused.
func TestBulkInvitationRights(t *testing.T) {
	t.Parallel()
	b := newBulkEnv(t, nil)
	srv := slapdtest.Shared(t)
	agent := mustPerson(t, b.store, directory.NewPerson{FirstName: "Agathe", LastName: "Fichier", Role: directory.RoleAgent})
	collab := mustPerson(t, b.store, directory.NewPerson{FirstName: "Coline", LastName: "Fichier", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil"})
	otherAdmin := mustPerson(t, b.store, directory.NewPerson{FirstName: "Autre", LastName: "Fichier", Role: directory.RoleAdministrateur, SIRET: otherSIRET})
	disabled := mustDisabled(t, b.store, directory.NewPerson{FirstName: "Dora", LastName: "Fichier", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	rows := []directory.BulkRow{{Line: 1, Email: "droits@example.fr", Role: "collaborateur", Service: "Accueil"}}
	// The test's tree: ou=system is shared with the tests running
	// alongside (the HTTP authorization matrix, alone, reads it too).
	tree := func() string { return slapdtest.Snapshot(t, srv, nil, b.store.BaseDN()) }
	for name, actor := range map[string]*directory.Person{"collaborateur": collab, "administrator of another structure": otherAdmin, "disabled administrator": disabled, "nobody": nil} {
		before := tree()
		if _, err := b.acc.CheckBulk(ctx, actor, testSIRET, rows); !errors.Is(err, directory.ErrForbidden) {
			t.Errorf("%s checks a file: %v, want ErrForbidden", name, err)
		}
		if _, err := b.acc.InviteBulk(ctx, actor, testSIRET, rows, nil); !errors.Is(err, directory.ErrForbidden) {
			t.Errorf("%s sends a file: %v, want ErrForbidden", name, err)
		}
		if tree() != before {
			t.Errorf("%s: the directory changed", name)
		}
	}
	if _, err := b.acc.CheckBulk(ctx, agent, "44306184100039", rows); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("an agent, into a structure that does not exist: %v", err)
	}

	// A responsable: collaborateurs of their service, which an empty
	// service and role name.
	r, err := b.acc.InviteBulk(ctx, b.resp, testSIRET, []directory.BulkRow{
		{Line: 1, Email: "r1@example.fr"},
		{Line: 2, Email: "r2@example.fr", Role: "collaborateur", Service: "Accueil"},
		{Line: 3, Email: "r3@example.fr", Role: "collaborateur", Service: "Paie"},
		{Line: 4, Email: "r4@example.fr", Role: "responsable", Service: "Accueil"},
		{Line: 5, Email: "r5@example.fr", Role: "administrateur"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantCodes := map[string]string{"r1@example.fr": directory.BulkInvited, "r2@example.fr": directory.BulkInvited,
		"r3@example.fr": directory.BulkNotAllowed, "r4@example.fr": directory.BulkNotAllowed, "r5@example.fr": directory.BulkNotAllowed}
	if got := codes(r); !maps(got, wantCodes) || r.Rows[2].Message != "Vous ne pouvez inviter que dans votre service (Accueil)." ||
		r.Rows[3].Message != "Vous ne pouvez inviter que des collaborateurs." {
		t.Errorf("a responsable's file: %+v", r.Rows)
	}
	if p, _ := b.store.FindPersonByEmail(ctx, testSIRET, "r1@example.fr"); p.Service != "Accueil" || p.Role != directory.RoleCollaborateur {
		t.Errorf("a row without role nor service: %+v", p)
	}

	// An agent: administrators, of any structure.
	r, err = b.acc.InviteBulk(ctx, agent, otherSIRET, []directory.BulkRow{
		{Line: 1, Email: "a1@example.fr"},
		{Line: 2, Email: "a2@example.fr", Role: "Administrateur"},
		{Line: 3, Email: "a3@example.fr", Role: "collaborateur", Service: "Accueil"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantCodes = map[string]string{"a1@example.fr": directory.BulkInvited, "a2@example.fr": directory.BulkInvited, "a3@example.fr": directory.BulkNotAllowed}
	if got := codes(r); !maps(got, wantCodes) {
		t.Errorf("an agent's file: %v", got)
	}
	if p, _ := b.store.FindPersonByEmail(ctx, otherSIRET, "a1@example.fr"); p.Role != directory.RoleAdministrateur {
		t.Errorf("an agent's row without role: %+v", p)
	}
}

// The rows a bulk invitation counts are bounded by invitation_bulk: past
// it, the rest of the file waits, and the same file later invites it.
func TestBulkInvitationLimit(t *testing.T) {
	t.Parallel()
	b := newBulkEnv(t, func(c *directory.StoreConfig) {
		c.Limits.InvitationBulk = directory.Limit{Max: 3, Window: time.Hour}
		c.Limits.InvitationAccount = directory.Limit{Max: 1, Window: time.Hour} // apart: not counted by files
	})
	var rows []directory.BulkRow
	for i := range 5 {
		rows = append(rows, directory.BulkRow{Line: i + 1, Email: fmt.Sprintf("limite%d@example.fr", i), Role: "collaborateur", Service: "Accueil"})
	}
	r, err := b.acc.InviteBulk(ctx, b.admin, testSIRET, rows, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Invited() != 3 || r.Count(directory.BulkLimitReached) != 2 || !strings.HasPrefix(r.Rows[4].Message, "Non traitée : vous avez atteint la limite des invitations en nombre. Réessayez dans 60 minutes") {
		t.Errorf("past the limit: %+v", r.Rows)
	}
	if _, err := b.acc.Invite(ctx, b.admin, directory.NewInvitation{Email: "une@example.fr", Role: directory.RoleCollaborateur, SIRET: testSIRET, Service: "Accueil"}); err != nil {
		t.Errorf("an invitation one by one, after a file: %v", err)
	}
	// The same file within the hour: the 3 are invited already, the 2
	// others still wait.
	r, err = b.acc.InviteBulk(ctx, b.admin, testSIRET, rows, nil)
	if err != nil || r.Count(directory.BulkAlreadyInvited) != 3 || r.Count(directory.BulkLimitReached) != 2 {
		t.Errorf("the same file within the hour: %v, %v", codes(r), err)
	}
}

// The rows a run counted and did not invite (it stopped: here its lease
// ended and another run took the structure) are given back to the limit.
func TestBulkInvitationGivesBackUnusedRows(t *testing.T) {
	t.Parallel()
	cfg, clock := clockedConfig(t, slapdtest.Shared(t))
	cfg.Limits.InvitationBulk = directory.Limit{Max: 6, Window: time.Hour}
	a, other := slapdtest.OpenStore(t, cfg), slapdtest.OpenStore(t, cfg)
	mustStructure(t, a, testSIRET, "Accueil")
	mustStructure(t, a, otherSIRET, "Accueil")
	admin := mustPerson(t, a, directory.NewPerson{FirstName: "Adam", LastName: "Rendu", Role: directory.RoleAgent})
	accA, accB := directory.Accounts{Store: a, Notifier: &recordingNotifier{}}, directory.Accounts{Store: other, Notifier: &recordingNotifier{}}
	file := func(prefix string, n int) []directory.BulkRow {
		var rows []directory.BulkRow
		for i := range n {
			rows = append(rows, directory.BulkRow{Line: i + 1, Email: fmt.Sprintf("%s%d@example.fr", prefix, i)})
		}
		return rows
	}
	// 6 rows counted; 2 invited before the lease ends and another run
	// takes the structure (that one, in the same window, finds no room).
	r, err := accA.InviteBulk(ctx, admin, testSIRET, file("rendu", 6), func(done, total int) {
		if done == 2 {
			clock.Add(5 * time.Minute)
			if r, err := accB.InviteBulk(ctx, admin, testSIRET, file("autre", 1), nil); err != nil || r.Count(directory.BulkLimitReached) != 1 {
				t.Errorf("a run while the limit is full: %v, %v", r, err)
			}
		}
	})
	if err != nil || r.Invited() != 2 || r.Count(directory.BulkNotDone) != 4 {
		t.Fatalf("the run that stopped: %v, %v", codes(r), err)
	}
	// The 4 given back: a file of 5 in another structure invites 4.
	r, err = accB.InviteBulk(ctx, admin, otherSIRET, file("ailleurs", 5), nil)
	if err != nil || r.Invited() != 4 || r.Count(directory.BulkLimitReached) != 1 {
		t.Errorf("after the rows given back: %v, %v", codes(r), err)
	}
}

// One bulk invitation runs at a time in a structure, across instances; a
// run that lost its structure (its lease ended, another took it) stops.
// Whatever the interleaving, nobody is invited twice.
func TestBulkInvitationOneAtATime(t *testing.T) {
	t.Parallel()
	a, other, clock := twoInstances(t)
	mustStructure(t, a, testSIRET, "Accueil")
	admin := mustPerson(t, a, directory.NewPerson{FirstName: "Adam", LastName: "Course", Role: directory.RoleAdministrateur, SIRET: testSIRET})
	mails := &recordingNotifier{}
	accA, accB := directory.Accounts{Store: a, Notifier: mails}, directory.Accounts{Store: other, Notifier: mails}
	var rows []directory.BulkRow
	for i := range 6 {
		rows = append(rows, directory.BulkRow{Line: i + 1, Email: fmt.Sprintf("course%d@example.fr", i), Role: "collaborateur", Service: "Accueil"})
	}

	// While a runs, b is refused.
	var during error
	r, err := accA.InviteBulk(ctx, admin, testSIRET, rows, func(done, total int) {
		if done == 2 {
			_, during = accB.InviteBulk(ctx, admin, testSIRET, rows, nil)
		}
	})
	if err != nil || r.Invited() != 6 {
		t.Fatalf("the first run: %v, %v", codes(r), err)
	}
	if !errors.Is(during, directory.ErrBulkRunning) {
		t.Errorf("a second run meanwhile: %v, want ErrBulkRunning", during)
	}

	// A run whose lease ended (an apexd stopped for minutes): another
	// takes the structure, and the first stops at its next row.
	var rows2 []directory.BulkRow
	for i := range 6 {
		rows2 = append(rows2, directory.BulkRow{Line: i + 1, Email: fmt.Sprintf("bail%d@example.fr", i), Role: "collaborateur", Service: "Accueil"})
	}
	var second *directory.BulkReport
	r, err = accA.InviteBulk(ctx, admin, testSIRET, rows2, func(done, total int) {
		if done == 2 {
			clock.Add(5 * time.Minute)
			if second, err = accB.InviteBulk(ctx, admin, testSIRET, rows2, nil); err != nil {
				t.Errorf("a run once the lease ended: %v", err)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Invited() != 2 || r.Count(directory.BulkNotDone) != 4 || second == nil || second.Invited() != 4 || second.Count(directory.BulkAlreadyInvited) != 2 {
		t.Errorf("the run that lost its lease: %v; the other: %v", codes(r), second)
	}

	// Two runs of one file at the same moment, on two instances.
	var rows3 []directory.BulkRow
	for i := range 20 {
		rows3 = append(rows3, directory.BulkRow{Line: i + 1, Email: fmt.Sprintf("double%d@example.fr", i), Role: "collaborateur", Service: "Accueil"})
	}
	var wg sync.WaitGroup
	var start sync.WaitGroup
	start.Add(1)
	invited := make([]int, 2)
	for i, acc := range []directory.Accounts{accA, accB} {
		wg.Go(func() {
			start.Wait()
			r, err := acc.InviteBulk(ctx, admin, testSIRET, rows3, nil)
			if err == nil {
				invited[i] = r.Invited()
			} else if !errors.Is(err, directory.ErrBulkRunning) {
				t.Errorf("run %d: %v", i, err)
			}
		})
	}
	start.Done()
	wg.Wait()
	if invited[0]+invited[1] != 20 {
		t.Errorf("two runs at once invited %v, want 20 in all", invited)
	}
	for _, row := range append(append(rows, rows2...), rows3...) {
		mails.mu.Lock()
		n := 0
		for _, s := range mails.sent {
			if s == "invitation "+row.Email {
				n++
			}
		}
		mails.mu.Unlock()
		if n != 1 {
			t.Errorf("%s: %d invitations", row.Email, n)
		}
	}
}

// Runs in several structures at once, by one agent, share its limit: the
// rows counted never pass it, whatever the interleaving.
func TestBulkInvitationLimitAcrossRuns(t *testing.T) {
	t.Parallel()
	b := newBulkEnv(t, func(c *directory.StoreConfig) { c.Limits.InvitationBulk = directory.Limit{Max: 20, Window: time.Hour} })
	agent := mustPerson(t, b.store, directory.NewPerson{FirstName: "Agathe", LastName: "Course", Role: directory.RoleAgent})
	var wg sync.WaitGroup
	invited := make([]int, 5)
	for i := range invited {
		st := luhnSIRET(i)
		mustStructure(t, b.store, st)
		wg.Go(func() {
			var rows []directory.BulkRow
			for j := range 10 {
				rows = append(rows, directory.BulkRow{Line: j + 1, Email: fmt.Sprintf("partage%d.%d@example.fr", i, j)})
			}
			r, err := b.acc.InviteBulk(ctx, agent, st, rows, nil)
			if err != nil {
				t.Errorf("run %d: %v", i, err)
				return
			}
			invited[i] = r.Invited()
		})
	}
	wg.Wait()
	if total := invited[0] + invited[1] + invited[2] + invited[3] + invited[4]; total != 20 {
		t.Errorf("5 runs of 10 rows under a limit of 20 invited %v, %d in all", invited, total)
	}
}

// luhnSIRET is a valid SIRET of its own for each i: a Luhn key on the
// SIREN and on the whole.
func luhnSIRET(i int) string {
	key := func(digits string) string {
		for d := '0'; d <= '9'; d++ {
			s, sum := digits+string(d), 0
			for k := range len(s) {
				n := int(s[len(s)-1-k] - '0')
				if k%2 == 1 {
					if n *= 2; n > 9 {
						n -= 9
					}
				}
				sum += n
			}
			if sum%10 == 0 {
				return s
			}
		}
		panic("unreachable")
	}
	return key(key(fmt.Sprintf("8%07d", 4200+i)) + "0001")
}

// Any bytes read as a file: rows, or one problem on the file; never a
// panic, never more than MaxBulkRows rows, lines in order.
func FuzzReadBulkCSV(f *testing.F) {
	for _, seed := range []string{
		"\ufeffAdresse mail;Rôle;Service\r\na@example.fr;collaborateur;Paie\r\n",
		"sep=,\nemail,role\n\"a@example.fr\",\"responsable\"\n",
		"a@example.fr;\"x\"\"y\";Paie;;\r\n;;\r\n\r\n",
		"\"unterminated\n", "Comptabilit\xe9", "", "sep=;", "email\n@\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, file string) {
		rows, err := directory.ReadBulkCSV(strings.NewReader(file))
		if err != nil {
			var ie *directory.InvalidError
			if !errors.As(err, &ie) || len(ie.Problems) != 1 || ie.Problems[0].Field != "file" {
				t.Fatalf("%q: %v", file, err)
			}
			return
		}
		if len(rows) == 0 || len(rows) > directory.MaxBulkRows {
			t.Fatalf("%q: %d rows", file, len(rows))
		}
		for i, r := range rows {
			if r.Line < 1 || i > 0 && r.Line <= rows[i-1].Line {
				t.Fatalf("%q: lines %+v", file, rows)
			}
		}
	})
}

// failingMail fails the invitation mail of one address.
type failingMail struct {
	recordingNotifier
	fail string
}

func (n *failingMail) Invitation(ctx context.Context, inv *directory.Invitation, st *directory.Structure) error {
	if inv.Person.Email == n.fail {
		return errors.New("spool full")
	}
	return n.recordingNotifier.Invitation(ctx, inv, st)
}

// A row invited whose mail cannot be queued is mail_failed (its
// invitation made, its request id given, its event a failure); the run
// stops there, the rows after it not done and given back to the limit;
// the same file again invites those, and not the row already made.
func TestBulkInvitationMailFails(t *testing.T) {
	t.Parallel()
	b := newBulkEnv(t, func(c *directory.StoreConfig) { c.Limits.InvitationBulk = directory.Limit{Max: 4, Window: time.Hour} })
	mails := &failingMail{fail: "panne1@example.fr"}
	b.acc.Notifier = mails
	logs := &testkit.LogBuffer{}
	b.acc.Audit = slog.New(slog.NewJSONHandler(logs, nil))
	var rows []directory.BulkRow
	for i := range 4 {
		rows = append(rows, directory.BulkRow{Line: i + 2, Email: fmt.Sprintf("panne%d@example.fr", i), Role: "collaborateur", Service: "Accueil"})
	}
	r, err := b.acc.InviteBulk(ctx, b.admin, testSIRET, rows, nil)
	want := map[string]string{"panne0@example.fr": directory.BulkInvited, "panne1@example.fr": directory.BulkMailFailed,
		"panne2@example.fr": directory.BulkNotDone, "panne3@example.fr": directory.BulkNotDone}
	if err != nil || !maps(codes(r), want) || r.Invited() != 2 {
		t.Fatalf("the run: %v, %v", codes(r), err)
	}
	failed := r.Rows[1]
	p, err := b.store.FindPersonByEmail(ctx, testSIRET, "panne1@example.fr")
	if err != nil || p.State != directory.StateInvited || failed.RequestID != p.RequestID ||
		!strings.Contains(failed.Message, "envoyez le lien à nouveau") {
		t.Errorf("the row whose mail failed: %+v; its account %+v, %v", failed, p, err)
	} else if outcomes := inviteOutcomes(t, logs.String(), p.RequestID); len(outcomes) != 1 || outcomes[0] == directory.OutcomeSuccess {
		t.Errorf("its audit events' outcomes: %v, want one failure:\n%s", outcomes, logs)
	}
	if _, err := b.store.FindPersonByEmail(ctx, testSIRET, "panne2@example.fr"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("a row not done was invited: %v", err)
	}
	// The mail works again; the 2 rows not done were given back: the limit
	// of 4 has room for them.
	mails.fail = ""
	again, err := b.acc.InviteBulk(ctx, b.admin, testSIRET, rows, nil)
	want = map[string]string{"panne0@example.fr": directory.BulkAlreadyInvited, "panne1@example.fr": directory.BulkAlreadyInvited,
		"panne2@example.fr": directory.BulkInvited, "panne3@example.fr": directory.BulkInvited}
	if err != nil || !maps(codes(again), want) {
		t.Errorf("the same file again: %v, %v", codes(again), err)
	}
}

// inviteOutcomes are the outcomes of the invitation events of the
// account of requestID in an audit log.
func inviteOutcomes(t *testing.T, log, requestID string) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		var ev struct{ Action, Account, Outcome string }
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		if ev.Action == "account.invite" && ev.Account == requestID {
			out = append(out, ev.Outcome)
		}
	}
	return out
}

// An address whose invitation's link expired is still already_invited
// (the file does not invite it twice), and the row says how to send the
// link again.
func TestBulkInvitationOfAnExpiredInvitation(t *testing.T) {
	t.Parallel()
	clock := testkit.NewClock(time.Now())
	b := newBulkEnv(t, func(c *directory.StoreConfig) { c.Now = clock.Now })
	rows := []directory.BulkRow{{Line: 2, Email: "expire@example.fr", Role: "collaborateur", Service: "Accueil"}}
	if r, err := b.acc.InviteBulk(ctx, b.admin, testSIRET, rows, nil); err != nil || r.Invited() != 1 {
		t.Fatalf("the file: %v, %v", r, err)
	}
	message := func() string {
		t.Helper()
		r, err := b.acc.CheckBulk(ctx, b.admin, testSIRET, rows)
		if err != nil || r.Rows[0].Code != directory.BulkAlreadyInvited {
			t.Fatalf("the file again: %+v, %v", r, err)
		}
		return r.Rows[0].Message
	}
	if m := message(); m != "Déjà invitée : une invitation à cette adresse attend que la personne remplisse son formulaire." {
		t.Errorf("before the link expires: %q", m)
	}
	clock.Add(7*24*time.Hour + time.Minute)
	if m := message(); m != "Déjà invitée, mais le lien de son invitation a expiré : envoyez-le à nouveau depuis les invitations en attente." {
		t.Errorf("after the link expired: %q", m)
	}
}
