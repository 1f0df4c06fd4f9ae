package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/notify/smtptest"
)

// bulkCall posts a bulk invitation to the API, its body of that content
// type, and decodes the answer.
func bulkCall(t *testing.T, url, token, contentType string, body []byte) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("POST %s: %d, not JSON: %q", url, res.StatusCode, raw)
	}
	return res.StatusCode, out
}

// rowCodes are the codes of a report's rows, by address.
func rowCodes(body map[string]any) map[string]string {
	out := map[string]string{}
	rows, _ := body["rows"].([]any)
	for _, r := range rows {
		row := r.(map[string]any)
		out[fmt.Sprint(row["email"])] = fmt.Sprint(row["code"])
	}
	return out
}

// invitationMails waits for n invitation mails to addr, then checks no
// more came.
func (e *env) invitationMails(addr string) int {
	return e.mails(func(m smtptest.Captured) bool {
		return smtptest.ToAddress(addr)(m) && strings.Contains(m.Text, "/creation/")
	})
}

// The API's bulk invitation: a dry run that changes nothing, then the run,
// CSV and JSON alike, every row with its stable code, each invitation
// mailed through the real SMTP server; the same file again invites
// nobody; the bounds, with a clear message.
func TestAPIBulkInvitation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := e.instance() + "/api/v1"
	admin := e.person("Adam", "Fichier", directory.RoleAdministrateur, "")
	token := e.signIn(api, admin.Identifier, admin.Email, password)
	bulk := api + "/structures/" + siret + "/invitations/bulk"
	a, b, c := uniqueEmail("bulk.zoe"), uniqueEmail("bulk.paul"), uniqueEmail("bulk.anne")
	file := "\ufeffAdresse mail;Rôle;Service\r\n" +
		a + ";Collaborateur;Comptabilité\r\n" +
		b + ";responsable;Comptabilité;;\r\n" +
		"pas-une-adresse;collaborateur;Comptabilité\r\n" +
		c + ";collaborateur;Direction\r\n" +
		strings.ToUpper(a) + ";collaborateur;Comptabilité\r\n" +
		uniqueEmail("bulk.admin") + ";administrateur;\r\n"
	want := map[string]string{a: "ok", b: "ok", "pas-une-adresse": "invalid_email", c: "unknown_service",
		strings.ToUpper(a): "duplicate"}

	status, body := bulkCall(t, bulk+"?dryRun=true", token, "text/csv", []byte(file))
	if status != 200 || body["dryRun"] != true || body["ready"] != 2.0 || body["refused"] != 4.0 || body["total"] != 6.0 {
		t.Fatalf("dry run: %d %v", status, body)
	}
	got := rowCodes(body)
	for addr, code := range want {
		if got[addr] != code {
			t.Errorf("dry run, %s: %q, want %q", addr, got[addr], code)
		}
	}
	first := body["rows"].([]any)[0].(map[string]any)
	if first["line"] != 2.0 || first["message"] != "Prête à être invitée." || first["service"] != "Comptabilité" {
		t.Errorf("the first row: %v", first)
	}
	if _, err := e.store.FindPersonByEmail(ctx, siret, a); err == nil {
		t.Errorf("the dry run invited %s", a)
	}

	status, body = bulkCall(t, bulk, token, "text/csv; charset=utf-8", []byte(file))
	if status != 200 || body["dryRun"] != false || body["invited"] != 2.0 || body["refused"] != 4.0 {
		t.Fatalf("run: %d %v", status, body)
	}
	for _, addr := range []string{a, b} {
		if rowCodes(body)[addr] != "invited" {
			t.Errorf("%s: %v", addr, rowCodes(body)[addr])
		}
		e.smtp.WaitFor(t, smtptest.ToAddress(addr), 10*time.Second)
		p, err := e.store.FindPersonByEmail(ctx, siret, addr)
		if err != nil || p.State != directory.StateInvited || p.RequestedBy != admin.Identifier {
			t.Errorf("%s: %+v %v", addr, p, err)
		}
	}
	if id := body["rows"].([]any)[0].(map[string]any)["id"]; id == nil || id == "" {
		t.Errorf("an invited row without its request id: %v", body["rows"])
	}
	// Its link opens the invitee's form.
	if status, form := call(t, "GET", api+"/invitations/"+e.link(a), "", nil); status != 200 || form["email"] != a {
		t.Errorf("the link of a bulk invitation: %d %v", status, form)
	}

	// The same rows again, as JSON: nobody twice.
	rows := []map[string]string{{"email": a, "role": "collaborateur", "service": "Comptabilité"}, {"email": b, "role": "responsable", "service": "Comptabilité"}}
	raw, _ := json.Marshal(rows)
	status, body = bulkCall(t, bulk, token, "application/json", raw)
	if status != 200 || body["invited"] != 0.0 || rowCodes(body)[a] != "already_invited" || rowCodes(body)[b] != "already_invited" {
		t.Errorf("the same rows again: %d %v", status, body)
	}
	if row := body["rows"].([]any)[1].(map[string]any); row["line"] != 2.0 {
		t.Errorf("a JSON row's line is its rank: %v", row)
	}
	time.Sleep(200 * time.Millisecond) // a second mail would be on its way
	for _, addr := range []string{a, b} {
		if n := e.invitationMails(addr); n != 1 {
			t.Errorf("%s got %d invitation mails, want 1", addr, n)
		}
	}

	// Bounds and malformed bodies: nothing invited.
	var many strings.Builder
	for i := range directory.MaxBulkRows + 1 {
		fmt.Fprintf(&many, "limite%d@example.fr;collaborateur;Comptabilité\r\n", i)
	}
	status, body = bulkCall(t, bulk, token, "text/csv", []byte(many.String()))
	if field, msg := errorDetail(body); status != 422 || errorCode(body) != "invalid_request" || field != "file" || !strings.Contains(msg, "plus de 5\u00a0000 lignes") {
		t.Errorf("%d rows: %d %v", directory.MaxBulkRows+1, status, body)
	}
	list := make([]map[string]string, directory.MaxBulkRows+1)
	for i := range list {
		list[i] = map[string]string{"email": fmt.Sprintf("json%d@example.fr", i)}
	}
	raw, _ = json.Marshal(list)
	if status, body = bulkCall(t, bulk, token, "application/json", raw); status != 422 || errorCode(body) != "invalid_request" {
		t.Errorf("%d JSON rows: %d %v", len(list), status, body)
	}
	huge := bytes.Repeat([]byte("x@example.fr;collaborateur;Comptabilité\r\n"), 3<<20/40)
	if status, body = bulkCall(t, bulk, token, "text/csv", huge); status != 413 || errorCode(body) != "request_too_large" || !strings.Contains(fmt.Sprint(body), "5 000 lignes") {
		t.Errorf("a body over 2 MiB: %d %v", status, body)
	}
	for name, c := range map[string]struct {
		contentType, body, url string
		status                 int
		code                   string
	}{
		"not UTF-8":          {"text/csv", "x@example.fr;collaborateur;Comptabilit\xe9\r\n", bulk, 422, "invalid_request"},
		"text/plain":         {"text/plain", a + ";collaborateur;Comptabilité\r\n", bulk, 415, "unsupported_media_type"},
		"a JSON object":      {"application/json", `{"email":"x@example.fr"}`, bulk, 400, "bad_request"},
		"an unknown field":   {"application/json", `[{"email":"x@example.fr","nom":"X"}]`, bulk, 400, "bad_request"},
		"dryRun=oui":         {"text/csv", "x@example.fr;collaborateur;Comptabilité\r\n", bulk + "?dryRun=oui", 422, "invalid_request"},
		"another structure":  {"text/csv", "x@example.fr;collaborateur;Comptabilité\r\n", api + "/structures/44306184100047/invitations/bulk", 403, "forbidden"},
		"no row":             {"text/csv", "\ufeffAdresse mail;Rôle;Service\r\n", bulk, 422, "invalid_request"},
		"an empty JSON list": {"application/json", `[]`, bulk, 422, "invalid_request"},
	} {
		if status, body := bulkCall(t, c.url, token, c.contentType, []byte(c.body)); status != c.status || errorCode(body) != c.code {
			t.Errorf("%s: %d %v, want %d %s", name, status, body, c.status, c.code)
		}
	}
	var mp bytes.Buffer
	w := multipart.NewWriter(&mp)
	fw, _ := w.CreateFormFile("fichier", "comptes.csv")
	fw.Write([]byte(file))
	w.Close()
	if status, body := bulkCall(t, bulk, token, w.FormDataContentType(), mp.Bytes()); status != 415 {
		t.Errorf("a multipart body to the API: %d %v", status, body)
	}
}

