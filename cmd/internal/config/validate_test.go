package config

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name   string
		change func(*Config)
		want   string // "" when valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"bad smtp tls", func(c *Config) { c.Mail.SMTP.TLS = "ssl" }, "mail.smtp.tls"},
		{"starttls", func(c *Config) { c.Mail.SMTP.TLS = "starttls" }, ""},
		{"base DN that does not parse", func(c *Config) { c.LDAP.BaseDN = "dc=apex,,=" }, "ldap.base_dn"},
		{"empty base DN", func(c *Config) { c.LDAP.BaseDN = "" }, "ldap.base_dn"},
		{"base DN not of dc= for the embedded slapd", func(c *Config) { c.LDAP.BaseDN = "o=apex" }, "ldap.base_dn"},
		{"external directory without password", func(c *Config) { c.LDAP.URL = "ldap://annuaire:389" }, "ldap.bind_password"},
		{"external directory with password", func(c *Config) {
			c.LDAP.URL, c.LDAP.BindPassword, c.LDAP.BaseDN = "ldap://annuaire:389", "secret", "o=apex"
		}, ""},
		{"external URL of another scheme", func(c *Config) {
			c.LDAP.URL, c.LDAP.BindPassword = "http://annuaire", "secret"
		}, "ldap.url"},
		{"two providers for fail-over", func(c *Config) {
			c.LDAP.URL, c.LDAP.BindPassword = "ldaps://annuaire-1:636 ldaps://annuaire-2:636", "secret"
		}, ""},
		{"a bad URL among two", func(c *Config) {
			c.LDAP.URL, c.LDAP.BindPassword = "ldaps://annuaire-1:636 annuaire-2", "secret"
		}, "ldap.url"},
		{"StartTLS without a CA file", func(c *Config) {
			c.LDAP.URL, c.LDAP.BindPassword, c.LDAP.StartTLS = "ldap://annuaire:389", "secret", true
		}, "ldap.start_tls"},
		{"a CA file that is missing", func(c *Config) {
			c.LDAP.URL, c.LDAP.BindPassword, c.LDAP.CAFile = "ldaps://annuaire:636", "secret", "/nonexistent/ca.pem"
		}, "ldap.ca_file"},
		{"zero timeout", func(c *Config) { c.LDAP.Timeout = 0 }, "ldap.timeout"},
		{"ID tokens of a day", func(c *Config) { c.OIDC.IDTokenTTL = 24 * time.Hour }, "oidc.id_token_ttl"},
		{"access tokens of 10 seconds", func(c *Config) { c.OIDC.AccessTokenTTL = 10 * time.Second }, "oidc.access_token_ttl"},
		{"tokens of an hour", func(c *Config) { c.OIDC.IDTokenTTL, c.OIDC.AccessTokenTTL = time.Hour, time.Hour }, ""},
		{"negative timeout", func(c *Config) { c.LDAP.Timeout = -time.Second }, "ldap.timeout"},
		{"zero pool", func(c *Config) { c.LDAP.PoolSize = 0 }, "ldap.pool_size"},
		{"embedded with a foreign bind DN", func(c *Config) { c.LDAP.BindDN = "cn=admin,dc=apex,dc=dgfip,dc=gouv,dc=fr" }, "ldap.bind_dn"},
		{"embedded listen without port", func(c *Config) { c.LDAP.EmbeddedListen = "ldap://127.0.0.1" }, "ldap.embedded_listen"},
		{"log level injecting LDIF", func(c *Config) { c.LDAP.LogLevel = "stats\nolcRootPW: x" }, "ldap.log_level"},
		{"numeric log level", func(c *Config) { c.LDAP.LogLevel = "256" }, ""},
		{"bad sender", func(c *Config) { c.Mail.From = "nobody" }, "mail.from"},
		{"agents' mailbox", func(c *Config) { c.Mail.AgentsMailbox = "apex@dgfip.finances.gouv.fr" }, ""},
		{"agents' mailbox with a name", func(c *Config) { c.Mail.AgentsMailbox = "APEX <apex@dgfip.finances.gouv.fr>" }, "mail.agents_mailbox"},
		{"zero tick", func(c *Config) { c.Jobs.Tick = 0 }, "jobs.tick"},
		{"lease too short to renew", func(c *Config) { c.Jobs.Lease = time.Second }, "jobs.lease"},
		{"zero interval", func(c *Config) { c.Jobs.EndDates.Interval = 0 }, "jobs.end_dates.interval"},
		{"a job off", func(c *Config) { c.Jobs.Dormancy.Enabled = false }, ""},
		{"dormancy of an hour", func(c *Config) { c.Dormancy.After, c.Dormancy.Warnings = time.Hour, nil }, "dormancy.after"},
		{"a warning longer than dormancy", func(c *Config) { c.Dormancy.Warnings = []time.Duration{200 * 24 * time.Hour} }, "dormancy.warnings"},
		{"no warning", func(c *Config) { c.Dormancy.Warnings = []time.Duration{} }, ""},
		{"zero end warning", func(c *Config) { c.EndDates.Warning = 0 }, "end_dates.warning"},
		{"reminder after the link's end", func(c *Config) { c.Auth.InvitationReminder = 200 * time.Hour }, "auth.invitation_reminder"},
		{"bad http addr", func(c *Config) { c.HTTP.Addr = "8080" }, "http.addr"},
		{"pprof on every interface", func(c *Config) { c.HTTP.PprofAddr = ":6060" }, "http.pprof_addr"},
		{"pprof on a public address", func(c *Config) { c.HTTP.PprofAddr = "192.0.2.1:6060" }, "http.pprof_addr"},
		{"pprof on loopback", func(c *Config) { c.HTTP.PprofAddr = "127.0.0.1:6060" }, ""},
		{"metrics off", func(c *Config) { c.HTTP.MetricsAddr = "" }, ""},
		{"metrics on an internal interface", func(c *Config) { c.HTTP.MetricsAddr = "10.1.2.3:9100" }, ""},
		{"metrics on every interface", func(c *Config) { c.HTTP.MetricsAddr = ":9100" }, ""},
		{"metrics without port", func(c *Config) { c.HTTP.MetricsAddr = "127.0.0.1" }, "http.metrics_addr"},
		{"metrics on a bad port", func(c *Config) { c.HTTP.MetricsAddr = "127.0.0.1:70000" }, "http.metrics_addr"},
		{"metrics on the service's port", func(c *Config) { c.HTTP.MetricsAddr = "127.0.0.1:8080" }, "http.metrics_addr"},
		{"metrics on every interface at the service's port", func(c *Config) { c.HTTP.MetricsAddr = ":8080" }, "http.metrics_addr"},
		{"metrics on pprof's port", func(c *Config) { c.HTTP.PprofAddr, c.HTTP.MetricsAddr = "127.0.0.1:6060", "127.0.0.1:6060" }, "http.metrics_addr"},
		{"metrics and service on free ports", func(c *Config) { c.HTTP.Addr, c.HTTP.MetricsAddr = "127.0.0.1:0", "127.0.0.1:0" }, ""},
		{"no reset link life", func(c *Config) { c.Auth.ResetLinkTTL = 0 }, "auth.reset_link_ttl"},
		{"reset link life under a minute", func(c *Config) { c.Auth.ResetLinkTTL = 30 * time.Second }, "auth.reset_link_ttl"},
		{"no sms outbox without gateway", func(c *Config) { c.SMS.OutboxDir = "" }, "sms.outbox_dir"},
		{"no sms outbox with a gateway", func(c *Config) { c.SMS.OutboxDir, c.SMS.Gateway.URL = "", "https://sms.example.fr/send" }, ""},
		{"gateway URL of another scheme", func(c *Config) { c.SMS.Gateway.URL = "ftp://sms.example.fr" }, "sms.gateway.url"},
		{"gateway URL without host", func(c *Config) { c.SMS.Gateway.URL = "https:///send" }, "sms.gateway.url"},
		{"gateway method GET", func(c *Config) { c.SMS.Gateway.Method = "GET" }, "sms.gateway.method"},
		{"gateway method in lower case", func(c *Config) { c.SMS.Gateway.Method = "post" }, "sms.gateway.method"},
		{"gateway method PUT", func(c *Config) { c.SMS.Gateway.Method = "PUT" }, ""},
		{"header name with a space", func(c *Config) { c.SMS.Gateway.Headers = map[string]string{"x api": "1"} }, "sms.gateway.headers"},
		{"header name with a colon", func(c *Config) { c.SMS.Gateway.Headers = map[string]string{"x-a:": "1"} }, "sms.gateway.headers"},
		{"header value with a line break", func(c *Config) {
			c.SMS.Gateway.Headers = map[string]string{"authorization": "Bearer k\r\nX-Evil: 1"}
		}, "sms.gateway.headers"},
		{"headers", func(c *Config) {
			c.SMS.Gateway.Headers = map[string]string{"authorization": "Bearer k", "x-api-key": "k", "Content-Type": "application/x-www-form-urlencoded"}
		}, ""},
		{"body that does not parse", func(c *Config) { c.SMS.Gateway.Body = `{"to": {{json .To}` }, "sms.gateway.body"},
		{"body with an unknown field", func(c *Config) { c.SMS.Gateway.Body = `{"to": {{json .Number}}}` }, "sms.gateway.body"},
		{"form body", func(c *Config) { c.SMS.Gateway.Body = `to={{urlquery .To}}&text={{urlquery .Text}}` }, ""},
		{"success status 700", func(c *Config) { c.SMS.Gateway.SuccessStatus = 700 }, "sms.gateway.success_status"},
		{"success status 201", func(c *Config) { c.SMS.Gateway.SuccessStatus = 201 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustLoad(t, filepath.Join(t.TempDir(), "absent.yaml"))
			tt.change(cfg)
			err := cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate: %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate: %v, want an error about %s", err, tt.want)
			}
			for _, line := range problemLines(err) {
				if !strings.HasPrefix(line, tt.want+": ") {
					t.Errorf("problem %q does not start with its key %s", line, tt.want)
				}
			}
		})
	}
}

