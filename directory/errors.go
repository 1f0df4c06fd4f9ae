package directory

import (
	"errors"
	"strings"
)

// Sentinel errors returned by this package, always wrapped with the name of
// the operation that failed. Callers test them with errors.Is.
var (
	ErrNotFound           = errors.New("not found")
	ErrConflict           = errors.New("conflict")
	ErrInvalid            = errors.New("invalid input")
	ErrInvalidCredentials = errors.New("invalid credentials")
	ErrAccountLocked      = errors.New("account locked")
	ErrForbidden          = errors.New("forbidden")
	ErrPasswordPolicy     = errors.New("password refused by policy")
	ErrPasswordInHistory  = errors.New("password used among the last 10")
	ErrUnavailable        = errors.New("directory unavailable")
	ErrInvalidCode        = errors.New("invalid code")
	ErrCodeExpired        = errors.New("code expired")
	ErrTooManyAttempts    = errors.New("too many attempts")
	ErrSessionExpired     = errors.New("session expired")
	ErrInvalidToken       = errors.New("invalid or used link")
	ErrTokenExpired       = errors.New("link expired")
	ErrAlreadyDecided     = errors.New("request already decided")
	ErrInvalidCaptcha     = errors.New("invalid captcha")
	// ErrMailUnavailable: a mail could not be accepted for sending (its
	// spool cannot be written: a full disk); nothing was queued.
	ErrMailUnavailable = errors.New("mail cannot be accepted for sending")
	ErrRateLimited     = errors.New("too many requests") // a *LimitError says which limit, and until when
	// ErrBulkRunning: another bulk invitation runs in the structure.
	ErrBulkRunning = errors.New("a bulk invitation runs in this structure")
)

// Problem is one broken rule of an input, in French, for the person who typed it.
type Problem struct {
	Field   string // the input's field name, as the API spells it ("password", "lastName")
	Message string // a French sentence
}

// InvalidError lists every broken rule of an input at once. It matches
// ErrInvalid, or ErrPasswordPolicy when only the password is at fault.
type InvalidError struct {
	Problems []Problem
}

func (e *InvalidError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Field + ": " + p.Message
	}
	return "invalid input: " + strings.Join(msgs, "; ")
}

func (e *InvalidError) Is(target error) bool {
	if target == ErrInvalid {
		return true
	}
	if target == ErrPasswordPolicy {
		for _, p := range e.Problems {
			if p.Field != "password" {
				return false
			}
		}
		return len(e.Problems) > 0
	}
	return false
}

// invalid returns an *InvalidError for the problems, or nil when there are none.
func invalid(problems []Problem) error {
	if len(problems) == 0 {
		return nil
	}
	return &InvalidError{Problems: problems}
}
