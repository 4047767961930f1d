package catalog

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestPopular answers the popular titles the recommender left in the
// cache, only those the profile's maturity allows; without them, 404.
func TestPopular(t *testing.T) {
	var cached []Title
	h := &Handler{Popular: func() ([]Title, bool) { return cached, cached != nil }}
	mux := http.NewServeMux()
	h.Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(q string) (int, []Title) {
		resp, err := http.Get(srv.URL + "/v1/catalog/popular" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v struct{ Titles []Title }
		_ = json.NewDecoder(resp.Body).Decode(&v)
		return resp.StatusCode, v.Titles
	}
	if s, _ := get("?maturity=kids"); s != 404 {
		t.Errorf("before a model: %d", s)
	}
	cached = []Title{{ID: "a", Name: "A", Maturity: Adult}, {ID: "k", Name: "K", Maturity: Kids}, {ID: "t", Name: "T", Maturity: Teen}}
	for q, want := range map[string]int{"?maturity=kids": 1, "?maturity=teen": 2, "": 3, "?limit=1": 1} {
		if s, ts := get(q); s != 200 || len(ts) != want {
			t.Errorf("%s: %d %v, want %d titles", q, s, ts, want)
		}
	}
	if s, _ := get("?maturity=toddler"); s != 400 {
		t.Errorf("a bad maturity: %d", s)
	}
}
