package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/httpapi/oidc"
)

// Every route, in one place: one function per feature, named for the file
// that holds its handlers (registerAccountRoutes, accounts.go), with the
// API's routes first, then the pages'. A page's form checks its CSRF field
// (checkCSRF) before its handler runs.

// groups are the router groups a feature registers its routes on: the
// JSON API under /api/v1 and the pages, each open to all or behind a live
// session; and the OpenID provider's protocol endpoints, which read no
// session.
type groups struct {
	api, apiSignedIn     *gin.RouterGroup
	pages, pagesSignedIn *gin.RouterGroup
	protocol             *gin.RouterGroup
}

// registerRoutes registers the routes of the API and of the pages.
func (s *Server) registerRoutes(e *gin.Engine) {
	api := e.Group("/api/v1", s.requireJSON, s.authenticate)
	api.GET("/openapi.json", serveOpenAPI)
	site := e.Group("", s.authenticate)
	r := groups{
		api: api, apiSignedIn: api.Group("", s.requireAccount),
		pages: site, pagesSignedIn: site.Group("", s.requireAccount),
		protocol: e.Group(""),
	}
	s.registerSignInRoutes(r)
	s.registerHomeRoutes(r)
	s.registerForgottenPasswordRoutes(r)
	s.registerPersonalDataRoutes(r)
	s.registerConsultationRoutes(r)
	s.registerInvitationRoutes(r)
	s.registerBulkInvitationRoutes(r)
	s.registerRequestRoutes(r)
	s.registerAccountRoutes(r)
	s.registerHistoryRoutes(r)
	s.registerHelpdeskRoutes(r)
	s.registerServiceRoutes(r)
	s.registerStructureRoutes(r)
	s.registerApplicationRoutes(r)
	s.registerExportRoutes(r)
	if s.oidc != nil {
		s.registerOIDCRoutes(r)
	}
	s.registerReviewRoutes(r)
}

func (s *Server) registerSignInRoutes(r groups) {
	r.api.POST("/auth/login", s.api(s.handleAPILogin))
	r.api.POST("/auth/verify", s.api(s.handleAPIVerify))
	r.api.POST("/auth/resend", s.api(s.handleAPIResend))
	r.apiSignedIn.POST("/auth/logout", s.api(s.handleAPILogout))

	r.pages.GET("/connexion", s.page(s.handleLoginPage))
	r.pages.POST("/connexion", s.checkCSRF, s.page(s.handleLoginForm))
	r.pages.GET("/connexion/verification", s.page(s.handleVerifyPage))
	r.pages.POST("/connexion/verification", s.checkCSRF, s.page(s.handleVerifyForm))
	r.pages.POST("/connexion/renvoyer", s.checkCSRF, s.page(s.handleResendForm))
	r.pagesSignedIn.POST("/deconnexion", s.checkCSRF, s.page(s.handleLogoutForm))
}

func (s *Server) registerHomeRoutes(r groups) {
	r.apiSignedIn.GET("/me", s.api(s.handleMe))

	r.pagesSignedIn.GET("/", s.page(s.handleHome))
}

func (s *Server) registerForgottenPasswordRoutes(r groups) {
	r.api.POST("/captcha", s.api(s.handleNewCaptcha))
	r.api.GET("/captcha/:file", s.api(s.handleCaptchaFile))
	r.api.POST("/password/forgot", s.api(s.handleForgot))
	r.api.POST("/password/forgot/:reset/verify", s.api(s.handleVerifyResetCode))
	r.api.POST("/password/reset", s.api(s.handleReset))

	r.pages.GET("/mot-de-passe/oublie", s.page(s.handleForgotPage))
	r.pages.POST("/mot-de-passe/oublie", s.checkCSRF, s.page(s.handleForgotForm))
	r.pages.GET("/mot-de-passe/code", s.page(s.handleResetCodePage))
	r.pages.POST("/mot-de-passe/code", s.checkCSRF, s.page(s.handleResetCodeForm))
	r.pages.GET("/mot-de-passe/renouveler", s.page(s.handleRenewPage))
	r.pages.POST("/mot-de-passe/renouveler", s.checkCSRF, s.page(s.handleRenewForm))
	r.pages.GET("/mot-de-passe/renouveler/:token", s.page(s.handleRenewPage))
	r.pages.POST("/mot-de-passe/renouveler/:token", s.checkCSRF, s.page(s.handleRenewForm))
}

