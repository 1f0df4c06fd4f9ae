package config

import (
	"bytes"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/dgfip/apex-partenaires/directory"
)

// clearEnv hides the APEX_ variables of the environment running the tests:
// viper takes an empty variable for an unset one.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, EnvPrefix+"_") {
			t.Setenv(k, "")
		}
	}
}

func mustWrite(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustLoad(t *testing.T, path string) *Config {
	t.Helper()
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("Load(%q): %v", path, err)
	}
	return cfg
}

func TestDefaultsWhenFileIsMissing(t *testing.T) {
	clearEnv(t)
	cfg := mustLoad(t, filepath.Join(t.TempDir(), "absent.yaml"))
	want := Config{
		HTTP: HTTP{Addr: "127.0.0.1:8080", PublicURL: "http://127.0.0.1:8080", MetricsAddr: "127.0.0.1:8081", TrustedProxies: []string{}},
		LDAP: LDAP{
			EmbeddedDir:    "var/ldap",
			EmbeddedListen: "ldap://127.0.0.1:3389",
			BaseDN:         "dc=apex,dc=dgfip,dc=gouv,dc=fr",
			PoolSize:       8,
			Timeout:        10 * time.Second,
			LogLevel:       "stats",
		},
		Auth: Auth{CodeTTL: 10 * time.Minute, CodeAttempts: 5, SessionIdle: 30 * time.Minute, ResetLinkTTL: time.Hour, InvitationTTL: 7 * 24 * time.Hour,
			InvitationReminder: 48 * time.Hour},
		OIDC: OIDC{IDTokenTTL: 5 * time.Minute, AccessTokenTTL: 5 * time.Minute},
		Mail: Mail{
			From:      "APEX Partenaires <no-reply@apex.dgfip.gouv.fr>",
			SMTP:      SMTP{Port: 25, TLS: "none"},
			OutboxDir: "var/outbox",
			SpoolDir:  "var/mail-spool",
		},
		SMS: SMS{
			Gateway:   SMSGateway{Method: "POST", Headers: map[string]string{}},
			OutboxDir: "var/sms-outbox",
		},
		Limits: Limits(directory.DefaultLimits),
		Jobs: Jobs{Tick: time.Minute, Lease: 2 * time.Minute,
			Dormancy:            Job{Enabled: true, Interval: time.Hour},
			EndDates:            Job{Enabled: true, Interval: time.Hour},
			InvitationReminders: Job{Enabled: true, Interval: time.Hour}},
		Dormancy: Dormancy{After: 180 * 24 * time.Hour, Warnings: []time.Duration{15 * 24 * time.Hour, 24 * time.Hour}},
		EndDates: EndDates{Warning: 7 * 24 * time.Hour},
	}
	if !reflect.DeepEqual(*cfg, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", *cfg, want)
	}
	if !cfg.LDAP.Embedded() {
		t.Error("an empty ldap.url must select the embedded slapd")
	}
	if got, want := cfg.LDAP.ServiceDN(), "cn=apexd,ou=system,dc=apex,dc=dgfip,dc=gouv,dc=fr"; got != want {
		t.Errorf("ServiceDN() = %q, want %q", got, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("the defaults must be valid: %v", err)
	}
}

// The project's config.yaml documents every key with its default: reading it
// must give the defaults.
func TestProjectFileHoldsTheDefaults(t *testing.T) {
	clearEnv(t)
	path := filepath.Join("..", "..", "..", DefaultFile)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no %s: %v", path, err)
	}
	got := mustLoad(t, path)
	want := mustLoad(t, filepath.Join(t.TempDir(), "absent.yaml"))
	got.File = ""
	if !reflect.DeepEqual(*got, *want) {
		t.Errorf("%s:\n got %+v\nwant %+v", path, *got, *want)
	}
}

