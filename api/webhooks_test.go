package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/reel-video/reel/api"
	"github.com/reel-video/reel/netguard"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/queue"
	"github.com/reel-video/reel/store"
	"github.com/reel-video/reel/webhooks"
)

// webhookEnv is an API whose jobs' events go to their endpoints, through
// a delivery server that retries after 200 ms, loopback allowed.
func webhookEnv(t *testing.T) *env {
	t.Helper()
	var hooks *store.Webhooks
	e := setup(t, 1<<20, func(s *api.Server) {
		rdb := s.Svc.Store.(*store.Redis).C
		hooks = &store.Webhooks{C: rdb}
		s.Webhooks = hooks
		s.WebhookPolicy = &netguard.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
		s.Svc.Notify = (&webhooks.Notifier{Store: hooks, Queue: &queue.Webhooks{Client: s.Svc.Queue.(*queue.Asynq).Client}}).Notify
	})
	rdb := e.api.Svc.Store.(*store.Redis).C.(*redis.Client)
	srv, err := queue.WebhookServer(asynq.RedisClientOpt{Addr: rdb.Options().Addr}, 2,
		&webhooks.Deliverer{Store: hooks, Client: e.api.WebhookPolicy.Client(5 * time.Second)},
		func(int) time.Duration { return 200 * time.Millisecond })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return e
}

