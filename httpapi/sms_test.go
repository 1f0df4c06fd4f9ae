package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/dgfip/apex-partenaires/notify"
)

// smsInbox is what a real HTTP SMS gateway, started by the test, received.
type smsInbox struct {
	mu   sync.Mutex
	sent []notify.SMS
}

func (b *smsInbox) to(number string) []notify.SMS {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []notify.SMS
	for _, m := range b.sent {
		if m.To == number {
			out = append(out, m)
		}
	}
	return out
}

func (b *smsInbox) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.sent)
}

// wait returns the n-th SMS to number.
func (b *smsInbox) wait(t *testing.T, number string, n int) notify.SMS {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if got := b.to(number); len(got) >= n {
			return got[n-1]
		}
	}
	t.Fatalf("no SMS #%d to %s", n, number)
	return notify.SMS{}
}

func smsReceiver(t *testing.T) (notify.SMSSender, *smsInbox) {
	t.Helper()
	inbox := &smsInbox{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m notify.SMS
		if r.Method != http.MethodPost || r.Header.Get("Authorization") != "Bearer test-key" || json.NewDecoder(r.Body).Decode(&m) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		inbox.mu.Lock()
		inbox.sent = append(inbox.sent, m)
		inbox.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(ts.Close)
	gw, err := notify.NewGateway(notify.GatewayConfig{URL: ts.URL + "/sms", Headers: map[string]string{"Authorization": "Bearer test-key"}})
	if err != nil {
		t.Fatal(err)
	}
	return gw, inbox
}