// The keys are the same three times: the Config's fields, the defaults
// (without one, a key's APEX_ variable would not reach Load), and
// config.yaml, where each says above itself what it is for.
func TestKeysOfStructDefaultsAndFileAgree(t *testing.T) {
	defaults := Keys()
	fields := structKeys(reflect.TypeFor[Config](), "")
	for _, key := range without(fields, defaults) {
		t.Errorf("%s: a field of the Config without a default", key)
	}
	for _, key := range without(defaults, fields) {
		t.Errorf("%s: a default without a field of the Config", key)
	}

	path := filepath.Join("..", "..", "..", DefaultFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	comments := map[string]string{}
	fileKeys(doc.Content[0], "", comments)
	inFile := slices.Collect(maps.Keys(comments))
	for _, key := range without(defaults, inFile) {
		t.Errorf("%s: a key missing from %s", key, path)
	}
	for _, key := range without(inFile, defaults) {
		t.Errorf("%s: a key of %s without a default", key, path)
	}
	for key, comment := range comments {
		if strings.TrimSpace(strings.TrimLeft(comment, "# ")) == "" {
			t.Errorf("%s: %s has no comment", path, key)
		}
	}
}

// without are the keys of a that b lacks.
func without(a, b []string) []string {
	var out []string
	for _, k := range a {
		if !slices.Contains(b, k) {
			out = append(out, k)
		}
	}
	return out
}

// structKeys are the keys of the fields of t. A struct is a
// section, but for the types Load reads from one value (directory.Limit).
func structKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for f := range t.Fields() {
		tag := f.Tag.Get("mapstructure")
		if tag == "" || tag == "-" {
			continue
		}
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[directory.Limit]() {
			keys = append(keys, structKeys(f.Type, prefix+tag+".")...)
		} else {
			keys = append(keys, prefix+tag)
		}
	}
	return keys
}

// fileKeys gathers the keys of a YAML mapping and the comments above or
// beside them. A mapping is a section, but for the empty one of a map key.
func fileKeys(m *yaml.Node, prefix string, comments map[string]string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		key, value := m.Content[i], m.Content[i+1]
		if value.Kind == yaml.MappingNode && len(value.Content) > 0 {
			fileKeys(value, prefix+key.Value+".", comments)
			continue
		}
		comments[prefix+key.Value] = key.HeadComment + key.LineComment
	}
}

