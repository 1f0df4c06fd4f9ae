// Package config reads the configuration of the APEX Partenaires programs
// (apexd, apexctl) into one typed Config: its defaults, its loading and its
// validation. It is the only package that reads viper: everything else
// takes plain typed configuration (cmd/internal/embedded opens the
// directory from it, cmd/internal/mailer the mail and SMS paths).
//
// A value comes, by order of precedence, from an APEX_ environment variable
// (ldap.url is APEX_LDAP_URL, mail.smtp.host is APEX_MAIL_SMTP_HOST), from
// the YAML configuration file, or from the defaults below. The one map,
// sms.gateway.headers, takes its variable as a JSON object
// (APEX_SMS_GATEWAY_HEADERS='{"Authorization": "Bearer …"}'). An unknown
// key in the file is an error, and so is an APEX_ variable that names no
// key, but the project's own test switches (see ownVariables).
package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/spf13/viper"

	"github.com/dgfip/apex-partenaires/directory"
	"github.com/dgfip/apex-partenaires/ldif"
	"github.com/dgfip/apex-partenaires/notify"
)

// DefaultFile is the configuration file read when no --config flag is given.
const DefaultFile = "config.yaml"

// EnvPrefix starts the environment variables that override the file.
const EnvPrefix = "APEX"

// Config is the whole configuration, one field per key.
type Config struct {
	HTTP HTTP `mapstructure:"http"`
	LDAP LDAP `mapstructure:"ldap"`
	Auth Auth `mapstructure:"auth"`
	OIDC OIDC `mapstructure:"oidc"`
	Mail Mail `mapstructure:"mail"`
	SMS  SMS  `mapstructure:"sms"`
	// Limits are the abuse limits, each "MAX/WINDOW" or "off".
	Limits Limits `mapstructure:"limits"`
	// Jobs are the scheduled jobs, run once for the whole directory.
	Jobs     Jobs     `mapstructure:"jobs"`
	Dormancy Dormancy `mapstructure:"dormancy"`
	EndDates EndDates `mapstructure:"end_dates"`
	Reviews  Reviews  `mapstructure:"reviews"`

	// File is the configuration file that was read; empty when it was missing.
	File string `mapstructure:"-"`
}

// HTTP is where the web service listens and how it is reached.
type HTTP struct {
	Addr      string `mapstructure:"addr"`       // host:port to listen on
	PublicURL string `mapstructure:"public_url"` // the address users see, for links in mails
	PprofAddr string `mapstructure:"pprof_addr"` // loopback host:port for net/http/pprof; empty: off
	// MetricsAddr is the host:port serving /metrics apart from the service;
	// empty: off. Any interface is allowed, for a Prometheus on another
	// machine: choose an internal one.
	MetricsAddr string `mapstructure:"metrics_addr"`
	// TrustedProxies are the reverse proxies (addresses or CIDRs) whose
	// X-Forwarded-For gives the client address; empty believes no header.
	TrustedProxies []string `mapstructure:"trusted_proxies"`
}

// LDAP says which directory to use: an external one (URL set) or a slapd
// started by the program itself (URL empty).
type LDAP struct {
	URL            string        `mapstructure:"url"`             // ldap:// or ldaps://, several separated by spaces for fail-over; empty for the embedded slapd
	EmbeddedDir    string        `mapstructure:"embedded_dir"`    // the embedded slapd's data folder
	EmbeddedListen string        `mapstructure:"embedded_listen"` // ldap://HOST:PORT of the embedded slapd
	BaseDN         string        `mapstructure:"base_dn"`         // the directory's suffix
	BindDN         string        `mapstructure:"bind_dn"`         // the service's account; empty for ldif.ServiceDN(BaseDN)
	BindPassword   string        `mapstructure:"bind_password"`   // required with an external directory
	PoolSize       int           `mapstructure:"pool_size"`       // connections bound as the service
	Timeout        time.Duration `mapstructure:"timeout"`         // of a dial and of every request
	LogLevel       string        `mapstructure:"log_level"`       // the embedded slapd's log level
	CAFile         string        `mapstructure:"ca_file"`         // PEM certificates of the CA that signed the directory's: ldaps:// and StartTLS trust only them
	StartTLS       bool          `mapstructure:"start_tls"`       // upgrade ldap:// connections with StartTLS (requires ca_file)
}

