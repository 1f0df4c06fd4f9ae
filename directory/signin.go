package directory

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
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
// person, Challenge to the client that asked.
type LoginCode struct {
	Challenge string
	Code      string
	ExpiresAt time.Time
	Person    *Person
}

// A sign-in challenge is "<identifier>.<nonce|expiry|stamp|tag>", the tag a
// MAC under the directory's sign-in key (see signingKey), and its code is
// derived from it under the same key: issuing a code writes nothing, so the
// password step costs the bind and nothing more. What must be remembered
// (wrong tries, a code already used, a code sent again) is written at the
// verification step into apexLoginCode, one value per challenge, each
// change a compare-and-swap so that several instances agree.
//
// A challenge dies at its signed expiry, which nothing extends, and when
// the account's password changes: the stamp is a MAC of the account's
// pwdChangedTime when the challenge was issued (ppolicy sets it at every
// password change, whoever makes it; an account whose password never
// changed has none), compared with the current one at every answer.

const (
	challengeNonceLen  = 16
	challengeStampLen  = 8
	challengeTagLen    = 16
	challengeSignedLen = challengeNonceLen + 8 + challengeStampLen
	challengeLen       = challengeSignedLen + challengeTagLen
)

// loginChallenge is a challenge read back and authenticated.
type loginChallenge struct {
	identifier string
	expires    time.Time
	stamp      []byte
}

func (s *Store) newChallenge(ctx context.Context, identifier, pwdChanged string) (challenge, code string, expires time.Time, err error) {
	key, err := s.signingKey(ctx)
	if err != nil {
		return "", "", time.Time{}, err
	}
	raw := make([]byte, challengeLen)
	rand.Read(raw[:challengeNonceLen])
	expires = s.now().Add(s.signin.CodeTTL).Truncate(time.Second)
	binary.BigEndian.PutUint64(raw[challengeNonceLen:], uint64(expires.Unix()))
	copy(raw[challengeNonceLen+8:], passwordStamp(key, pwdChanged))
	copy(raw[challengeSignedLen:], challengeTag(key, identifier, raw[:challengeSignedLen]))
	challenge = identifier + "." + base64.RawURLEncoding.EncodeToString(raw)
	return challenge, derivedCode(key, challenge), expires, nil
}

// parseChallenge authenticates a challenge; ok is false for anything this
// directory's key did not make.
func (s *Store) parseChallenge(ctx context.Context, challenge string) (loginChallenge, []byte, bool, error) {
	i := strings.LastIndexByte(challenge, '.')
	if i <= 0 || !ValidIdentifier(challenge[:i]) {
		return loginChallenge{}, nil, false, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(challenge[i+1:])
	if err != nil || len(raw) != challengeLen {
		return loginChallenge{}, nil, false, nil
	}
	key, err := s.signingKey(ctx)
	if err != nil {
		return loginChallenge{}, nil, false, err
	}
	if !hmac.Equal(raw[challengeSignedLen:], challengeTag(key, challenge[:i], raw[:challengeSignedLen])) {
		return loginChallenge{}, nil, false, nil
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(raw[challengeNonceLen:])), 0)
	return loginChallenge{identifier: challenge[:i], expires: exp, stamp: raw[challengeNonceLen+8 : challengeSignedLen]}, key, true, nil
}

func challengeTag(key []byte, identifier string, signed []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("apex login challenge v2\x00" + identifier + "\x00"))
	m.Write(signed)
	return m.Sum(nil)[:challengeTagLen]
}

// passwordStamp stands for the account's password in its challenges: a MAC
// of its pwdChangedTime ("" when the password never changed), which tells
// the holder of a challenge nothing.
func passwordStamp(key []byte, pwdChanged string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("apex password stamp\x00" + pwdChanged))
	return m.Sum(nil)[:challengeStampLen]
}

