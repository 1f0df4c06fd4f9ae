package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/dgfip/apex-partenaires/ldif"
	"github.com/dgfip/apex-partenaires/notify"
)

// Validate checks every key once and reports all problems together, each
// named by its key. Each section finds its own problems; the limits have
// none left to find, since Load reads each with directory.ParseLimit and
// refuses a bad one, naming its key.
func (c *Config) Validate() error {
	all := slices.Concat(c.HTTP.problems(), c.LDAP.problems(), c.Auth.problems(), c.OIDC.problems(), c.Mail.problems(), c.SMS.problems(), c.accessProblems())
	if len(all) == 0 {
		return nil
	}
	return errors.New("invalid configuration:\n  " + strings.Join(all, "\n  "))
}

// problems are what is wrong in a section, each named by its key.
type problems []string

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, key+": "+fmt.Sprintf(format, args...))
}

func (h HTTP) problems() problems {
	var p problems
	if _, _, err := net.SplitHostPort(h.Addr); err != nil {
		p.add("http.addr", "%q is not HOST:PORT", h.Addr)
	}
	if u, err := url.Parse(h.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.add("http.public_url", "%q is not an http:// or https:// URL", h.PublicURL)
	}
	if a := h.PprofAddr; a != "" {
		// Profiles show request paths and timings: never beyond loopback.
		if host, _, err := net.SplitHostPort(a); err != nil || !isLoopback(host) {
			p.add("http.pprof_addr", "%q is not a loopback HOST:PORT", a)
		}
	}
	if a := h.MetricsAddr; a != "" {
		if _, port, err := net.SplitHostPort(a); err != nil || !validPort(port, true) {
			p.add("http.metrics_addr", "%q is not HOST:PORT", a)
		} else if sameListener(a, h.Addr) || sameListener(a, h.PprofAddr) {
			p.add("http.metrics_addr", "%q must differ from http.addr and http.pprof_addr: the metrics are served apart", a)
		}
	}
	for _, proxy := range h.TrustedProxies {
		if _, _, err := net.ParseCIDR(proxy); err != nil && net.ParseIP(proxy) == nil {
			p.add("http.trusted_proxies", "%q is neither an IP address nor a CIDR", proxy)
		}
	}
	return p
}

func (l LDAP) problems() problems {
	var p problems
	baseDN, err := ldap.ParseDN(l.BaseDN)
	switch {
	case l.BaseDN == "":
		p.add("ldap.base_dn", "is required")
	case err != nil:
		p.add("ldap.base_dn", "%q is not a DN: %v", l.BaseDN, err)
	case l.Embedded() && !allDC(baseDN):
		p.add("ldap.base_dn", "%q must be made of dc= components for the embedded slapd", l.BaseDN)
	}
	if l.BindDN != "" {
		if _, err := ldap.ParseDN(l.BindDN); err != nil {
			p.add("ldap.bind_dn", "%q is not a DN: %v", l.BindDN, err)
		}
	}
	if l.Embedded() {
		p = append(p, l.embeddedProblems()...)
	} else {
		p = append(p, l.externalProblems()...)
	}
	if l.PoolSize <= 0 {
		p.add("ldap.pool_size", "must be at least 1, not %d", l.PoolSize)
	}
	if l.Timeout <= 0 {
		p.add("ldap.timeout", "must be a positive duration such as 10s, not %s", l.Timeout)
	}
	return p
}

// embeddedProblems are those of the keys that matter when ldap.url is
// empty: the embedded slapd's.
func (l LDAP) embeddedProblems() problems {
	var p problems
	if l.EmbeddedDir == "" {
		p.add("ldap.embedded_dir", "is required when ldap.url is empty (embedded slapd)")
	}
	if u, err := url.Parse(l.EmbeddedListen); err != nil || u.Scheme != "ldap" || u.Hostname() == "" || !validPort(u.Port(), true) {
		p.add("ldap.embedded_listen", "%q is not ldap://HOST:PORT", l.EmbeddedListen)
	}
	if l.BindDN != "" && l.BaseDN != "" && !sameDN(l.BindDN, ldif.ServiceDN(l.BaseDN)) {
		p.add("ldap.bind_dn", "the embedded slapd knows only %s: leave it empty", ldif.ServiceDN(l.BaseDN))
	}
	if !validLogLevel(l.LogLevel) {
		p.add("ldap.log_level", "%q is not a slapd log level (a name such as stats, none, any, or a number)", l.LogLevel)
	}
	return p
}

