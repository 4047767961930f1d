package accounts_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reel-video/reel/accounts"
	"github.com/reel-video/reel/sqlstore"
)

type client struct {
	t    *testing.T
	base string
}

func (c client) do(method, path, auth, key, body string) (int, http.Header, map[string]any) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &v); err != nil {
			c.t.Fatalf("%s %s: body %q is not JSON", method, path, b)
		}
	}
	return resp.StatusCode, resp.Header, v
}

func errCode(v map[string]any) string {
	e, _ := v["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func TestHTTP(t *testing.T) {
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, sqlstore.Config{DSN: "sqlite:" + filepath.Join(t.TempDir(), "a.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := newService(t, db, nil)
	h := &accounts.Handler{Svc: s, Admin: func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer operator-key" }}
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := client{t, srv.URL}

	st, _, v := c.do("POST", "/v1/accounts", "", "", `{"email":"web@example.com","password":"correct horse battery"}`)
	if st != 201 {
		t.Fatalf("sign up: %d %v", st, v)
	}
	id := int64(v["id"].(float64))
	if st, _, v = c.do("POST", "/v1/accounts", "", "", `{"email":"web@example.com","password":"correct horse battery"}`); st != 409 || errCode(v) != "conflict" {
		t.Fatalf("second sign-up: %d %v", st, v)
	}
	if st, _, v = c.do("POST", "/v1/accounts", "", "", `{"email":"x@example.com","pasword":"typo in the field"}`); st != 400 || errCode(v) != "invalid_input" {
		t.Fatalf("unknown field: %d %v", st, v)
	}
	if st, _, v = c.do("POST", "/v1/accounts/sessions", "", "", `{"email":"web@example.com","password":"wrong password"}`); st != 401 {
		t.Fatalf("wrong password: %d %v", st, v)
	}
	st, _, v = c.do("POST", "/v1/accounts/sessions", "", "", `{"email":"web@example.com","password":"correct horse battery"}`)
	if st != 201 {
		t.Fatalf("sign in: %d %v", st, v)
	}
	tok := v["token"].(string)
	st, hdr, v := c.do("GET", "/v1/accounts/me", "", "", "")
	if st != 401 || hdr.Get("WWW-Authenticate") == "" || errCode(v) != "unauthorized" {
		t.Fatalf("me without a session: %d %v", st, v)
	}
	if st, _, v = c.do("GET", "/v1/accounts/me", "operator-key", "", ""); st != 401 {
		t.Fatalf("me with an operator key: %d %v", st, v)
	}
	st, _, v = c.do("GET", "/v1/accounts/me", tok, "", "")
	if st != 200 || v["subscription"].(map[string]any)["state"] != "none" || len(v["profiles"].([]any)) != 1 {
		t.Fatalf("me: %d %v", st, v)
	}
	if st, _, v = c.do("POST", "/v1/accounts/me/profiles", tok, "", `{"name":"Kids","maturity":"kids"}`); st != 201 {
		t.Fatalf("add profile: %d %v", st, v)
	}
	if st, _, v = c.do("PUT", "/v1/accounts/me/subscription", tok, "sub-1", `{"plan":"standard"}`); st != 200 || v["state"] != "active" {
		t.Fatalf("subscribe: %d %v", st, v)
	}
	if st, _, v = c.do("GET", "/v1/accounts/plans", "", "", ""); st != 200 || len(v["plans"].([]any)) != 3 {
		t.Fatalf("plans: %d %v", st, v)
	}

	path := "/v1/accounts/" + strings.TrimSpace(jsonNum(id)) + "/charges"
	if st, _, v = c.do("POST", path, tok, "c1", `{"amount":500}`); st != 403 || errCode(v) != "forbidden" {
		t.Fatalf("a viewer charging: %d %v", st, v)
	}
	if st, _, v = c.do("POST", path, "operator-key", "", `{"amount":500}`); st != 400 {
		t.Fatalf("charge without a key: %d %v", st, v)
	}
	st, _, v = c.do("POST", path, "operator-key", "c1", `{"amount":500,"description":"rental"}`)
	if st != 201 {
		t.Fatalf("charge: %d %v", st, v)
	}
	charge := int64(v["id"].(float64))
	st, hdr, v = c.do("POST", path, "operator-key", "c1", `{"amount":500,"description":"rental"}`)
	if st != 200 || hdr.Get("Idempotent-Replayed") != "true" || int64(v["id"].(float64)) != charge {
		t.Fatalf("replayed charge: %d %v", st, v)
	}
	if st, _, v = c.do("POST", path, "operator-key", "c1", `{"amount":900,"description":"rental"}`); st != 422 || errCode(v) != "idempotency_key_reused" {
		t.Fatalf("key reused: %d %v", st, v)
	}
	if st, _, v = c.do("POST", path+"/"+jsonNum(charge)+"/refunds", "operator-key", "r1", `{"amount":600}`); st != 409 {
		t.Fatalf("refund above the charge: %d %v", st, v)
	}
	if st, _, v = c.do("POST", path+"/"+jsonNum(charge)+"/refunds", "operator-key", "r1", `{"amount":200,"reason":"buffering"}`); st != 201 {
		t.Fatalf("refund: %d %v", st, v)
	}
	if st, _, v = c.do("POST", "/v1/accounts/"+jsonNum(id)+"/credits", "operator-key", "", `{"amount":300,"memo":"gift card"}`); st != 201 || v["balance"].(float64) != 300 {
		t.Fatalf("credit: %d %v", st, v)
	}
	st, _, v = c.do("GET", "/v1/accounts/me/charges", tok, "", "")
	if st != 200 || len(v["charges"].([]any)) != 2 {
		t.Fatalf("charges: %d %v", st, v)
	}
	if st, _, v = c.do("GET", "/v1/accounts/me/ledger", tok, "", ""); st != 200 || v["balance"].(float64) != 300 {
		t.Fatalf("ledger: %d %v", st, v)
	}
	if st, _, v = c.do("GET", "/v1/accounts/audit", "operator-key", "", ""); st != 200 || v["ok"] != true {
		t.Fatalf("audit: %d %v", st, v)
	}
	if st, _, v = c.do("POST", "/v1/accounts/transfers", "operator-key", "", `{"from":`+jsonNum(id)+`,"to":999,"amount":10}`); st != 404 {
		t.Fatalf("transfer to nobody: %d %v", st, v)
	}
	if st, _, v = c.do("GET", "/v1/accounts/abc", "operator-key", "", ""); st != 404 {
		t.Fatalf("bad id: %d %v", st, v)
	}
	if st, _, _ = c.do("DELETE", "/v1/accounts/sessions/current", tok, "", ""); st != 204 {
		t.Fatalf("sign out: %d", st)
	}
	if st, _, _ = c.do("GET", "/v1/accounts/me", tok, "", ""); st != 401 {
		t.Fatalf("me after signing out: %d", st)
	}
}

func jsonNum(n int64) string { b, _ := json.Marshal(n); return string(b) }
