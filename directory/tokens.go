package directory

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// The tokens the directory hands out, and the records it keeps of them.
// A token (a session's, a link's, a reset id, a captcha id) is random,
// URL-safe and leaves in clear; the directory keeps only its hash. A
// sign-in challenge is signed instead, and stored only once answered. Each
// record is one attribute value of words separated by spaces, the first
// one its version ("v1 …"): a value this version cannot read is never
// used.

// challengeIdentifier reads the identifier a challenge or session token
// starts with: "<identifier>.<random>", the identifier holding one dot itself.
func challengeIdentifier(token string) string {
	i := strings.LastIndexByte(token, '.')
	if i <= 0 || !ValidIdentifier(token[:i]) || len(token)-i-1 != 43 {
		return ""
	}
	return token[:i]
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

// sessionRecord is a session of the account (apexSession): the hash of
// its token, when it was last used and when it was opened, in Unix seconds.
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

// resetRecord is the stored form of a pending renewal (apexReset): a code
// waiting for its check, or a link token waiting for the new password.
type resetRecord struct {
	kind     string // "code" or "link"
	hash     string // of the reset id (code) or of the token (link)
	expires  time.Time
	attempts int
	codeHash string // code only
}

func (r resetRecord) String() string {
	code := r.codeHash
	if code == "" {
		code = "-"
	}
	return fmt.Sprintf("v1 %s %s %d %d %s", r.kind, r.hash, r.expires.Unix(), r.attempts, code)
}

func parseResetRecord(s string) (resetRecord, bool) {
	f := strings.Fields(s)
	if len(f) != 6 || f[0] != "v1" || (f[1] != "code" && f[1] != "link") {
		return resetRecord{}, false
	}
	exp, err1 := strconv.ParseInt(f[3], 10, 64)
	attempts, err2 := strconv.Atoi(f[4])
	r := resetRecord{kind: f[1], hash: f[2], expires: time.Unix(exp, 0), attempts: attempts}
	if f[5] != "-" {
		r.codeHash = f[5]
	}
	return r, err1 == nil && err2 == nil
}

// captchaRecord is a captcha (its entry's description): its expiry, in
// Unix seconds, and its answer.
type captchaRecord struct {
	expires time.Time
	digits  string
}

func (r captchaRecord) String() string { return fmt.Sprintf("v1 %d %s", r.expires.Unix(), r.digits) }

func parseCaptchaRecord(s string) (captchaRecord, bool) {
	f := strings.Fields(s)
	if len(f) != 3 || f[0] != "v1" || !validCaptchaAnswer(f[2]) {
		return captchaRecord{}, false
	}
	exp, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return captchaRecord{}, false
	}
	return captchaRecord{expires: time.Unix(exp, 0), digits: f[2]}, true
}