// postFile sends a multipart form, as a browser sends a form with a file:
// the fields, the CSRF field, and the file (none when name is empty).
func (c *formClient) postFile(path string, fields url.Values, name string, content []byte) formPage {
	c.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	if !fields.Has("csrf") {
		w.WriteField("csrf", c.formToken())
	}
	for k, vs := range fields {
		for _, v := range vs {
			w.WriteField(k, v)
		}
	}
	if name != "" {
		fw, err := w.CreateFormFile("fichier", name)
		if err != nil {
			c.t.Fatal(err)
		}
		fw.Write(content)
	}
	w.Close()
	req, err := http.NewRequest("POST", c.base+path, &body)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return formPage{Status: res.StatusCode, Header: res.Header, Body: string(raw), Text: html.UnescapeString(string(raw)), Location: res.Header.Get("Location")}
}

var (
	contentField = regexp.MustCompile(`<input type="hidden" name="contenu" value="([^"]*)">`)
	resultLink   = regexp.MustCompile(`href="data:text/csv;charset=utf-8;base64,([A-Za-z0-9+/=]*)"`)
)

// The pages without script: the upload form, the preview with every
// row's problem in French, the confirmation that posts the file's text
// again, the streamed run and its result, downloadable as CSV; the same
// file again invites nobody; errors of the file come back beside its
// field; no temporary file stays on disk.
func TestBulkInvitationPages(t *testing.T) {
	// Not parallel: TMPDIR, where multipart forms spill their files, is
	// the process's.
	e := newEnv(t) // the package's slapd started before TMPDIR changes
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	base := e.instance()
	admin := e.person("Adam", "Pages", directory.RoleAdministrateur, "")
	c := newFormClient(t, base).signIn(e, admin)

	c.get("/gestion/comptes").want(t, "the accounts' page", http.StatusOK, `href="/gestion/inviter/fichier"`)
	c.get("/gestion/invitations").want(t, "the pending invitations' page", http.StatusOK, `href="/gestion/inviter/fichier"`)
	c.get("/gestion/inviter/fichier").want(t, "the upload form", http.StatusOK, "Inviter à partir d'un fichier",
		`enctype="multipart/form-data"`, `type="file" id="fichier" name="fichier"`, "le service est l'un de ceux de votre structure : Comptabilité.",
		`download="modele-invitations.csv"`)

	a, b := uniqueEmail("page.zoe"), uniqueEmail("page.paul")
	// A file big enough to go to disk (forms keep 256 KiB in memory): its
	// rows after the third are padding, each refused.
	var file strings.Builder
	file.WriteString("\ufeffAdresse mail;Rôle;Service\r\n")
	fmt.Fprintf(&file, "%s;Collaborateur;Comptabilité\r\n%s;responsable;\"Comptabilité\"\r\npas-une-adresse;collaborateur;Comptabilité\r\n%s;collaborateur;Comptabilité\r\n"+
		"=1+1;collaborateur;@Comptabilité\r\n", a, b, strings.ToUpper(a))
	for file.Len() < 300<<10 {
		fmt.Fprintf(&file, "%s;collaborateur;%s\r\n", a, strings.Repeat("Comptabilité générale ", 4))
	}
	preview := c.postFile("/gestion/inviter/fichier", url.Values{"action": {"verifier"}}, "équipe.csv", []byte(file.String()))
	preview.want(t, "the preview", http.StatusOK, "Vérification du fichier", "Fichier « équipe.csv »", "2 lignes prêtes à être invitées",
		"L'adresse mail n'est pas valide.", "Cette adresse figure déjà à la ligne 2 du fichier.", "Inviter 2 personnes")
	if preview.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("the preview may be stored: %q", preview.Header.Get("Cache-Control"))
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "multipart-*")); len(left) != 0 {
		t.Errorf("the upload's file stayed: %v", left)
	}
	if _, err := e.store.FindPersonByEmail(ctx, siret, a); err == nil {
		t.Errorf("the preview invited %s", a)
	}
	m := contentField.FindStringSubmatch(preview.Body)
	if m == nil {
		t.Fatalf("no file's text in the preview's form:\n%s", mainText(preview.Body))
	}
	content := html.UnescapeString(m[1])

	run := c.postFile("/gestion/inviter/fichier", url.Values{"action": {"confirmer"}, "nom": {"équipe.csv"}, "contenu": {content}}, "", nil)
	run.want(t, "the run", http.StatusOK, "Lignes traitées : 2 sur 2", `<progress id="avancement-`, "2 personnes invitées dans la structure Étude Martin & Associés",
		"Lignes non invitées", "L'adresse mail n'est pas valide.")
	if run.Header.Get("X-Accel-Buffering") != "no" || run.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("the run's headers: %v", run.Header)
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "multipart-*")); len(left) != 0 {
		t.Errorf("the confirmation's form stayed on disk: %v", left)
	}
	for _, addr := range []string{a, b} {
		e.smtp.WaitFor(t, smtptest.ToAddress(addr), 10*time.Second)
	}
	link := resultLink.FindStringSubmatch(run.Body)
	if link == nil {
		t.Fatalf("no result to download:\n%s", mainText(run.Body))
	}
	csvResult, err := base64.StdEncoding.DecodeString(link[1])
	if err != nil {
		t.Fatal(err)
	}
	result := string(csvResult)
	for _, want := range []string{"\ufeffLigne;Adresse mail;Rôle;Service;Résultat;Code;Motif\r\n", "2;" + a + ";Collaborateur;Comptabilité;Invitée;invited;Invitation envoyée.\r\n",
		"4;pas-une-adresse;collaborateur;Comptabilité;Refusée;invalid_email;L'adresse mail n'est pas valide.\r\n",
		"6;'=1+1;collaborateur;'@Comptabilité;Refusée;invalid_email;"} { // no formula for a spreadsheet
		if !strings.Contains(result, want) {
			t.Errorf("the result lacks %q:\n%.600s", want, result)
		}
	}

	// The same file again: nobody is invited twice.
	again := c.postFile("/gestion/inviter/fichier", url.Values{"action": {"confirmer"}, "contenu": {content}}, "", nil)
	again.want(t, "the same file again", http.StatusOK, "0 personne invitée", "Déjà invitée : une invitation à cette adresse attend que la personne remplisse son formulaire.")
	time.Sleep(200 * time.Millisecond)
	for _, addr := range []string{a, b} {
		if n := e.invitationMails(addr); n != 1 {
			t.Errorf("%s got %d invitation mails, want 1", addr, n)
		}
	}

	// What is wrong with a file comes back beside its field.
	for name, f := range map[string]struct {
		name    string
		content []byte
		message string
	}{
		"no file":        {"", nil, "Choisissez le fichier à envoyer."},
		"Windows-1252":   {"ancien.csv", []byte("x@example.fr;collaborateur;Comptabilit\xe9\r\n"), "Le fichier n'est pas encodé en UTF-8"},
		"too many lines": {"gros.csv", bytes.Repeat([]byte("x@example.fr\r\n"), directory.MaxBulkRows+1), "Le fichier compte plus de 5\u00a0000 lignes"},
		"too large":      {"enorme.csv", bytes.Repeat([]byte("x"), bulkFileBoundForTests+1), "Le fichier envoyé dépasse 2 Mo"},
	} {
		page := c.postFile("/gestion/inviter/fichier", url.Values{"action": {"verifier"}}, f.name, f.content)
		page.want(t, name, http.StatusUnprocessableEntity, f.message)
		if !page.has(`aria-describedby="fichier-error fichier-hint" aria-invalid="true"`) {
			t.Errorf("%s: the error is not beside the file's field:\n%s", name, mainText(page.Body))
		}
	}
	// A body far over the bound is refused unread.
	c.postFile("/gestion/inviter/fichier", url.Values{"action": {"verifier"}}, "colossal.csv", bytes.Repeat([]byte("x"), 3*bulkFileBoundForTests)).
		want(t, "far too large", http.StatusRequestEntityTooLarge, "Le fichier envoyé dépasse 2 Mo : une invitation à partir d'un fichier compte au plus 5 000 lignes.")
	if left, _ := filepath.Glob(filepath.Join(tmp, "multipart-*")); len(left) != 0 {
		t.Errorf("files stayed: %v", left)
	}
}

