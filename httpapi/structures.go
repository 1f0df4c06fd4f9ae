package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/directory"
)

// The partner structures, which DGFiP agents create (guide 1.1), and the
// page of one, where an agent invites its administrator.

type structureRequest struct {
	SIRET    string `json:"siret"`
	Name     string `json:"name"`
	Category string `json:"category"`
}

func (s *Server) handleCreateStructure(c *gin.Context) error {
	var req structureRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	st, err := s.accounts.CreateStructure(c.Request.Context(), account(c),
		directory.Structure{SIRET: req.SIRET, Name: req.Name, Category: req.Category})
	if err != nil {
		if onlyField(err, "siret") {
			return &httpError{http.StatusUnprocessableEntity, "invalid_siret", "Le SIRET n'est pas valide.", err}
		}
		return refine(err, directory.ErrConflict, http.StatusConflict, "structure_exists", "Une structure de ce SIRET existe déjà.")
	}
	c.JSON(http.StatusCreated, structureView{SIRET: st.SIRET, Name: st.Name, Category: st.Category})
	return nil
}

// onlyField reports whether err lists problems on field only.
func onlyField(err error, field string) bool {
	var ie *directory.InvalidError
	if !errors.As(err, &ie) || len(ie.Problems) == 0 {
		return false
	}
	for _, p := range ie.Problems {
		if p.Field != field {
			return false
		}
	}
	return true
}

func (s *Server) handleListStructures(c *gin.Context) error {
	q, err := readListQuery(c)
	if err != nil {
		return err
	}
	page, err := s.consultation.StructuresPage(c.Request.Context(), account(c), q)
	if err != nil {
		return err
	}
	listJSON(c, "structures", structureViews(page.Structures), page.Total, page.Page, page.Size)
	return nil
}

func structureViews(all []directory.Structure) []structureView {
	out := make([]structureView, len(all))
	for i, st := range all {
		out[i] = structureView{SIRET: st.SIRET, Name: st.Name, Category: st.Category}
	}
	return out
}

type structuresPage struct {
	base
	formState
	List       listView
	Structures []structureView
	Form       structureView
}

func (s *Server) structuresPage(c *gin.Context) (*structuresPage, error) {
	ctx := c.Request.Context()
	actor := account(c)
	if !directory.CanCreateStructure(actor) {
		return nil, directory.ErrForbidden
	}
	q, err := readListQuery(c)
	if err != nil {
		return nil, listPageError(err)
	}
	list, err := s.consultation.StructuresPage(ctx, actor, q)
	if err != nil {
		return nil, err
	}
	if last, past := pastTheEnd(q, list.Total); past {
		q.Page = last
		if list, err = s.consultation.StructuresPage(ctx, actor, q); err != nil {
			return nil, err
		}
	}
	p := &structuresPage{base: s.base(c, "Structures partenaires"), formState: formState{Errors: formErrors{}}, Structures: structureViews(list.Structures)}
	p.List = newListView("/agent/structures", q, nil, list.Total)
	p.List.SearchName, p.List.SearchLabel, p.List.PagerLabel = "Rechercher une structure", "Nom ou SIRET", "Pagination des structures"
	p.Title = p.List.titled(p.Title)
	return p, nil
}

func (s *Server) handleStructuresPage(c *gin.Context) error {
	p, err := s.structuresPage(c)
	return s.showPage(c, "agent_structures.tmpl", p, err)
}

func (s *Server) handleCreateStructureForm(c *gin.Context) error {
	form := structureView{SIRET: strings.TrimSpace(c.PostForm("siret")), Name: strings.TrimSpace(c.PostForm("name")), Category: strings.TrimSpace(c.PostForm("category"))}
	st, err := s.accounts.CreateStructure(c.Request.Context(), account(c), directory.Structure{SIRET: form.SIRET, Name: form.Name, Category: form.Category})
	if err != nil {
		err = refine(err, directory.ErrConflict, http.StatusConflict, "structure_exists", "Une structure de ce SIRET existe déjà.")
		f, err := sortFormError(err, "siret", "siret", "name", "category")
		if err != nil {
			return err
		}
		p, err := s.structuresPage(c)
		if err != nil {
			return err
		}
		p.Form = form
		return s.showFailed(c, "agent_structures.tmpl", p, f)
	}
	return s.redirectWith(c, "/agent/structures/"+st.SIRET, "Structure créée",
		"La structure "+st.Name+" est créée. Vous pouvez maintenant inviter son administrateur.")
}

type structurePage struct {
	base
	formState
	Structure      structureView
	List           listView
	Administrators []personView
	Email          string
	EndDate        string // AAAA-MM-JJ, as typed
}

func (s *Server) structurePage(c *gin.Context) (*structurePage, error) {
	actor := account(c)
	if !directory.CanCreateStructure(actor) {
		return nil, directory.ErrForbidden
	}
	ctx := c.Request.Context()
	st, err := s.consultation.Structure(ctx, actor, c.Param("siret"))
	if err != nil {
		return nil, err
	}
	lq, err := readListQuery(c)
	if err != nil {
		return nil, listPageError(err)
	}
	q := directory.AccountQuery{ListQuery: lq, SIRET: st.SIRET}
	admins, err := s.accounts.Managed(ctx, actor, q)
	if err != nil {
		return nil, err
	}
	if last, past := pastTheEnd(lq, admins.Total); past {
		q.Page = last
		if admins, err = s.accounts.Managed(ctx, actor, q); err != nil {
			return nil, err
		}
	}
	p := &structurePage{base: s.base(c, st.Name), formState: formState{Errors: formErrors{}}, Administrators: personViews(admins.Accounts),
		Structure: structureView{SIRET: st.SIRET, Name: st.Name, Category: st.Category}}
	p.List = newListView("/agent/structures/"+st.SIRET, q.ListQuery, nil, admins.Total)
	p.List.SearchName, p.List.SearchLabel, p.List.PagerLabel = "Rechercher un administrateur", "Nom, prénom, identifiant ou adresse mail", "Pagination des administrateurs"
	p.Title = p.List.titled(p.Title)
	return p, nil
}

func (s *Server) handleStructurePage(c *gin.Context) error {
	p, err := s.structurePage(c)
	return s.showPage(c, "agent_structure.tmpl", p, err)
}

func (s *Server) handleInviteAdministratorForm(c *gin.Context) error {
	p, err := s.structurePage(c)
	if err != nil {
		return err
	}
	p.Email, p.EndDate = strings.TrimSpace(c.PostForm("email")), strings.TrimSpace(c.PostForm("endDate"))
	end, err := directory.ParseDay("endDate", p.EndDate)
	var inv *directory.Invitation
	if err == nil {
		inv, err = s.accounts.Invite(c.Request.Context(), account(c), directory.NewInvitation{
			Email: p.Email, Role: directory.RoleAdministrateur, SIRET: p.Structure.SIRET, EndDate: end,
		})
	}
	if err != nil {
		err = refine(err, directory.ErrConflict, http.StatusConflict, "email_taken", emailTakenInStructure)
		f, err := sortFormError(err, "email", "email", "endDate")
		if err != nil {
			return err
		}
		return s.showFailed(c, "agent_structure.tmpl", p, f)
	}
	return s.redirectWith(c, "/agent/structures/"+p.Structure.SIRET, "Lien envoyé",
		"Un lien de pré-création de compte administrateur a été envoyé à "+inv.Person.Email+".")
}