func validCaptchaAnswer(s string) bool {
	if len(s) == 0 || len(s) > captchaMaxDigits {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validCaptchaID accepts what randomToken makes: 43 characters of base64url.
func validCaptchaID(id string) bool {
	if len(id) != 43 {
		return false
	}
	for _, r := range id {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// knownAddress is an address the account signed in from (apexKnownAddress,
// see ldap_addresses.go): its keyed hash and its last use, in Unix seconds.
type knownAddress struct {
	mac     string
	lastUse int64
}

func (a knownAddress) String() string { return fmt.Sprintf("v1 %s %d", a.mac, a.lastUse) }

func parseKnownAddress(s string) (knownAddress, bool) {
	f := strings.Fields(s)
	if len(f) != 3 || f[0] != "v1" {
		return knownAddress{}, false
	}
	t, err := strconv.ParseInt(f[2], 10, 64)
	return knownAddress{mac: f[1], lastUse: t}, err == nil
}

// invitationRecord is the stored form of a pending invitation (apexInvitation).
type invitationRecord struct {
	hash    string
	expires time.Time
}

func (r invitationRecord) String() string { return fmt.Sprintf("v1 %s %d", r.hash, r.expires.Unix()) }

func parseInvitationRecord(s string) (invitationRecord, bool) {
	f := strings.Fields(s)
	if len(f) != 3 || f[0] != "v1" {
		return invitationRecord{}, false
	}
	exp, err := strconv.ParseInt(f[2], 10, 64)
	return invitationRecord{hash: f[1], expires: time.Unix(exp, 0)}, err == nil
}

func (s *Store) newInvitationToken(requestID string) (string, invitationRecord) {
	token := requestID + "." + randomToken()
	return token, invitationRecord{hash: hashHex(token), expires: s.now().Add(s.invitationTTL).Truncate(time.Second)}
}

// NewRequestID returns a random identifier for an account request.
func NewRequestID() string {
	b := make([]byte, 15)
	rand.Read(b)
	return strings.ToLower(base32.StdEncoding.EncodeToString(b))
}

// An OpenID Connect sign-in request (ou=oidc,ou=system) is named
// "<tree>.<hash of its id>", its id a random token and its tree the first
// digits of the hash of the store's base (as the limits' counters are), so
// that a store purges the requests of its own tree only, whatever the
// clocks of other trees' stores on the same server. Its record is the
// description of its entry: "v1 " and the request as compact JSON. Its
// code is "<its entry's cn>.<random>": it names the entry it belongs to,
// and the record keeps the code's hash.

func (s *Store) oidcCN(id string) string { return s.limitTree() + "." + hashHex(id) }

func oidcRequestRecord(r *OIDCRequest) string {
	raw, _ := json.Marshal(r)
	return "v1 " + string(raw)
}

func parseOIDCRequestRecord(s string) (*OIDCRequest, bool) {
	raw, ok := strings.CutPrefix(s, "v1 ")
	if !ok {
		return nil, false
	}
	var r OIDCRequest
	if err := json.Unmarshal([]byte(raw), &r); err != nil || r.ClientID == "" || r.Expires.IsZero() {
		return nil, false
	}
	return &r, true
}

// newOIDCCode is a code for the request named cn.
func newOIDCCode(cn string) string { return cn + "." + randomToken() }

// oidcCodeRequest reads the cn of the request a code names, or "".
func oidcCodeRequest(code string) string {
	i := strings.LastIndexByte(code, '.')
	if i < 0 || !validCaptchaID(code[i+1:]) {
		return ""
	}
	tree, hash, ok := strings.Cut(code[:i], ".")
	if !ok || len(tree) != 16 || len(hash) != 64 || !lowerHex(tree) || !lowerHex(hash) {
		return ""
	}
	return code[:i]
}

func lowerHex(s string) bool {
	for i := range len(s) {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// oidcKeyRecord is a signing key of the provider (apexOidcKey): its id,
// when it was made and retired (0 while it signs), in Unix seconds, and
// the key in PKCS #8, base64.
func oidcKeyRecord(k OIDCKey) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		return "", err
	}
	var retired int64
	if !k.Retired.IsZero() {
		retired = k.Retired.Unix()
	}
	return fmt.Sprintf("v1 %s %d %d %s", k.ID, k.Created.Unix(), retired, base64.StdEncoding.EncodeToString(der)), nil
}

func parseOIDCKeyRecord(s string) (OIDCKey, bool) {
	f := strings.Fields(s)
	if len(f) != 5 || f[0] != "v1" || f[1] == "" {
		return OIDCKey{}, false
	}
	created, err1 := strconv.ParseInt(f[2], 10, 64)
	retired, err2 := strconv.ParseInt(f[3], 10, 64)
	der, err3 := base64.StdEncoding.DecodeString(f[4])
	if err1 != nil || err2 != nil || err3 != nil {
		return OIDCKey{}, false
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	rsaKey, ok := key.(*rsa.PrivateKey)
	if err != nil || !ok {
		return OIDCKey{}, false
	}
	k := OIDCKey{ID: f[1], Private: rsaKey, Created: time.Unix(created, 0)}
	if retired != 0 {
		k.Retired = time.Unix(retired, 0)
	}
	return k, true
}

// newOIDCKeyID is a key id: 96 random bits, URL-safe.
func newOIDCKeyID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// endRecord is an end date of an account or of one of its habilitations
// (apexEnd, see ldap_ends.go): key is endAccount or "<application>/<profile>".
type endRecord struct {
	key string
	end time.Time
}

// endAccount is the key of the account's own end date.
const endAccount = "account"

func (r endRecord) String() string { return fmt.Sprintf("v1 %s %d", r.key, r.end.Unix()) }

func parseEndRecord(s string) (endRecord, bool) {
	f := strings.Fields(s)
	if len(f) != 3 || f[0] != "v1" || f[1] == "" {
		return endRecord{}, false
	}
	t, err := strconv.ParseInt(f[2], 10, 64)
	return endRecord{key: f[1], end: time.Unix(t, 0).UTC()}, err == nil
}

// The notices (apexNotice): one value per mail that must go once, added by
// the modify that records it, so that a second add of the same value, by
// another instance or a later run, fails. Each names what it is about, so
// that a new cause (a new last use, a new end date, a new link) is told again.

// dormancyNotice records a dormancy warning sent for the last use basis,
// stage before the deadline; deadline is the disabling it announced.
type dormancyNotice struct {
	basis    time.Time
	stage    time.Duration
	deadline time.Time
}

func (n dormancyNotice) String() string {
	return fmt.Sprintf("%s %d %d", dormancyNoticePrefix(n.basis), int64(n.stage/time.Second), n.deadline.Unix())
}

// dormancyNoticePrefix starts the dormancy notices of a last use basis.
func dormancyNoticePrefix(basis time.Time) string { return fmt.Sprintf("v1 dormancy %d", basis.Unix()) }

func parseDormancyNotice(s string) (dormancyNotice, bool) {
	f := strings.Fields(s)
	if len(f) != 5 || f[0] != "v1" || f[1] != "dormancy" {
		return dormancyNotice{}, false
	}
	var n [3]int64
	for i := range n {
		v, err := strconv.ParseInt(f[2+i], 10, 64)
		if err != nil {
			return dormancyNotice{}, false
		}
		n[i] = v
	}
	return dormancyNotice{basis: time.Unix(n[0], 0).UTC(), stage: time.Duration(n[1]) * time.Second, deadline: time.Unix(n[2], 0).UTC()}, true
}

// endNotice records the warning sent before the end r.
func endNotice(r endRecord) string { return fmt.Sprintf("v1 end %s %d", r.key, r.end.Unix()) }

// reminderNotice records the reminder sent for the invitation link that expires then.
func reminderNotice(expires time.Time) string { return fmt.Sprintf("v1 reminder %d", expires.Unix()) }

// mailChangeRecord is a new mail address waiting for its confirmation
// (apexMailChange): the address (base64url, so that the record splits on
// spaces whatever it holds), the hash of the link's token, the MAC of the
// code under the directory's key (codeMAC: the code alone, 6 digits, would
// fall to a search of its hash), the expiry, the wrong codes so far, and
// who asked: the identifier of the manager who did, "" when the person did.
type mailChangeRecord struct {
	email    string
	linkHash string
	codeMAC  string
	expires  time.Time
	attempts int
	by       string
}

func (r mailChangeRecord) String() string {
	by := r.by
	if by == "" {
		by = "-"
	}
	return fmt.Sprintf("v1 %s %s %s %d %d %s", base64.RawURLEncoding.EncodeToString([]byte(r.email)),
		r.linkHash, r.codeMAC, r.expires.Unix(), r.attempts, by)
}

func parseMailChangeRecord(s string) (mailChangeRecord, bool) {
	f := strings.Fields(s)
	if len(f) != 7 || f[0] != "v1" {
		return mailChangeRecord{}, false
	}
	email, err1 := base64.RawURLEncoding.DecodeString(f[1])
	exp, err2 := strconv.ParseInt(f[4], 10, 64)
	attempts, err3 := strconv.Atoi(f[5])
	if err1 != nil || err2 != nil || err3 != nil || len(email) == 0 {
		return mailChangeRecord{}, false
	}
	r := mailChangeRecord{email: string(email), linkHash: f[2], codeMAC: f[3], expires: time.Unix(exp, 0), attempts: attempts}
	if f[6] != "-" {
		r.by = f[6]
	}
	return r, true
}

// mailChangeCode is the MAC of a mail change's code under the directory's
// key, bound to the change (its link's hash), as its record keeps it.
func mailChangeCode(key []byte, linkHash, code string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("apex mail change code\x00" + linkHash + "\x00" + code))
	return hex.EncodeToString(m.Sum(nil))
}
