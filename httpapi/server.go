// Package httpapi is the web face of APEX Partenaires: the JSON API under
// /api/v1 for API clients and the French pages for people, both on top of
// the directory package. It never talks LDAP itself.
//
// routes.go lists every route, one registerXRoutes per feature; each
// feature has its file (signin.go, accounts.go, consultation.go, …) with
// the handlers of its API and of its pages, which make the same calls to
// the directory's workflows. The workflows decide every permission, so
// that a forbidden action is a 403 (the error page) and changes nothing.
// What the features share is named for what it is: api.go (reading JSON
// bodies), pages.go (templates), forms.go, labels.go, views.go, errors.go
// (the one table from errors to answers), session.go (sessions, cookies,
// CSRF).
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/httpapi/oidc"
)

// Config is what the server needs; cmd/apexd builds it from the configuration.
// The workflows are the server's only door into the directory.
type Config struct {
	PublicURL    string // where people reach the service, e.g. https://apex.dgfip.gouv.fr
	SignIn       directory.SignIn
	Accounts     directory.Accounts
	SelfService  directory.SelfService
	Consultation directory.Consultation
	Health       Health
	Logger       *slog.Logger
	// TrustedProxies are the addresses or CIDRs of the reverse proxies whose
	// X-Forwarded-For is believed, for the client address of the abuse
	// limits; empty: the connection's own address, whatever the headers say.
	TrustedProxies []string
	// MailStats reports the mails sent and failed since start, for metrics; may be nil.
	MailStats func() (sent, failed float64)
	// OIDC, when its Store is set, makes the service the OpenID provider
	// of DGFiP applications (httpapi/oidc), with PublicURL as its issuer:
	// the discovery document and the endpoints under /oidc.
	OIDC directory.OIDC
	// Collectors are more metrics served with the server's (the scheduled
	// jobs'); may be nil.
	Collectors []prometheus.Collector
	// Reviews: the reviews of habilitations; on Accounts' store, with its
	// audit log, when its Store is nil.
	Reviews directory.Reviews
}

// Health is what the server reads of the directory beside the workflows:
// whether it answers (/readyz), and its connections (metrics). The
// directory's *Store is one.
type Health interface {
	Ping(ctx context.Context) error
	PoolStats() (inUse, idle int)
}

// Server serves the API and the pages.
type Server struct {
	// The workflows, the server's only door into the directory.
	signIn       directory.SignIn
	accounts     directory.Accounts
	selfService  directory.SelfService
	consultation directory.Consultation
	oidcFlow     directory.OIDC // with oidc, when the service is an OpenID provider
	reviews      directory.Reviews

	oidc    *oidc.Provider // nil when it is not
	health  Health
	log     *slog.Logger
	engine  *gin.Engine
	pages   *pages
	assets  *assets // the static files
	metrics *metrics
	secure  bool // cookies only over HTTPS
	names   *displayCache
}

// New checks the configuration, parses every page template and builds the router.
func New(cfg Config) (*Server, error) {
	if cfg.Health == nil || cfg.SignIn.Store == nil || cfg.SignIn.Notifier == nil || cfg.Accounts.Store == nil || cfg.Accounts.Notifier == nil ||
		cfg.SelfService.Store == nil || cfg.SelfService.Notifier == nil || cfg.Consultation.Store == nil {
		return nil, errors.New("httpapi: Health, SignIn, Accounts, SelfService and Consultation are required")
	}
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("httpapi: PublicURL must be an http(s) URL")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	static, err := loadAssets()
	if err != nil {
		return nil, err
	}
	pages, err := parsePages(static)
	if err != nil {
		return nil, err
	}
	if cfg.Reviews.Store == nil {
		cfg.Reviews = directory.Reviews{Store: cfg.Accounts.Store, Audit: cfg.Accounts.Audit}
	}
	s := &Server{
		reviews:      cfg.Reviews,
		signIn:       cfg.SignIn,
		accounts:     cfg.Accounts,
		selfService:  cfg.SelfService,
		consultation: cfg.Consultation,
		health:       cfg.Health,
		log:          cfg.Logger,
		pages:        pages,
		assets:       static,
		metrics:      newMetrics(cfg.Health, cfg.MailStats, cfg.Collectors...),
		secure:       u.Scheme == "https",
		names:        &displayCache{ttl: 10 * time.Second},
	}
	if cfg.OIDC.Store != nil {
		s.oidcFlow = cfg.OIDC
		if s.oidc, err = oidc.New(oidc.Config{Issuer: cfg.PublicURL, OIDC: cfg.OIDC}); err != nil {
			return nil, fmt.Errorf("httpapi: %w", err)
		}
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	if err := e.SetTrustedProxies(cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("httpapi: TrustedProxies: %w", err)
	}
	e.HandleMethodNotAllowed = true
	// limitBodies before anything reads a body or replaces the request.
	e.MaxMultipartMemory = multipartMemory
	e.Use(s.recoverPanics, s.observe, securityHeaders, limitBodies(uploadRoutes, largeBodyRoutes, s.refuseBody), clientAddress)
	e.NoRoute(s.notFound)
	e.NoMethod(s.methodNotAllowed)
	s.engine = e
	s.registerOpsRoutes(e)
	s.registerRoutes(e)
	return s, nil
}

// Handler is the server's http.Handler.
func (s *Server) Handler() http.Handler { return s.engine }

// MetricsHandler serves the Prometheus metrics. It is not on Handler:
// cmd/apexd serves it on a listener of its own (http.metrics_addr), so that
// what the metrics tell (sign-ins, limits, errors by route) stays off the
// service's port.
func (s *Server) MetricsHandler() http.Handler { return s.metrics.handler() }

// Routes lists the method and path of every route, for tests and docs.
func (s *Server) Routes() []gin.RouteInfo { return s.engine.Routes() }

// handlerFunc is a handler that returns its error for one place to serve it.
type handlerFunc func(c *gin.Context) error

// api adapts a JSON handler: its error becomes the API's error body.
func (s *Server) api(h handlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := h(c); err != nil {
			s.writeAPIError(c, err)
		}
	}
}

