package edge

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/reel-video/reel/playtoken"
)

// authorize returns the origin key a request asks for once its playback
// token passes (/t/{token}/vod/...), or, for an untokened request
// (/vod/...), once its title is public; else the refusal to answer. It
// reads neither the disk nor the origin.
func (e *Edge) authorize(r *http.Request) (string, *playtoken.Refusal) {
	token, key, tokened := playtoken.Split(r.URL.Path)
	if !tokened {
		key = strings.TrimPrefix(r.URL.Path, "/")
	}
	if e.cfg.Tokens == nil {
		return key, nil
	}
	if tokened {
		// An edge faces its players: the peer is the client.
		if err := e.cfg.Tokens.Check(token, key, playtoken.PeerAddr(r)); err != nil {
			return "", err.(*playtoken.Refusal)
		}
		return key, nil
	}
	title := titleOf(key)
	if title != "" && e.isPublic(r.Context(), title) {
		return key, nil
	}
	return "", &playtoken.Refusal{Code: "token_missing",
		Message: "this title is private: play it with the URL GET /v1/play/{id} returns, which carries a playback token"}
}

// Public answers are kept this long, so that a busy public title costs
// one lookup now and then; a title turned public plays untokened within
// publicTTL.
const (
	publicTTL      = 30 * time.Second
	publicCacheMax = 4096
)

type publicCache struct {
	mu sync.Mutex
	m  map[string]publicEntry
}

type publicEntry struct {
	public bool
	at     time.Time
}

// isPublic says whether title plays without a token. When Public cannot
// answer, the last answer is kept, and a title never seen is private.
func (e *Edge) isPublic(ctx context.Context, title string) bool {
	if e.cfg.Public == nil {
		return false
	}
	c := &e.public
	now := time.Now()
	c.mu.Lock()
	ent, ok := c.m[title]
	c.mu.Unlock()
	if ok && now.Sub(ent.at) < publicTTL {
		return ent.public
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	v, err, _ := e.flight.Do("public:"+title, func() (any, error) { return e.cfg.Public(ctx, title) })
	if err != nil {
		e.log.Warn("cannot tell whether a title is public; using the last answer", "title", title, "err", err)
		return ok && ent.public
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= publicCacheMax {
		c.m = map[string]publicEntry{}
	}
	c.m[title] = publicEntry{v.(bool), now}
	c.mu.Unlock()
	return v.(bool)
}

// originURL is where the edge sends a GET or HEAD (method) of object key.
func (e *Edge) originURL(ctx context.Context, method, key string) (string, error) {
	if e.cfg.OriginURL != nil {
		return e.cfg.OriginURL(ctx, method, key)
	}
	return e.cfg.Origin + "/" + key, nil
}