// bulkFileBoundForTests is the pages' bound on a file: 2 MiB.
const bulkFileBoundForTests = 2 << 20

// An agent invites the administrators of a structure it names; a
// responsable, the collaborateurs of their service.
func TestBulkInvitationPagesByRole(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base := e.instance()
	agent := e.person("Agathe", "Fichier", directory.RoleAgent, "")
	c := newFormClient(t, base).signIn(e, agent)
	c.get("/agent/structures/"+siret).want(t, "the structure's page", http.StatusOK, `href="/gestion/inviter/fichier?siret=`+siret+`"`)
	c.get("/gestion/inviter/fichier?siret="+siret).want(t, "an agent's form", http.StatusOK, `id="siret" name="siret" value="`+siret+`"`)
	adm := uniqueEmail("agent.admin")
	content := "Adresse mail\r\n" + adm + "\r\n"
	for _, unknown := range []string{"44306184100039", "", "123"} {
		c.postFile("/gestion/inviter/fichier", url.Values{"action": {"verifier"}, "siret": {unknown}}, "admins.csv", []byte(content)).
			want(t, "an unknown structure "+unknown, http.StatusUnprocessableEntity, "Aucune structure de l'annuaire ne porte ce SIRET.")
	}
	c.postFile("/gestion/inviter/fichier", url.Values{"action": {"verifier"}, "siret": {siret}}, "admins.csv", []byte(content)).
		want(t, "an agent's preview", http.StatusOK, "1 ligne prête à être invitée", "Inviter 1 personne", `name="siret" value="`+siret+`"`)
	c.postFile("/gestion/inviter/fichier", url.Values{"action": {"confirmer"}, "siret": {siret}, "contenu": {content}}, "", nil).
		want(t, "an agent's run", http.StatusOK, "1 personne invitée", `href="/agent/structures/`+siret+`"`)
	if p, err := e.store.FindPersonByEmail(ctx, siret, adm); err != nil || p.Role != directory.RoleAdministrateur {
		t.Errorf("the administrator invited: %+v %v", p, err)
	}

	resp := e.person("Rita", "Fichier", directory.RoleResponsable, "Comptabilité")
	c = newFormClient(t, base).signIn(e, resp)
	c.get("/gestion/inviter/fichier").want(t, "a responsable's form", http.StatusOK, "Vous invitez des collaborateurs de votre service, Comptabilité")
	collab, elsewhere := uniqueEmail("resp.collab"), uniqueEmail("resp.ailleurs")
	content = collab + "\r\n" + elsewhere + ";collaborateur;Paie\r\n" + uniqueEmail("resp.admin") + ";administrateur\r\n" +
		uniqueEmail("resp.resp") + ";responsable;Comptabilité\r\n"
	c.postFile("/gestion/inviter/fichier", url.Values{"action": {"verifier"}}, "equipe.csv", []byte(content)).
		want(t, "a responsable's preview", http.StatusOK, "1 ligne prête à être invitée", "Vous ne pouvez inviter que dans votre service (Comptabilité).",
			"Seul un agent de la DGFiP peut inviter un administrateur.", "Vous ne pouvez inviter que des collaborateurs.")
	collabUser := e.person("Coline", "Fichier", directory.RoleCollaborateur, "Comptabilité")
	c = newFormClient(t, base).signIn(e, collabUser)
	c.get("/gestion/inviter/fichier").want(t, "a collaborateur", http.StatusForbidden)
}

