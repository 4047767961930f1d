package packager

import (
	"bytes"
	"encoding/xml"
	"slices"
	"strings"
	"testing"

	"github.com/grafov/m3u8"

	"github.com/reel-video/reel/internal/golden"
)

// subtitleTracks are French subtitles, English for the deaf and hard of
// hearing, and forced German ones, over three 4 s segments.
func subtitleTracks() []TextTrack {
	segs := []Segment{{URI: "seg_00000.vtt", Duration: 4}, {URI: "seg_00001.vtt", Duration: 4}, {URI: "seg_00002.vtt", Duration: 2.5}}
	return []TextTrack{
		{Name: "text_0", Language: "fr", Segments: segs, Whole: "whole.vtt", Size: 1200},
		{Name: "text_1", Language: "en", SDH: true, Segments: segs, Whole: "whole.vtt", Size: 1500},
		{Name: "text_2", Language: "de", Label: "Deutsch (erzwungen)", Forced: true, Segments: segs, Whole: "whole.vtt", Size: 90},
	}
}

func TestManifestsSubtitles(t *testing.T) {
	video, audio := languages()
	text := subtitleTracks()
	master := MasterPlaylist(video, audio, text...)
	golden.Equal(t, "master_subtitles.m3u8", master)
	mpd := MPD(video, audio, text...)
	golden.Equal(t, "manifest_subtitles.mpd", mpd)
	golden.Equal(t, "text_playlist.m3u8", TextPlaylist(text[0]))

	pl, typ, err := m3u8.Decode(*bytes.NewBuffer(master), true)
	if err != nil || typ != m3u8.MASTER {
		t.Fatalf("master does not parse: %v", err)
	}
	for _, v := range pl.(*m3u8.MasterPlaylist).Variants {
		if !v.Iframe && v.Subtitles != TextGroup {
			t.Errorf("variant %s names subtitles %q, want %q", v.URI, v.Subtitles, TextGroup)
		}
		var subs []string
		for _, a := range v.Alternatives {
			// grafov/m3u8 gives each variant the alternatives read so far.
			if r := a.Language + ":" + a.Name + ":" + a.URI; a.Type == "SUBTITLES" && !slices.Contains(subs, r) {
				subs = append(subs, r)
			}
		}
		if want := "fr:French:text_0/index.m3u8 en:English (SDH):text_1/index.m3u8 de:Deutsch (erzwungen):text_2/index.m3u8"; !v.Iframe && strings.Join(subs, " ") != want {
			t.Errorf("subtitle renditions %q, want %q", subs, want)
		}
	}
	if !strings.Contains(string(master), `FORCED=YES,URI="text_2/index.m3u8"`) || !strings.Contains(string(master), "CHARACTERISTICS=\""+sdhCharacteristics) {
		t.Errorf("forced or SDH not signalled:\n%s", master)
	}

	var doc struct {
		Sets []struct {
			ContentType string `xml:"contentType,attr"`
			Lang        string `xml:"lang,attr"`
			Role        struct {
				Value string `xml:"value,attr"`
			} `xml:"Role"`
			Reps []struct {
				BaseURL string `xml:"BaseURL"`
			} `xml:"Representation"`
		} `xml:"Period>AdaptationSet"`
	}
	if err := xml.Unmarshal(mpd, &doc); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range doc.Sets {
		if s.ContentType == "text" {
			got = append(got, s.Lang+":"+s.Role.Value+":"+s.Reps[0].BaseURL)
		}
	}
	if want := "fr:subtitle:text_0/whole.vtt en:caption:text_1/whole.vtt de:forced-subtitle:text_2/whole.vtt"; strings.Join(got, " ") != want {
		t.Errorf("text sets %q, want %q", got, want)
	}
	// A title without subtitles is what it was.
	if !bytes.Equal(MasterPlaylist(video, audio), MasterPlaylist(video, audio, []TextTrack{}...)) || bytes.Contains(MasterPlaylist(video, audio), []byte("SUBTITLES")) {
		t.Error("a title without subtitles names them")
	}
}

// Closed captions in the H.264 video: one CLOSED-CAPTIONS rendition
// (CC1) that every captioned variant names, and the CEA-608
// Accessibility descriptor on its adaptation set.
func TestManifestsCaptions(t *testing.T) {
	video, audio := languages()
	for i := range video {
		video[i].Captions = true
	}
	master := MasterPlaylist(video, audio)
	golden.Equal(t, "master_captions.m3u8", master)
	pl, _, err := m3u8.Decode(*bytes.NewBuffer(master), true)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range pl.(*m3u8.MasterPlaylist).Variants {
		if !v.Iframe && v.Captions != CaptionGroup {
			t.Errorf("variant %s names captions %q", v.URI, v.Captions)
		}
	}
	if !strings.Contains(string(master), `#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID="cc",NAME="CC1",DEFAULT=NO,AUTOSELECT=YES,INSTREAM-ID="CC1"`) {
		t.Errorf("no captions rendition:\n%s", master)
	}
	mpd := string(MPD(video, audio))
	if strings.Count(mpd, `<Accessibility schemeIdUri="urn:scte:dash:cc:cea-608:2015" value="CC1"/>`) != 1 {
		t.Errorf("MPD does not signal the captions once:\n%s", mpd)
	}
	video[0].Captions, video[1].Captions = false, false
	if bytes.Contains(MasterPlaylist(video, audio), []byte("CLOSED-CAPTIONS")) {
		t.Error("a title without captions signals them")
	}
}
