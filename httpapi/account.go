package httpapi

import (
	"errors"

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/directory"
)

// accountView is an account as the API and the pages show it to its owner.
type accountView struct {
	Identifier    string             `json:"identifier"`
	FirstName     string             `json:"firstName"`
	LastName      string             `json:"lastName"`
	Email         string             `json:"email"`
	Role          string             `json:"role"`
	Structure     *structureView     `json:"structure"`
	Service       string             `json:"service,omitempty"`
	Habilitations []habilitationView `json:"habilitations"`
}

type structureView struct {
	SIRET    string `json:"siret"`
	Name     string `json:"name"`
	Category string `json:"category"`
}

type habilitationView struct {
	Application     string `json:"application"`
	ApplicationName string `json:"applicationName"`
	Profile         string `json:"profile"`
}

func newAccountView(p *directory.Person, st *directory.Structure) accountView {
	v := accountView{
		Identifier: p.Identifier, FirstName: p.FirstName, LastName: p.LastName, Email: p.Email,
		Role: string(p.Role), Service: p.Service, Habilitations: []habilitationView{},
	}
	if st != nil {
		v.Structure = &structureView{SIRET: st.SIRET, Name: st.Name, Category: st.Category}
	}
	for _, h := range p.Habilitations {
		v.Habilitations = append(v.Habilitations, habilitationView{Application: h.Application, ApplicationName: h.Application, Profile: h.Profile})
	}
	return v
}

// accountView completes an account with its structure and the names of its
// applications.
func (s *Server) accountView(c *gin.Context, p *directory.Person) (accountView, error) {
	ctx := c.Request.Context()
	var st *directory.Structure
	if p.SIRET != "" {
		var err error
		if st, err = s.store.FindStructure(ctx, p.SIRET); err != nil && !errors.Is(err, directory.ErrNotFound) {
			return accountView{}, err
		}
	}
	v := newAccountView(p, st)
	if len(v.Habilitations) > 0 {
		apps, err := s.store.ListApplications(ctx)
		if err != nil {
			return accountView{}, err
		}
		names := map[string]string{}
		for _, a := range apps {
			names[a.ID] = a.Name
		}
		for i, h := range v.Habilitations {
			if n := names[h.Application]; n != "" {
				v.Habilitations[i].ApplicationName = n
			}
		}
	}
	return v, nil
}
