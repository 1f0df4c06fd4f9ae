package httpapi

import (
	"github.com/gin-gonic/gin"
)

func (s *Server) registerAPIRoutes(g *gin.RouterGroup) {
	g.Use(s.requireJSON, s.authenticate)
	g.GET("/openapi.json", serveOpenAPI)
	g.POST("/auth/login", s.api(s.handleAPILogin))
	g.POST("/auth/verify", s.api(s.handleAPIVerify))
	g.POST("/auth/resend", s.api(s.handleAPIResend))
	signedIn := g.Group("", s.requireAccount)
	signedIn.POST("/auth/logout", s.api(s.handleAPILogout))
	signedIn.GET("/me", s.api(s.handleMe))
	s.registerLifecycleRoutes(g, signedIn)
	s.registerSelfServiceRoutes(g, signedIn)
	s.registerHistoryRoutes(signedIn)
}

func (s *Server) registerPageRoutes(e *gin.Engine) {
	g := e.Group("", s.authenticate)
	g.GET("/connexion", s.page(s.handleLoginPage))
	g.POST("/connexion", s.checkCSRF, s.page(s.handleLoginForm))
	g.GET("/connexion/verification", s.page(s.handleVerifyPage))
	g.POST("/connexion/verification", s.checkCSRF, s.page(s.handleVerifyForm))
	g.POST("/connexion/renvoyer", s.checkCSRF, s.page(s.handleResendForm))
	signedIn := g.Group("", s.requireAccount)
	signedIn.GET("/", s.page(s.handleHome))
	signedIn.POST("/deconnexion", s.checkCSRF, s.page(s.handleLogoutForm))
	s.registerLifecyclePages(g, signedIn)
	s.registerSelfServicePages(g, signedIn)
	s.registerHistoryPages(signedIn)
}

func (s *Server) registerLifecycleRoutes(g *gin.RouterGroup, signedIn *gin.RouterGroup) {
	g.GET("/invitations/:token", s.api(s.handleGetInvitation))
	g.POST("/invitations/:token", s.api(s.handleSubmitInvitation))

	signedIn.GET("/structures", s.api(s.handleListStructures))
	signedIn.POST("/structures", s.api(s.handleCreateStructure))
	signedIn.GET("/structures/:siret/services", s.api(s.handleListServices))
	signedIn.POST("/structures/:siret/services", s.api(s.handleCreateService))
	signedIn.PATCH("/structures/:siret/services/:service", s.api(s.handleRenameService))
	signedIn.DELETE("/structures/:siret/services/:service", s.api(s.handleDeleteService))
	signedIn.POST("/structures/:siret/invitations", s.api(s.handleInvite))
	signedIn.GET("/requests", s.api(s.handleListRequests))
	signedIn.POST("/requests/:id/approve", s.api(s.handleApprove))
	signedIn.POST("/requests/:id/refuse", s.api(s.handleRefuse))
	signedIn.POST("/requests/:id/resend", s.api(s.handleResendInvitation))
	signedIn.GET("/applications", s.api(s.handleListApplications))
	signedIn.POST("/applications", s.api(s.handleCreateApplication))
	signedIn.GET("/accounts", s.api(s.handleListManaged))
	signedIn.POST("/accounts/:identifier/disable", s.api(s.handleSetEnabled(false)))
	signedIn.POST("/accounts/:identifier/enable", s.api(s.handleSetEnabled(true)))
	signedIn.PATCH("/accounts/:identifier", s.api(s.handleMoveAccount))
	signedIn.DELETE("/accounts/:identifier", s.api(s.handleRemoveAccount))
	signedIn.PUT("/accounts/:identifier/habilitations/:application/:profile", s.api(s.handleGrant))
	signedIn.DELETE("/accounts/:identifier/habilitations/:application/:profile", s.api(s.handleRevoke))
}