// writeBulkFile writes a file for a browser to upload.
func writeBulkFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// chooseFile puts a file in the form's file field, as a person choosing it.
func (tb *tab) chooseFile(path string) {
	tb.t.Helper()
	tb.do("choose "+filepath.Base(path), chromedp.SetUploadFiles(chromedp.CSS("#fichier"), []string{path}, chromedp.NodeReady))
}

// The journey in Chromium, without script of our own: from the accounts'
// page to the upload form, the preview with the problems of an Excel
// file, the confirmation, the progress and the result, whose CSV the
// browser downloads; the invitations reach the SMTP server.
func TestBulkInvitationInBrowser(t *testing.T) {
	t.Parallel()
	b := startBrowser(t)
	e := newEnv(t)
	base := e.instance()
	admin := e.person("Adam", "Navigateur", directory.RoleAdministrateur, "")
	tb := b.tab(t, base)
	tb.signInDirect(e, admin)
	downloads := t.TempDir()
	tb.do("allow downloads", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		c := chromedp.FromContext(ctx)
		_, err := cdp.Call(ctx, c.Browser, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
			Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, BrowserContextID: c.BrowserContextID, DownloadPath: downloads})
		return err
	}))

	a, b2 := uniqueEmail("navigateur.zoe"), uniqueEmail("navigateur.noel")
	file := writeBulkFile(t, "équipe.csv", "\ufeffAdresse mail;Rôle;Service\r\n"+
		a+";Collaborateur;Comptabilité\r\n"+
		"\"Noël\";collaborateur;Comptabilité\r\n"+
		b2+";\"responsable\";\"Comptabilité\";;\r\n"+
		";;\r\n"+
		a+";collaborateur;Paie\r\n")
	tb.open("/gestion/comptes")
	tb.click("Inviter à partir d'un fichier", "/gestion/inviter/fichier")
	tb.chooseFile(file)
	tb.click("Vérifier le fichier", "/gestion/inviter/fichier")
	wantText(t, tb, "h1", "Vérification du fichier")
	if got := tb.texts("#table-refusees tbody tr"); len(got) != 2 || got[0] != "3 Noël collaborateur Comptabilité L'adresse mail n'est pas valide." ||
		got[1] != "6 "+a+" collaborateur Paie Le service « Paie » n'existe pas dans la structure." {
		t.Errorf("the rows refused: %q", got)
	}
	if got := tb.texts("#bilan li"); strings.Join(got, " | ") != "2 lignes prêtes à être invitées | 2 lignes refusées" {
		t.Errorf("the summary: %q", got)
	}
	tb.click("Inviter 2 personnes", "/gestion/inviter/fichier")
	wantText(t, tb, "#avis-message", "2 personnes invitées dans la structure Étude Martin & Associés ; 2 lignes non invitées.")
	// The progress, streamed: the last step alone shows, complete.
	if got := eval[string](tb, `Array.from(document.querySelectorAll('.apex-bulk-step')).filter((e) => e.offsetParent !== null).map((e) => e.innerText.replace(/\s+/g, ' ').trim() + ' ' + e.querySelector('progress').value + '/' + e.querySelector('progress').max).join(' | ')`); got != "Lignes traitées : 2 sur 2 2/2" {
		t.Errorf("the progress shown: %q", got)
	}
	for _, addr := range []string{a, b2} {
		e.smtp.WaitFor(t, smtptest.ToAddress(addr), 10*time.Second)
	}
	tb.do("download the result", chromedp.Click(chromedp.CSS("#telecharger"), chromedp.NodeVisible))
	var got []byte
	for deadline := time.Now().Add(pageTimeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if raw, err := os.ReadFile(filepath.Join(downloads, "resultat-invitations.csv")); err == nil && len(raw) > 0 {
			got = raw
			break
		}
	}
	for _, want := range []string{"\ufeffLigne;Adresse mail;Rôle;Service;Résultat;Code;Motif\r\n",
		"2;" + a + ";Collaborateur;Comptabilité;Invitée;invited;Invitation envoyée.\r\n",
		"3;Noël;collaborateur;Comptabilité;Refusée;invalid_email;L'adresse mail n'est pas valide.\r\n"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("the file downloaded lacks %q:\n%s", want, got)
		}
	}
	if v := tb.cspViolations(); len(v) > 0 {
		t.Errorf("CSP violations: %q", v)
	}
}