// TestWebhooks: an endpoint at a non-public address is refused unless
// allowed; a job's events reach an allowed endpoint signed, with one
// event id however often they are tried; an endpoint that fails twice
// gets the event on the third attempt, and the delivery log shows all
// three; another tenant sees none of it.
func TestWebhooks(t *testing.T) {
	e := webhookEnv(t)

	type got struct {
		id, typ, sig string
		body         []byte
		at           time.Time
	}
	var mu sync.Mutex
	var received []got
	fails := 2
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		received = append(received, got{r.Header.Get("Reel-Event-Id"), r.Header.Get("Reel-Event-Type"), r.Header.Get("Reel-Signature"), body, time.Now()})
		if fails > 0 {
			fails--
			http.Error(w, "not now", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(recv.Close)

	u := e.srv.URL + "/v1/webhooks"
	for url, want := range map[string]string{
		"http://169.254.169.254/latest/meta-data/": "not public",
		"http://10.0.0.8/hook":                     "REEL_WEBHOOK_ALLOW",
		"http://[::1]:9/hook":                      "not public",
		"ftp://example.com/hook":                   "not an http",
		"https://user:pw@example.com/hook":         "credentials",
	} {
		resp, m := do(t, e.c, "POST", u, "application/json", `{"url":"`+url+`"}`)
		if msg, _ := m["error"].(map[string]any)["message"].(string); resp.StatusCode != 400 || !strings.Contains(msg, want) {
			t.Errorf("endpoint %s: %d %v, want 400 saying %q", url, resp.StatusCode, m, want)
		}
	}
	if resp, m := do(t, e.c, "POST", u, "application/json", `{"url":"`+recv.URL+`","events":["job.exploded"]}`); resp.StatusCode != 400 {
		t.Errorf("an unknown event: %d %v", resp.StatusCode, m)
	}
	resp, ep := do(t, e.c, "POST", u, "application/json", `{"url":"`+recv.URL+`/hook","events":["job.created","job.canceled"]}`)
	secret, _ := ep["secret"].(string)
	id, _ := ep["id"].(string)
	if resp.StatusCode != 201 || !strings.HasPrefix(secret, "whsec_") || id == "" {
		t.Fatalf("create: %d %v", resp.StatusCode, ep)
	}
	if _, m := do(t, e.c, "GET", u+"/"+id, "", ""); m["secret"] != nil || m["url"] != recv.URL+"/hook" {
		t.Errorf("get: %v", m)
	}
	other := e.newKey(t, "globex", false)
	if resp, _ := do(t, other, "GET", u+"/"+id+"/deliveries", "", ""); resp.StatusCode != 404 {
		t.Errorf("another tenant's deliveries: %d", resp.StatusCode)
	}
	if _, m := do(t, other, "GET", u, "", ""); len(m["webhooks"].([]any)) != 0 {
		t.Errorf("another tenant lists %v", m)
	}

	resp, job := e.post(t, form{fileName: "a.mp4", file: []byte("master")})
	if resp.StatusCode != 201 {
		t.Fatal(resp.Status)
	}
	deliveries := func() []any {
		_, m := do(t, e.c, "GET", u+"/"+id+"/deliveries", "", "")
		list, _ := m["deliveries"].([]any)
		return list
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		list := deliveries()
		if len(list) == 1 && list[0].(map[string]any)["state"] == webhooks.Succeeded {
			d := list[0].(map[string]any)
			attempts := d["attempts"].([]any)
			if len(attempts) != 3 || d["job"] != job["id"] || d["type"] != "job.created" {
				t.Fatalf("delivery: %v", d)
			}
			for i, a := range attempts {
				st := a.(map[string]any)["status"].(float64)
				if (i < 2 && st != 500) || (i == 2 && st != 204) {
					t.Errorf("attempt %d: %v", i, a)
				}
			}
			t.Logf("delivery log: %v", d)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries: %v", list)
		}
		time.Sleep(100 * time.Millisecond)
	}
	mu.Lock()
	first := received
	mu.Unlock()
	if len(first) != 3 {
		t.Fatalf("received %d requests", len(first))
	}
	for _, g := range first {
		if g.id != first[0].id || g.typ != "job.created" || string(g.body) != string(first[0].body) {
			t.Errorf("attempts differ: %+v", g)
		}
		if err := webhooks.Verify(secret, g.sig, g.body, 5*time.Minute, time.Now()); err != nil {
			t.Errorf("signature: %v", err)
		}
		if err := webhooks.Verify("whsec_other", g.sig, g.body, 5*time.Minute, time.Now()); err == nil {
			t.Error("another secret verified the signature")
		}
	}
	// Canceling: one more event, delivered at once.
	if resp, _ := do(t, e.c, "DELETE", e.srv.URL+"/v1/jobs/"+job["id"].(string), "", ""); resp.StatusCode != 200 {
		t.Fatalf("cancel: %d", resp.StatusCode)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if list := deliveries(); len(list) == 2 && list[0].(map[string]any)["state"] == webhooks.Succeeded &&
			list[0].(map[string]any)["type"] == "job.canceled" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cancel delivery: %v", deliveries())
		}
	}
	if resp, _ := do(t, e.c, "DELETE", u+"/"+id, "", ""); resp.StatusCode != 204 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if resp, _ := do(t, e.c, "GET", u+"/"+id, "", ""); resp.StatusCode != 404 {
		t.Fatalf("deleted endpoint: %d", resp.StatusCode)
	}
}

// TestJobWebhooks: a job's own endpoint hears of that job alone, including
// job.progress (one event a stage entered) when it asks; another tenant
// cannot make one for the job; an endpoint that names no events gets the
// lifecycle ones, not job.progress.
func TestJobWebhooks(t *testing.T) {
	e := webhookEnv(t)
	var mu sync.Mutex
	var got []string // job/type/status
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev webhooks.Event
		_ = json.NewDecoder(r.Body).Decode(&ev)
		mu.Lock()
		got = append(got, ev.Data.Job.ID+" "+ev.Type+" "+string(ev.Data.Job.Status))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(recv.Close)

	u := e.srv.URL + "/v1/webhooks"
	if _, m := do(t, e.c, "POST", u, "application/json", `{"url":"`+recv.URL+`/all"}`); fmt.Sprint(m["events"]) != "[job.created job.completed job.failed job.canceled]" {
		t.Errorf("an endpoint naming no events: %v", m)
	}
	_, mine := e.post(t, form{fileName: "a.mp4", file: []byte("master")})
	_, other := e.post(t, form{fileName: "b.mp4", file: []byte("master")})
	id, otherID := mine["id"].(string), other["id"].(string)
	if resp, m := do(t, e.newKey(t, "globex", false), "POST", u, "application/json", `{"url":"`+recv.URL+`","job":"`+id+`"}`); resp.StatusCode != 400 {
		t.Fatalf("another tenant's endpoint for the job: %d %v", resp.StatusCode, m)
	}
	resp, ep := do(t, e.c, "POST", u, "application/json", `{"url":"`+recv.URL+`/own","job":"`+id+`","events":["job.progress","job.canceled"]}`)
	if resp.StatusCode != 201 || ep["job"] != id {
		t.Fatalf("the job's own endpoint: %d %v", resp.StatusCode, ep)
	}
	if _, m := do(t, e.c, "GET", u+"?job="+id, "", ""); len(m["webhooks"].([]any)) != 1 {
		t.Errorf("the job's endpoints: %v", m)
	}
	if _, m := do(t, e.c, "GET", u, "", ""); len(m["webhooks"].([]any)) != 1 {
		t.Errorf("the tenant's endpoints list the job's own: %v", m)
	}
	ctx := context.Background()
	// Both jobs move on a stage (a worker begins their first task), twice
	// for one (a duplicate delivery moves nothing), and both are canceled.
	for _, j := range []string{id, id, otherID} {
		if _, err := e.api.Svc.Begin(ctx, pipeline.First(&pipeline.Job{ID: j})[0]); err != nil {
			t.Fatal(err)
		}
	}
	for _, j := range []string{id, otherID} {
		if _, err := e.api.Svc.Cancel(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	// The job's own endpoint logged its progress and its cancel, nothing
	// of the other job, and no second progress for the duplicate begin:
	// deliveries are logged as events happen.
	_, m := do(t, e.c, "GET", u+"/"+ep["id"].(string)+"/deliveries", "", "")
	var own []string
	for _, d := range m["deliveries"].([]any) {
		d := d.(map[string]any)
		own = append(own, d["job"].(string)+" "+d["type"].(string))
	}
	slices.Sort(own)
	if want := []string{id + " job.canceled", id + " job.progress"}; !slices.Equal(own, want) {
		t.Fatalf("the job's own endpoint's deliveries: %v, want %v", own, want)
	}
	// And they arrive, the progress saying the stage entered.
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		arrived := slices.Contains(got, id+" job.progress probing") && slices.Contains(got, id+" job.canceled canceled")
		mu.Unlock()
		if arrived {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries: %v", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