func TestFileOverridesDefaults(t *testing.T) {
	clearEnv(t)
	path := mustWrite(t, "config.yaml", `
ldap:
  url: ldaps://annuaire.example.fr:636
  bind_password: from-file
  pool_size: 3
  timeout: 2s
mail:
  smtp:
    host: smtp.example.fr
    port: 587
    tls: starttls
`)
	cfg := mustLoad(t, path)
	if cfg.File != path {
		t.Errorf("File = %q, want %q", cfg.File, path)
	}
	if cfg.LDAP.URL != "ldaps://annuaire.example.fr:636" || cfg.LDAP.BindPassword != "from-file" ||
		cfg.LDAP.PoolSize != 3 || cfg.LDAP.Timeout != 2*time.Second {
		t.Errorf("ldap from the file: %+v", cfg.LDAP)
	}
	if cfg.Mail.SMTP != (SMTP{Host: "smtp.example.fr", Port: 587, TLS: "starttls"}) {
		t.Errorf("mail.smtp from the file: %+v", cfg.Mail.SMTP)
	}
	if cfg.LDAP.EmbeddedDir != "var/ldap" || cfg.HTTP.Addr != "127.0.0.1:8080" {
		t.Errorf("keys absent from the file must keep their defaults: %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestEnvOverridesFileAndDefaults(t *testing.T) {
	clearEnv(t)
	path := mustWrite(t, "config.yaml", `
ldap:
  url: ldap://from-file:389
  bind_password: from-file
mail:
  smtp:
    host: smtp.from-file.fr
`)
	t.Setenv("APEX_LDAP_URL", "ldap://from-env:389")
	t.Setenv("APEX_MAIL_SMTP_HOST", "smtp.from-env.fr")
	t.Setenv("APEX_LDAP_TIMEOUT", "3s")
	t.Setenv("APEX_LDAP_POOL_SIZE", "2")
	t.Setenv("APEX_HTTP_PUBLIC_URL", "https://apex.example.fr")
	cfg := mustLoad(t, path)
	checks := []struct{ name, got, want string }{
		{"APEX_LDAP_URL over the file", cfg.LDAP.URL, "ldap://from-env:389"},
		{"APEX_MAIL_SMTP_HOST over the file", cfg.Mail.SMTP.Host, "smtp.from-env.fr"},
		{"APEX_LDAP_TIMEOUT over the default", cfg.LDAP.Timeout.String(), "3s"},
		{"APEX_HTTP_PUBLIC_URL over the default", cfg.HTTP.PublicURL, "https://apex.example.fr"},
		{"the file where no variable is set", cfg.LDAP.BindPassword, "from-file"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	if cfg.LDAP.PoolSize != 2 {
		t.Errorf("APEX_LDAP_POOL_SIZE: got %d, want 2", cfg.LDAP.PoolSize)
	}

	// Without a file, the variables still reach the struct.
	cfg = mustLoad(t, filepath.Join(t.TempDir(), "absent.yaml"))
	if cfg.LDAP.URL != "ldap://from-env:389" || cfg.Mail.SMTP.Host != "smtp.from-env.fr" {
		t.Errorf("environment without a file: %+v", cfg)
	}
}

func TestSMSGatewayFromFile(t *testing.T) {
	clearEnv(t)
	path := mustWrite(t, "config.yaml", `
auth:
  reset_link_ttl: 30m
sms:
  gateway:
    url: https://sms.example.fr/v1/send
    method: PUT
    headers:
      Authorization: Bearer file-key
      X-Sender-Id: DGFiP
    body: |
      {"messages": [{"to": {{json .To}}, "content": {{json .Text}}}]}
    success_status: 202
  outbox_dir: /var/lib/apex/sms
`)
	cfg := mustLoad(t, path)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	want := SMS{
		Gateway: SMSGateway{
			URL:    "https://sms.example.fr/v1/send",
			Method: "PUT",
			// viper lower-cases map keys; HTTP names are case-insensitive.
			Headers:       map[string]string{"authorization": "Bearer file-key", "x-sender-id": "DGFiP"},
			Body:          `{"messages": [{"to": {{json .To}}, "content": {{json .Text}}}]}` + "\n",
			SuccessStatus: 202,
		},
		OutboxDir: "/var/lib/apex/sms",
	}
	if !reflect.DeepEqual(cfg.SMS, want) || cfg.Auth.ResetLinkTTL != 30*time.Minute {
		t.Errorf("sms from the file:\n got %+v, %s\nwant %+v", cfg.SMS, cfg.Auth.ResetLinkTTL, want)
	}
	g := cfg.SMS.Gateway.Config()
	if g.URL != want.Gateway.URL || g.Method != "PUT" || g.Headers["authorization"] != "Bearer file-key" || g.Body != want.Gateway.Body || g.SuccessStatus != 202 {
		t.Errorf("notify form %+v", g)
	}
}

func TestSMSFromEnv(t *testing.T) {
	clearEnv(t)
	path := mustWrite(t, "config.yaml", `
sms:
  gateway:
    headers:
      authorization: Bearer from-file
      x-other: kept?
`)
	t.Setenv("APEX_SMS_GATEWAY_URL", "https://sms.example.fr/send")
	t.Setenv("APEX_SMS_GATEWAY_SUCCESS_STATUS", "201")
	t.Setenv("APEX_SMS_OUTBOX_DIR", "/tmp/sms")
	t.Setenv("APEX_AUTH_RESET_LINK_TTL", "2h")
	cfg := mustLoad(t, path)
	if cfg.SMS.Gateway.URL != "https://sms.example.fr/send" || cfg.SMS.Gateway.SuccessStatus != 201 ||
		cfg.SMS.OutboxDir != "/tmp/sms" || cfg.Auth.ResetLinkTTL != 2*time.Hour {
		t.Errorf("from the environment: %+v, %s", cfg.SMS, cfg.Auth.ResetLinkTTL)
	}
	if !reflect.DeepEqual(cfg.SMS.Gateway.Headers, map[string]string{"authorization": "Bearer from-file", "x-other": "kept?"}) {
		t.Errorf("headers from the file: %v", cfg.SMS.Gateway.Headers)
	}

	// The map's variable is a JSON object, which replaces the file's map.
	t.Setenv("APEX_SMS_GATEWAY_HEADERS", `{"Authorization": "Bearer from-env", "X-Api-Key": "k"}`)
	cfg = mustLoad(t, path)
	if !reflect.DeepEqual(cfg.SMS.Gateway.Headers, map[string]string{"Authorization": "Bearer from-env", "X-Api-Key": "k"}) {
		t.Errorf("headers from APEX_SMS_GATEWAY_HEADERS: %v", cfg.SMS.Gateway.Headers)
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
	cfg = mustLoad(t, filepath.Join(t.TempDir(), "absent.yaml"))
	if cfg.SMS.Gateway.Headers["Authorization"] != "Bearer from-env" {
		t.Errorf("headers from the environment without a file: %v", cfg.SMS.Gateway.Headers)
	}

	t.Setenv("APEX_SMS_GATEWAY_HEADERS", "Authorization: Bearer secret-value")
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), "sms.gateway.headers") || !strings.Contains(err.Error(), "JSON object") {
		t.Errorf("headers that are not JSON: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "secret-value") {
		t.Errorf("the error shows the value: %v", err)
	}
}

func TestLoadRejectsBadFiles(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name, content, want string
	}{
		{"malformed YAML", "ldap:\n  url: [unclosed\n", "config"},
		{"unknown key", "ldap:\n  pool_sise: 3\n", "pool_sise"},
		{"bad duration", "ldap:\n  timeout: soon\n", "timeout"},
		{"bad reset link life", "auth:\n  reset_link_ttl: soon\n", "reset_link_ttl"},
		{"headers as a list", "sms:\n  gateway:\n    headers: [a, b]\n", "headers"},
		{"unknown sms key", "sms:\n  gateway:\n    token: x\n", "token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(mustWrite(t, "config.yaml", tt.content))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load: error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestLogValueMasksPasswords(t *testing.T) {
	clearEnv(t)
	cfg := mustLoad(t, filepath.Join(t.TempDir(), "absent.yaml"))
	cfg.LDAP.BindPassword = "ldap-secret-value"
	cfg.Mail.SMTP.Password = "smtp-secret-value"
	cfg.SMS.Gateway.URL = "https://user:pw-secret-value@sms.example.fr/key-secret-value/send?api_key=q-secret-value"
	cfg.SMS.Gateway.Headers = map[string]string{"authorization": "Bearer header-secret-value", "x-sender-id": "DGFiP-secret-value"}
	cfg.SMS.Gateway.Body = `{"login": "apex", "password": "body-secret-value", "to": {{json .To}}, "text": {{json .Text}}}`
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("configuration", "config", cfg)
	if strings.Contains(buf.String(), "secret-value") {
		t.Errorf("a secret reached the log: %s", buf.String())
	}
	for _, want := range []string{
		`"base_dn":"dc=apex,dc=dgfip,dc=gouv,dc=fr"`,
		`"url":"https://sms.example.fr/********"`,
		`"headers":{"authorization":"********","x-sender-id":"********"}`,
		`"body":"custom"`, `"outbox_dir":"var/sms-outbox"`, `"reset_link_ttl":"1h0m0s"`,
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("the log lacks %s: %s", want, buf.String())
		}
	}
}

func TestLimitsAndTrustedProxies(t *testing.T) {
	clearEnv(t)
	t.Setenv("APEX_LIMITS_RESET_ADDRESS", "off")
	t.Setenv("APEX_LIMITS_SIGNIN_IDENTIFIER_KNOWN", "7/20m")
	t.Setenv("APEX_HTTP_TRUSTED_PROXIES", "10.0.0.1,192.168.0.0/16")
	cfg := mustLoad(t, mustWrite(t, "config.yaml", `
limits:
  signin_identifier: 3/90s
`))
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	p := cfg.Limits.Policy()
	if want := (directory.Limit{Max: 3, Window: 90 * time.Second}); p.SignInIdentifier != want {
		t.Errorf("signin_identifier = %v, want %v", p.SignInIdentifier, want)
	}
	if want := (directory.Limit{Max: 7, Window: 20 * time.Minute}); p.SignInIdentifierKnown != want {
		t.Errorf("signin_identifier_known = %v, want %v", p.SignInIdentifierKnown, want)
	}
	if !p.ResetAddress.Off() {
		t.Errorf("reset_address = %v, want off", p.ResetAddress)
	}
	if p.CodeAddress != directory.DefaultLimits.CodeAddress {
		t.Errorf("code_address = %v, want the default", p.CodeAddress)
	}
	if got := cfg.HTTP.TrustedProxies; !reflect.DeepEqual(got, []string{"10.0.0.1", "192.168.0.0/16"}) {
		t.Errorf("trusted_proxies = %q", got)
	}

	for _, bad := range []string{"ten/15m", "10", "10/1ms", "0/15m", "-3/15m"} {
		t.Run(bad, func(t *testing.T) {
			clearEnv(t)
			if _, err := Load(mustWrite(t, "config.yaml", "limits:\n  captcha_address: \""+bad+"\"\n")); err == nil || !strings.Contains(err.Error(), "captcha_address") {
				t.Errorf("limits.captcha_address %q: error %v, want one naming the key", bad, err)
			}
		})
	}
	clearEnv(t)
	t.Setenv("APEX_HTTP_TRUSTED_PROXIES", "everyone")
	cfg = mustLoad(t, filepath.Join(t.TempDir(), "absent.yaml"))
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "http.trusted_proxies") {
		t.Errorf("a trusted proxy that is no address: %v", err)
	}
}

// The scheduled jobs' keys, nested two deep and one a list of durations,
// from the file and from variables, reach the Config and the policy.
func TestJobKeysFromFileAndEnv(t *testing.T) {
	clearEnv(t)
	path := mustWrite(t, "config.yaml", `
jobs:
  lease: 30s
  dormancy:
    enabled: false
dormancy:
  after: 2160h
  warnings: [168h, 24h]
`)
	t.Setenv("APEX_JOBS_END_DATES_INTERVAL", "15m")
	t.Setenv("APEX_END_DATES_WARNING", "72h")
	cfg := mustLoad(t, path)
	if cfg.Jobs.Lease != 30*time.Second || cfg.Jobs.Dormancy.Enabled || !cfg.Jobs.EndDates.Enabled || cfg.Jobs.EndDates.Interval != 15*time.Minute {
		t.Errorf("jobs: %+v", cfg.Jobs)
	}
	pol := cfg.AccessPolicy()
	if pol.DormancyAfter != 90*24*time.Hour || !slices.Equal(pol.DormancyWarnings, []time.Duration{7 * 24 * time.Hour, 24 * time.Hour}) || pol.EndWarning != 72*time.Hour {
		t.Errorf("policy: %+v", pol)
	}
	t.Setenv("APEX_DORMANCY_WARNINGS", "720h,48h")
	if cfg = mustLoad(t, path); !slices.Equal(cfg.Dormancy.Warnings, []time.Duration{720 * time.Hour, 48 * time.Hour}) {
		t.Errorf("APEX_DORMANCY_WARNINGS: %v", cfg.Dormancy.Warnings)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}
