package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/directory"
)

// The home page of a signed-in person (« Mon espace », the back office for
// agents): their account and the functions of their role. GET /me is its
// twin in the API.

type homePage struct {
	base
	View      accountView
	Functions []homeLink // the role's functions, from the guide
	// Waiting is the number of requests waiting for the person's decision,
	// shown when Decides (a role that decides requests).
	Decides bool
	Waiting int
}

// homeLink is an entry of a home screen; Href is empty until its page exists.
type homeLink struct {
	Label string
	Href  string
}

// homeLinks gives the page of each home screen entry, by its label.
var homeLinks = map[string]string{
	"Gestion des comptes responsables et collaborateurs":   "/gestion/comptes",
	"Gestion des comptes collaborateurs":                   "/gestion/comptes",
	"Gestion des services":                                 "/gestion/services",
	"Consultation des comptes et services de la structure": "/consultation",
	"Gestion des données personnelles":                     "/donnees-personnelles",
	"Création des structures":                              "/agent/structures",
	"Validation des comptes administrateurs":               "/gestion/demandes",
	"Habilitation des administrateurs aux applications":    "/gestion/comptes",
}

// roleFunctions are the entries of each role's home screen, as the guide lists them.
var roleFunctions = map[directory.Role][]string{
	directory.RoleAdministrateur: {"Gestion des comptes responsables et collaborateurs", "Gestion des services", "Consultation des comptes et services de la structure", "Gestion des données personnelles"},
	directory.RoleResponsable:    {"Gestion des comptes collaborateurs", "Consultation des comptes et services de la structure", "Gestion des données personnelles"},
	directory.RoleCollaborateur:  {"Consultation des comptes et services de la structure", "Gestion des données personnelles"},
	directory.RoleAgent:          {"Création des structures", "Validation des comptes administrateurs", "Habilitation des administrateurs aux applications", "Gestion des données personnelles"},
}

func (s *Server) handleHome(c *gin.Context) error {
	p := account(c)
	view, err := s.accountView(c, p, p)
	if err != nil {
		return err
	}
	var links []homeLink
	for _, label := range roleFunctions[p.Role] {
		links = append(links, homeLink{Label: label, Href: homeLinks[label]})
	}
	page := homePage{base: s.base(c, "Accueil"), View: view, Functions: links}
	if p.Role != directory.RoleCollaborateur {
		n, err := s.accounts.WaitingRequests(c.Request.Context(), p)
		if err != nil {
			return err
		}
		page.Decides, page.Waiting = true, n
	}
	s.render(c, http.StatusOK, "home.tmpl", page)
	return nil
}

// handleWaitingRequests is the count on the home page: one search, no listing.
func (s *Server) handleWaitingRequests(c *gin.Context) error {
	n, err := s.accounts.WaitingRequests(c.Request.Context(), account(c))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"waiting": n})
	return nil
}

func (s *Server) handleMe(c *gin.Context) error {
	view, err := s.accountView(c, account(c), account(c))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, newMeView(view, account(c)))
	return nil
}
