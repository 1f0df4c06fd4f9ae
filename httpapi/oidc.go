package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/httpapi/oidc"
)

// Signing in to a DGFiP application (guide section 4): the service is its
// OpenID provider (httpapi/oidc). The application sends the browser to
// the authorization endpoint, which keeps the request and sends the
// browser to /oidc/login; there, a person signed in to Mon espace APEX
// Partenaires is not asked again, and anybody else signs in on the
// espace's own pages (/connexion, then the code), which come back here.
// Then the application gets its code, or a refusal: access_denied (with a
// French page for the person) when they hold no profile of it.

// oidcCookie holds, between the sign-in's pages, the request of the
// application the person signs in for.
const oidcCookie = "apex_oidc"

var (
	errOIDCRequestGone = &httpError{http.StatusBadRequest, "invalid_request",
		"Cette demande de connexion n'est plus valable : elle a expiré ou a déjà servi. Retournez à l'application pour vous connecter à nouveau.", directory.ErrNotFound}
)

// handleOIDCDiscovery serves the discovery document.
func (s *Server) handleOIDCDiscovery(c *gin.Context) { s.oidc.Discovery(c.Writer, c.Request) }

// handleOIDCProtocol hands a request to the provider: token, userinfo, keys.
func (s *Server) handleOIDCProtocol(c *gin.Context) { s.oidc.ServeHTTP(c.Writer, c.Request) }

// handleOIDCAuthorize takes an application's authorization request. An
// unknown application or a redirect URI it did not register gets an error
// page here, and the browser goes nowhere else.
func (s *Server) handleOIDCAuthorize(c *gin.Context) error {
	if err := s.oidc.CheckAuthorize(c.Request); err != nil {
		return err
	}
	noStore(c)
	s.oidc.ServeHTTP(c.Writer, c.Request)
	return nil
}

// handleOIDCLogin carries a request on with the person of this browser:
// a sign-in first when nobody (or not recently enough) is signed in, then
// the code to the application, or its refusal.
func (s *Server) handleOIDCLogin(c *gin.Context) error {
	noStore(c)
	ctx := c.Request.Context()
	id := c.Query("id")
	req, step, err := s.oidcFlow.Continue(ctx, id, account(c))
	if errors.Is(err, directory.ErrNotFound) {
		pending := s.pendingOIDC(c)
		s.setCookie(c, oidcCookie, "", "/", -1, http.SameSiteLaxMode)
		if account(c) != nil && pending == id {
			// Just signed in for a request that expired meanwhile: the
			// sign-in stands, in the espace.
			c.Redirect(http.StatusSeeOther, "/")
			return nil
		}
		return errOIDCRequestGone
	}
	if err != nil {
		return err
	}
	var to string
	switch step {
	case directory.OIDCSignIn:
		// The sign-in's pages come back here once the code is right.
		s.setCookie(c, oidcCookie, id, "/", 1800, http.SameSiteLaxMode)
		c.Redirect(http.StatusSeeOther, "/connexion")
		return nil
	case directory.OIDCDone:
		to, err = s.oidc.Respond(ctx, req)
		s.metrics.oidc.WithLabelValues(req.ClientID, "success").Inc()
	case directory.OIDCLoginRequired:
		to, err = s.oidc.LoginRequiredURL(req)
		s.metrics.oidc.WithLabelValues(req.ClientID, "login_required").Inc()
	case directory.OIDCAccessDenied:
		s.metrics.oidc.WithLabelValues(req.ClientID, "access_denied").Inc()
		return s.showNotHabilitated(c, req)
	}
	if err != nil {
		return err
	}
	s.setCookie(c, oidcCookie, "", "/", -1, http.SameSiteLaxMode)
	c.Redirect(http.StatusSeeOther, to)
	return nil
}

type notHabilitatedPage struct {
	base
	Application string
	Back        string // the application's redirect URI with error=access_denied
}

