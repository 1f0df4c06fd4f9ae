package httpapi

import (
	"errors"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/directory"
)

// Accounts and structures as the API and the pages show them.

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
	// LastSignIn is the account's last sign-in to the espace or bind by a
	// DGFiP application, at the hour; absent when none was recorded.
	LastSignIn *time.Time `json:"lastSignIn,omitempty"`
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
	EndDate         string `json:"endDate,omitempty"` // AAAA-MM-JJ: withdrawn that day
	// HomeURL is where the application opens (guide section 4, step 3),
	// when it is known.
	HomeURL string `json:"homeUrl,omitempty"`
}

func newHabilitationViews(hs []directory.Habilitation) []habilitationView {
	out := []habilitationView{}
	for _, h := range hs {
		out = append(out, habilitationView{Application: h.Application, ApplicationName: h.Application, Profile: h.Profile, EndDate: directory.Day(h.EndDate)})
	}
	return out
}

// timeOrNil is t, or nil when it is zero: an absent field.
func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func newAccountView(p *directory.Person, st *directory.Structure) accountView {
	v := accountView{
		Identifier: p.Identifier, FirstName: p.FirstName, LastName: p.LastName, Email: p.Email,
		Role: string(p.Role), Service: p.Service, Habilitations: newHabilitationViews(p.Habilitations),
		LastSignIn: timeOrNil(p.LastSignIn),
	}
	if st != nil {
		v.Structure = &structureView{SIRET: st.SIRET, Name: st.Name, Category: st.Category}
	}
	return v
}

// meView is the signed-in account with its own mobile, which only its owner sees.
type meView struct {
	accountView
	Mobile string `json:"mobile,omitempty"`
	// PendingEmail is a new address waiting for its confirmation, until
	// PendingEmailExpires; email stays the account's until then.
	PendingEmail        string     `json:"pendingEmail,omitempty"`
	PendingEmailExpires *time.Time `json:"pendingEmailExpires,omitempty"`
}

func newMeView(v accountView, p *directory.Person) meView {
	return meView{accountView: v, Mobile: p.Mobile, PendingEmail: p.PendingEmail, PendingEmailExpires: timeOrNil(p.PendingEmailExpires)}
}

// personView is an account as its managers see it: never its mobile.
type personView struct {
	Identifier    string             `json:"identifier,omitempty"`
	RequestID     string             `json:"requestId"`
	FirstName     string             `json:"firstName"`
	LastName      string             `json:"lastName"`
	Email         string             `json:"email"`
	Role          string             `json:"role"`
	State         string             `json:"state"`
	SIRET         string             `json:"siret,omitempty"`
	Service       string             `json:"service,omitempty"`
	RequestedBy   string             `json:"requestedBy,omitempty"`
	RequestedAt   *time.Time         `json:"requestedAt,omitempty"`
	DecidedBy     string             `json:"decidedBy,omitempty"`
	DecidedAt     *time.Time         `json:"decidedAt,omitempty"`
	RefusalReason string             `json:"refusalReason,omitempty"`
	Habilitations []habilitationView `json:"habilitations"`
	// LastSignIn: the account's last use, as accountView's; ActiveSince:
	// when it last became active (validated, enabled again), from which
	// dormancy counts when it was not used since; EndDate: the day it ends
	// (AAAA-MM-JJ), when it has one.
	LastSignIn  *time.Time `json:"lastSignIn,omitempty"`
	ActiveSince *time.Time `json:"activeSince,omitempty"`
	EndDate     string     `json:"endDate,omitempty"`
	// PendingEmail: a new address waiting for its owner's confirmation.
	PendingEmail string `json:"pendingEmail,omitempty"`
	// InvitationExpired: an invitation whose link expired (« Invitation expirée »).
	InvitationExpired bool `json:"invitationExpired,omitempty"`
}