func (s *Server) registerPersonalDataRoutes(r groups) {
	r.apiSignedIn.PATCH("/me", s.api(s.handleUpdateMe))
	r.apiSignedIn.PUT("/me/password", s.api(s.handleChangePassword))
	r.apiSignedIn.POST("/me/email/confirm", s.api(s.handleConfirmEmail))
	r.api.GET("/email-confirmations/:token", s.api(s.handleGetMailChange))
	r.api.POST("/email-confirmations/:token", s.api(s.handleConfirmMailLink))

	r.pagesSignedIn.GET("/donnees-personnelles", s.page(s.handlePersonalDataPage))
	r.pagesSignedIn.POST("/donnees-personnelles", s.checkCSRF, s.page(s.handlePersonalDataForm))
	r.pagesSignedIn.POST("/donnees-personnelles/enregistrer", s.checkCSRF, s.page(s.handlePersonalDataSave))
	r.pagesSignedIn.POST("/donnees-personnelles/adresse-mail", s.checkCSRF, s.page(s.handleConfirmEmailForm))
	r.pages.GET("/adresse-mail/confirmer/:token", s.page(s.handleMailLinkPage))
	r.pages.POST("/adresse-mail/confirmer/:token", s.checkCSRF, s.page(s.handleMailLinkForm))
	r.pagesSignedIn.GET("/donnees-personnelles/mot-de-passe", s.page(s.handleChangePasswordPage))
	r.pagesSignedIn.POST("/donnees-personnelles/mot-de-passe", s.checkCSRF, s.page(s.handleChangePasswordForm))
}

func (s *Server) registerConsultationRoutes(r groups) {
	r.apiSignedIn.GET("/structures/:siret/directory", s.api(s.handleDirectory))
	r.apiSignedIn.GET("/accounts/:identifier", s.api(s.handleAccountDetail))

	r.pagesSignedIn.GET("/consultation", s.page(s.handleConsultation))
	r.pagesSignedIn.GET("/consultation/:siret", s.page(s.handleConsultation))
	r.pagesSignedIn.GET("/consultation/compte/:identifier", s.page(s.handleConsultationAccount))
}

func (s *Server) registerInvitationRoutes(r groups) {
	r.apiSignedIn.POST("/structures/:siret/invitations", s.api(s.handleInvite))
	r.api.GET("/invitations/:token", s.api(s.handleGetInvitation))
	r.api.POST("/invitations/:token", s.api(s.handleSubmitInvitation))
	r.apiSignedIn.POST("/requests/:id/resend", s.api(s.handleResendInvitation))
	r.apiSignedIn.GET("/invitations", s.api(s.handleListInvitations))

	r.pagesSignedIn.GET("/gestion/inviter", s.page(s.handleInvitePage))
	r.pagesSignedIn.POST("/gestion/inviter", s.checkCSRF, s.page(s.handleInviteForm))
	r.pages.GET("/creation/envoyee", s.page(s.handleCreationSent))
	r.pages.GET("/creation/:token", s.page(s.handleCreationPage))
	r.pages.POST("/creation/:token", s.checkCSRF, s.page(s.handleCreationForm))
	r.pagesSignedIn.POST("/gestion/invitations/renvoyer", s.checkCSRF, s.page(s.handleResendInvitationForm))
	r.pagesSignedIn.GET("/gestion/invitations", s.page(s.handleInvitationsPage))
}

func (s *Server) registerBulkInvitationRoutes(r groups) {
	r.apiSignedIn.POST("/structures/:siret/invitations/bulk", s.api(s.handleBulkInvite))

	r.pagesSignedIn.GET("/gestion/inviter/fichier", s.page(s.handleBulkPage))
	r.pagesSignedIn.POST("/gestion/inviter/fichier", s.checkCSRF, s.page(s.handleBulkForm))
}

func (s *Server) registerRequestRoutes(r groups) {
	r.apiSignedIn.GET("/requests", s.api(s.handleListRequests))
	r.apiSignedIn.GET("/requests/count", s.api(s.handleWaitingRequests))
	r.apiSignedIn.POST("/requests/:id/approve", s.api(s.handleApprove))
	r.apiSignedIn.POST("/requests/:id/refuse", s.api(s.handleRefuse))

	r.pagesSignedIn.GET("/gestion/demandes", s.page(s.handleRequestsPage))
	r.pagesSignedIn.POST("/gestion/demandes/valider", s.checkCSRF, s.page(s.handleApproveForm))
	r.pagesSignedIn.POST("/gestion/demandes/refuser", s.checkCSRF, s.page(s.handleRefuseForm))
}

