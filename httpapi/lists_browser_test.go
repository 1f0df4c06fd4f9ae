package httpapi_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/dgfip/apex-partenaires/directory"
)

// An administrator pages through the accounts of the structure, searches
// them (accents and case aside), filters them by state and comes back to
// the whole list, in Chromium, without a script of the page's own.
func TestManagementListInTheBrowser(t *testing.T) {
	t.Parallel()
	b := startBrowser(t)
	e := newEnv(t)
	admin := e.person("Adèle", "Admin", directory.RoleAdministrateur, "")
	for _, n := range [][2]string{{"Zoé", "Martin"}, {"Élodie", "Martin"}, {"Edgar", "Martin"}, {"Anne", "Zola"}, {"Bob", "Bernard"}} {
		e.person(n[0], n[1], directory.RoleCollaborateur, "Comptabilité")
	}
	hugo := e.person("Hugo", "Hors", directory.RoleCollaborateur, "Comptabilité")
	if err := e.store.SetState(ctx, hugo.Identifier, directory.StateActive, directory.StateDisabled); err != nil {
		t.Fatal(err)
	}
	tb := b.tab(t, e.instance())
	tb.signInDirect(e, admin)
	names := func() []string { return tb.texts("#table-comptes tbody td:first-child") }

	tb.open("/gestion/comptes?size=2")
	if got := names(); !slices.Equal(got, []string{"Bob Bernard", "Hugo Hors"}) {
		t.Errorf("first page: %q", got)
	}
	if got := tb.text("#table-comptes caption"); got != "6 comptes — page 1 sur 3" {
		t.Errorf("caption: %q", got)
	}
	if got := eval[string](tb, `document.title`); !strings.Contains(got, "— page 1 sur 3") {
		t.Errorf("title: %q", got)
	}
	tb.click("Page suivante", "/gestion/comptes")
	if got := names(); !slices.Equal(got, []string{"Edgar Martin", "Élodie Martin"}) {
		t.Errorf("second page: %q", got)
	}
	if got := tb.text(`.fr-pagination [aria-current="page"]`); got != "2" {
		t.Errorf("current page: %q", got)
	}
	tb.click("Dernière page", "/gestion/comptes")
	if got := names(); !slices.Equal(got, []string{"Zoé Martin", "Anne Zola"}) {
		t.Errorf("last page: %q", got)
	}

	tb.fill("#q", "ELODIE")
	tb.click("Rechercher", "/gestion/comptes")
	if got := names(); !slices.Equal(got, []string{"Élodie Martin"}) {
		t.Errorf("search: %q", got)
	}
	if got := tb.text("#table-comptes caption"); got != "1 compte correspondant à la recherche" {
		t.Errorf("caption of a search: %q", got)
	}
	if n := eval[int](tb, `document.querySelectorAll('nav.fr-pagination').length`); n != 0 {
		t.Errorf("a pager for one page")
	}
	eval[string](tb, `document.querySelector('#q').value = ''`)
	tb.do("choose a state", chromedp.SetValue(chromedp.CSS("#filtre-state"), "disabled", chromedp.NodeVisible))
	tb.click("Rechercher", "/gestion/comptes")
	if got := names(); !slices.Equal(got, []string{"Hugo Hors"}) {
		t.Errorf("disabled accounts: %q", got)
	}
	if got := eval[string](tb, `(p => p.get('state') + ' ' + p.get('size'))(new URLSearchParams(location.search))`); got != "disabled 2" {
		t.Errorf("query of the filter: state and size %q", got)
	}
	tb.fill("#q", "introuvable")
	tb.click("Rechercher", "/gestion/comptes")
	if got := tb.text("#aucun-compte"); got != "Aucun compte ne correspond à votre recherche." {
		t.Errorf("nothing found: %q", got)
	}
	tb.click("Afficher toute la liste", "/gestion/comptes")
	if got := names(); len(got) != 6 {
		t.Errorf("the whole list: %q", got)
	}
}
