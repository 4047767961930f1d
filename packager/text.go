package packager

import (
	"fmt"
	"strings"
)

// TextTrack is a subtitle track of a title, in a folder of its own:
// WebVTT segments with a media playlist for HLS, and the whole track in
// one WebVTT file for DASH.
type TextTrack struct {
	Name string `json:"name"` // folder and DASH Representation id
	// Language (BCP 47), Label, Default, Forced and SDH describe it among
	// the title's others: HLS LANGUAGE, NAME, DEFAULT, FORCED and
	// CHARACTERISTICS; DASH lang, Label, Role and Accessibility.
	Language string `json:"language,omitempty"`
	Label    string `json:"label,omitempty"`
	Default  bool   `json:"default,omitempty"`
	Forced   bool   `json:"forced,omitempty"`
	SDH      bool   `json:"sdh,omitempty"`
	// Segments are the HLS WebVTT segments, one per video segment.
	Segments []Segment `json:"segments"`
	// Whole is the file of the whole track, relative to the folder; Size
	// its size in bytes.
	Whole string `json:"whole"`
	Size  int64  `json:"size"`
}

// TextGroup is the GROUP-ID of the title's subtitle renditions.
const TextGroup = "subs"

// sdhCharacteristics are the HLS CHARACTERISTICS of subtitles for the
// deaf and hard of hearing (RFC 8216bis 4.4.6.1, Apple's authoring
// specification).
const sdhCharacteristics = "public.accessibility.transcribes-spoken-dialog,public.accessibility.describes-music-and-sound"

// TextPlaylist writes the HLS VOD media playlist of a subtitle track.
func TextPlaylist(t TextTrack) []byte {
	target := 1
	for _, s := range t.Segments {
		target = max(target, int(s.Duration+0.5))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n", target)
	for _, s := range t.Segments {
		fmt.Fprintf(&b, "#EXTINF:%.6f,\n%s\n", s.Duration, s.URI)
	}
	b.WriteString("#EXT-X-ENDLIST\n")
	return []byte(b.String())
}

// textNames are the NAMEs of subtitle tracks, unique among them: the
// label, else the language's English name, else "Subtitles", with
// "(SDH)" or "(forced)" after a name of its own and, where still the
// same, a number.
func textNames(text []TextTrack) []string {
	names := make([]string, len(text))
	for i, t := range text {
		n := t.Label
		if n == "" {
			n = LanguageName(t.Language)
			if n == "" {
				n = "Subtitles"
			}
			switch {
			case t.SDH:
				n += " (SDH)"
			case t.Forced:
				n += " (forced)"
			}
		}
		names[i] = n
	}
	return numberRepeats(names)
}

// textDefault is the subtitle track players show with no choice of the
// viewer: the one marked default, if any.
func textDefault(text []TextTrack) int {
	for i, t := range text {
		if t.Default {
			return i
		}
	}
	return -1
}

// writeTextMedia writes the EXT-X-MEDIA lines of the subtitle tracks.
func writeTextMedia(b *strings.Builder, text []TextTrack) {
	names, def := textNames(text), textDefault(text)
	for i, t := range text {
		lang := ""
		if t.Language != "" {
			lang = fmt.Sprintf(",LANGUAGE=%q", t.Language)
		}
		// A forced track must be AUTOSELECT=YES (RFC 8216bis 4.4.6.1).
		fmt.Fprintf(b, "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=%q%s,NAME=%q,DEFAULT=%s,AUTOSELECT=YES,FORCED=%s",
			TextGroup, lang, names[i], yesNo(i == def), yesNo(t.Forced))
		if t.SDH {
			fmt.Fprintf(b, ",CHARACTERISTICS=%q", sdhCharacteristics)
		}
		fmt.Fprintf(b, ",URI=%q\n", t.Name+"/index.m3u8")
	}
}

// writeTextSets writes one DASH adaptation set per subtitle track, ids
// from id: the whole WebVTT file as the representation's BaseURL, its
// role (subtitle, caption for SDH, forced-subtitle) and, for SDH, the
// accessibility descriptor for the hard of hearing.
func writeTextSets(b *strings.Builder, text []TextTrack, id int, duration float64) {
	names := textNames(text)
	for i, t := range text {
		lang := ""
		if t.Language != "" {
			lang = fmt.Sprintf(` lang=%q`, t.Language)
		}
		fmt.Fprintf(b, `    <AdaptationSet id="%d" contentType="text" mimeType="text/vtt"%s>`+"\n", id+i, lang)
		role := "subtitle"
		switch {
		case t.Forced:
			role = "forced-subtitle"
		case t.SDH:
			role = "caption"
		}
		fmt.Fprintf(b, `      <Role schemeIdUri="urn:mpeg:dash:role:2011" value=%q/>`+"\n", role)
		if t.SDH {
			b.WriteString(`      <Accessibility schemeIdUri="urn:tva:metadata:cs:AudioPurposeCS:2007" value="2"/>` + "\n")
		}
		fmt.Fprintf(b, "      <Label>%s</Label>\n", xmlEscape(names[i]))
		bw := 1
		if duration > 0 {
			bw = max(bitrate(t.Size, duration), 1)
		}
		fmt.Fprintf(b, `      <Representation id=%q bandwidth="%d">`+"\n", t.Name, bw)
		fmt.Fprintf(b, "        <BaseURL>%s</BaseURL>\n", xmlEscape(t.Name+"/"+t.Whole))
		b.WriteString("      </Representation>\n    </AdaptationSet>\n")
	}
}
