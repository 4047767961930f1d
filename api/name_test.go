package api

import "testing"

func TestDisplayName(t *testing.T) {
	for in, want := range map[string]string{
		"clip.mp4":            "clip.mp4",
		"../../etc/passwd":    "passwd",
		`C:\Users\me\a b.mov`: "a b.mov",
		"..":                  "",
		"new\nline\r.mp4":     "newline.mp4",
		"bad\xffutf8.mp4":     "bad_utf8.mp4",
		"dir/":                "",
	} {
		if got := displayName(in); got != want {
			t.Errorf("displayName(%q) = %q, want %q", in, got, want)
		}
	}
}