// registerLifecyclePages adds the pages of the account lifecycle (guide 1.1
// to 1.3 and 2): pre-creation form, requests, services, accounts, habilitations.
func (s *Server) registerLifecyclePages(g, signedIn *gin.RouterGroup) {
	g.GET("/creation/envoyee", s.page(s.handleCreationSent))
	g.GET("/creation/:token", s.page(s.handleCreationPage))
	g.POST("/creation/:token", s.checkCSRF, s.page(s.handleCreationForm))

	signedIn.GET("/gestion/demandes", s.page(s.handleRequestsPage))
	signedIn.POST("/gestion/demandes/valider", s.checkCSRF, s.page(s.handleApproveForm))
	signedIn.POST("/gestion/demandes/refuser", s.checkCSRF, s.page(s.handleRefuseForm))
	signedIn.POST("/gestion/invitations/renvoyer", s.checkCSRF, s.page(s.handleResendInvitationForm))

	signedIn.GET("/gestion/comptes", s.page(s.handleAccountsPage))
	signedIn.GET("/gestion/comptes/:identifier", s.page(s.handleAccountPage))
	signedIn.POST("/gestion/comptes/:identifier/desactiver", s.checkCSRF, s.page(s.handleEnableForm(false)))
	signedIn.POST("/gestion/comptes/:identifier/reactiver", s.checkCSRF, s.page(s.handleEnableForm(true)))
	signedIn.POST("/gestion/comptes/:identifier/deplacer", s.checkCSRF, s.page(s.handleMoveForm))
	signedIn.POST("/gestion/comptes/:identifier/habiliter", s.checkCSRF, s.page(s.handleGrantForm))
	signedIn.POST("/gestion/comptes/:identifier/retirer", s.checkCSRF, s.page(s.handleRevokeForm))
	signedIn.GET("/gestion/comptes/:identifier/suppression", s.page(s.handleRemovePage))
	signedIn.POST("/gestion/comptes/:identifier/suppression", s.checkCSRF, s.page(s.handleRemoveForm))

	signedIn.GET("/gestion/inviter", s.page(s.handleInvitePage))
	signedIn.POST("/gestion/inviter", s.checkCSRF, s.page(s.handleInviteForm))

	signedIn.GET("/gestion/services", s.page(s.handleServicesPage))
	signedIn.POST("/gestion/services", s.checkCSRF, s.page(s.handleCreateServiceForm))
	signedIn.POST("/gestion/services/renommer", s.checkCSRF, s.page(s.handleRenameServiceForm))
	signedIn.POST("/gestion/services/supprimer", s.checkCSRF, s.page(s.handleDeleteServiceForm))

	signedIn.GET("/agent/structures", s.page(s.handleStructuresPage))
	signedIn.POST("/agent/structures", s.checkCSRF, s.page(s.handleCreateStructureForm))
	signedIn.GET("/agent/structures/:siret", s.page(s.handleStructurePage))
	signedIn.POST("/agent/structures/:siret", s.checkCSRF, s.page(s.handleInviteAdministratorForm))
	signedIn.GET("/agent/applications", s.page(s.handleApplicationsPage))
	signedIn.POST("/agent/applications", s.checkCSRF, s.page(s.handleCreateApplicationForm))
}

func (s *Server) registerSelfServiceRoutes(g *gin.RouterGroup, signedIn *gin.RouterGroup) {
	g.POST("/captcha", s.api(s.handleNewCaptcha))
	g.GET("/captcha/:file", s.api(s.handleCaptchaFile))
	g.POST("/password/forgot", s.api(s.handleForgot))
	g.POST("/password/forgot/:reset/verify", s.api(s.handleVerifyResetCode))
	g.POST("/password/reset", s.api(s.handleReset))

	signedIn.PATCH("/me", s.api(s.handleUpdateMe))
	signedIn.PUT("/me/password", s.api(s.handleChangePassword))
	signedIn.GET("/structures/:siret/directory", s.api(s.handleDirectory))
	signedIn.GET("/accounts/:identifier", s.api(s.handleAccountDetail))
}

// registerSelfServicePages adds the self-service pages: forgotten password,
// personal data, consultation of the structure.
func (s *Server) registerSelfServicePages(g, signedIn *gin.RouterGroup) {
	g.GET("/mot-de-passe/oublie", s.page(s.handleForgotPage))
	g.POST("/mot-de-passe/oublie", s.checkCSRF, s.page(s.handleForgotForm))
	g.GET("/mot-de-passe/code", s.page(s.handleResetCodePage))
	g.POST("/mot-de-passe/code", s.checkCSRF, s.page(s.handleResetCodeForm))
	g.GET("/mot-de-passe/renouveler", s.page(s.handleRenewPage))
	g.POST("/mot-de-passe/renouveler", s.checkCSRF, s.page(s.handleRenewForm))
	g.GET("/mot-de-passe/renouveler/:token", s.page(s.handleRenewPage))
	g.POST("/mot-de-passe/renouveler/:token", s.checkCSRF, s.page(s.handleRenewForm))

	signedIn.GET("/donnees-personnelles", s.page(s.handlePersonalDataPage))
	signedIn.POST("/donnees-personnelles", s.checkCSRF, s.page(s.handlePersonalDataForm))
	signedIn.POST("/donnees-personnelles/enregistrer", s.checkCSRF, s.page(s.handlePersonalDataSave))
	signedIn.GET("/donnees-personnelles/mot-de-passe", s.page(s.handleChangePasswordPage))
	signedIn.POST("/donnees-personnelles/mot-de-passe", s.checkCSRF, s.page(s.handleChangePasswordForm))

	signedIn.GET("/consultation", s.page(s.handleConsultation))
	signedIn.GET("/consultation/:siret", s.page(s.handleConsultation))
	signedIn.GET("/consultation/compte/:identifier", s.page(s.handleConsultationAccount))
}