// derivedCode is the 6-digit code of a challenge (the modulo bias of a
// 64-bit value over 10^6 is below 10^-13).
func derivedCode(key []byte, challenge string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("apex login code\x00" + challenge))
	return fmt.Sprintf("%06d", binary.BigEndian.Uint64(m.Sum(nil))%1_000_000)
}

// codeRecord is what the directory remembers of a challenge once it has
// been answered or its code sent again (apexLoginCode). The challenge is
// kept as a hash; codeHash is the hash of a code sent again, codeDerived
// while the challenge's own code holds, codeUsed once it opened a session.
// A challenge answered has two values: its record, and a marker
// (codeOpened) that the first answer adds and that stays until the
// challenge expires, so that a second first answer, whose add of the same
// marker fails, cannot start a record of its own.
type codeRecord struct {
	challengeHash string
	expires       time.Time
	attempts      int
	codeHash      string
}

const (
	codeDerived = "-"
	codeUsed    = "used"
	codeOpened  = "opened"
)

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

// IssueLoginCode gives the account a new 6-digit code valid CodeTTL, after
// the password step. Errors: ErrNotFound.
func (s *Store) IssueLoginCode(ctx context.Context, identifier string) (LoginCode, error) {
	const op = "issue login code"
	e, err := s.personEntry(ctx, op, identifier, personAttrs)
	if err != nil {
		return LoginCode{}, err
	}
	return s.issueCode(ctx, op, e)
}

// LoginWithCode checks the password (see Authenticate) and issues a code,
// with the account read once for both and nothing written.
func (s *Store) LoginWithCode(ctx context.Context, identifier, password string) (LoginCode, error) {
	e, err := s.authenticate(ctx, "login", identifier, password)
	if err != nil {
		return LoginCode{}, err
	}
	return s.issueCode(ctx, "login", e)
}

func (s *Store) issueCode(ctx context.Context, op string, e *ldap.Entry) (LoginCode, error) {
	challenge, code, expires, err := s.newChallenge(ctx, e.GetAttributeValue("uid"), e.GetAttributeValue("pwdChangedTime"))
	if err != nil {
		return LoginCode{}, fmt.Errorf("%s: %w", op, err)
	}
	return LoginCode{Challenge: challenge, Code: code, ExpiresAt: expires, Person: s.personFromEntry(e)}, nil
}

// ResendLoginCode sends a new code for a pending challenge, valid until the
// challenge's own expiry: a resend never extends it. The previous code no
// longer works. The wrong tries already made still count, so that asking
// for codes again and again gives no more guesses. Errors: ErrInvalidCode
// when the challenge is unknown or used, or the password changed since it
// was issued; ErrCodeExpired; ErrTooManyAttempts.
func (s *Store) ResendLoginCode(ctx context.Context, challenge string) (LoginCode, error) {
	const op = "resend login code"
	code, err := randomDigits(6)
	if err != nil {
		return LoginCode{}, fmt.Errorf("%s: %w", op, err)
	}
	for range codeCASTries {
		pc, err := s.pendingCode(ctx, op, challenge)
		if err != nil {
			return LoginCode{}, err
		}
		next := pc.rec
		next.codeHash = hashHex(challenge + "|" + code)
		err = s.swapCodeRecord(ctx, op, pc, next)
		if errors.Is(err, errEntryChanged) {
			continue
		}
		if err != nil {
			return LoginCode{}, err
		}
		return LoginCode{Challenge: challenge, Code: code, ExpiresAt: next.expires, Person: s.personFromEntry(pc.entry)}, nil
	}
	return LoginCode{}, fmt.Errorf("%s: %w", op, ErrInvalidCode)
}

