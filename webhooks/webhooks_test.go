package webhooks_test

import (
	"testing"
	"time"

	"github.com/reel-video/reel/webhooks"
)

func TestSignatureVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"evt_1"}`)
	sig := webhooks.Sign("whsec_a", now, body)
	if err := webhooks.Verify("whsec_a", sig, body, time.Minute, now.Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	for what, c := range map[string]struct {
		sig  string
		body string
		at   time.Time
	}{
		"altered body": {sig, `{"id":"evt_2"}`, now},
		"too old":      {sig, string(body), now.Add(2 * time.Minute)},
		"garbage":      {"v1=zz", string(body), now},
	} {
		if err := webhooks.Verify("whsec_a", c.sig, []byte(c.body), time.Minute, c.at); err == nil {
			t.Errorf("%s: verified", what)
		}
	}
}

// TestRetriesSpanADay: the retries of a failing delivery reach past 24 h
// after its first attempt, pauses never over 4 h.
func TestRetriesSpanADay(t *testing.T) {
	var total time.Duration
	for n := range webhooks.MaxRetries {
		d := webhooks.RetryDelay(n)
		if d <= 0 || d > 4*time.Hour {
			t.Fatalf("retry %d after %v", n, d)
		}
		total += d
	}
	if total < 24*time.Hour {
		t.Fatalf("the last retry comes %v after the first attempt", total)
	}
}
