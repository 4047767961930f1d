package packager

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/grafov/m3u8"

	"github.com/reel-video/reel/internal/golden"
)

// protectedFixture is fixture's title encrypted under scheme.
func protectedFixture(scheme string) ([]Track, []Track) {
	video, audio := fixture()
	p := &Protection{Scheme: scheme, KeyID: "0123abcd-0123-4567-89ab-0123456789ab", PSSH: "AAAANHBzc2g=", IV: "00112233445566778899aabbccddeeff", KeyURI: "key"}
	auds := []Track{*audio}
	for _, ts := range [][]Track{video, auds} {
		for i := range ts {
			ts[i].Protection = p
		}
	}
	return video, auds
}

func TestProtectedManifests(t *testing.T) {
	video, audio := protectedFixture("cbcs")
	golden.Equal(t, "master_cbcs.m3u8", MasterPlaylist(video, audio))
	golden.Equal(t, "media_cbcs.m3u8", MediaPlaylist(video[0]))
	golden.Equal(t, "manifest_cbcs.mpd", MPD(video, audio))
	var mpd struct {
		Period struct {
			AdaptationSet []struct {
				ContentProtection []struct {
					Scheme     string `xml:"schemeIdUri,attr"`
					Value      string `xml:"value,attr"`
					DefaultKID string `xml:"urn:mpeg:cenc:2013 default_KID,attr"`
				}
			}
		}
	}
	if err := xml.Unmarshal(MPD(video, audio), &mpd); err != nil {
		t.Fatalf("MPD does not parse: %v", err)
	}
	for i, as := range mpd.Period.AdaptationSet {
		if len(as.ContentProtection) != 2 || as.ContentProtection[0].Value != "cbcs" || as.ContentProtection[0].DefaultKID == "" || as.ContentProtection[1].Scheme != dashIFClearKey {
			t.Errorf("adaptation set %d: content protection %+v", i, as.ContentProtection)
		}
	}

	video, audio = protectedFixture("aes-128")
	media := string(MediaPlaylist(video[0]))
	if !strings.Contains(media, "#EXT-X-MAP:URI=\"init.mp4\"\n#EXT-X-KEY:METHOD=AES-128,URI=\"../key\",IV=0x00112233445566778899aabbccddeeff\n") {
		t.Errorf("AES-128 media playlist: the key must follow the clear init segment and name ../key:\n%s", media)
	}
	master := MasterPlaylist(video, audio)
	if !bytes.Contains(master, []byte(`#EXT-X-SESSION-KEY:METHOD=AES-128,URI="key",`)) {
		t.Errorf("AES-128 master playlist without its session key:\n%s", master)
	}
	for name, pl := range map[string][]byte{"master": master, "media": []byte(media)} {
		if _, _, err := m3u8.Decode(*bytes.NewBuffer(pl), true); err != nil {
			t.Errorf("%s playlist does not parse: %v", name, err)
		}
	}
	if mpd := string(MPD(video, audio)); strings.Contains(mpd, "ContentProtection") || strings.Contains(mpd, "cenc") {
		t.Errorf("an AES-128 title's tracks have no Common Encryption to signal:\n%s", mpd)
	}
}
