package httpapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
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
	} else if v, err := s.cookie(c, sessionCookie); err == nil {
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
	p, err := s.signIn.Session(c.Request.Context(), token, target)
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
	}
	c.Next()
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

// cookieName is the name a cookie has for browsers: under https, with the
// __Host- prefix, which browsers accept only from this very host, Secure,
// with Path=/ and no Domain, so that a sibling host (another site of the
// parent domain) can neither set nor shadow it.
func (s *Server) cookieName(name string) string {
	if s.secure {
		return "__Host-" + name
	}
	return name
}

// cookie reads a cookie set by setCookie.
func (s *Server) cookie(c *gin.Context, name string) (string, error) {
	return c.Cookie(s.cookieName(name))
}

// setCookie sets (or, with maxAge -1, removes) a cookie, HttpOnly. Under
// https it is a __Host- cookie: Secure and for the whole site, whatever
// path is asked (path only narrows cookies over http).
func (s *Server) setCookie(c *gin.Context, name, value, path string, maxAge int, sameSite http.SameSite) {
	if s.secure {
		path = "/"
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: s.cookieName(name), Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: s.secure, SameSite: sameSite,
	})
}

// setSessionCookie gives the browser its session; a new anonymous form
// token goes with it, so that the one known before signing in serves no more.
func (s *Server) setSessionCookie(c *gin.Context, token string) {
	// Lax, not Strict: a person following a link from a mail stays signed in.
	s.setCookie(c, sessionCookie, token, "/", 0, http.SameSiteLaxMode)
	s.newCSRFCookie(c)
}

// clearSessionCookie ends the browser's session; a browser that had one
// gets a new anonymous form token too.
func (s *Server) clearSessionCookie(c *gin.Context) {
	had, _ := s.cookie(c, sessionCookie)
	s.setCookie(c, sessionCookie, "", "/", -1, http.SameSiteLaxMode)
	if had != "" {
		s.newCSRFCookie(c)
	}
}

// csrfToken returns the form token of this browser. Signed in, it is
// derived from the session's token (sessionCSRF): it changes with the
// session and works with no other. Anonymous, it is the value of a cookie
// of its own, set the first time (double submit: a cross-site form can
// send the cookie but cannot read it to copy it).
func (s *Server) csrfToken(c *gin.Context) string {
	if account(c) != nil {
		return sessionCSRF(sessionToken(c))
	}
	if v, ok := c.Get(csrfCookie); ok {
		return v.(string)
	}
	token, err := s.cookie(c, csrfCookie)
	if err != nil || len(token) != 43 {
		return s.newCSRFCookie(c)
	}
	c.Set(csrfCookie, token)
	return token
}

// newCSRFCookie sets a new anonymous form token and returns it.
func (s *Server) newCSRFCookie(c *gin.Context) string {
	b := make([]byte, 32)
	rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	s.setCookie(c, csrfCookie, token, "/", 0, http.SameSiteStrictMode)
	c.Set(csrfCookie, token)
	return token
}

// sessionCSRF is the form token of a session: an HMAC keyed by the
// session's token, which the page shows without giving the token away.
func sessionCSRF(sessionToken string) string {
	m := hmac.New(sha256.New, []byte(sessionToken))
	m.Write([]byte("apex-partenaires csrf"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF refuses a form post without the token of its browser: the
// session's when signed in, the cookie's otherwise.
func (s *Server) checkCSRF(c *gin.Context) {
	if err := parseForm(c); err != nil {
		s.writePageError(c, err)
		return
	}
	var want string
	if account(c) != nil {
		want = sessionCSRF(sessionToken(c))
	} else if cookie, err := s.cookie(c, csrfCookie); err == nil && len(cookie) == 43 {
		want = cookie
	}
	if want == "" || subtle.ConstantTimeCompare([]byte(want), []byte(c.PostForm(csrfField))) != 1 {
		s.writePageError(c, errBadCSRF)
		return
	}
	c.Next()
}

// requireJSON refuses API writes that do not declare a JSON body: a
// cross-site form cannot send application/json, so a session cookie cannot
// be abused from another site. A body-less write may instead carry a Bearer
// token, which no other site holds. The routes of csvRoutes take text/csv
// as well, which no form can send either (it needs a CORS preflight).
func (s *Server) requireJSON(c *gin.Context) {
	if c.Request.Method == http.MethodGet || c.Request.Method == http.MethodHead {
		c.Next()
		return
	}
	bearer := strings.HasPrefix(c.GetHeader("Authorization"), "Bearer ")
	csv := c.ContentType() == "text/csv" && csvRoutes[c.Request.Method+" "+c.FullPath()]
	if c.ContentType() != "application/json" && !csv && (c.Request.ContentLength != 0 || !bearer) {
		s.writeAPIError(c, errMediaType)
		return
	}
	c.Next()
}
