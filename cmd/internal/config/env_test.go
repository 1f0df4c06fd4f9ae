package config

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The variable a new user tries to turn a limit off with names no key:
// Load refuses it, and names the key that was meant.
func TestLoadRefusesVariablesThatNameNoKey(t *testing.T) {
	clearEnv(t)
	absent := filepath.Join(t.TempDir(), "absent.yaml")
	t.Setenv("APEX_LIMITS_SIGNIN_IDENTIFIER_MAX", "0")
	_, err := Load(absent)
	want := "config: APEX_LIMITS_SIGNIN_IDENTIFIER_MAX names no key; " +
		"did you mean APEX_LIMITS_SIGNIN_IDENTIFIER (limits.signin_identifier, e.g. 4/15m or off)?"
	if err == nil || err.Error() != want {
		t.Errorf("Load: %v\nwant %s", err, want)
	}

	// An empty value is no excuse: the name is still wrong. Every such
	// variable is reported, in order.
	t.Setenv("APEX_SMTP_HOST", "")
	t.Setenv("APEX_HOME", "/opt/apex")
	_, err = Load(absent)
	want = "config: 3 APEX_ variables name no key:\n" +
		"  APEX_HOME names no key: unset it; each APEX_ variable sets the key it names (ldap.url is APEX_LDAP_URL), and config.yaml lists them all\n" +
		"  APEX_LIMITS_SIGNIN_IDENTIFIER_MAX names no key; did you mean APEX_LIMITS_SIGNIN_IDENTIFIER (limits.signin_identifier, e.g. 4/15m or off)?\n" +
		"  APEX_SMTP_HOST names no key; did you mean APEX_MAIL_SMTP_HOST (mail.smtp.host, e.g. smtp.example.fr)?"
	if err == nil || err.Error() != want {
		t.Errorf("Load: %v\nwant %s", err, want)
	}
	if err != nil && strings.Contains(err.Error(), "/opt/apex") {
		t.Errorf("the error shows a value: %v", err)
	}
}

// The project's own switches set no key and are no error, nor are other
// programs' variables; the variables of the keys are read as before.
func TestLoadAcceptsTheProjectsOwnVariables(t *testing.T) {
	clearEnv(t)
	t.Setenv("APEX_SCREENSHOTS", t.TempDir())
	t.Setenv("APEX_TEST_DIRECTORY", "container")
	t.Setenv("APEXD_FAULTS_CHILD", "1")
	t.Setenv("APEX_LIMITS_SIGNIN_IDENTIFIER", "off")
	cfg := mustLoad(t, filepath.Join(t.TempDir(), "absent.yaml"))
	if !cfg.Limits.SignInIdentifier.Off() {
		t.Errorf("APEX_LIMITS_SIGNIN_IDENTIFIER=off: %v", cfg.Limits.SignInIdentifier)
	}
}