// VerifyLoginCode checks the code of a challenge: right, before the
// challenge's expiry, within CodeAttempts tries, once, and with the password
// the challenge was issued for. Each step is a compare-and-swap on the
// account's entry, so two instances (or two tabs) racing on one code cannot
// both use it nor get extra tries, the first answer included. Errors:
// ErrInvalidCode (wrong, unknown or used, or the password changed),
// ErrCodeExpired, ErrTooManyAttempts, ErrInvalidCredentials when the
// account is no longer active.
func (s *Store) VerifyLoginCode(ctx context.Context, challenge, code string) (*Person, error) {
	const op = "verify login code"
	code = strings.TrimSpace(code)
	for range codeCASTries {
		pc, err := s.pendingCode(ctx, op, challenge)
		if err != nil {
			return nil, err
		}
		rec := pc.rec
		var right bool
		if rec.codeHash == codeDerived {
			right = subtle.ConstantTimeCompare([]byte(derivedCode(pc.key, challenge)), []byte(code)) == 1
		} else {
			right = subtle.ConstantTimeCompare([]byte(hashHex(challenge+"|"+code)), []byte(rec.codeHash)) == 1
		}
		next := rec
		if right {
			next.codeHash = codeUsed
		} else {
			next.attempts++
		}
		err = s.swapCodeRecord(ctx, op, pc, next)
		if errors.Is(err, errEntryChanged) {
			continue // read again: the answer is judged on what the record holds now
		}
		if err != nil {
			return nil, err
		}
		if !right {
			if next.attempts >= s.signin.CodeAttempts {
				return nil, fmt.Errorf("%s: %w", op, ErrTooManyAttempts)
			}
			return nil, fmt.Errorf("%s: %d tries left: %w", op, s.signin.CodeAttempts-next.attempts, ErrInvalidCode)
		}
		s.pruneCodeRecords(ctx, op, pc.entry)
		p := s.personFromEntry(pc.entry)
		if p.State != StateActive {
			return nil, fmt.Errorf("%s: account %s: %w", op, p.State, ErrInvalidCredentials)
		}
		return p, nil
	}
	// Other answers kept coming first: nothing was judged nor counted.
	return nil, fmt.Errorf("%s: %w", op, ErrInvalidCode)
}

// pendingChallenge is a live challenge and what the directory remembers of
// it, as read: the record, the stored values to swap (none before the first
// answer, several when answers of an older version raced), and the
// account's pwdChangedTime, which every write asserts.
type pendingChallenge struct {
	entry      *ldap.Entry
	key        []byte
	rec        codeRecord
	old        []string
	pwdChanged string
}

// pendingCode authenticates a challenge, then reads its account and what
// the directory remembers of it, and refuses it when it is used, out of
// tries, expired, or issued for a password that changed since.
func (s *Store) pendingCode(ctx context.Context, op, challenge string) (pendingChallenge, error) {
	lc, key, ok, err := s.parseChallenge(ctx, challenge)
	if err != nil {
		return pendingChallenge{}, fmt.Errorf("%s: %w", op, err)
	}
	if !ok {
		return pendingChallenge{}, fmt.Errorf("%s: %w", op, ErrInvalidCode)
	}
	e, err := s.searchOne(ctx, op, s.base, ldap.ScopeWholeSubtree, and("(objectClass=apexPerson)", eq("uid", lc.identifier)),
		append([]string{"apexLoginCode"}, personAttrs...))
	if errors.Is(err, ErrNotFound) {
		return pendingChallenge{}, fmt.Errorf("%s: %w", op, ErrInvalidCode)
	}
	if err != nil {
		return pendingChallenge{}, err
	}
	if !hmac.Equal(lc.stamp, passwordStamp(key, e.GetAttributeValue("pwdChangedTime"))) {
		return pendingChallenge{}, fmt.Errorf("%s: the password changed since: %w", op, ErrInvalidCode)
	}
	pc := pendingChallenge{entry: e, key: key, pwdChanged: e.GetAttributeValue("pwdChangedTime"),
		rec: codeRecord{challengeHash: hashHex(challenge), expires: lc.expires, codeHash: codeDerived}}
	for _, v := range e.GetAttributeValues("apexLoginCode") {
		r, ok := parseCodeRecord(v)
		if !ok || r.codeHash == codeOpened || subtle.ConstantTimeCompare([]byte(r.challengeHash), []byte(pc.rec.challengeHash)) != 1 {
			continue
		}
		switch {
		case len(pc.old) > 0 && pc.rec.codeHash == codeUsed: // used stays used
		case len(pc.old) == 0, r.codeHash == codeUsed, r.attempts > pc.rec.attempts:
			pc.rec = r
		}
		pc.old = append(pc.old, v)
	}
	// The signed expiry is the challenge's: a record written by an older
	// version, whose resends extended it, gets no longer.
	if lc.expires.Before(pc.rec.expires) {
		pc.rec.expires = lc.expires
	}
	switch {
	case pc.rec.codeHash == codeUsed:
		return pendingChallenge{}, fmt.Errorf("%s: %w", op, ErrInvalidCode)
	case pc.rec.attempts >= s.signin.CodeAttempts:
		return pendingChallenge{}, fmt.Errorf("%s: %w", op, ErrTooManyAttempts)
	case !s.now().Before(pc.rec.expires):
		return pendingChallenge{}, fmt.Errorf("%s: %w", op, ErrCodeExpired)
	}
	return pc, nil
}

