package edge

import (
	"context"
	"log/slog"
	"time"
)

// Registrar records edges in the registry.
type Registrar interface {
	Register(ctx context.Context, in Info, ttl time.Duration) error
	Deregister(ctx context.Context, name string) error
}

// RegistrationPeriods is how many heartbeat periods a registration lives:
// an edge that misses that many in a row lapses.
const RegistrationPeriods = 5

// Heartbeat registers in every period (with a time to live of
// RegistrationPeriods periods) until ctx ends, then deregisters. A registry
// that cannot be reached is retried; the edge serves meanwhile.
func Heartbeat(ctx context.Context, reg Registrar, in Info, every time.Duration, log *slog.Logger) {
	var failing bool
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		err := reg.Register(ctx, in, RegistrationPeriods*every)
		if err != nil && !failing && ctx.Err() == nil {
			log.Warn("cannot register in the edge registry; serving meanwhile", "err", err)
		} else if err == nil && failing {
			log.Info("registered in the edge registry again")
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = reg.Deregister(dctx, in.Name)
			cancel()
			return
		case <-t.C:
		}
	}
}