// A run streams its page as it goes, and stops at its next row when the
// person leaves (the connection closed); sending the same file again
// invites the rest. Whatever the moment of leaving, every address is
// invited once.
func TestBulkInvitationLeftThenSentAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base := e.instance()
	admin := e.person("Adam", "Reprise", directory.RoleAdministrateur, "")
	c := newFormClient(t, base).signIn(e, admin)
	var content strings.Builder
	content.WriteString("Adresse mail;Rôle;Service\r\n")
	var addrs []string
	for range 60 {
		addr := uniqueEmail("reprise")
		addrs = append(addrs, addr)
		fmt.Fprintf(&content, "%s;collaborateur;Comptabilité\r\n", addr)
	}
	form := url.Values{"action": {"confirmer"}, "contenu": {content.String()}}

	// The first run: read its page until its first step, then leave.
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	w.WriteField("csrf", c.formToken())
	for k, v := range form {
		w.WriteField(k, v[0])
	}
	w.Close()
	req, err := http.NewRequest("POST", base+"/gestion/inviter/fichier", &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	res, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var read []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(read, []byte("Lignes traitées : 0 sur 60")) {
		n, err := res.Body.Read(buf)
		read = append(read, buf[:n]...)
		if err != nil {
			t.Fatalf("the run's page ended before its first step (%v):\n%s", err, mainText(string(read)))
		}
	}
	res.Body.Close()

	// Sent again once the first run has let the structure go.
	var again formPage
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		again = c.postFile("/gestion/inviter/fichier", form, "", nil)
		if again.Status != http.StatusConflict || time.Now().After(deadline) {
			break
		}
	}
	again.want(t, "the file sent again", http.StatusOK, "Invitations terminées")
	invited := regexp.MustCompile(`(\d+) personnes? invitées?`).FindStringSubmatch(again.Text)
	already := strings.Count(again.Text, "Déjà invitée : une invitation à cette adresse attend")
	if invited == nil || fmt.Sprint(60-already) != invited[1] {
		t.Errorf("the second run: %v invited, %d already invited, want 60 in all:\n%s", invited, already, mainText(again.Body))
	}
	t.Logf("the run left after its first step invited %d rows; the second, the %s others", already, invited[1])
	e.nthMail("60 invitations", func(m smtptest.Captured) bool { return strings.Contains(m.Text, "/creation/") }, 60)
	time.Sleep(200 * time.Millisecond)
	for _, addr := range addrs {
		if n := e.invitationMails(addr); n != 1 {
			t.Errorf("%s got %d invitation mails, want 1", addr, n)
		}
	}
}