// swapCodeRecord replaces the values read by next: a compare-and-swap, as
// the delete of a value another answer replaced first fails. The first
// answer has no value to delete: it adds the challenge's marker, which a
// racing first answer has added first or not at all. Every write asserts
// the pwdChangedTime read, so that an answer read just before a password
// change writes nothing. The loser gets errEntryChanged, and its try does
// not count until it is judged again on a new read.
func (s *Store) swapCodeRecord(ctx context.Context, op string, pc pendingChallenge, next codeRecord) error {
	unchanged := eq("pwdChangedTime", pc.pwdChanged)
	if pc.pwdChanged == "" {
		unchanged = "(!(pwdChangedTime=*))"
	}
	err := s.do(ctx, op, func(c *ldap.Conn) error {
		req := ldap.NewModifyRequest(pc.entry.DN, []ldap.Control{assertion{unchanged}})
		if len(pc.old) > 0 {
			req.Delete("apexLoginCode", pc.old)
		} else {
			marker := codeRecord{challengeHash: next.challengeHash, expires: next.expires, codeHash: codeOpened}
			req.Add("apexLoginCode", []string{marker.String()})
		}
		req.Add("apexLoginCode", []string{next.String()})
		return c.Modify(req)
	})
	if errors.Is(err, ErrConflict) {
		return fmt.Errorf("%s: %w", op, errEntryChanged)
	}
	return err
}

// errEntryChanged: a challenge's record was not written because another
// answer or a password change came first; the answer is judged again on a
// new read.
var errEntryChanged = errors.New("the entry changed since it was read")

// codeCASTries bounds the reads and writes of one answer to a challenge
// when other answers to it keep coming first; each round lets one through.
const codeCASTries = 16

