package directory

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// SignInPolicy is how long codes and sessions live.
type SignInPolicy struct {
	CodeTTL      time.Duration // a verification code's life: 10 minutes
	CodeAttempts int           // wrong codes before the challenge is spent: 5
	SessionIdle  time.Duration // a session ends after this much inactivity: 30 minutes
}

func (p SignInPolicy) withDefaults() SignInPolicy {
	if p.CodeTTL <= 0 {
		p.CodeTTL = 10 * time.Minute
	}
	if p.CodeAttempts <= 0 {
		p.CodeAttempts = 5
	}
	if p.SessionIdle <= 0 {
		p.SessionIdle = 30 * time.Minute
	}
	return p
}

// sessionTouchEvery bounds the writes that keep a session alive: a request
// writes the last-seen time only when it is older than this.
const sessionTouchEvery = time.Minute

// LoginCode is a verification code just issued: Code goes by mail to the
// person, Challenge to the client that asked, and the directory keeps only
// hashes of both.
type LoginCode struct {
	Challenge string
	Code      string
	ExpiresAt time.Time
	Person    *Person
}

// codeRecord is the stored form of a pending code (apexLoginCode). The
// challenge id is a 256-bit secret the directory never holds in clear, and
// the code is hashed with it: reading the directory does not let anyone
// guess the 6 digits offline.
type codeRecord struct {
	challengeHash string
	expires       time.Time
	attempts      int
	codeHash      string
}

func (r codeRecord) String() string {
	return fmt.Sprintf("v1 %s %d %d %s", r.challengeHash, r.expires.Unix(), r.attempts, r.codeHash)
}

func parseCodeRecord(s string) (codeRecord, bool) {
	f := strings.Fields(s)
	if len(f) != 5 || f[0] != "v1" {
		return codeRecord{}, false
	}
	exp, err1 := strconv.ParseInt(f[2], 10, 64)
	attempts, err2 := strconv.Atoi(f[3])
	if err1 != nil || err2 != nil {
		return codeRecord{}, false
	}
	return codeRecord{challengeHash: f[1], expires: time.Unix(exp, 0), attempts: attempts, codeHash: f[4]}, true
}

// IssueLoginCode gives the account a new 6-digit code valid CodeTTL, in
// place of any pending one, after the password step. Errors: ErrNotFound.
func (s *Store) IssueLoginCode(ctx context.Context, identifier string) (LoginCode, error) {
	const op = "issue login code"
	e, err := s.searchOne(ctx, op, s.base, ldap.ScopeWholeSubtree, and("(objectClass=apexPerson)", eq("uid", identifier)), personAttrs)
	if err != nil {
		return LoginCode{}, err
	}
	return s.issueCode(ctx, op, e, 0)
}

// LoginWithCode checks the password (see Authenticate) and issues a code,
// with the account read once for both.
func (s *Store) LoginWithCode(ctx context.Context, identifier, password string) (LoginCode, error) {
	e, err := s.authenticate(ctx, "login", identifier, password)
	if err != nil {
		return LoginCode{}, err
	}
	return s.issueCode(ctx, "login", e, 0)
}

// ResendLoginCode sends a new code for a pending challenge. The wrong tries
// already made still count, so that asking for codes again and again gives
// no more guesses. Errors: ErrInvalidCode when the challenge is unknown,
// spent or used; ErrTooManyAttempts.
func (s *Store) ResendLoginCode(ctx context.Context, challenge string) (LoginCode, error) {
	const op = "resend login code"
	e, rec, err := s.pendingCode(ctx, op, challenge)
	if err != nil {
		return LoginCode{}, err
	}
	if rec.attempts >= s.signin.CodeAttempts {
		return LoginCode{}, fmt.Errorf("%s: %w", op, ErrTooManyAttempts)
	}
	lc, err := s.issueCodeFor(ctx, op, e, challenge, rec.attempts, e.GetAttributeValue("apexLoginCode"))
	return lc, err
}

func (s *Store) issueCode(ctx context.Context, op string, e *ldap.Entry, attempts int) (LoginCode, error) {
	identifier := e.GetAttributeValue("uid")
	challenge := identifier + "." + randomToken()
	return s.issueCodeFor(ctx, op, e, challenge, attempts, "")
}

