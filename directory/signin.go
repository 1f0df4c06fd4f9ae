package directory

import (
	"time"
)

// SignInPolicy is how long codes and sessions live.
type SignInPolicy struct {
	CodeTTL      time.Duration // a verification code's life: 10 minutes
	CodeAttempts int           // wrong codes before the challenge is spent: 5
	SessionIdle  time.Duration // a session ends after this much inactivity: 30 minutes
}

func (p SignInPolicy) withDefaults() SignInPolicy {
	if p.CodeTTL <= 0 {
		p.CodeTTL = 10 * time.Minute
	}
	if p.CodeAttempts <= 0 {
		p.CodeAttempts = 5
	}
	if p.SessionIdle <= 0 {
		p.SessionIdle = 30 * time.Minute
	}
	return p
}

// LoginCode is a verification code just issued: Code goes by mail to the
// person, Challenge to the client that asked.
type LoginCode struct {
	Challenge string
	Code      string
	ExpiresAt time.Time
	Person    *Person
}