// page adapts a page handler: its error becomes an error page in French.
func (s *Server) page(h handlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := h(c); err != nil {
			s.writePageError(c, err)
		}
	}
}

func (s *Server) handleReady(c *gin.Context) error {
	if err := s.health.Ping(c.Request.Context()); err != nil {
		return err
	}
	c.String(http.StatusOK, "ready\n")
	return nil
}

func (s *Server) notFound(c *gin.Context) {
	if isAPI(c) {
		s.writeAPIError(c, errNotFoundRoute)
		return
	}
	s.writePageError(c, errNotFoundRoute)
}

func (s *Server) methodNotAllowed(c *gin.Context) {
	if isAPI(c) {
		s.writeAPIError(c, errMethodNotAllowed)
		return
	}
	s.writePageError(c, errMethodNotAllowed)
}

func isAPI(c *gin.Context) bool { return strings.HasPrefix(c.Request.URL.Path, "/api/") }

// recoverPanics turns a panic into an internal error, logged with its stack.
func (s *Server) recoverPanics(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r) // a response cut on purpose (an export that failed midway): net/http closes the connection
			}
			s.log.Error("panic", "path", c.FullPath(), "panic", r)
			c.Abort()
			if isAPI(c) {
				s.writeAPIError(c, errors.New("panic"))
			} else {
				s.writePageError(c, errors.New("panic"))
			}
		}
	}()
	c.Next()
}

// contentSecurityPolicy is the CSP of every answer; formAction is where
// its forms may post, their redirects included.
func contentSecurityPolicy(formAction string) string {
	return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; media-src 'self'; object-src 'none'; base-uri 'none'; form-action " + formAction + "; frame-ancestors 'none'"
}

// securityHeaders: no inline script or style, no framing, no referrer (some
// pages carry tokens in their URL).
func securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy("'self'"))
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	c.Next()
}

// observe logs each request (never a body nor a query string) and records it in the metrics.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	elapsed := time.Since(start)
	status := c.Writer.Status()
	s.metrics.observe(c.Request.Method, route, status, elapsed)
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	s.log.Log(c.Request.Context(), level, "request",
		"method", c.Request.Method, "route", route, "status", status,
		"duration_ms", float64(elapsed.Microseconds())/1000, "client", c.ClientIP())
}

// clientAddress hands the client's address to the directory, for its
// limits and its audit trail: Gin's ClientIP, which reads X-Forwarded-For
// only from TrustedProxies. For the limits, an IPv6 client counts by its
// /64, the block one host usually holds.
func clientAddress(c *gin.Context) {
	addr := c.ClientIP()
	if ip := net.ParseIP(addr); ip != nil && ip.To4() == nil {
		addr = (&net.IPNet{IP: ip.Mask(net.CIDRMask(64, 128)), Mask: net.CIDRMask(64, 128)}).String()
	}
	ctx := directory.WithSource(c.Request.Context(), c.ClientIP()) // the audit trail's "from where"
	c.Request = c.Request.WithContext(directory.WithClientAddress(ctx, addr))
	c.Next()
}
