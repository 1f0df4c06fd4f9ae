package mailer

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgfip/apex-partenaires/cmd/internal/config"
	"github.com/dgfip/apex-partenaires/notify"
)

// loadConfig reads the defaults, with no APEX_ variable of the
// environment running the tests.
func loadConfig(t *testing.T) *config.Config {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, config.EnvPrefix+"_") {
			t.Setenv(k, "")
		}
	}
	cfg, err := config.Load(filepath.Join(t.TempDir(), "absent.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestOpenSMSOutbox(t *testing.T) {
	cfg := loadConfig(t)
	cfg.SMS.OutboxDir = filepath.Join(t.TempDir(), "sms")
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	sms, err := OpenSMS(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := sms.(*notify.SMSOutbox); !ok {
		t.Fatalf("without a gateway URL: %T, want the outbox", sms)
	}
	m := notify.SMS{To: "+33612345678", Text: "APEX Partenaires : votre code de sécurité est 123456."}
	if err := sms.SendSMS(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if got, err := notify.ListSMSOutbox(cfg.SMS.OutboxDir); err != nil || len(got) != 1 || got[0] != m {
		t.Errorf("outbox %+v, %v", got, err)
	}
}

func TestOpenSMSGateway(t *testing.T) {
	cfg := loadConfig(t)
	cfg.SMS.OutboxDir = filepath.Join(t.TempDir(), "unused")
	cfg.SMS.Gateway.URL = "https://sms.example.fr/send"
	cfg.SMS.Gateway.Headers = map[string]string{"authorization": "Bearer k"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	sms, err := OpenSMS(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := sms.(*notify.Gateway); !ok {
		t.Fatalf("with a gateway URL: %T, want the gateway", sms)
	}
	if _, err := os.Stat(cfg.SMS.OutboxDir); !os.IsNotExist(err) {
		t.Errorf("the outbox folder was made with a gateway: %v", err)
	}
}