// issueCodeFor stores a new code for challenge. With old set, the change is
// a compare-and-swap on that value.
func (s *Store) issueCodeFor(ctx context.Context, op string, e *ldap.Entry, challenge string, attempts int, old string) (LoginCode, error) {
	code, err := randomDigits(6)
	if err != nil {
		return LoginCode{}, fmt.Errorf("%s: %w", op, err)
	}
	expires := s.now().Add(s.signin.CodeTTL).Truncate(time.Second)
	rec := codeRecord{challengeHash: hashHex(challenge), expires: expires, attempts: attempts, codeHash: hashHex(challenge + "|" + code)}
	err = s.do(ctx, op, func(c *ldap.Conn) error {
		req := ldap.NewModifyRequest(e.DN, nil)
		if old != "" {
			req.Delete("apexLoginCode", []string{old})
			req.Add("apexLoginCode", []string{rec.String()})
		} else {
			req.Replace("apexLoginCode", []string{rec.String()})
		}
		return c.Modify(req)
	})
	if errors.Is(err, ErrConflict) {
		return LoginCode{}, fmt.Errorf("%s: %w", op, ErrInvalidCode)
	}
	if err != nil {
		return LoginCode{}, err
	}
	return LoginCode{Challenge: challenge, Code: code, ExpiresAt: expires, Person: s.personFromEntry(e)}, nil
}

// VerifyLoginCode checks the code of a challenge: right, within CodeTTL,
// within CodeAttempts tries, once. Each step is a compare-and-swap on the
// stored value, so two instances (or two tabs) racing on one code cannot
// both use it nor get extra tries. Errors: ErrInvalidCode (wrong, unknown or
// used), ErrCodeExpired, ErrTooManyAttempts, ErrInvalidCredentials when the
// account is no longer active.
func (s *Store) VerifyLoginCode(ctx context.Context, challenge, code string) (*Person, error) {
	const op = "verify login code"
	e, rec, err := s.pendingCode(ctx, op, challenge)
	if err != nil {
		return nil, err
	}
	old := e.GetAttributeValue("apexLoginCode")
	switch {
	case rec.attempts >= s.signin.CodeAttempts:
		return nil, fmt.Errorf("%s: %w", op, ErrTooManyAttempts)
	case !s.now().Before(rec.expires):
		return nil, fmt.Errorf("%s: %w", op, ErrCodeExpired)
	}
	right := subtle.ConstantTimeCompare([]byte(hashHex(challenge+"|"+strings.TrimSpace(code))), []byte(rec.codeHash)) == 1
	err = s.do(ctx, op, func(c *ldap.Conn) error {
		req := ldap.NewModifyRequest(e.DN, nil)
		req.Delete("apexLoginCode", []string{old})
		if !right {
			rec.attempts++
			req.Add("apexLoginCode", []string{rec.String()})
		}
		return c.Modify(req)
	})
	if errors.Is(err, ErrConflict) {
		return nil, fmt.Errorf("%s: %w", op, ErrInvalidCode) // someone else changed or used it first
	}
	if err != nil {
		return nil, err
	}
	if !right {
		if rec.attempts >= s.signin.CodeAttempts {
			return nil, fmt.Errorf("%s: %w", op, ErrTooManyAttempts)
		}
		return nil, fmt.Errorf("%s: %d tries left: %w", op, s.signin.CodeAttempts-rec.attempts, ErrInvalidCode)
	}
	p := s.personFromEntry(e)
	if p.State != StateActive {
		return nil, fmt.Errorf("%s: account %s: %w", op, p.State, ErrInvalidCredentials)
	}
	return p, nil
}

// pendingCode finds the account and stored code of a challenge.
func (s *Store) pendingCode(ctx context.Context, op, challenge string) (*ldap.Entry, codeRecord, error) {
	identifier := challengeIdentifier(challenge)
	if identifier == "" {
		return nil, codeRecord{}, fmt.Errorf("%s: %w", op, ErrInvalidCode)
	}
	e, err := s.searchOne(ctx, op, s.base, ldap.ScopeWholeSubtree, and("(objectClass=apexPerson)", eq("uid", identifier)),
		append([]string{"apexLoginCode"}, personAttrs...))
	if errors.Is(err, ErrNotFound) {
		return nil, codeRecord{}, fmt.Errorf("%s: %w", op, ErrInvalidCode)
	}
	if err != nil {
		return nil, codeRecord{}, err
	}
	rec, ok := parseCodeRecord(e.GetAttributeValue("apexLoginCode"))
	if !ok || subtle.ConstantTimeCompare([]byte(rec.challengeHash), []byte(hashHex(challenge))) != 1 {
		return nil, codeRecord{}, fmt.Errorf("%s: %w", op, ErrInvalidCode)
	}
	return e, rec, nil
}

// challengeIdentifier reads the identifier a challenge or session token
// starts with: "<identifier>.<random>", the identifier holding one dot itself.
func challengeIdentifier(token string) string {
	i := strings.LastIndexByte(token, '.')
	if i <= 0 || !ValidIdentifier(token[:i]) || len(token)-i-1 != 43 {
		return ""
	}
	return token[:i]
}

