package packager

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/grafov/m3u8"

	"github.com/reel-video/reel/internal/golden"
)

// languages is a title with French, English (default) and a German
// commentary in stereo AAC, and English in 5.1 E-AC-3.
func languages() ([]Track, []Track) {
	video, stereo := fixture()
	with := func(name, codec, codecs, lang, role string, ch int, def bool) Track {
		a := *stereo
		a.Name, a.Codec, a.Codecs, a.Language, a.Role, a.Channels, a.Default = name, codec, codecs, lang, role, ch, def
		return a
	}
	return video, []Track{
		with("audio_fr", "aac", "mp4a.40.2", "fr", "", 2, false),
		with("audio_en", "aac", "mp4a.40.2", "en", "", 2, true),
		with("audio_en_51", "ec3", "ec-3", "en", "", 6, true),
		with("audio_de", "aac", "mp4a.40.2", "de", "commentary", 2, false),
	}
}

func TestManifestsLanguages(t *testing.T) {
	video, audio := languages()
	master := MasterPlaylist(video, audio)
	golden.Equal(t, "master_languages.m3u8", master)
	golden.Equal(t, "manifest_languages.mpd", MPD(video, audio))

	pl, typ, err := m3u8.Decode(*bytes.NewBuffer(master), true)
	if err != nil || typ != m3u8.MASTER {
		t.Fatalf("master does not parse: %v", err)
	}
	var variants []*m3u8.Variant
	for _, v := range pl.(*m3u8.MasterPlaylist).Variants {
		if !v.Iframe {
			variants = append(variants, v)
		}
	}
	if len(variants) != 4 {
		t.Fatalf("%d variants, want each of 2 rungs with the stereo and the 5.1 group", len(variants))
	}
	// Stereo-only players meet the AAC group first.
	if v := variants[0]; v.Audio != "audio" || !strings.HasSuffix(v.Codecs, ",mp4a.40.2") {
		t.Errorf("first variant %+v, want the AAC group", v.VariantParams)
	}
	if v := variants[2]; v.Audio != "audio-ec3" || !strings.HasSuffix(v.Codecs, ",ec-3") {
		t.Errorf("third variant %+v, want the E-AC-3 group", v.VariantParams)
	}
	defaults := map[string]int{}
	for _, line := range strings.Split(string(master), "\n") {
		if strings.HasPrefix(line, "#EXT-X-MEDIA:") && strings.Contains(line, "DEFAULT=YES") {
			defaults[strings.Split(strings.Split(line, `GROUP-ID="`)[1], `"`)[0]]++
		}
	}
	if defaults["audio"] != 1 || defaults["audio-ec3"] != 1 {
		t.Errorf("DEFAULT=YES per group: %v, want one each", defaults)
	}
	for _, want := range []string{`LANGUAGE="fr",NAME="French",DEFAULT=NO,AUTOSELECT=YES,CHANNELS="2"`,
		`LANGUAGE="en",NAME="English",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2"`,
		`LANGUAGE="de",NAME="German (commentary)",DEFAULT=NO,AUTOSELECT=NO`,
		`GROUP-ID="audio-ec3",LANGUAGE="en",NAME="English",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="6"`} {
		if !strings.Contains(string(master), want) {
			t.Errorf("master lacks %s", want)
		}
	}

	var mpd struct {
		Period struct {
			AdaptationSet []struct {
				ContentType string `xml:"contentType,attr"`
				Lang        string `xml:"lang,attr"`
				Role        struct {
					Value string `xml:"value,attr"`
				}
				Label          string
				Representation []struct {
					Codecs   string `xml:"codecs,attr"`
					Channels struct {
						Scheme string `xml:"schemeIdUri,attr"`
						Value  string `xml:"value,attr"`
					} `xml:"AudioChannelConfiguration"`
				}
			}
		}
	}
	if err := xml.Unmarshal(MPD(video, audio), &mpd); err != nil {
		t.Fatalf("MPD does not parse: %v", err)
	}
	sets := mpd.Period.AdaptationSet
	if len(sets) != 5 {
		t.Fatalf("%d adaptation sets, want 1 video and 4 audio", len(sets))
	}
	want := []struct{ lang, role, label, codecs, channels string }{
		{"fr", "alternate", "French", "mp4a.40.2", "2"},
		{"en", "main", "English", "mp4a.40.2", "2"},
		{"de", "commentary", "German (commentary)", "mp4a.40.2", "2"},
		{"en", "main", "English", "ec-3", "F801"},
	}
	for i, w := range want {
		s := sets[i+1]
		if s.ContentType != "audio" || s.Lang != w.lang || s.Role.Value != w.role || s.Label != w.label ||
			s.Representation[0].Codecs != w.codecs || s.Representation[0].Channels.Value != w.channels {
			t.Errorf("audio set %d: %+v, want %+v", i, s, w)
		}
	}
}

func TestAudioNames(t *testing.T) {
	g := []Track{{Language: "pt-BR"}, {Language: "en"}, {Language: "en"}, {}, {Label: "Director"}, {Language: "en", Role: "description"}}
	got := strings.Join(audioNames(g), "|")
	if want := "Brazilian Portuguese|English|English 2|Main|Director|English (description)"; got != want {
		t.Errorf("names %q, want %q", got, want)
	}
}