// externalProblems are those of the keys that matter when ldap.url is set.
func (l LDAP) externalProblems() problems {
	var p problems
	// Several URLs, separated by spaces, are tried in turn (fail-over).
	if strings.TrimSpace(l.URL) == "" {
		p.add("ldap.url", "holds no URL")
	}
	for _, one := range strings.Fields(l.URL) {
		if u, err := url.Parse(one); err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Hostname() == "" {
			p.add("ldap.url", "%q is not an ldap:// or ldaps:// URL", one)
		}
	}
	if l.BindPassword == "" {
		p.add("ldap.bind_password", "is required when ldap.url is set (APEX_LDAP_BIND_PASSWORD)")
	}
	if l.StartTLS && l.CAFile == "" {
		p.add("ldap.start_tls", "needs ldap.ca_file, the CA that signed the directory's certificate")
	}
	if l.CAFile != "" {
		if _, err := l.TLSConfig(); err != nil {
			p.add("ldap.ca_file", "%v", err)
		}
	}
	return p
}

func (a Auth) problems() problems {
	var p problems
	if a.CodeTTL <= 0 {
		p.add("auth.code_ttl", "must be a positive duration such as 10m, not %s", a.CodeTTL)
	}
	if a.CodeAttempts <= 0 {
		p.add("auth.code_attempts", "must be at least 1, not %d", a.CodeAttempts)
	}
	if a.SessionIdle <= 0 {
		p.add("auth.session_idle", "must be a positive duration such as 30m, not %s", a.SessionIdle)
	}
	if a.InvitationTTL < time.Hour {
		p.add("auth.invitation_ttl", "must be a duration of an hour or more such as 168h, not %s", a.InvitationTTL)
	}
	if a.ResetLinkTTL < time.Minute {
		p.add("auth.reset_link_ttl", "must be a duration of a minute or more such as 1h, not %s", a.ResetLinkTTL)
	}
	if a.InvitationReminder <= 0 || a.InvitationReminder >= a.InvitationTTL {
		p.add("auth.invitation_reminder", "must be a positive duration shorter than auth.invitation_ttl (%s), such as 48h, not %s", a.InvitationTTL, a.InvitationReminder)
	}
	return p
}

// accessProblems are those of the scheduled jobs and of what they apply.
func (c *Config) accessProblems() problems {
	var p problems
	j := c.Jobs
	if j.Tick <= 0 {
		p.add("jobs.tick", "must be a positive duration such as 1m, not %s", j.Tick)
	}
	if j.Lease < 3*time.Second {
		p.add("jobs.lease", "must be a duration of 3s or more such as 2m (it is renewed every third of it), not %s", j.Lease)
	}
	for key, job := range map[string]Job{"dormancy": j.Dormancy, "end_dates": j.EndDates, "invitation_reminders": j.InvitationReminders} {
		if job.Interval <= 0 {
			p.add("jobs."+key+".interval", "must be a positive duration such as 1h, not %s", job.Interval)
		}
	}
	if c.Dormancy.After < 24*time.Hour {
		p.add("dormancy.after", "must be a duration of a day or more such as 4320h (180 days), not %s", c.Dormancy.After)
	}
	for _, w := range c.Dormancy.Warnings {
		if w <= 0 || w >= c.Dormancy.After {
			p.add("dormancy.warnings", "each must be a positive duration shorter than dormancy.after (%s), not %s", c.Dormancy.After, w)
		}
	}
	if c.EndDates.Warning <= 0 {
		p.add("end_dates.warning", "must be a positive duration such as 168h, not %s", c.EndDates.Warning)
	}
	if m := c.Mail.AgentsMailbox; m != "" {
		if a, err := mail.ParseAddress(m); err != nil || a.Address != m {
			p.add("mail.agents_mailbox", "%q is not a mail address", m)
		}
	}
	slices.Sort(p) // the map's order
	return p
}

// problems of the token lives: short, since a bearer token cannot be
// taken back, but long enough for an application to use.
func (o OIDC) problems() problems {
	var p problems
	for _, ttl := range []struct {
		key string
		d   time.Duration
	}{{"oidc.id_token_ttl", o.IDTokenTTL}, {"oidc.access_token_ttl", o.AccessTokenTTL}} {
		if ttl.d < time.Minute || ttl.d > time.Hour {
			p.add(ttl.key, "must be a duration from 1m to 1h such as 5m, not %s", ttl.d)
		}
	}
	return p
}

