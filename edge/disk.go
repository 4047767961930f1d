package edge

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/reel-video/reel/pipeline"
)

// object is one cached origin object: its data file and what the origin
// said about it.
type object struct {
	Key          string    `json:"key"`
	Size         int64     `json:"size"`
	ETag         string    `json:"etag,omitempty"`
	LastModified time.Time `json:"last_modified"`
	ContentType  string    `json:"content_type,omitempty"`
	CacheControl string    `json:"cache_control,omitempty"`
	// Fetched is when the origin last sent or confirmed it: an object
	// whose Cache-Control allows a max-age, not immutable, is fresh that
	// long after it (a growing title's manifests).
	Fetched time.Time `json:"fetched"`

	file string
	elem *list.Element
}

// disk holds cached objects under dir within a byte budget, evicting the
// least recently used. Each object is a data file and a JSON sidecar named
// by the SHA-256 of its key; the sidecar's modification time records the
// last use, so an edge restarted on the same folder keeps what it held, in
// the same order.
type disk struct {
	dir    string
	budget int64

	mu      sync.Mutex
	objects map[string]*object
	lru     *list.List // front: most recently used
	used    int64
	titles  map[string]int // title id → objects held
	version int64          // bumped when the set of titles changes
}

var errTooLarge = errors.New("object larger than the cache budget")

