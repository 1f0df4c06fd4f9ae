package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/dgfip/apex-partenaires/directory"
)

// The sign-in of a DGFiP application through apexd's OpenID provider,
// from the authorization request to the tokens, against the sign-in to
// the espace alone (password, then the code mailed): what being the
// provider adds to a sign-in. Both sides sign in through the API and read
// the code from the relay.

const (
	benchApp      = "bench" // its bind account is setup's
	benchRedirect = "http://127.0.0.1:9/retour"
	flowUsers     = 200
)

// flowUser is an account that signs in, habilitated to the application.
type flowUser struct{ uid, email string }

// prepareFlow declares the application with its redirect URI, habilitates
// the accounts that sign in, and watches their codes at the relay.
func (e *env) prepareFlow(ctx context.Context) ([]flowUser, error) {
	if err := e.store.CreateApplication(ctx, directory.Application{ID: benchApp, Name: "Bench", Profiles: []string{"usage"},
		RedirectURIs: []string{benchRedirect}}); err != nil {
		return nil, err
	}
	var users []flowUser
	for _, uid := range e.pop.bigUIDs[:min(flowUsers, len(e.pop.bigUIDs))] {
		p, err := e.store.FindPerson(ctx, uid)
		if err != nil {
			return nil, err
		}
		if err := e.store.AddHabilitation(ctx, uid, benchApp, "usage"); err != nil {
			return nil, err
		}
		e.relay.watch(p.Email)
		users = append(users, flowUser{uid: uid, email: p.Email})
	}
	// The mails of the pairs before leave apexd's queue.
	time.Sleep(time.Second)
	return users, nil
}

// signInAPI is the espace's sign-in: password, then the code mailed; it
// returns the session's token.
func (e *env) signInAPI(u flowUser) (string, error) {
	e.relay.drain(u.email)
	var challenge struct {
		Challenge string `json:"challenge"`
	}
	if err := e.callJSON("POST", "/api/v1/auth/login", map[string]string{"identifier": u.uid, "password": userPassword}, 200, &challenge); err != nil {
		return "", err
	}
	code, err := e.relay.code(u.email)
	if err != nil {
		return "", err
	}
	var session struct {
		Token string `json:"token"`
	}
	if err := e.callJSON("POST", "/api/v1/auth/verify", map[string]string{"challenge": challenge.Challenge, "code": code}, 200, &session); err != nil {
		return "", err
	}
	return session.Token, nil
}

// codeFlow is an application's sign-in: the authorization request, sent
// to the sign-in (nobody is signed in), the sign-in, back with the code,
// and the code exchanged for the tokens with the client secret.
func (e *env) codeFlow(u flowUser) error {
	noRedirect := &http.Client{Transport: e.http.Transport, Timeout: e.http.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	step := func(req *http.Request, want int) (string, error) {
		res, err := noRedirect.Do(req)
		if err != nil {
			return "", err
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != want {
			return "", fmt.Errorf("%s %s: %d", req.Method, req.URL.Path, res.StatusCode)
		}
		return res.Header.Get("Location"), nil
	}
	verifier := randomURLString(32)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"client_id": {benchApp}, "redirect_uri": {benchRedirect}, "response_type": {"code"}, "scope": {"openid profile email apex"},
		"state": {randomURLString(12)}, "nonce": {randomURLString(12)}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	req, _ := http.NewRequest("GET", e.base+"/oidc/authorize?"+q.Encode(), nil)
	login, err := step(req, http.StatusFound)
	if err != nil {
		return err
	}
	req, _ = http.NewRequest("GET", login, nil)
	if _, err := step(req, http.StatusSeeOther); err != nil { // to /connexion
		return err
	}
	token, err := e.signInAPI(u)
	if err != nil {
		return err
	}
	req, _ = http.NewRequest("GET", login, nil)
	req.AddCookie(&http.Cookie{Name: "apex_session", Value: token})
	back, err := step(req, http.StatusSeeOther)
	if err != nil {
		return err
	}
	to, err := url.Parse(back)
	if err != nil || to.Query().Get("code") == "" {
		return fmt.Errorf("no code in %q", back)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {to.Query().Get("code")}, "redirect_uri": {benchRedirect}, "code_verifier": {verifier}}
	req, _ = http.NewRequest("POST", e.base+"/oidc/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(benchApp, clientPassword)
	res, err := e.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var tokens struct {
		IDToken string `json:"id_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&tokens); err != nil || res.StatusCode != 200 || tokens.IDToken == "" {
		return fmt.Errorf("token: %d %v", res.StatusCode, err)
	}
	return nil
}

// callJSON makes one API request, checks its status and decodes its answer.
func (e *env) callJSON(method, path string, body any, want int, out any) error {
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, e.base+path, strings.NewReader(string(raw)))
	req.Header.Set("Content-Type", "application/json")
	res, err := e.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != want {
		io.Copy(io.Discard, res.Body)
		return fmt.Errorf("%s %s: %d", method, path, res.StatusCode)
	}
	return json.NewDecoder(res.Body).Decode(out)
}

func randomURLString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// measureOIDC is the pair: the whole code flow against the sign-in alone,
// each worker on accounts of its own.
func measureOIDC(e *env, o options) (row, error) {
	users, err := e.prepareFlow(context.Background())
	if err != nil {
		return row{}, err
	}
	half := o.concurrency / 2
	// Worker i%half signs in users i%half, i%half+half, …: two sign-ins of
	// one account never run at once (their codes would cross).
	user := func(i int) flowUser {
		w, k := i%half, i/half
		per := len(users) / half
		return users[w+half*(k%per)]
	}
	flow, signIn := alternate(half, o.duration, 0, 0, func(i int) error { return e.codeFlow(user(i)) },
		func(i int) error { _, err := e.signInAPI(user(i)); return err })
	return row{name: "sign-in to an application (OpenID Connect)", unit: "ops/s", service: flow, raw: signIn,
		serviceLabel: "authorize, sign-in, token", rawLabel: "the sign-in alone (password, code)", concurrency: half}, nil
}