// showNotHabilitated tells a person who holds no profile of the
// application so, in French, with a way back to the application, which
// gets error=access_denied.
func (s *Server) showNotHabilitated(c *gin.Context, req *directory.OIDCRequest) error {
	back, err := s.oidc.AccessDeniedURL(req)
	if err != nil {
		return err
	}
	name := req.ClientID
	if app, err := s.oidcFlow.Client(c.Request.Context(), req.ClientID); err == nil {
		name = app.Name
	}
	s.setCookie(c, oidcCookie, "", "/", -1, http.SameSiteLaxMode)
	s.render(c, http.StatusForbidden, "oidc_refus.tmpl", notHabilitatedPage{base: s.base(c, "Accès refusé"), Application: name, Back: back})
	return nil
}

// pendingOIDC is the request this browser is signing in for, if any.
func (s *Server) pendingOIDC(c *gin.Context) string {
	if s.oidc == nil {
		return ""
	}
	id, _ := s.cookie(c, oidcCookie)
	return id
}

// afterSignIn is where a sign-in that succeeded leads: back to the
// application's request, or home.
func (s *Server) afterSignIn(c *gin.Context) string {
	if id := s.pendingOIDC(c); id != "" {
		return oidc.PathLogin + "?id=" + url.QueryEscape(id)
	}
	return "/"
}

type logoutPage struct {
	base
	// The logout request's own parameters, posted back and checked again.
	ClientID, RedirectURI, State string
}

// handleOIDCEndSession is an application's logout (RP-initiated): it ends
// the APEX session of this browser, and with it the espace and every
// application's single sign-on. With an id_token_hint of the account
// signed in here, at once; without one (or for another account), the
// person confirms first, so that no other site can sign them out.
func (s *Server) handleOIDCEndSession(c *gin.Context) error {
	end, err := s.oidc.CheckEndSession(c.Request)
	if err != nil {
		return err
	}
	p := account(c)
	if p == nil || end.Subject == p.Identifier {
		if err := s.endBrowserSession(c); err != nil {
			return err
		}
		c.Redirect(http.StatusSeeOther, end.RedirectURI)
		return nil
	}
	noStore(c)
	allowFormTo(c, end.RedirectURI)
	s.render(c, http.StatusOK, "oidc_deconnexion.tmpl", logoutPage{base: s.base(c, "Déconnexion"),
		ClientID: c.Request.Form.Get("client_id"), RedirectURI: c.Request.Form.Get("post_logout_redirect_uri"), State: c.Request.Form.Get("state")})
	return nil
}

// handleOIDCLogoutForm is the confirmation of a logout without hint: its
// parameters are checked again, and the session ends.
func (s *Server) handleOIDCLogoutForm(c *gin.Context) error {
	end, err := s.oidc.CheckEndSession(c.Request)
	if err != nil {
		return err
	}
	if err := s.endBrowserSession(c); err != nil {
		return err
	}
	c.Redirect(http.StatusSeeOther, end.RedirectURI)
	return nil
}

// allowFormTo lets the forms of this page lead to the origin of uri (an
// application's registered URI): browsers hold the redirects that follow
// a form to the page's CSP form-action, and the sign-in's last form and
// the logout's confirmation end at the application.
func allowFormTo(c *gin.Context, uri string) {
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || !cspHost.MatchString(u.Host) {
		return
	}
	c.Header("Content-Security-Policy", contentSecurityPolicy("'self' "+u.Scheme+"://"+u.Host))
}

// cspHost is a host (and port) that cannot break out of a CSP directive.
var cspHost = regexp.MustCompile(`^[A-Za-z0-9.-]+(:[0-9]+)?$|^\[[0-9A-Fa-f:.]+\](:[0-9]+)?$`)

// allowReturnToApplication is allowFormTo for the application this browser
// signs in for, if any.
func (s *Server) allowReturnToApplication(c *gin.Context) {
	id := s.pendingOIDC(c)
	if id == "" {
		return
	}
	if req, err := s.oidcFlow.Request(c.Request.Context(), id); err == nil {
		allowFormTo(c, req.RedirectURI)
	}
}

// endBrowserSession ends this browser's session, if it has one.
func (s *Server) endBrowserSession(c *gin.Context) error {
	if account(c) == nil {
		return nil
	}
	if err := s.signIn.EndSession(c.Request.Context(), sessionToken(c)); err != nil {
		return err
	}
	s.clearSessionCookie(c)
	return nil
}
