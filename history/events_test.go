package history_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/reel-video/reel/events"
	"github.com/reel-video/reel/history"
)

// TestWriter feeds the live section from view events: a batch delivered
// twice is stored once, and events that are no position in a title are
// skipped.
func TestWriter(t *testing.T) {
	live, err := history.OpenPebble(filepath.Join(t.TempDir(), "live"))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	st := &history.Store{Live: live}
	w := &history.Writer{Store: st}
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	var ds []events.Delivery
	for i, e := range []events.Event{
		{ID: "a", Type: "view.start", Profile: "1", Session: "s", Title: "t1", At: at, Source: "web"},
		{ID: "b", Type: "view.heartbeat", Profile: "1", Session: "s", Title: "t1", Position: 5, Duration: 60, At: at.Add(5 * time.Second), Attrs: map[string]string{"device": "tv"}},
		{ID: "c", Type: "view.heartbeat", Profile: "1", Session: "s", Title: "t1", Position: 10, Duration: 60, At: at.Add(10 * time.Second), Source: "web"},
		{ID: "d", Type: "view.heartbeat", Profile: "", Title: "t1", Position: 10, At: at}, // no profile
	} {
		data, _ := json.Marshal(e)
		ds = append(ds, events.Delivery{Seq: uint64(i + 1), Data: data})
	}
	ds = append(ds, events.Delivery{Seq: 9, Data: []byte("not json")})
	ctx := context.Background()
	for range 2 {
		if err := w.Handle(ctx, ds); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := live.Events(ctx, "1")
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 {
		t.Fatalf("%d heartbeats, want 3: %+v", len(evs), evs)
	}
	devices := map[string]bool{}
	for _, e := range evs {
		devices[e.Device] = true
	}
	if !devices["tv"] || !devices["web"] {
		t.Errorf("devices %v: the attrs' device, else the source", devices)
	}
	if last := evs[len(evs)-1]; last.Position != 10 || last.Duration != 60 || last.Title != "t1" {
		t.Errorf("the latest heartbeat: %+v", last)
	}
}