// pruneCodeRecords forgets the records of expired challenges, whose codes
// fail on their expiry alone. It runs after a sign-in succeeded, apart
// from the compare-and-swap, and a failure (another instance pruned
// first) changes nothing that matters.
func (s *Store) pruneCodeRecords(ctx context.Context, op string, e *ldap.Entry) {
	var stale []string
	for _, v := range e.GetAttributeValues("apexLoginCode") {
		if r, ok := parseCodeRecord(v); !ok || !s.now().Before(r.expires) {
			stale = append(stale, v)
		}
	}
	if len(stale) == 0 {
		return
	}
	s.do(ctx, op, func(c *ldap.Conn) error {
		req := ldap.NewModifyRequest(e.DN, nil)
		req.Delete("apexLoginCode", stale)
		return c.Modify(req)
	})
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
// pruned, and the client's address noted as one the account signed in
// from (see noteKnownAddress), by the same modify. Errors: ErrNotFound.
func (s *Store) CreateSession(ctx context.Context, identifier string) (string, error) {
	const op = "create session"
	for try := 1; ; try++ {
		e, err := s.personEntry(ctx, op, identifier, []string{"uid", "apexSession", "apexKnownAddress"})
		if err != nil {
			return "", err
		}
		token := e.GetAttributeValue("uid") + "." + randomToken()
		now := s.now().Unix()
		req := ldap.NewModifyRequest(e.DN, nil)
		for _, v := range e.GetAttributeValues("apexSession") {
			if rec, ok := parseSessionRecord(v); !ok || s.sessionIdle(rec) {
				req.Delete("apexSession", []string{v})
			}
		}
		req.Add("apexSession", []string{sessionRecord{hash: hashHex(token), lastSeen: now, created: now}.String()})
		if err := s.noteKnownAddress(ctx, req, e); err != nil {
			return "", err
		}
		err = s.do(ctx, op, func(c *ldap.Conn) error { return c.Modify(req) })
		if errors.Is(err, ErrConflict) && try < 3 {
			continue // another sign-in of the account changed the values read: read them again
		}
		if err != nil {
			return "", err
		}
		return token, nil
	}
}

// Session returns the account of a session token and keeps the session
// alive. Errors: ErrSessionExpired when the token is unknown, ended or idle
// too long, or the account is no longer active.
func (s *Store) Session(ctx context.Context, token string) (*Person, error) {
	p, _, err := s.SessionAnd(ctx, token, "")
	return p, err
}

// SessionAnd is Session, reading in the same search the account named by
// other (nil when there is none, or other is empty): a request that shows
// an account costs one round trip to the directory, not two. Errors: see
// Session.
func (s *Store) SessionAnd(ctx context.Context, token, other string) (*Person, *Person, error) {
	const op = "session"
	identifier := challengeIdentifier(token)
	if identifier == "" {
		return nil, nil, fmt.Errorf("%s: %w", op, ErrSessionExpired)
	}
	if other != "" {
		other, _ = CanonicalIdentifier(other) // an identifier of no account's form names none
	}
	uids := eq("uid", identifier)
	if other != "" && !strings.EqualFold(other, identifier) {
		uids = or(uids, eq("uid", other))
	}
	entries, err := s.searchFew(ctx, op, s.base, ldap.ScopeWholeSubtree, and("(objectClass=apexPerson)", uids),
		append([]string{"apexSession"}, personAttrs...), 2)
	if err != nil {
		return nil, nil, err
	}
	var e *ldap.Entry
	var found *Person
	for _, x := range entries {
		switch uid := x.GetAttributeValue("uid"); {
		case strings.EqualFold(uid, identifier):
			e = x
		case other != "" && strings.EqualFold(uid, other):
			found = s.personFromEntry(x)
		}
	}
	if e == nil {
		return nil, nil, fmt.Errorf("%s: %w", op, ErrSessionExpired)
	}
	if other != "" && strings.EqualFold(other, identifier) {
		found = s.personFromEntry(e)
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
			return nil, nil, fmt.Errorf("%s: %w", op, ErrSessionExpired)
		}
		p.session = v
		if now := s.now().Unix(); now-rec.lastSeen >= int64(sessionTouchEvery/time.Second) {
			touched := rec
			touched.lastSeen = now
			// A failed touch (another request touched it first) is harmless.
			err := s.do(ctx, op, func(c *ldap.Conn) error {
				req := ldap.NewModifyRequest(e.DN, nil)
				req.Delete("apexSession", []string{v})
				req.Add("apexSession", []string{touched.String()})
				return c.Modify(req)
			})
			if err == nil {
				p.session = touched.String()
			}
		}
		return p, found, nil
	}
	return nil, nil, fmt.Errorf("%s: %w", op, ErrSessionExpired)
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
