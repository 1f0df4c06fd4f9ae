package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/directory"
)

// What the forms of the pages share: the problems of a form by field, the
// notice at its top, and the flash that tells a success across the redirect
// that follows it (post, redirect, get).

// notice is a message shown at the top of a form: an error or a success.
type notice struct {
	Kind    string // "error", "success" or "info" (DSFR alert types)
	Title   string
	Message string
}

func errorNotice(err error) *notice {
	kind, _ := classify(err)
	return &notice{Kind: "error", Title: "Erreur", Message: kind.message}
}

// formErrors are the problems of a form, by the field they belong to, each
// shown under its field.
type formErrors map[string][]string

func (f formErrors) add(field, message string) { f[field] = append(f[field], message) }

// addProblems files the problems of an invalid-input error under the form's
// fields, named by the domain's field names; it reports whether there were any.
func (f formErrors) addProblems(err error, fields map[string]string) bool {
	var ie *directory.InvalidError
	if !errors.As(err, &ie) || len(ie.Problems) == 0 {
		return false
	}
	for _, p := range ie.Problems {
		field, ok := fields[p.Field]
		if !ok {
			field = "form"
		}
		f.add(field, p.Message)
	}
	return true
}

// formNotice is the alert at the top of a form with errors under its
// fields; problems of no field of the form are told in it.
func formNotice(f formErrors) *notice {
	if len(f) == 0 {
		return nil
	}
	if general := f["form"]; len(general) > 0 {
		return &notice{Kind: "error", Title: "Erreur", Message: strings.Join(general, " ")}
	}
	msg := "Le formulaire contient une erreur : corrigez le champ signalé ci-dessous."
	if len(f) > 1 {
		msg = "Le formulaire contient des erreurs : corrigez les champs signalés ci-dessous."
	}
	return &notice{Kind: "error", Title: "Erreur", Message: msg}
}

// formState is what a page of forms shows of them: the notice at its top
// (the flash of the form that succeeded, or the error of the one that
// failed) and the problems of each field.
type formState struct {
	Notice *notice
	Errors formErrors
}

// formPage is a page of forms: one that embeds base and formState.
type formPage interface {
	pageBase() *base
	pageForm() *formState
}

func (b *base) pageBase() *base           { return b }
func (f *formState) pageForm() *formState { return f }

// showPage renders a page of forms with the notice that the form before
// it left (the flash), or returns err, the error of building it.
func (s *Server) showPage(c *gin.Context, name string, p formPage, err error) error {
	if err != nil {
		return err
	}
	p.pageForm().Notice = s.takeFlash(c)
	s.render(c, http.StatusOK, name, p)
	return nil
}

// showFailed renders a page of forms again for the one that failed:
// « Erreur : » before its title, its notice, each problem beside its
// field.
func (s *Server) showFailed(c *gin.Context, name string, p formPage, f *formFailure) error {
	b, fm := p.pageBase(), p.pageForm()
	b.Title = "Erreur : " + b.Title
	fm.Notice, fm.Errors = f.notice, f.errors
	s.render(c, f.status, name, p)
	return nil
}

// formFailure is a form sent back to its page: the problems of its fields,
// a notice for the rest, and the status of the answer.
type formFailure struct {
	status int
	errors formErrors
	notice *notice
}

// sortFormError sorts a domain error of a form: the problems of the fields the
// form has go beside them, the others into the notice; a conflict goes to
// conflictField when the form names one (a mail already used). Anything
// else — forbidden, not found, unavailable, internal — is returned, to
// become the error page.
func sortFormError(err error, conflictField string, fields ...string) (*formFailure, error) {
	kind, details := classify(err)
	f := &formFailure{status: kind.status, errors: formErrors{}}
	switch {
	case errors.Is(err, directory.ErrInvalid) || errors.Is(err, directory.ErrPasswordPolicy) || errors.Is(err, directory.ErrPasswordInHistory):
		var other []string
		for _, d := range details {
			if slices.Contains(fields, d.Field) {
				f.errors.add(d.Field, d.Message)
			} else {
				other = append(other, d.Message)
			}
		}
		if len(details) == 0 {
			if slices.Contains(fields, "password") && !errors.Is(err, directory.ErrInvalid) {
				f.errors.add("password", kind.message)
			} else {
				other = append(other, kind.message)
			}
		}
		if len(other) > 0 {
			f.notice = &notice{Kind: "error", Title: "Erreur", Message: strings.Join(other, " ")}
		}
	case kind.status == http.StatusConflict:
		if conflictField != "" {
			f.errors.add(conflictField, kind.message)
		} else {
			f.notice = &notice{Kind: "error", Title: "Erreur", Message: kind.message}
		}
	default:
		return nil, err
	}
	if f.notice == nil && len(f.errors) > 0 {
		f.notice = &notice{Kind: "error", Title: "Erreur", Message: "Le formulaire contient des erreurs : corrigez les champs signalés."}
	}
	return f, nil
}

// invalidField is a problem of one field found by the page itself.
func invalidField(field, message string) error {
	return &directory.InvalidError{Problems: []directory.Problem{{Field: field, Message: message}}}
}

// The flash is the notice of a form that succeeded, carried over its
// redirect (post, redirect, get) in a cookie that lives a minute.
const flashCookie = "apex_flash"

func (s *Server) flash(c *gin.Context, title, message string) {
	raw, _ := json.Marshal(notice{Kind: "success", Title: title, Message: message})
	s.setCookie(c, flashCookie, base64.RawURLEncoding.EncodeToString(raw), "/", 60, http.SameSiteStrictMode)
}

// takeFlash reads the notice left by the last form, once.
func (s *Server) takeFlash(c *gin.Context) *notice {
	v, err := s.cookie(c, flashCookie)
	if err != nil || v == "" {
		return nil
	}
	s.setCookie(c, flashCookie, "", "/", -1, http.SameSiteStrictMode)
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return nil
	}
	var n notice
	if json.Unmarshal(raw, &n) != nil || n.Message == "" {
		return nil
	}
	n.Kind = "success" // a flash only ever tells a success
	return &n
}

// redirectWith ends a form that succeeded: its notice, then the page to see.
func (s *Server) redirectWith(c *gin.Context, to, title, message string) error {
	s.flash(c, title, message)
	c.Redirect(http.StatusSeeOther, to)
	return nil
}

// dateField is what the partial "endDateInput" shows: an optional end
// date's input, its label and hint, its value and its problems.
type dateField struct {
	Name, Label, Hint, Value string
	Errors                   []string
}

func endDateField(name, label, hint, value string, errors []string) dateField {
	return dateField{Name: name, Label: label, Hint: hint, Value: value, Errors: errors}
}
