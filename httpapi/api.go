package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/dgfip/apex-partenaires/directory"
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

// decode reads a JSON object into v, refusing unknown fields, trailing data
// and bodies over maxBody.
func decode(c *gin.Context, v any) error {
	raw, err := io.ReadAll(io.LimitReader(c.Request.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("%w: %v", errBadRequest, err)
	}
	if len(raw) > maxBody {
		return fmt.Errorf("%w: body over %d bytes", errBadRequest, maxBody)
	}
	// Decode accepts null for a struct, leaving it empty.
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return fmt.Errorf("%w: not a JSON object", errBadRequest)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", errBadRequest, err)
	}
	// More() would let a stray "}" or "]" through; only the end may follow.
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data", errBadRequest)
	}
	return nil
}

// required lists the fields left empty, as an invalid-input error.
func required(fields ...[2]string) error {
	var problems []directory.Problem
	for _, f := range fields {
		if f[1] == "" {
			problems = append(problems, directory.Problem{Field: f[0], Message: "Ce champ est obligatoire."})
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return &directory.InvalidError{Problems: problems}
}

type loginRequest struct {
	Identifier string `json:"identifier"`
	Password   string `json:"password"`
}

type challengeResponse struct {
	Challenge string `json:"challenge"`
}

func (s *Server) handleAPILogin(c *gin.Context) error {
	var req loginRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := required([2]string{"identifier", req.Identifier}, [2]string{"password", req.Password}); err != nil {
		return err
	}
	challenge, err := s.signIn.Login(c.Request.Context(), req.Identifier, req.Password)
	s.metrics.signIn("password", err)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, challengeResponse{Challenge: challenge})
	return nil
}

type verifyRequest struct {
	Challenge string `json:"challenge"`
	Code      string `json:"code"`
}

type verifyResponse struct {
	Account accountView `json:"account"`
	Token   string      `json:"token"`
}

func (s *Server) handleAPIVerify(c *gin.Context) error {
	var req verifyRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := required([2]string{"challenge", req.Challenge}, [2]string{"code", req.Code}); err != nil {
		return err
	}
	p, token, err := s.signIn.Verify(c.Request.Context(), req.Challenge, req.Code)
	s.metrics.signIn("code", err)
	if err != nil {
		return err
	}
	view, err := s.accountView(c, p, p)
	if err != nil {
		return err
	}
	s.setSessionCookie(c, token)
	c.JSON(http.StatusOK, verifyResponse{Account: view, Token: token})
	return nil
}

type resendRequest struct {
	Challenge string `json:"challenge"`
}

func (s *Server) handleAPIResend(c *gin.Context) error {
	var req resendRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := required([2]string{"challenge", req.Challenge}); err != nil {
		return err
	}
	if err := s.signIn.Resend(c.Request.Context(), req.Challenge); err != nil {
		return err
	}
	c.JSON(http.StatusAccepted, challengeResponse{Challenge: req.Challenge})
	return nil
}

func (s *Server) handleAPILogout(c *gin.Context) error {
	if err := s.signIn.EndSession(c.Request.Context(), sessionToken(c)); err != nil {
		return err
	}
	s.clearSessionCookie(c)
	c.Status(http.StatusNoContent)
	return nil
}

func (s *Server) handleMe(c *gin.Context) error {
	view, err := s.accountView(c, account(c), account(c))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, view)
	return nil
}