func (m Mail) problems() problems {
	var p problems
	if m.SpoolDir == "" {
		p.add("mail.spool_dir", "is required")
	}
	if m.OutboxDir == "" {
		p.add("mail.outbox_dir", "is required (it also keeps the mails given up on, in failed/)")
	}
	if a, err := mail.ParseAddress(m.From); err != nil || a.Address == "" {
		p.add("mail.from", "%q is not a mail address", m.From)
	}
	switch m.SMTP.TLS {
	case TLSNone, TLSStartTLS, TLSImplicit:
	default:
		p.add("mail.smtp.tls", "%q must be none, starttls or tls", m.SMTP.TLS)
	}
	if !validPort(strconv.Itoa(m.SMTP.Port), false) {
		p.add("mail.smtp.port", "%d is not a port", m.SMTP.Port)
	}
	if m.SMTP.Password != "" && m.SMTP.Username == "" {
		p.add("mail.smtp.username", "is required with mail.smtp.password")
	}
	return p
}

func (s SMS) problems() problems {
	var p problems
	g := s.Gateway
	if g.URL == "" {
		if s.OutboxDir == "" {
			p.add("sms.outbox_dir", "is required when sms.gateway.url is empty")
		}
	} else if u, err := url.Parse(g.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.add("sms.gateway.url", "is not an http:// or https:// URL") // the URL may hold a key: not shown
	}
	switch g.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
	default:
		p.add("sms.gateway.method", "%q must be POST, PUT or PATCH", g.Method)
	}
	for _, name := range slices.Sorted(maps.Keys(g.Headers)) {
		value := g.Headers[name]
		if !validHeaderName(name) {
			p.add("sms.gateway.headers", "%q is not a header name", name)
		}
		if strings.ContainsAny(value, "\r\n\x00") {
			p.add("sms.gateway.headers", "the value of %s holds a line break or a NUL", name) // the value may be a key: not shown
		}
	}
	if g.Body != "" {
		// Parsed and tried by the gateway itself; a placeholder URL, since
		// the body is checked even when no gateway is used yet.
		if _, err := notify.NewGateway(notify.GatewayConfig{URL: "http://127.0.0.1/", Body: g.Body}); err != nil {
			p.add("sms.gateway.body", "%v", err)
		}
	}
	if g.SuccessStatus != 0 && (g.SuccessStatus < 100 || g.SuccessStatus > 599) {
		p.add("sms.gateway.success_status", "%d is not an HTTP status (0 accepts any 2xx)", g.SuccessStatus)
	}
	return p
}

// validHeaderName accepts an HTTP field name: a token (RFC 9110).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func allDC(dn *ldap.DN) bool {
	for _, r := range dn.RDNs {
		if len(r.Attributes) != 1 || !strings.EqualFold(r.Attributes[0].Type, "dc") {
			return false
		}
	}
	return len(dn.RDNs) > 0
}

func sameDN(a, b string) bool {
	da, errA := ldap.ParseDN(a)
	db, errB := ldap.ParseDN(b)
	return errA == nil && errB == nil && da.EqualFold(db)
}

// sameListener reports two HOST:PORT that would take the same port: the
// same port (not 0, a free one) on the same host or on every interface.
func sameListener(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil || pa != pb || pa == "0" {
		return false
	}
	wildcard := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ha == hb || wildcard(ha) || wildcard(hb)
}

// validPort accepts 1 to 65535, and 0 (a free port) when zeroOK.
func validPort(s string, zeroOK bool) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n <= 65535 && (n > 0 || zeroOK && n == 0)
}

// slapdLogLevels are the names slapd's olcLogLevel and -d accept.
var slapdLogLevels = map[string]bool{
	"any": true, "trace": true, "packets": true, "args": true, "conns": true, "ber": true,
	"filter": true, "config": true, "acl": true, "stats": true, "stats2": true,
	"shell": true, "parse": true, "sync": true, "none": true,
}

// validLogLevel accepts one level name or number: the value goes into
// cn=config and onto slapd's command line.
func validLogLevel(s string) bool {
	if slapdLogLevels[strings.ToLower(s)] {
		return true
	}
	_, err := strconv.ParseUint(s, 0, 32)
	return err == nil
}

// isLoopback accepts localhost and loopback addresses.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
