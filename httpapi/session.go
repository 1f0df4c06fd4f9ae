package httpapi

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/directory"
)

const (
	sessionCookie   = "apex_session"   // the session token, for pages
	challengeCookie = "apex_challenge" // the sign-in challenge between the two steps
	csrfCookie      = "apex_csrf"      // double-submit token of the forms
	csrfField       = "csrf"
	accountKey      = "apex.account"
	tokenKey        = "apex.token"
	targetKey       = "apex.target"
)

// authenticate reads the session from the Authorization header (API
// clients) or the cookie (pages) and loads the account; it does not refuse
// anonymous requests: requireAccount does.
func (s *Server) authenticate(c *gin.Context) {
	token := ""
	if h := c.GetHeader("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			token = strings.TrimSpace(t)
		}
	} else if v, err := c.Cookie(sessionCookie); err == nil {
		token = v
	}
	if token == "" {
		c.Next()
		return
	}
	// A page or API read about one account reads it with the session.
	var target string
	if c.Request.Method == http.MethodGet {
		target = c.Param("identifier")
	}
	p, other, err := s.store.SessionAnd(c.Request.Context(), token, target)
	if err != nil && !errors.Is(err, directory.ErrSessionExpired) {
		if isAPI(c) {
			s.writeAPIError(c, err)
		} else {
			s.writePageError(c, err)
		}
		return
	}
	if p != nil {
		c.Set(accountKey, p)
		c.Set(tokenKey, token)
		if target != "" {
			c.Set(targetKey, other)
		}
	}
	c.Next()
}

// targetAccount is the account named by the route's identifier, read with
// the session when the request is a GET, else now. Errors: ErrNotFound.
func (s *Server) targetAccount(c *gin.Context) (*directory.Person, error) {
	if v, ok := c.Get(targetKey); ok {
		if p := v.(*directory.Person); p != nil {
			return p, nil
		}
		return nil, fmt.Errorf("account %q: %w", c.Param("identifier"), directory.ErrNotFound)
	}
	return s.store.FindPerson(c.Request.Context(), c.Param("identifier"))
}

// account is the signed-in account of the request, or nil.
func account(c *gin.Context) *directory.Person {
	if v, ok := c.Get(accountKey); ok {
		return v.(*directory.Person)
	}
	return nil
}

func sessionToken(c *gin.Context) string { return c.GetString(tokenKey) }

// requireAccount refuses requests without a live session.
func (s *Server) requireAccount(c *gin.Context) {
	if account(c) == nil {
		if isAPI(c) {
			s.writeAPIError(c, errUnauthenticated)
		} else {
			s.writePageError(c, errUnauthenticated)
		}
		return
	}
	c.Next()
}

func (s *Server) setCookie(c *gin.Context, name, value, path string, maxAge int, sameSite http.SameSite) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: s.secure, SameSite: sameSite,
	})
}

func (s *Server) setSessionCookie(c *gin.Context, token string) {
	// Lax, not Strict: a person following a link from a mail stays signed in.
	s.setCookie(c, sessionCookie, token, "/", 0, http.SameSiteLaxMode)
}

func (s *Server) clearSessionCookie(c *gin.Context) {
	s.setCookie(c, sessionCookie, "", "/", -1, http.SameSiteLaxMode)
}

// csrfToken returns the form token of this browser, setting its cookie the
// first time. Forms carry it back in a hidden field (double submit): a
// cross-site form can send the cookie but cannot read it to copy it.
func (s *Server) csrfToken(c *gin.Context) string {
	if v, ok := c.Get(csrfCookie); ok {
		return v.(string)
	}
	token, err := c.Cookie(csrfCookie)
	if err != nil || len(token) != 43 {
		b := make([]byte, 32)
		rand.Read(b)
		token = base64.RawURLEncoding.EncodeToString(b)
		s.setCookie(c, csrfCookie, token, "/", 0, http.SameSiteStrictMode)
	}
	c.Set(csrfCookie, token)
	return token
}

// checkCSRF refuses a form post whose token does not match its cookie.
func (s *Server) checkCSRF(c *gin.Context) {
	if err := parseForm(c); err != nil {
		s.writePageError(c, err)
		return
	}
	cookie, err := c.Cookie(csrfCookie)
	field := c.PostForm(csrfField)
	if err != nil || len(cookie) != 43 || subtle.ConstantTimeCompare([]byte(cookie), []byte(field)) != 1 {
		s.writePageError(c, errBadCSRF)
		return
	}
	c.Next()
}

// requireJSON refuses API writes that do not declare a JSON body: a
// cross-site form cannot send application/json, so a session cookie cannot
// be abused from another site. A body-less write may instead carry a Bearer
// token, which no other site holds.
func (s *Server) requireJSON(c *gin.Context) {
	if c.Request.Method == http.MethodGet || c.Request.Method == http.MethodHead {
		c.Next()
		return
	}
	bearer := strings.HasPrefix(c.GetHeader("Authorization"), "Bearer ")
	if c.ContentType() != "application/json" && (c.Request.ContentLength != 0 || !bearer) {
		s.writeAPIError(c, errMediaType)
		return
	}
	c.Next()
}