func (s *Server) registerAccountRoutes(r groups) {
	r.apiSignedIn.GET("/accounts", s.api(s.handleListManaged))
	r.apiSignedIn.POST("/accounts/:identifier/disable", s.api(s.handleSetEnabled(false)))
	r.apiSignedIn.POST("/accounts/:identifier/enable", s.api(s.handleSetEnabled(true)))
	r.apiSignedIn.PATCH("/accounts/:identifier", s.api(s.handleMoveAccount))
	r.apiSignedIn.DELETE("/accounts/:identifier", s.api(s.handleRemoveAccount))
	r.apiSignedIn.PUT("/accounts/:identifier/habilitations/:application/:profile", s.api(s.handleGrant))
	r.apiSignedIn.DELETE("/accounts/:identifier/habilitations/:application/:profile", s.api(s.handleRevoke))
	r.apiSignedIn.PUT("/accounts/:identifier/end-date", s.api(s.handleSetEndDate))

	r.pagesSignedIn.GET("/gestion/comptes", s.page(s.handleAccountsPage))
	r.pagesSignedIn.GET("/gestion/comptes/:identifier", s.page(s.handleAccountPage))
	r.pagesSignedIn.POST("/gestion/comptes/:identifier/desactiver", s.checkCSRF, s.page(s.handleEnableForm(false)))
	r.pagesSignedIn.POST("/gestion/comptes/:identifier/reactiver", s.checkCSRF, s.page(s.handleEnableForm(true)))
	r.pagesSignedIn.POST("/gestion/comptes/:identifier/deplacer", s.checkCSRF, s.page(s.handleMoveForm))
	r.pagesSignedIn.POST("/gestion/comptes/:identifier/habiliter", s.checkCSRF, s.page(s.handleGrantForm))
	r.pagesSignedIn.POST("/gestion/comptes/:identifier/retirer", s.checkCSRF, s.page(s.handleRevokeForm))
	r.pagesSignedIn.POST("/gestion/comptes/:identifier/date-de-fin", s.checkCSRF, s.page(s.handleSetEndDateForm))
	r.pagesSignedIn.GET("/gestion/comptes/:identifier/suppression", s.page(s.handleRemovePage))
	r.pagesSignedIn.POST("/gestion/comptes/:identifier/suppression", s.checkCSRF, s.page(s.handleRemoveForm))
}

func (s *Server) registerHelpdeskRoutes(r groups) {
	r.apiSignedIn.GET("/accounts/:identifier/status", s.api(s.handleAccountStatus))
	r.apiSignedIn.POST("/accounts/:identifier/unlock", s.api(s.handleUnlock))
	r.apiSignedIn.POST("/accounts/:identifier/renewal-link", s.api(s.handleSendRenewalLink))
	r.apiSignedIn.POST("/accounts/:identifier/email", s.api(s.handleCorrectEmail))
	r.apiSignedIn.POST("/requests/:id/cancel", s.api(s.handleCancelInvitation))

	r.pagesSignedIn.POST("/gestion/comptes/:identifier/debloquer", s.checkCSRF, s.page(s.handleUnlockForm))
	r.pagesSignedIn.POST("/gestion/comptes/:identifier/lien-de-renouvellement", s.checkCSRF, s.page(s.handleRenewalLinkForm))
	r.pagesSignedIn.POST("/gestion/comptes/:identifier/adresse-mail", s.checkCSRF, s.page(s.handleCorrectEmailForm))
	r.pagesSignedIn.POST("/gestion/invitations/annuler", s.checkCSRF, s.page(s.handleCancelInvitationForm))
}

func (s *Server) registerHistoryRoutes(r groups) {
	r.apiSignedIn.GET("/accounts/:identifier/history", s.api(s.handleAccountHistory))

	r.pagesSignedIn.GET("/gestion/comptes/:identifier/historique", s.page(s.handleHistoryPage))
}

func (s *Server) registerServiceRoutes(r groups) {
	r.apiSignedIn.GET("/structures/:siret/services", s.api(s.handleListServices))
	r.apiSignedIn.POST("/structures/:siret/services", s.api(s.handleCreateService))
	r.apiSignedIn.PATCH("/structures/:siret/services/:service", s.api(s.handleRenameService))
	r.apiSignedIn.DELETE("/structures/:siret/services/:service", s.api(s.handleDeleteService))

	r.pagesSignedIn.GET("/gestion/services", s.page(s.handleServicesPage))
	r.pagesSignedIn.POST("/gestion/services", s.checkCSRF, s.page(s.handleCreateServiceForm))
	r.pagesSignedIn.POST("/gestion/services/renommer", s.checkCSRF, s.page(s.handleRenameServiceForm))
	r.pagesSignedIn.POST("/gestion/services/supprimer", s.checkCSRF, s.page(s.handleDeleteServiceForm))
}