func openDisk(dir string, budget int64) (*disk, error) {
	for _, sub := range []string{"objects", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	// Partial downloads from before a crash.
	tmps, _ := filepath.Glob(filepath.Join(dir, "tmp", "*"))
	for _, t := range tmps {
		_ = os.Remove(t)
	}
	d := &disk{dir: dir, budget: budget, objects: map[string]*object{}, lru: list.New(), titles: map[string]int{}}
	metas, err := filepath.Glob(filepath.Join(dir, "objects", "*.json"))
	if err != nil {
		return nil, err
	}
	type found struct {
		o    *object
		used time.Time
	}
	var all []found
	for _, m := range metas {
		raw, err := os.ReadFile(m)
		fi, serr := os.Stat(strings.TrimSuffix(m, ".json"))
		var o object
		if err != nil || serr != nil || json.Unmarshal(raw, &o) != nil || o.Key == "" || fi.Size() != o.Size || d.name(o.Key) != strings.TrimSuffix(m, ".json") {
			// A sidecar without its data (or the reverse) is a write that
			// did not finish.
			_ = os.Remove(m)
			_ = os.Remove(strings.TrimSuffix(m, ".json"))
			continue
		}
		mfi, _ := os.Stat(m)
		o.file = strings.TrimSuffix(m, ".json")
		all = append(all, found{&o, mfi.ModTime()})
	}
	datas, _ := filepath.Glob(filepath.Join(dir, "objects", "*"))
	for _, f := range datas {
		if !strings.HasSuffix(f, ".json") {
			if _, err := os.Stat(f + ".json"); err != nil {
				_ = os.Remove(f)
			}
		}
	}
	sort.Slice(all, func(a, b int) bool { return all[a].used.After(all[b].used) })
	for _, f := range all {
		d.add(f.o, false)
	}
	d.mu.Lock()
	d.evict(nil)
	d.mu.Unlock()
	return d, nil
}

// name is the data file path of key.
func (d *disk) name(key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(d.dir, "objects", hex.EncodeToString(sum[:]))
}

// titleOf returns the title id of a published key "vod/{id}/...".
func titleOf(key string) string {
	rest, ok := strings.CutPrefix(key, pipeline.PublishedRoot)
	id, _, more := strings.Cut(rest, "/")
	if !ok || !more {
		return ""
	}
	return id
}

func (d *disk) add(o *object, front bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if front {
		o.elem = d.lru.PushFront(o)
	} else {
		o.elem = d.lru.PushBack(o)
	}
	d.objects[o.Key] = o
	d.used += o.Size
	if t := titleOf(o.Key); t != "" {
		if d.titles[t]++; d.titles[t] == 1 {
			d.version++
		}
	}
}

// evict drops least recently used objects until the budget holds, never
// keep. Called with mu held.
func (d *disk) evict(keep *object) {
	for d.used > d.budget {
		e := d.lru.Back()
		if e == nil {
			return
		}
		o := e.Value.(*object)
		if o == keep {
			if e = e.Prev(); e == nil {
				return
			}
			o = e.Value.(*object)
		}
		d.removeLocked(o)
	}
}

func (d *disk) removeLocked(o *object) {
	d.lru.Remove(o.elem)
	delete(d.objects, o.Key)
	d.used -= o.Size
	if t := titleOf(o.Key); t != "" {
		if d.titles[t]--; d.titles[t] <= 0 {
			delete(d.titles, t)
			d.version++
		}
	}
	// A reader holding the file open keeps reading it: unlink is safe.
	_ = os.Remove(o.file + ".json")
	_ = os.Remove(o.file)
}

// get returns the object for key and marks it used.
func (d *disk) get(key string) (*object, bool) {
	d.mu.Lock()
	o, ok := d.objects[key]
	if ok {
		d.lru.MoveToFront(o.elem)
	}
	d.mu.Unlock()
	if ok {
		now := time.Now()
		_ = os.Chtimes(o.file+".json", now, now)
	}
	return o, ok
}

// has reports whether key is held without marking it used.
func (d *disk) has(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.objects[key]
	return ok
}

// room reports whether n more bytes fit without evicting anything.
func (d *disk) room(n int64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.used+n <= d.budget
}

// tempFile returns a new file for a download in progress.
func (d *disk) tempFile() (*os.File, error) {
	return os.CreateTemp(filepath.Join(d.dir, "tmp"), "fill-*")
}

// put moves a finished download into the cache and evicts what no longer
// fits. The temporary file is consumed either way. An object already held
// under the key is kept, unless replace (a newer version from the
// origin): then it is dropped first (a reader holding its file open
// keeps reading it).
func (d *disk) put(o *object, tmp string, replace bool) (*object, error) {
	if o.Size > d.budget {
		_ = os.Remove(tmp)
		return nil, fmt.Errorf("%s (%d bytes, budget %d): %w", o.Key, o.Size, d.budget, errTooLarge)
	}
	o.file = d.name(o.Key)
	d.mu.Lock()
	if old, ok := d.objects[o.Key]; ok {
		if !replace {
			d.mu.Unlock()
			_ = os.Remove(tmp)
			return old, nil
		}
		d.removeLocked(old)
	}
	d.mu.Unlock()
	if err := os.Rename(tmp, o.file); err != nil {
		_ = os.Remove(tmp)
		return nil, err
	}
	// The sidecar is written last: an object without one is dropped on
	// the next start.
	if err := writeSidecar(o); err != nil {
		_ = os.Remove(o.file)
		return nil, err
	}
	d.add(o, true)
	d.mu.Lock()
	d.evict(o)
	d.mu.Unlock()
	return o, nil
}

// writeSidecar writes o's sidecar whole, or leaves the old one.
func writeSidecar(o *object) error {
	meta, err := json.Marshal(o)
	if err != nil {
		return err
	}
	if err := os.WriteFile(o.file+".json.tmp", meta, 0o644); err != nil {
		return err
	}
	return os.Rename(o.file+".json.tmp", o.file+".json")
}

// fresh says whether o may be served at now without asking the origin:
// its Cache-Control says immutable, or gives no max-age (a published
// title's objects never change), or its max-age has not passed since it
// was fetched or last confirmed. no-cache always asks.
func (d *disk) fresh(o *object, now time.Time) bool {
	d.mu.Lock()
	fetched, cc := o.Fetched, strings.ToLower(o.CacheControl)
	d.mu.Unlock()
	maxAge := -1
	for _, dir := range strings.Split(cc, ",") {
		dir = strings.TrimSpace(dir)
		switch {
		case dir == "immutable":
			return true
		case dir == "no-cache":
			return false
		case strings.HasPrefix(dir, "max-age="):
			if n, err := strconv.Atoi(strings.TrimPrefix(dir, "max-age=")); err == nil && n >= 0 {
				maxAge = n
			}
		}
	}
	return maxAge < 0 || now.Sub(fetched) < time.Duration(maxAge)*time.Second
}

// confirmed records that the origin confirmed o as it is held, at t.
func (d *disk) confirmed(o *object, t time.Time) {
	d.mu.Lock()
	o.Fetched = t
	cp := *o
	d.mu.Unlock()
	_ = writeSidecar(&cp)
}

// drop removes o from the cache, if it is still the object held.
func (d *disk) drop(o *object) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.objects[o.Key] == o {
		d.removeLocked(o)
	}
}

// usage returns the bytes held, the objects held, the titles held and the
// title set's version.
func (d *disk) usage() (bytes int64, objects, titles int, version int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.used, len(d.objects), len(d.titles), d.version
}

// titleList returns the ids of the titles with at least one object held.
func (d *disk) titleList() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, 0, len(d.titles))
	for t := range d.titles {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// validKey reports whether key is a published object's key: "vod/" then
// clean path elements of safe characters.
func validKey(key string) bool {
	if !strings.HasPrefix(key, pipeline.PublishedRoot) || len(key) > 512 || path.Clean(key) != key {
		return false
	}
	for _, el := range strings.Split(key, "/") {
		if el == "" || el == "." || el == ".." || strings.HasPrefix(el, ".") {
			return false
		}
		for _, r := range el {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.", r)) {
				return false
			}
		}
	}
	return titleOf(key) != ""
}