func TestUnknownVariable(t *testing.T) {
	tests := []struct{ name, want string }{
		{"APEX_OUTBOX_DIR", "APEX_OUTBOX_DIR names no key; did you mean " +
			"APEX_MAIL_OUTBOX_DIR (mail.outbox_dir, e.g. var/outbox) or APEX_SMS_OUTBOX_DIR (sms.outbox_dir, e.g. var/sms-outbox)?"},
		{"APEX_LDAP_EMBEDDED", "APEX_LDAP_EMBEDDED names no key; did you mean " +
			"APEX_LDAP_EMBEDDED_DIR (ldap.embedded_dir, e.g. var/ldap) or APEX_LDAP_EMBEDDED_LISTEN (ldap.embedded_listen, e.g. ldap://127.0.0.1:3389)?"},
		{"APEX_MAIL_SMTP", "APEX_MAIL_SMTP names no key; did you mean one of " +
			"APEX_MAIL_SMTP_HOST, APEX_MAIL_SMTP_PORT, APEX_MAIL_SMTP_TLS, APEX_MAIL_SMTP_USERNAME, APEX_MAIL_SMTP_PASSWORD?"},
		{"APEX_AUTH_INVITATION_TTL_DAYS", "APEX_AUTH_INVITATION_TTL_DAYS names no key; did you mean " +
			"APEX_AUTH_INVITATION_TTL (auth.invitation_ttl, e.g. 168h)?"},
		{"APEX_SMS_GATEWAY_HEADER", "APEX_SMS_GATEWAY_HEADER names no key; did you mean " +
			`APEX_SMS_GATEWAY_HEADERS (sms.gateway.headers, a JSON object, e.g. {"Authorization": "Bearer KEY"})?`},
		{"APEX_LDAP_STARTTLS", "APEX_LDAP_STARTTLS names no key; did you mean APEX_LDAP_START_TLS (ldap.start_tls, true or false)?"},
	}
	for _, tt := range tests {
		if got := unknownVariable(tt.name); got != tt.want {
			t.Errorf("unknownVariable(%s):\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}

// Realistic slips, each with the keys it must suggest (none: the name is
// too far from every key to guess).
func TestNearestKeys(t *testing.T) {
	tests := []struct {
		name string
		want []string
	}{
		{"APEX_LIMITS_SIGNIN_IDENTIFIER_MAX", []string{"limits.signin_identifier"}}, // a word added
		{"APEX_AUTH_CODE_TTL_MINUTES", []string{"auth.code_ttl"}},
		{"APEX_SMS_GATEWAY_HEADERS_AUTHORIZATION", []string{"sms.gateway.headers"}},
		{"APEX_SMTP_HOST", []string{"mail.smtp.host"}}, // the section left out
		{"APEX_PUBLIC_URL", []string{"http.public_url"}},
		{"APEX_BIND_PASSWORD", []string{"ldap.bind_password"}},
		{"APEX_LDAP_PASSWORD", []string{"ldap.bind_password"}}, // a word left out
		{"APEX_SMS_URL", []string{"sms.gateway.url"}},
		{"APEX_LDAP_CA", []string{"ldap.ca_file"}},
		{"APEX_LDAP_TLS", []string{"ldap.start_tls"}},
		{"APEX_OUTBOX_DIR", []string{"mail.outbox_dir", "sms.outbox_dir"}},
		{"APEX_MAIL_SMTP", []string{"mail.smtp.host", "mail.smtp.port", "mail.smtp.tls", "mail.smtp.username", "mail.smtp.password"}},
		{"APEX_MAIL_SMTP_PASS", []string{"mail.smtp.password"}}, // a word shortened
		{"APEX_LIMITS_CODE_ADDR", []string{"limits.code_address"}},
		{"APEX_LIMIT_SIGNIN_ADDRESS", []string{"limits.signin_address"}},
		{"APEX_LIMITS_SIGNIN_IDENTIFER", []string{"limits.signin_identifier"}}, // typos
		{"APEX_LDAP_BASEDN", []string{"ldap.base_dn"}},
		{"APEX_LDAP_POOLSIZE", []string{"ldap.pool_size"}},
		{"APEX_HTTP_ADRESS", []string{"http.addr"}},
		{"APEX_LDAP_URI", []string{"ldap.url"}},
		{"APEX_MAIL_SMTP_PORTS", []string{"mail.smtp.port"}},
		{"APEX_AUTH_SESSION_TIMEOUT", []string{"auth.session_idle"}},
		{"apex_ldap_url", []string{"ldap.url"}}, // names are upper-case
		{"APEX_HOME", nil},                      // someone else's
		{"APEX_DEBUG", nil},
		{"APEX_SCREENSHOT", nil},
	}
	for _, tt := range tests {
		if got := nearestKeys(tt.name); !slices.Equal(got, tt.want) {
			t.Errorf("nearestKeys(%s) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// Every key has a variable of its own and a hint for the messages, and
// every hint is a key's.
func TestEveryKeyHasAVariableAndAHint(t *testing.T) {
	seen := map[string]string{}
	for _, key := range Keys() {
		v := EnvVar(key)
		if other, ok := seen[v]; ok {
			t.Errorf("%s and %s share %s", other, key, v)
		}
		seen[v] = key
		if h := hint(key); h == "" {
			t.Errorf("%s has no hint: add one to hints", key)
		}
	}
	for key := range hints {
		if !slices.Contains(Keys(), key) {
			t.Errorf("hints describe %s, which is no key", key)
		}
	}
	if got := EnvVar("sms.gateway.success_status"); got != "APEX_SMS_GATEWAY_SUCCESS_STATUS" {
		t.Errorf("EnvVar = %s", got)
	}
}
