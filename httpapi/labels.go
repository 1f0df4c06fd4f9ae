package httpapi

import (
	"strings"
	"time"
	_ "time/tzdata" // dates are shown in Paris time, whatever the host's zone

	"github.com/dgfip/apex-partenaires/directory"
)

// How the pages write the domain's values in French: roles, states, names,
// dates and mobile numbers.

func roleLabel(role string) string {
	switch role {
	case "administrateur":
		return "Administrateur"
	case "responsable":
		return "Responsable"
	case "collaborateur":
		return "Collaborateur"
	case "agent":
		return "Agent DGFiP"
	}
	return strings.ToUpper(role[:1]) + role[1:]
}

// stateLabels are the states of an account as the pages name them, with
// the type of the DSFR badge that shows them.
var stateLabels = map[directory.AccountState]struct{ label, badge string }{
	directory.StateActive:    {"Actif", "success"},
	directory.StateDisabled:  {"Désactivé", "warning"},
	directory.StateInvited:   {"Invité", "info"},
	directory.StateSubmitted: {"En attente de validation", "new"},
	directory.StateRefused:   {"Refusé", "error"},
}

// stateLabel is the name of a state on the management pages, which say
// of an invited account that its form is not filled yet.
func stateLabel(state string) string {
	if directory.AccountState(state) == directory.StateInvited {
		return "Invité : formulaire non rempli"
	}
	if l, ok := stateLabels[directory.AccountState(state)]; ok {
		return l.label
	}
	return state
}

// stateBadge is the DSFR badge type of a state.
func stateBadge(state string) string {
	if l, ok := stateLabels[directory.AccountState(state)]; ok {
		return l.badge
	}
	return "warning"
}

type stateView struct {
	Label string
	Badge string
}

func newStateView(st directory.AccountState) stateView {
	l, ok := stateLabels[st]
	if !ok {
		return stateView{Label: string(st)}
	}
	return stateView{Label: l.label, Badge: "fr-badge--" + l.badge}
}

func personName(p personView) string {
	name := strings.TrimSpace(p.FirstName + " " + p.LastName)
	if p.FirstName == "" || name == "-" {
		return p.Email
	}
	return name
}

var parisZone = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		panic(err) // time/tzdata is embedded
	}
	return loc
}()

// parisTime writes a date as French pages do: « 04/12/2026 à 15:04 ».
func parisTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.In(parisZone).Format("02/01/2006 à 15:04")
}

// displayMobile writes a French mobile as people read it (06 12 34 56 78),
// any other as stored (E.164).
func displayMobile(e164 string) string {
	if rest, ok := strings.CutPrefix(e164, "+33"); ok && len(rest) == 9 {
		d := "0" + rest
		return d[0:2] + " " + d[2:4] + " " + d[4:6] + " " + d[6:8] + " " + d[8:10]
	}
	return e164
}

// dayLabel writes an end date (AAAA-MM-JJ) as French pages do: « 31/01/2027 »; "" for none.
func dayLabel(day string) string {
	t, err := time.Parse("2006-01-02", day)
	if err != nil {
		return ""
	}
	return t.Format("02/01/2006")
}
