package directory

import (
	"strings"
	"time"
	_ "time/tzdata" // end dates are days in Paris, whatever the host's zone
)

// Access that does not outlive its reason (issue 16): an account unused
// for too long is disabled (dormancy), and an account or a habilitation may
// end on a date. The jobs that apply them are in workflow_jobs.go.

// AccessPolicy says when access ends by itself, and when people are told.
type AccessPolicy struct {
	// DormancyAfter: an account of a structure not used for this long
	// (since its last sign-in or bind, or since it became active when it
	// was never used since) is disabled. 180 days when zero.
	DormancyAfter time.Duration
	// DormancyWarnings: how long before the disabling the person is
	// mailed, each once; 15 days and 1 day when nil.
	DormancyWarnings []time.Duration
	// EndWarning: how long before an end date the person is mailed; 7
	// days when zero.
	EndWarning time.Duration
	// ReminderBefore: how long before its link expires an invitee is
	// reminded, once; 48 hours when zero.
	ReminderBefore time.Duration
}

// DefaultAccessPolicy is the policy of the fields left zero.
var DefaultAccessPolicy = AccessPolicy{
	DormancyAfter:    180 * 24 * time.Hour,
	DormancyWarnings: []time.Duration{15 * 24 * time.Hour, 24 * time.Hour},
	EndWarning:       7 * 24 * time.Hour,
	ReminderBefore:   48 * time.Hour,
}

func (p AccessPolicy) withDefaults() AccessPolicy {
	d := DefaultAccessPolicy
	if p.DormancyAfter <= 0 {
		p.DormancyAfter = d.DormancyAfter
	}
	if p.DormancyWarnings == nil {
		p.DormancyWarnings = d.DormancyWarnings
	}
	if p.EndWarning <= 0 {
		p.EndWarning = d.EndWarning
	}
	if p.ReminderBefore <= 0 {
		p.ReminderBefore = d.ReminderBefore
	}
	return p
}

var paris = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		panic(err) // time/tzdata is embedded
	}
	return loc
}()

// dayLayout is how end dates are typed and given: the form of an HTML date
// input and of ISO 8601.
const dayLayout = "2006-01-02"

// ParseDay reads an end date typed as AAAA-MM-JJ: the day, in Paris, at
// whose start access ends. An empty day is the zero time (no end date).
// Errors: an *InvalidError naming field.
func ParseDay(field, day string) (time.Time, error) {
	day = strings.TrimSpace(day)
	if day == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation(dayLayout, day, paris)
	if err != nil {
		return time.Time{}, &InvalidError{[]Problem{{field, "La date de fin doit être une date au format AAAA-MM-JJ."}}}
	}
	return t, nil
}

// Day writes an end date as AAAA-MM-JJ, its day in Paris; "" for none.
func Day(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(paris).Format(dayLayout)
}

// maxEndAhead bounds how far away an end date may be set.
const maxEndAhead = 10 * 366 * 24 * time.Hour

// checkEndDate refuses a new end date that is not a day after today (in
// Paris) or that is more than ten years away; none (zero) passes.
func checkEndDate(field string, end, now time.Time) error {
	if end.IsZero() {
		return nil
	}
	y, m, d := now.In(paris).Date()
	tomorrow := time.Date(y, m, d+1, 0, 0, 0, 0, paris)
	switch {
	case end.Before(tomorrow):
		return &InvalidError{[]Problem{{field, "La date de fin doit être postérieure à aujourd'hui."}}}
	case end.After(now.Add(maxEndAhead)):
		return &InvalidError{[]Problem{{field, "La date de fin ne peut pas dépasser dix ans."}}}
	}
	return nil
}