func (s *Server) registerStructureRoutes(r groups) {
	r.apiSignedIn.GET("/structures", s.api(s.handleListStructures))
	r.apiSignedIn.POST("/structures", s.api(s.handleCreateStructure))

	r.pagesSignedIn.GET("/agent/structures", s.page(s.handleStructuresPage))
	r.pagesSignedIn.POST("/agent/structures", s.checkCSRF, s.page(s.handleCreateStructureForm))
	r.pagesSignedIn.GET("/agent/structures/:siret", s.page(s.handleStructurePage))
	r.pagesSignedIn.POST("/agent/structures/:siret", s.checkCSRF, s.page(s.handleInviteAdministratorForm))
}

func (s *Server) registerApplicationRoutes(r groups) {
	r.apiSignedIn.GET("/applications", s.api(s.handleListApplications))
	r.apiSignedIn.POST("/applications", s.api(s.handleCreateApplication))
	r.apiSignedIn.PATCH("/applications/:application", s.api(s.handleUpdateApplication))
	r.apiSignedIn.POST("/applications/:application/profiles", s.api(s.handleAddProfile))

	r.pagesSignedIn.GET("/agent/applications", s.page(s.handleApplicationsPage))
	r.pagesSignedIn.POST("/agent/applications", s.checkCSRF, s.page(s.handleCreateApplicationForm))
	r.pagesSignedIn.GET("/agent/applications/:application", s.page(s.handleApplicationPage))
	r.pagesSignedIn.POST("/agent/applications/:application", s.checkCSRF, s.page(s.handleUpdateApplicationForm))
	r.pagesSignedIn.POST("/agent/applications/:application/profils", s.checkCSRF, s.page(s.handleAddProfileForm))
}

func (s *Server) registerOIDCRoutes(r groups) {
	r.protocol.GET(oidc.PathDiscovery, s.handleOIDCDiscovery)
	r.protocol.GET(oidc.PathKeys, s.handleOIDCProtocol)
	r.protocol.GET(oidc.PathAuthorize, s.page(s.handleOIDCAuthorize))
	r.protocol.POST(oidc.PathAuthorize, s.page(s.handleOIDCAuthorize))
	r.protocol.POST(oidc.PathToken, s.handleOIDCProtocol)
	r.protocol.GET(oidc.PathUserinfo, s.handleOIDCProtocol)
	r.protocol.POST(oidc.PathUserinfo, s.handleOIDCProtocol)

	r.pages.GET(oidc.PathLogin, s.page(s.handleOIDCLogin))
	r.pages.GET(oidc.PathEndSession, s.page(s.handleOIDCEndSession))
	r.pages.POST(oidc.PathEndSession, s.page(s.handleOIDCEndSession))
	r.pages.POST("/oidc/deconnexion", s.checkCSRF, s.page(s.handleOIDCLogoutForm))
}

func (s *Server) registerExportRoutes(r groups) {
	r.apiSignedIn.GET("/structures/:siret/accounts.csv", s.api(s.handleExportAccounts))
	r.apiSignedIn.GET("/applications/:application/habilitations.csv", s.api(s.handleExportHabilitations))

	r.pagesSignedIn.GET("/gestion/comptes.csv", s.page(s.handleExportAccountsPage))
	r.pagesSignedIn.GET("/agent/applications/:application/habilitations.csv", s.page(s.handleExportHabilitations))
}

func (s *Server) registerReviewRoutes(r groups) {
	r.apiSignedIn.GET("/reviews", s.api(s.handleListReviews))
	r.apiSignedIn.GET("/reviews/:review/lines", s.api(s.handleReviewLines))
	r.apiSignedIn.POST("/reviews/:review/decisions", s.api(s.handleReviewDecision))
	r.apiSignedIn.GET("/reviews/:review/structures", s.api(s.handleReviewStructures))
	r.apiSignedIn.GET("/reviews/:review/structures/:siret", s.api(s.handleReviewStructure))
	r.apiSignedIn.GET("/reviews/:review/export", s.api(s.handleReviewExport))

	r.pagesSignedIn.GET("/gestion/revue", s.page(s.handleReviewPage))
	r.pagesSignedIn.POST("/gestion/revue", s.checkCSRF, s.page(s.handleReviewForm))
	r.pagesSignedIn.GET("/gestion/revue/export.csv", s.page(s.handleReviewExportPage))
	r.pagesSignedIn.GET("/gestion/revue/structures", s.page(s.handleReviewStructuresPage))
	r.pagesSignedIn.GET("/gestion/revue/structures/:siret", s.page(s.handleReviewStructurePage))
}

// registerOpsRoutes registers the probes and the static assets.
func (s *Server) registerOpsRoutes(e *gin.Engine) {
	e.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", s.api(s.handleReady))
	// The static files are embedded in the binary (static.go).
	e.GET("/static/*path", s.serveStatic)
	e.HEAD("/static/*path", s.serveStatic)
}
