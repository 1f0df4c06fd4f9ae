package testkit

import (
	"log/slog"
	"testing"
)

// Holds finds a secret wherever a log line could carry it, and not in the
// digits of a time or a duration.
func TestLogBufferHolds(t *testing.T) {
	var b LogBuffer
	log := slog.New(slog.NewJSONHandler(&b, nil))
	log.Info("request", "duration_ms", 0.123456, "route", "/connexion")
	b.Write([]byte(`{"time":"2026-12-06T05:27:12.123456789Z","msg":"x"}` + "\n"))
	if b.Holds("123456") {
		t.Errorf("a duration's or a time's digits taken for a secret: %s", b.String())
	}
	for _, leak := range []func(){
		func() { log.Info("sent", "code", "654321") },
		func() { log.Info("sent", "code", 654321) },
		func() { log.Info("sent", "detail", map[string]any{"inner": "x654321y"}) },
		func() { b.Write([]byte("plain text 654321\n")) },
	} {
		b = LogBuffer{}
		log = slog.New(slog.NewJSONHandler(&b, nil))
		leak()
		if !b.Holds("654321") {
			t.Errorf("a logged secret not found: %s", b.String())
		}
	}
}
