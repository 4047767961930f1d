package subtitles

import (
	"errors"
	"strings"
	"testing"
)

const srt = "\ufeff1\n00:00:01,000 --> 00:00:02,500\nHello <i>there</i>\n\n2\n00:00:03,900 --> 00:00:04,200\nSecond\nline two\n\n3\n00:00:00,500 --> 00:00:00,900\nEarlier\n"

func TestParseAndSegment(t *testing.T) {
	tr, err := Parse("fr.srt", []byte(srt), "")
	if err != nil {
		t.Fatal(err)
	}
	cues := tr.List()
	if len(cues) != 3 || cues[0].Start != 0.5 || cues[1].Start != 1 || cues[1].End != 2.5 || cues[2].Text != "Second - line two" {
		t.Fatalf("cues %+v", cues)
	}
	if dropped := tr.Place(-1, 4); dropped != 1 || tr.Cues() != 2 {
		t.Fatalf("placed: dropped %d, %d cues left", dropped, tr.Cues())
	}
	if c := tr.List(); c[0].Start != 0 || c[0].End != 1.5 || c[1].Start != 2.9 || c[1].End != 3.2 {
		t.Fatalf("placed cues %+v", c)
	}
	segs, err := tr.Segments([]float64{0, 2, 4}, 6006)
	if err != nil {
		t.Fatal(err)
	}
	// The first cue (0 to 1.5) is in the first segment; the second (2.9
	// to 3.2) in the second.
	for k, want := range []string{"00:00:00.000 --> 00:00:01.500", "00:00:02.900 --> 00:00:03.200"} {
		s := string(segs[k])
		if !strings.HasPrefix(s, "WEBVTT\nX-TIMESTAMP-MAP=LOCAL:00:00:00.000,MPEGTS:6006\n\n") || !strings.Contains(s, want) || strings.Count(s, "-->") != 1 {
			t.Errorf("segment %d:\n%s", k, s)
		}
		back, err := Parse("segment", segs[k], FormatWebVTT)
		if err != nil || back.Cues() != 1 {
			t.Errorf("segment %d does not read back: %v", k, err)
		}
	}
	// Cue identifiers are the cue's number in the whole track: players
	// drop a cue whose identifier they already hold.
	if !strings.Contains(string(segs[0]), "\n1\n00:00:00.000") || !strings.Contains(string(segs[1]), "\n2\n00:00:02.900") {
		t.Errorf("cue identifiers repeat across segments:\n%s\n%s", segs[0], segs[1])
	}
	if !strings.Contains(string(segs[0]), "Hello <i>there</i>") {
		t.Errorf("italics lost:\n%s", segs[0])
	}
	// A cue across a boundary is in both segments; a segment without cues
	// is a header alone.
	tr2, _ := Parse("x.vtt", []byte("WEBVTT\n\n00:00:01.500 --> 00:00:02.500\nacross\n"), "")
	segs, _ = tr2.Segments([]float64{0, 2, 4, 6}, 0)
	if strings.Count(string(segs[0]), "across") != 1 || strings.Count(string(segs[1]), "across") != 1 || string(segs[2]) != "WEBVTT\nX-TIMESTAMP-MAP=LOCAL:00:00:00.000,MPEGTS:0\n" {
		t.Errorf("segments %q", segs)
	}
	whole, _ := tr2.WebVTT()
	if strings.Contains(string(whole), "X-TIMESTAMP-MAP") || !strings.Contains(string(whole), "00:00:01.500 --> 00:00:02.500") {
		t.Errorf("whole track:\n%s", whole)
	}
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, data, want string
	}{
		{"a.srt", "", "is empty"},
		{"a.srt", "\x00\x01PNG\x00", "not a UTF-8 text file"},
		{"a.srt", "\xff\xfe1\n", "not a UTF-8 text file"},
		{"notes.txt", "just some words\n", "neither SubRip nor WebVTT"},
		{"a.srt", "1\n00:00:05,000 --> 00:00:04,000\nbackwards\n", "cue 1 ends at 00:00:04.000, not after it starts at 00:00:05.000"},
		{"a.srt", "1\n00:00:0x,000 --> 00:00:04,000\nbad\n", "line 2"},
		{"a.srt", "1\n00:00:01,000 --> 00:05:00,000\nlong\n", "over 60 s"},
		{"a.vtt", "1\n00:00:01.000 --> 00:00:02.000\nno header\n", "does not start with the line WEBVTT"},
		{"a.vtt", "WEBVTT\n\nNOTE nothing here\n", "has no cues"},
		{"big.srt", strings.Repeat("x", MaxFileSize+1), "over the 2097152-byte limit"},
	} {
		_, err := Parse(tc.name, []byte(tc.data), "")
		var e *Error
		if !errors.As(err, &e) || e.Name != tc.name || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %q: %v, want an error naming it that says %q", tc.name, tc.data[:min(len(tc.data), 40)], err, tc.want)
		}
	}
}
