package workers

import (
	"fmt"
	"strings"
	"testing"

	"github.com/reel-video/reel/packager"
)

func TestCappedManifests(t *testing.T) {
	var tracks []packager.Track
	for _, h := range []int{360, 720, 1080} {
		tracks = append(tracks, packager.Track{Name: fmt.Sprintf("v%d", h), Height: h, Width: h * 16 / 9, Codec: "h264"})
	}
	c := capped(tracks)
	if len(c) != 2 || len(c[480]) != 1 || len(c[720]) != 2 {
		t.Fatalf("caps of a 360/720/1080 title: %v", c)
	}
	if _, ok := c[1080]; ok {
		t.Fatal("a cap no rendition is above")
	}
	files := manifests(tracks, nil, nil)
	for _, name := range []string{"cap480.m3u8", "cap480.mpd", "cap720.m3u8", "cap720.mpd"} {
		if files[name] == nil {
			t.Fatalf("no %s among %d manifests", name, len(files))
		}
	}
	if strings.Contains(string(files["cap720.m3u8"]), "v1080") || !strings.Contains(string(files["cap720.m3u8"]), "v720") {
		t.Fatalf("cap720.m3u8:\n%s", files["cap720.m3u8"])
	}
	if strings.Contains(string(files["cap480.mpd"]), `id="v720"`) {
		t.Fatalf("cap480.mpd has the 720p rendition:\n%s", files["cap480.mpd"])
	}
	if live := manifests(tracks, nil, &packager.Dynamic{}); live["cap720.m3u8"] != nil {
		t.Fatal("a growing title got capped manifests")
	}
	p := &publishedSet{}
	for name := range files {
		p.add("vod/x/", name)
	}
	if p.Caps["720"].HLS != "vod/x/cap720.m3u8" || p.Caps["720"].DASH != "vod/x/cap720.mpd" || len(p.Caps) != 2 {
		t.Fatalf("published caps: %+v", p.Caps)
	}
	for rel, want := range map[string]bool{"cap720.m3u8": true, "cap720.mpd": true, "capx.mpd": false, "v720/cap1.m3u8": false, "cap720.vtt": false} {
		if isCap(rel) != want {
			t.Errorf("isCap(%q) = %v", rel, !want)
		}
	}
}