// TLSConfig is the TLS configuration of connections to an external
// directory: nil without ldap.ca_file (ldaps:// then trusts the system's
// CAs), otherwise one that trusts only the CAs of that file. The server's
// name is always checked.
func (l LDAP) TLSConfig() (*tls.Config, error) {
	if l.CAFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(l.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", l.CAFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// Embedded reports whether the programs start their own slapd.
func (l LDAP) Embedded() bool { return l.URL == "" }

// ServiceDN is the DN the service binds with: BindDN, or the service
// account of the base entries when BindDN is empty.
func (l LDAP) ServiceDN() string {
	if l.BindDN != "" {
		return l.BindDN
	}
	return ldif.ServiceDN(l.BaseDN)
}

// Auth is the sign-in policy.
type Auth struct {
	CodeTTL       time.Duration `mapstructure:"code_ttl"`       // life of a verification code
	CodeAttempts  int           `mapstructure:"code_attempts"`  // wrong codes before the sign-in starts over
	SessionIdle   time.Duration `mapstructure:"session_idle"`   // a session ends after this much inactivity
	ResetLinkTTL  time.Duration `mapstructure:"reset_link_ttl"` // life of a password renewal link, mailed to an account without a mobile
	InvitationTTL time.Duration `mapstructure:"invitation_ttl"` // life of a pre-creation link
	// InvitationReminder: how long before its link expires an invitee is
	// reminded, once, with a new link (jobs.invitation_reminders).
	InvitationReminder time.Duration `mapstructure:"invitation_reminder"`
}

// Policy is the directory's form of the sign-in policy.
func (a Auth) Policy() directory.SignInPolicy {
	return directory.SignInPolicy{CodeTTL: a.CodeTTL, CodeAttempts: a.CodeAttempts, SessionIdle: a.SessionIdle}
}

// OIDC is the OpenID provider's: the lives of the tokens it issues.
type OIDC struct {
	IDTokenTTL     time.Duration `mapstructure:"id_token_ttl"`
	AccessTokenTTL time.Duration `mapstructure:"access_token_ttl"`
}

// Policy is the directory's form of it.
func (o OIDC) Policy() directory.OIDCPolicy {
	return directory.OIDCPolicy{IDTokenTTL: o.IDTokenTTL, AccessTokenTTL: o.AccessTokenTTL}
}

// Limits are the abuse limits (see directory.LimitPolicy), counted in the
// directory so that every apexd instance on it shares them.
type Limits struct {
	SignInIdentifier      directory.Limit `mapstructure:"signin_identifier"`
	SignInIdentifierKnown directory.Limit `mapstructure:"signin_identifier_known"`
	SignInAddress         directory.Limit `mapstructure:"signin_address"`
	CodeAddress           directory.Limit `mapstructure:"code_address"`
	CaptchaAddress        directory.Limit `mapstructure:"captcha_address"`
	ResetIdentifier       directory.Limit `mapstructure:"reset_identifier"`
	ResetAddress          directory.Limit `mapstructure:"reset_address"`
	InvitationAccount     directory.Limit `mapstructure:"invitation_account"`
	InvitationBulk        directory.Limit `mapstructure:"invitation_bulk"`
	AuthorizeAddress      directory.Limit `mapstructure:"authorize_address"`
}

// Policy is the directory's form of the limits.
func (l Limits) Policy() directory.LimitPolicy { return directory.LimitPolicy(l) }

// Jobs are the scheduled jobs of apexd: each runs once for the whole
// directory, by the instance that holds its lease.
type Jobs struct {
	Tick                time.Duration `mapstructure:"tick"`  // how often each apexd looks for a due job
	Lease               time.Duration `mapstructure:"lease"` // how long a lease lasts unless renewed; another instance takes over after
	Dormancy            Job           `mapstructure:"dormancy"`
	EndDates            Job           `mapstructure:"end_dates"`
	InvitationReminders Job           `mapstructure:"invitation_reminders"`
	Reviews             Job           `mapstructure:"reviews"`
}

// Job is one scheduled job's switch and interval.
type Job struct {
	Enabled  bool          `mapstructure:"enabled"`
	Interval time.Duration `mapstructure:"interval"` // how long after it ran through it runs again
}

// Dormancy is when an unused account is disabled.
type Dormancy struct {
	After    time.Duration   `mapstructure:"after"`    // unused this long: disabled
	Warnings []time.Duration `mapstructure:"warnings"` // the person is mailed this long before, each once
}

// EndDates is when the end of an account or a habilitation is told.
type EndDates struct {
	Warning time.Duration `mapstructure:"warning"` // the person is mailed this long before
}

// Reviews is when the reviews of habilitations start, end and remind.
type Reviews struct {
	Period    time.Duration   `mapstructure:"period"`    // a review starts this long after the previous one started
	Duration  time.Duration   `mapstructure:"duration"`  // from its start to its deadline
	Reminders []time.Duration `mapstructure:"reminders"` // the reviewers with lines left are mailed this long before the deadline, each once
	Mode      string          `mapstructure:"mode"`      // at the deadline, what is not confirmed is withdrawn ("withdraw") or flagged ("flag")
}

// ReviewPolicy is the directory's form of the reviews' settings.
func (c *Config) ReviewPolicy() directory.ReviewPolicy {
	return directory.ReviewPolicy{
		Period: c.Reviews.Period, Duration: c.Reviews.Duration,
		Reminders: append([]time.Duration{}, c.Reviews.Reminders...), Mode: directory.ReviewMode(c.Reviews.Mode),
	}
}

// AccessPolicy is the directory's form of the dormancy, end date and
// reminder settings.
func (c *Config) AccessPolicy() directory.AccessPolicy {
	return directory.AccessPolicy{
		DormancyAfter:    c.Dormancy.After,
		DormancyWarnings: slices.Clone(c.Dormancy.Warnings),
		EndWarning:       c.EndDates.Warning,
		ReminderBefore:   c.Auth.InvitationReminder,
	}
}

// Mail says how mails leave: by SMTP when Mail.SMTP.Host is set, otherwise
// as files in OutboxDir.
type Mail struct {
	From      string `mapstructure:"from"`
	SMTP      SMTP   `mapstructure:"smtp"`
	OutboxDir string `mapstructure:"outbox_dir"`
	SpoolDir  string `mapstructure:"spool_dir"` // mails accepted and not sent yet; those given up on go to <outbox_dir>/failed
	// AgentsMailbox is the DGFiP agents' shared mailbox, told of what
	// concerns administrators (an administrator's request waiting for its
	// validation, an administrator's account disabled by a job); empty:
	// nobody is told.
	AgentsMailbox string `mapstructure:"agents_mailbox"`
}

// SMTP is the relay that sends mails.
type SMTP struct {
	Host     string `mapstructure:"host"` // empty: mails are written to the outbox
	Port     int    `mapstructure:"port"`
	TLS      string `mapstructure:"tls"` // none, starttls or tls
	Username string `mapstructure:"username"`
	Password string `mapstructure:"password"`
}

// SMS says how the security codes of password renewals leave: through an
// HTTP gateway when SMS.Gateway.URL is set, otherwise as files in
// OutboxDir (apexctl outbox sms lists them).
type SMS struct {
	Gateway   SMSGateway `mapstructure:"gateway"`
	OutboxDir string     `mapstructure:"outbox_dir"`
}

// SMSGateway is an HTTP SMS gateway, described so that any provider fits
// (see notify.GatewayConfig).
type SMSGateway struct {
	URL    string `mapstructure:"url"`    // http:// or https://; empty: SMS go to the outbox
	Method string `mapstructure:"method"` // POST, PUT or PATCH
	// Headers of every request, API keys included. Viper lower-cases the
	// names read from the file, which HTTP ignores (names are
	// case-insensitive). Values are masked in logs.
	Headers       map[string]string `mapstructure:"headers"`
	Body          string            `mapstructure:"body"`           // a text/template given .To and .Text; empty for notify.DefaultGatewayBody
	SuccessStatus int               `mapstructure:"success_status"` // 0: any 2xx
}

// Config is the notify form of the gateway.
func (g SMSGateway) Config() notify.GatewayConfig {
	return notify.GatewayConfig{URL: g.URL, Method: g.Method, Headers: g.Headers, Body: g.Body, SuccessStatus: g.SuccessStatus}
}

// The values of mail.smtp.tls.
const (
	TLSNone     = "none"
	TLSStartTLS = "starttls"
	TLSImplicit = "tls"
)

// defaults holds a value for every key: viper's AutomaticEnv reaches
// Unmarshal only for the keys it knows, and setting a default is how a key
// becomes known.
var defaults = []defaultValue{
	{"http.addr", "127.0.0.1:8080"},
	{"http.public_url", "http://127.0.0.1:8080"},
	{"http.pprof_addr", ""},
	{"http.metrics_addr", "127.0.0.1:8081"},
	{"http.trusted_proxies", []string{}},
	{"ldap.url", ""},
	{"ldap.embedded_dir", "var/ldap"},
	{"ldap.embedded_listen", "ldap://127.0.0.1:3389"},
	{"ldap.base_dn", "dc=apex,dc=dgfip,dc=gouv,dc=fr"},
	{"ldap.bind_dn", ""},
	{"ldap.bind_password", ""},
	{"ldap.pool_size", 8},
	{"ldap.timeout", 10 * time.Second},
	{"ldap.log_level", "stats"},
	{"ldap.ca_file", ""},
	{"ldap.start_tls", false},
	{"auth.code_ttl", 10 * time.Minute},
	{"auth.code_attempts", 5},
	{"auth.session_idle", 30 * time.Minute},
	{"auth.reset_link_ttl", time.Hour},
	{"auth.invitation_ttl", 7 * 24 * time.Hour},
	{"auth.invitation_reminder", directory.DefaultAccessPolicy.ReminderBefore},
	{"oidc.id_token_ttl", 5 * time.Minute},
	{"oidc.access_token_ttl", 5 * time.Minute},
	{"mail.from", "APEX Partenaires <no-reply@apex.dgfip.gouv.fr>"},
	{"mail.smtp.host", ""},
	{"mail.smtp.port", 25},
	{"mail.smtp.tls", TLSNone},
	{"mail.smtp.username", ""},
	{"mail.smtp.password", ""},
	{"mail.outbox_dir", "var/outbox"},
	{"mail.spool_dir", "var/mail-spool"},
	{"mail.agents_mailbox", ""},
	{"sms.gateway.url", ""},
	{"sms.gateway.method", http.MethodPost},
	{"sms.gateway.headers", map[string]string{}},
	{"sms.gateway.body", ""},
	{"sms.gateway.success_status", 0},
	{"sms.outbox_dir", "var/sms-outbox"},
	{"limits.signin_identifier", directory.DefaultLimits.SignInIdentifier.String()},
	{"limits.signin_identifier_known", directory.DefaultLimits.SignInIdentifierKnown.String()},
	{"limits.signin_address", directory.DefaultLimits.SignInAddress.String()},
	{"limits.code_address", directory.DefaultLimits.CodeAddress.String()},
	{"limits.captcha_address", directory.DefaultLimits.CaptchaAddress.String()},
	{"limits.reset_identifier", directory.DefaultLimits.ResetIdentifier.String()},
	{"limits.reset_address", directory.DefaultLimits.ResetAddress.String()},
	{"limits.invitation_account", directory.DefaultLimits.InvitationAccount.String()},
	{"limits.invitation_bulk", directory.DefaultLimits.InvitationBulk.String()},
	{"limits.authorize_address", directory.DefaultLimits.AuthorizeAddress.String()},
	{"jobs.tick", time.Minute},
	{"jobs.lease", 2 * time.Minute},
	{"jobs.dormancy.enabled", true},
	{"jobs.dormancy.interval", time.Hour},
	{"jobs.end_dates.enabled", true},
	{"jobs.end_dates.interval", time.Hour},
	{"jobs.invitation_reminders.enabled", true},
	{"jobs.invitation_reminders.interval", time.Hour},
	{"jobs.reviews.enabled", true},
	{"jobs.reviews.interval", time.Hour},
	{"dormancy.after", directory.DefaultAccessPolicy.DormancyAfter},
	{"dormancy.warnings", directory.DefaultAccessPolicy.DormancyWarnings},
	{"end_dates.warning", directory.DefaultAccessPolicy.EndWarning},
	{"reviews.period", directory.DefaultReviewPolicy.Period},
	{"reviews.duration", directory.DefaultReviewPolicy.Duration},
	{"reviews.reminders", directory.DefaultReviewPolicy.Reminders},
	{"reviews.mode", string(directory.DefaultReviewPolicy.Mode)},
}

type defaultValue struct {
	key   string
	value any
}

// Keys lists every configuration key, in the order of the defaults.
func Keys() []string {
	keys := make([]string, len(defaults))
	for i, d := range defaults {
		keys[i] = d.key
	}
	return keys
}

// Load reads the configuration: the defaults, then the YAML file at path
// (DefaultFile when empty), then the APEX_ environment variables. A missing
// file is fine; a malformed one, or one with an unknown key, is an error,
// and so is an APEX_ variable that names no key (see checkEnv).
// Load does not validate: call Validate.
func Load(path string) (*Config, error) {
	if path == "" {
		path = DefaultFile
	}
	if err := checkEnv(os.Environ()); err != nil {
		return nil, err
	}
	v := viper.New()
	for _, d := range defaults {
		v.SetDefault(d.key, d.value)
	}
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(envKeyReplacer)
	v.AutomaticEnv()

	v.SetConfigFile(path)
	v.SetConfigType("yaml")
	file := path
	if err := v.ReadInConfig(); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("config: read %s: %w", path, err)
		}
		file = ""
	}

	var cfg Config
	// UnmarshalExact refuses keys the Config does not have: a typo in the
	// file ("ldap.pool_sise") shows instead of being silently ignored.
	if err := v.UnmarshalExact(&cfg, viper.DecodeHook(decodeHook)); err != nil {
		return nil, fmt.Errorf("config: %s: %w", describe(path, file), err)
	}
	cfg.File = file
	return &cfg, nil
}

