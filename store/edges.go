package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reel-video/reel/edge"
)

// The registry's keys share the hash tag {edges}, so that one MGET reads
// every edge's record in a Redis Cluster too.
const (
	edgesKey   = "reel:{edges}" // set of edge names
	titlesKey  = "reel:titles"  // stream of published titles
	titlesKeep = 10000          // announcements kept in the stream
	publicKey  = "reel:public-titles"
)

func edgeKey(name string) string { return "reel:{edges}:" + name }

// Edges is the edge registry and the published-title announcements in
// Redis.
type Edges struct {
	C redis.UniversalClient
}

var (
	_ edge.Registry      = (*Edges)(nil)
	_ edge.Announcements = (*Edges)(nil)
)

// Register records an edge for ttl; an edge calls it again well within
// ttl, and a registration not renewed lapses.
func (e *Edges) Register(ctx context.Context, in edge.Info, ttl time.Duration) error {
	raw, _ := json.Marshal(in)
	_, err := e.C.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, edgeKey(in.Name), raw, ttl)
		p.SAdd(ctx, edgesKey, in.Name)
		return nil
	})
	if err != nil {
		return fmt.Errorf("register edge %s: %w", in.Name, err)
	}
	return nil
}

// Deregister removes an edge that is stopping.
func (e *Edges) Deregister(ctx context.Context, name string) error {
	_, err := e.C.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, edgeKey(name))
		p.SRem(ctx, edgesKey, name)
		return nil
	})
	return err
}

// Edges returns the registered edges; lapsed names are dropped.
func (e *Edges) Edges(ctx context.Context) ([]edge.Info, error) {
	names, err := e.C.SMembers(ctx, edgesKey).Result()
	if err != nil {
		return nil, fmt.Errorf("list edges: %w", err)
	}
	if len(names) == 0 {
		return nil, nil
	}
	keys := make([]string, len(names))
	for i, n := range names {
		keys[i] = edgeKey(n)
	}
	vals, err := e.C.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("list edges: %w", err)
	}
	var out []edge.Info
	for i, v := range vals {
		s, ok := v.(string)
		var in edge.Info
		if !ok || json.Unmarshal([]byte(s), &in) != nil {
			e.C.SRem(ctx, edgesKey, names[i])
			continue
		}
		out = append(out, in)
	}
	return out, nil
}

// Announce tells the edges that a title was published with these object
// keys.
func (e *Edges) Announce(ctx context.Context, id string, keys []string) error {
	raw, _ := json.Marshal(keys)
	err := e.C.XAdd(ctx, &redis.XAddArgs{Stream: titlesKey, MaxLen: titlesKeep, Approx: true,
		Values: map[string]any{"id": id, "keys": raw}}).Err()
	if err != nil {
		return fmt.Errorf("announce title %s: %w", id, err)
	}
	return nil
}

// Read returns the titles announced after cursor ("" reads from the
// oldest kept), waiting up to 2 s for one.
func (e *Edges) Read(ctx context.Context, cursor string) ([]edge.Title, error) {
	if cursor == "" {
		cursor = "0"
	}
	res, err := e.C.XRead(ctx, &redis.XReadArgs{Streams: []string{titlesKey, cursor}, Count: 16, Block: 2 * time.Second}).Result()
	if err == redis.Nil {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read published titles: %w", err)
	}
	var out []edge.Title
	for _, s := range res {
		for _, m := range s.Messages {
			t := edge.Title{Cursor: m.ID}
			t.ID, _ = m.Values["id"].(string)
			if raw, ok := m.Values["keys"].(string); ok {
				_ = json.Unmarshal([]byte(raw), &t.Keys)
			}
			out = append(out, t)
		}
	}
	return out, nil
}

// MarkPublic records that title id plays without a playback token.
func (e *Edges) MarkPublic(ctx context.Context, id string) error {
	if err := e.C.SAdd(ctx, publicKey, id).Err(); err != nil {
		return fmt.Errorf("mark title %s public: %w", id, err)
	}
	return nil
}

// Public reports whether title id plays without a playback token.
func (e *Edges) Public(ctx context.Context, id string) (bool, error) {
	ok, err := e.C.SIsMember(ctx, publicKey, id).Result()
	if err != nil {
		return false, fmt.Errorf("is title %s public: %w", id, err)
	}
	return ok, nil
}