func newPersonView(p *directory.Person) personView {
	return personView{
		Identifier: p.Identifier, RequestID: p.RequestID, FirstName: p.FirstName, LastName: p.LastName,
		Email: p.Email, Role: string(p.Role), State: string(p.State), SIRET: p.SIRET, Service: p.Service,
		RequestedBy: p.RequestedBy, DecidedBy: p.DecidedBy, RefusalReason: p.RefusalReason,
		RequestedAt: timeOrNil(p.RequestedAt), DecidedAt: timeOrNil(p.DecidedAt),
		Habilitations: newHabilitationViews(p.Habilitations),
		LastSignIn:    timeOrNil(p.LastSignIn), ActiveSince: timeOrNil(p.ActiveSince), EndDate: directory.Day(p.EndDate),
		PendingEmail: p.PendingEmail, InvitationExpired: p.InvitationExpired,
	}
}

func personViews(ps []directory.Person) []personView {
	out := make([]personView, len(ps))
	for i := range ps {
		out[i] = newPersonView(&ps[i])
	}
	return out
}

// accountView completes an account that viewer may see with its structure
// and the names of its applications, which are only shown: they come from
// a cache of a few seconds, so that showing an account costs one search,
// not three.
func (s *Server) accountView(c *gin.Context, viewer, p *directory.Person) (accountView, error) {
	ctx := c.Request.Context()
	var st *directory.Structure
	if p.SIRET != "" {
		cached, err := s.names.get("structure "+p.SIRET, func() (any, error) {
			st, err := s.consultation.Structure(ctx, viewer, p.SIRET)
			if errors.Is(err, directory.ErrNotFound) {
				return (*directory.Structure)(nil), nil
			}
			return st, err
		})
		if err != nil {
			return accountView{}, err
		}
		st = cached.(*directory.Structure)
	}
	v := newAccountView(p, st)
	if len(v.Habilitations) > 0 {
		names, err := s.applicationNames(c, viewer)
		if err != nil {
			return accountView{}, err
		}
		for i, h := range v.Habilitations {
			v.Habilitations[i].ApplicationName = names.of(h.Application)
			v.Habilitations[i].HomeURL = names[h.Application].HomeURL
		}
	}
	return v, nil
}

// applicationNames reads the applications' names, from the display cache.
func (s *Server) applicationNames(c *gin.Context, viewer *directory.Person) (applicationNames, error) {
	cached, err := s.names.get("applications", func() (any, error) {
		apps, err := s.consultation.Applications(c.Request.Context(), viewer)
		if err != nil {
			return nil, err
		}
		return newApplicationNames(apps), nil
	})
	if err != nil {
		return nil, err
	}
	return cached.(applicationNames), nil
}

// applicationNames are the names and home URLs of the DGFiP
// applications, by id.
type applicationNames map[string]directory.Application

func newApplicationNames(apps []directory.Application) applicationNames {
	names := applicationNames{}
	for _, a := range apps {
		names[a.ID] = a
	}
	return names
}

// of is the name of the application id, or id when it has none.
func (n applicationNames) of(id string) string {
	if name := n[id].Name; name != "" {
		return name
	}
	return id
}

// displayCache keeps for a few seconds what pages and answers only display
// (a structure's name, the applications' names). No decision rests on it.
type displayCache struct {
	mu      sync.Mutex
	ttl     time.Duration
	entries map[string]displayEntry
}

type displayEntry struct {
	at    time.Time
	value any
}

func (d *displayCache) get(key string, load func() (any, error)) (any, error) {
	d.mu.Lock()
	e, ok := d.entries[key]
	d.mu.Unlock()
	if ok && time.Since(e.at) < d.ttl {
		return e.value, nil
	}
	v, err := load()
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.entries == nil || len(d.entries) > 10000 {
		d.entries = map[string]displayEntry{}
	}
	d.entries[key] = displayEntry{at: time.Now(), value: v}
	return v, nil
}