// CreateSession opens a session for an account that passed both sign-in
// steps and returns its token. Sessions idle longer than SessionIdle are
// pruned at the same time. Errors: ErrNotFound.
func (s *Store) CreateSession(ctx context.Context, identifier string) (string, error) {
	const op = "create session"
	e, err := s.searchOne(ctx, op, s.base, ldap.ScopeWholeSubtree, and("(objectClass=apexPerson)", eq("uid", identifier)), []string{"apexSession"})
	if err != nil {
		return "", err
	}
	token := identifier + "." + randomToken()
	now := s.now().Unix()
	req := ldap.NewModifyRequest(e.DN, nil)
	for _, v := range e.GetAttributeValues("apexSession") {
		if rec, ok := parseSessionRecord(v); !ok || s.sessionIdle(rec) {
			req.Delete("apexSession", []string{v})
		}
	}
	req.Add("apexSession", []string{sessionRecord{hash: hashHex(token), lastSeen: now, created: now}.String()})
	if err := s.do(ctx, op, func(c *ldap.Conn) error { return c.Modify(req) }); err != nil {
		return "", err
	}
	return token, nil
}

// Session returns the account of a session token and keeps the session
// alive. Errors: ErrSessionExpired when the token is unknown, ended or idle
// too long, or the account is no longer active.
func (s *Store) Session(ctx context.Context, token string) (*Person, error) {
	const op = "session"
	identifier := challengeIdentifier(token)
	if identifier == "" {
		return nil, fmt.Errorf("%s: %w", op, ErrSessionExpired)
	}
	e, err := s.searchOne(ctx, op, s.base, ldap.ScopeWholeSubtree, and("(objectClass=apexPerson)", eq("uid", identifier)),
		append([]string{"apexSession"}, personAttrs...))
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%s: %w", op, ErrSessionExpired)
	}
	if err != nil {
		return nil, err
	}
	want := hashHex(token)
	for _, v := range e.GetAttributeValues("apexSession") {
		rec, ok := parseSessionRecord(v)
		if !ok || subtle.ConstantTimeCompare([]byte(rec.hash), []byte(want)) != 1 {
			continue
		}
		p := s.personFromEntry(e)
		if s.sessionIdle(rec) || p.State != StateActive {
			s.do(ctx, op, func(c *ldap.Conn) error { return deleteValue(c, e.DN, "apexSession", v) })
			return nil, fmt.Errorf("%s: %w", op, ErrSessionExpired)
		}
		if now := s.now().Unix(); now-rec.lastSeen >= int64(sessionTouchEvery/time.Second) {
			touched := rec
			touched.lastSeen = now
			// A failed touch (another request touched it first) is harmless.
			s.do(ctx, op, func(c *ldap.Conn) error {
				req := ldap.NewModifyRequest(e.DN, nil)
				req.Delete("apexSession", []string{v})
				req.Add("apexSession", []string{touched.String()})
				return c.Modify(req)
			})
		}
		return p, nil
	}
	return nil, fmt.Errorf("%s: %w", op, ErrSessionExpired)
}

// EndSession closes a session for good; an unknown token is not an error.
func (s *Store) EndSession(ctx context.Context, token string) error {
	const op = "end session"
	identifier := challengeIdentifier(token)
	if identifier == "" {
		return nil
	}
	e, err := s.searchOne(ctx, op, s.base, ldap.ScopeWholeSubtree, and("(objectClass=apexPerson)", eq("uid", identifier)), []string{"apexSession"})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	want := hashHex(token)
	for _, v := range e.GetAttributeValues("apexSession") {
		if rec, ok := parseSessionRecord(v); ok && rec.hash == want {
			err := s.do(ctx, op, func(c *ldap.Conn) error { return deleteValue(c, e.DN, "apexSession", v) })
			if errors.Is(err, ErrConflict) {
				return nil // ended meanwhile
			}
			return err
		}
	}
	return nil
}

type sessionRecord struct {
	hash     string
	lastSeen int64
	created  int64
}

func (r sessionRecord) String() string {
	return fmt.Sprintf("v1 %s %d %d", r.hash, r.lastSeen, r.created)
}

func parseSessionRecord(s string) (sessionRecord, bool) {
	f := strings.Fields(s)
	if len(f) != 4 || f[0] != "v1" {
		return sessionRecord{}, false
	}
	seen, err1 := strconv.ParseInt(f[2], 10, 64)
	created, err2 := strconv.ParseInt(f[3], 10, 64)
	return sessionRecord{hash: f[1], lastSeen: seen, created: created}, err1 == nil && err2 == nil
}

func (s *Store) sessionIdle(r sessionRecord) bool {
	return s.now().Sub(time.Unix(r.lastSeen, 0)) >= s.signin.SessionIdle
}

func deleteValue(c *ldap.Conn, dn, attr, value string) error {
	req := ldap.NewModifyRequest(dn, nil)
	req.Delete(attr, []string{value})
	return c.Modify(req)
}

// randomToken returns 256 random bits, URL-safe (43 characters).
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func randomDigits(n int) (string, error) {
	max := big.NewInt(1)
	for range n {
		max.Mul(max, big.NewInt(10))
	}
	v, err := rand.Int(rand.Reader, max)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%0*d", n, v), nil
}

func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
