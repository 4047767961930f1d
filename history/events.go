package history

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/reel-video/reel/events"
)

// Writer feeds the live section from players' view.* events: a durable
// consumer's handler. Writing an event again is harmless (its key is its
// time and device), so a batch delivered twice is stored once.
type Writer struct {
	Store *Store
	Log   *slog.Logger
}

// Handle stores a batch's heartbeats; events that are not a profile's
// position in a title are skipped.
func (w *Writer) Handle(ctx context.Context, ds []events.Delivery) error {
	evs := make([]Event, 0, len(ds))
	for _, d := range ds {
		var e events.Event
		if err := json.Unmarshal(d.Data, &e); err != nil {
			continue
		}
		device := e.Attrs["device"]
		if device == "" {
			device = e.Source
		}
		h := Event{Profile: e.Profile, Title: e.Title, Position: e.Position, Duration: e.Duration, Device: device, At: e.At}
		if err := h.Check(); err != nil {
			if w.Log != nil {
				w.Log.Debug("view event skipped", "id", e.ID, "err", err)
			}
			continue
		}
		evs = append(evs, h)
	}
	if len(evs) == 0 {
		return nil
	}
	return w.Store.Live.Append(ctx, evs...)
}
