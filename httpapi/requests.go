package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/directory"
)

// The requests to decide (guide 1.3, étape 6): the accounts whose form was
// sent, which the people who manage them validate or refuse.

func (s *Server) handleListRequests(c *gin.Context) error {
	q, err := readListQuery(c)
	if err != nil {
		return err
	}
	page, err := s.accounts.Requests(c.Request.Context(), account(c), q)
	if err != nil {
		return err
	}
	listJSON(c, "requests", personViews(page.Accounts), page.Total, page.Page, page.Size)
	return nil
}

func (s *Server) handleApprove(c *gin.Context) error {
	p, err := s.accounts.Approve(c.Request.Context(), account(c), c.Param("id"))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"identifier": p.Identifier})
	return nil
}

type refuseRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) handleRefuse(c *gin.Context) error {
	var req refuseRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	p, err := s.accounts.Refuse(c.Request.Context(), account(c), c.Param("id"), req.Reason)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, newPersonView(p))
	return nil
}

type requestsPage struct {
	base
	formState  // its Errors by request id
	List       listView
	Requests   []personView
	Structures map[string]string // SIRET → name of the structures of the page, for agents
	Reasons    map[string]string // request id → the reason typed, after an error
}

func (s *Server) requestsPage(c *gin.Context) (*requestsPage, error) {
	ctx := c.Request.Context()
	actor := account(c)
	q, err := readListQuery(c)
	if err != nil {
		return nil, listPageError(err)
	}
	list, err := s.accounts.Requests(ctx, actor, q)
	if err != nil {
		return nil, err
	}
	if last, past := pastTheEnd(q, list.Total); past {
		q.Page = last
		if list, err = s.accounts.Requests(ctx, actor, q); err != nil {
			return nil, err
		}
	}
	p := &requestsPage{base: s.base(c, "Demandes de création de compte"), Requests: personViews(list.Accounts), Reasons: map[string]string{}, formState: formState{Errors: formErrors{}}}
	searchLabel := "Nom, prénom ou adresse mail"
	if actor.Role == directory.RoleAgent {
		searchLabel = "Nom, prénom, adresse mail ou SIRET"
		if p.Structures, err = s.pageStructureNames(c, list.Accounts); err != nil {
			return nil, err
		}
	}
	p.List = newListView("/gestion/demandes", q, nil, list.Total)
	p.List.SearchName, p.List.SearchLabel, p.List.PagerLabel = "Rechercher une demande", searchLabel, "Pagination des demandes"
	p.Title = p.List.titled(p.Title)
	return p, nil
}

func (s *Server) handleRequestsPage(c *gin.Context) error {
	noStore(c)
	p, err := s.requestsPage(c)
	return s.showPage(c, "gestion_demandes.tmpl", p, err)
}

func (s *Server) handleApproveForm(c *gin.Context) error {
	p, err := s.accounts.Approve(c.Request.Context(), account(c), c.PostForm("request"))
	if err != nil {
		return s.requestFailed(c, err, "", "")
	}
	return s.redirectWith(c, "/gestion/demandes", "Compte validé",
		"Le compte de "+p.FirstName+" "+p.LastName+" est validé : identifiant "+p.Identifier+". Son identifiant lui a été envoyé par mail.")
}

func (s *Server) handleRefuseForm(c *gin.Context) error {
	id, reason := c.PostForm("request"), c.PostForm("reason")
	p, err := s.accounts.Refuse(c.Request.Context(), account(c), id, reason)
	if err != nil {
		return s.requestFailed(c, err, id, reason)
	}
	return s.redirectWith(c, "/gestion/demandes", "Demande refusée",
		"La demande est refusée : "+p.Email+" en reçoit le motif par mail.")
}

// requestFailed shows the requests again with the problem of one.
func (s *Server) requestFailed(c *gin.Context, err error, id, reason string) error {
	f, err := sortFormError(err, "", "reason")
	if err != nil {
		return err
	}
	p, err := s.requestsPage(c)
	if err != nil {
		return err
	}
	// The reason's problems go beside the request it refused.
	reasonProblems := f.errors["reason"]
	f.errors = formErrors{}
	if id != "" {
		p.Reasons[id] = reason
		f.errors[id] = reasonProblems
	}
	return s.showFailed(c, "gestion_demandes.tmpl", p, f)
}