// FuzzBulkBodies sends any file, of any size, to the bulk invitation's
// form (to preview or to confirm it, with a good CSRF field) and the same
// bytes to its API route as CSV and as JSON: never a 500, nothing over
// the bound taken (413), and no file left in $TMPDIR.
func FuzzBulkBodies(f *testing.F) {
	for _, seed := range []string{
		"\ufeffAdresse mail;Rôle;Service\r\nfuzz@example.fr;administrateur;\r\n",
		"email,role\n\"a@example.fr\",\"x\"\"y\"\n", "Comptabilit\xe9", "", "\"", "sep=;\n;;\n",
		`[{"email":"fuzz@example.fr"}]`,
	} {
		for _, pad := range []uint16{0, 5000, 40000} {
			f.Add("verifier", []byte(seed), pad)
			f.Add("confirmer", []byte(seed), pad)
		}
	}
	rig := newBodyRig(f)
	page := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/gestion/inviter/fichier", nil)
	req.AddCookie(&http.Cookie{Name: "apex_session", Value: rig.token})
	rig.handler.ServeHTTP(page, req)
	m := csrfFieldPattern.FindStringSubmatch(page.Body.String())
	if m == nil {
		f.Fatalf("no CSRF field on the upload form: %d", page.Code)
	}
	csrf := m[1]
	tmp := f.TempDir()
	f.Setenv("TMPDIR", tmp) // after the rig: the package's slapd must not start in it
	f.Fuzz(func(t *testing.T, action string, content []byte, pad uint16) {
		content = append(bytes.Clone(content), bytes.Repeat([]byte("a"), int(pad)*64)...) // up to 4 MiB
		var body bytes.Buffer
		w := multipart.NewWriter(&body)
		w.WriteField("csrf", csrf)
		w.WriteField("action", action)
		w.WriteField("siret", siret)
		if action == "confirmer" {
			w.WriteField("contenu", string(content))
		} else {
			fw, _ := w.CreateFormFile("fichier", "fuzz.csv")
			fw.Write(content)
		}
		w.Close()
		for _, r := range []struct{ path, contentType string }{
			{"/gestion/inviter/fichier", w.FormDataContentType()},
			{"/api/v1/structures/" + siret + "/invitations/bulk?dryRun=true", "text/csv"},
			{"/api/v1/structures/" + siret + "/invitations/bulk", "application/json"},
		} {
			sent := content
			if r.contentType == w.FormDataContentType() {
				sent = body.Bytes()
			}
			req := httptest.NewRequest("POST", r.path, bytes.NewReader(sent))
			req.Header.Set("Content-Type", r.contentType)
			req.AddCookie(&http.Cookie{Name: "apex_session", Value: rig.token})
			if strings.HasPrefix(r.path, "/api/") {
				req.Header.Set("Authorization", "Bearer "+rig.token)
			}
			rec := httptest.NewRecorder()
			rig.handler.ServeHTTP(rec, req)
			switch {
			case rec.Code >= 500:
				t.Fatalf("%s, %d bytes: %d\n%.300s", r.path, len(sent), rec.Code, rec.Body.String())
			case len(sent) > 2<<20+64<<10 && rec.Code != http.StatusRequestEntityTooLarge:
				t.Fatalf("%s, %d bytes: %d, want 413", r.path, len(sent), rec.Code)
			}
			if left := uploads(t, tmp); len(left) > 0 {
				t.Fatalf("%s: left %v", r.path, left)
			}
		}
	})
}