// Each section reports all its problems, and Validate all the sections,
// each problem on its own line, starting with its key.
func TestValidateReportsEveryProblem(t *testing.T) {
	clearEnv(t)
	cfg := mustLoad(t, filepath.Join(t.TempDir(), "absent.yaml"))
	cfg.HTTP.Addr, cfg.HTTP.PprofAddr, cfg.HTTP.TrustedProxies = "8080", ":6060", []string{"everyone"}
	cfg.LDAP.URL, cfg.LDAP.StartTLS, cfg.LDAP.Timeout = "http://annuaire", true, 0
	cfg.Auth.CodeAttempts, cfg.Auth.SessionIdle = 0, 0
	cfg.Mail.SMTP.TLS, cfg.Mail.SMTP.Port, cfg.Mail.From = "ssl", 0, "nobody"
	cfg.SMS.Gateway.Method, cfg.SMS.Gateway.SuccessStatus = "GET", 700
	want := []string{
		"http.addr", "http.pprof_addr", "http.trusted_proxies",
		"ldap.url", "ldap.bind_password", "ldap.start_tls", "ldap.timeout",
		"auth.code_attempts", "auth.session_idle",
		"mail.from", "mail.smtp.tls", "mail.smtp.port",
		"sms.gateway.method", "sms.gateway.success_status",
	}
	var got []string
	for _, line := range problemLines(cfg.Validate()) {
		key, _, ok := strings.Cut(line, ": ")
		if !ok || !slices.Contains(Keys(), key) {
			t.Errorf("problem %q does not start with a key", line)
		}
		got = append(got, key)
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems of the keys\n %q\nwant\n %q", got, want)
	}
}

// problemLines are the problems Validate reported, one a line.
func problemLines(err error) []string {
	if err == nil {
		return nil
	}
	head, list, _ := strings.Cut(err.Error(), "\n  ")
	if head != "invalid configuration:" {
		return []string{err.Error()}
	}
	return strings.Split(list, "\n  ")
}