// decodeHook turns the strings of the file and of the variables into the
// Config's types: durations ("10m"), string lists ("a,b"), and the
// header map, which a variable can only give as a JSON object. It does
// what viper's default hook does, plus the map.
func decodeHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String {
		return data, nil
	}
	s := reflect.ValueOf(data).String()
	switch {
	case to == reflect.TypeFor[time.Duration]():
		return time.ParseDuration(s)
	case to == reflect.TypeFor[directory.Limit]():
		return directory.ParseLimit(s)
	case to == reflect.TypeFor[map[string]string]():
		m := map[string]string{}
		if strings.TrimSpace(s) == "" {
			return m, nil
		}
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			return nil, errors.New(`want a JSON object of names and values, such as {"Authorization": "Bearer KEY"}`)
		}
		return m, nil
	case to.Kind() == reflect.Slice:
		if s == "" {
			return []string{}, nil
		}
		return strings.Split(s, ","), nil
	}
	return data, nil
}

func describe(path, file string) string {
	if file == "" {
		return "environment"
	}
	return path
}

// LogValue shows the configuration in logs, passwords masked, and so
// every SMS gateway header value (API keys travel there), the query and
// user of the gateway's URL, and its body template.
func (c *Config) LogValue() slog.Value {
	mask := func(s string) string {
		if s == "" {
			return ""
		}
		return "********"
	}
	var headers []any
	for _, name := range slices.Sorted(maps.Keys(c.SMS.Gateway.Headers)) {
		headers = append(headers, slog.String(name, mask(c.SMS.Gateway.Headers[name])))
	}
	body := "default"
	if c.SMS.Gateway.Body != "" {
		body = "custom"
	}
	return slog.GroupValue(
		slog.String("file", c.File),
		slog.Group("http", "addr", c.HTTP.Addr, "public_url", c.HTTP.PublicURL, "metrics_addr", c.HTTP.MetricsAddr),
		slog.Group("ldap",
			"url", c.LDAP.URL, "embedded_dir", c.LDAP.EmbeddedDir, "embedded_listen", c.LDAP.EmbeddedListen,
			"base_dn", c.LDAP.BaseDN, "bind_dn", c.LDAP.ServiceDN(), "bind_password", mask(c.LDAP.BindPassword),
			"pool_size", c.LDAP.PoolSize, "timeout", c.LDAP.Timeout.String(), "log_level", c.LDAP.LogLevel,
			"ca_file", c.LDAP.CAFile, "start_tls", c.LDAP.StartTLS),
		slog.Group("auth", "code_ttl", c.Auth.CodeTTL.String(), "code_attempts", c.Auth.CodeAttempts, "session_idle", c.Auth.SessionIdle.String(),
			"reset_link_ttl", c.Auth.ResetLinkTTL.String(), "invitation_ttl", c.Auth.InvitationTTL.String(),
			"invitation_reminder", c.Auth.InvitationReminder.String()),
		slog.Group("oidc", "id_token_ttl", c.OIDC.IDTokenTTL.String(), "access_token_ttl", c.OIDC.AccessTokenTTL.String()),
		slog.Group("jobs", "tick", c.Jobs.Tick.String(), "lease", c.Jobs.Lease.String(),
			slog.Group("dormancy", "enabled", c.Jobs.Dormancy.Enabled, "interval", c.Jobs.Dormancy.Interval.String()),
			slog.Group("end_dates", "enabled", c.Jobs.EndDates.Enabled, "interval", c.Jobs.EndDates.Interval.String()),
			slog.Group("invitation_reminders", "enabled", c.Jobs.InvitationReminders.Enabled, "interval", c.Jobs.InvitationReminders.Interval.String()),
			slog.Group("reviews", "enabled", c.Jobs.Reviews.Enabled, "interval", c.Jobs.Reviews.Interval.String())),
		slog.Group("dormancy", "after", c.Dormancy.After.String(), "warnings", fmt.Sprint(c.Dormancy.Warnings)),
		slog.Group("end_dates", "warning", c.EndDates.Warning.String()),
		slog.Group("reviews", "period", c.Reviews.Period.String(), "duration", c.Reviews.Duration.String(),
			"reminders", fmt.Sprint(c.Reviews.Reminders), "mode", c.Reviews.Mode),
		slog.Group("mail",
			"from", c.Mail.From, "outbox_dir", c.Mail.OutboxDir, "spool_dir", c.Mail.SpoolDir, "agents_mailbox", c.Mail.AgentsMailbox,
			slog.Group("smtp", "host", c.Mail.SMTP.Host, "port", c.Mail.SMTP.Port, "tls", c.Mail.SMTP.TLS,
				"username", c.Mail.SMTP.Username, "password", mask(c.Mail.SMTP.Password))),
		slog.Group("sms",
			"outbox_dir", c.SMS.OutboxDir,
			slog.Group("gateway", "url", maskURL(c.SMS.Gateway.URL), "method", c.SMS.Gateway.Method,
				slog.Group("headers", headers...), "body", body, "success_status", c.SMS.Gateway.SuccessStatus)),
	)
}

// maskURL keeps only the scheme and the host of a URL: providers put keys
// in the user, the path or the query.
func maskURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "********"
	}
	out := u.Scheme + "://" + u.Host
	if u.User != nil || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
		out += "/********"
	}
	return out
}
