package media

import (
	"strings"
	"unicode"

	"golang.org/x/text/language"
)

// Language turns a stream's language tag (ISO 639-2 as most containers
// store it, bibliographic or terminology: "eng", "fre", "ger"; or BCP 47)
// into its canonical BCP 47 form ("en", "fr", "de", "pt-BR"), the form
// HLS LANGUAGE and DASH lang take. Unset, undetermined ("und") or unknown
// tags give "".
func Language(tag string) string {
	tag = strings.TrimSpace(tag)
	if tag == "" || len(tag) > 35 {
		return ""
	}
	t, err := language.Parse(tag)
	if err != nil {
		return ""
	}
	if s := t.String(); s != "und" && !strings.HasPrefix(s, "und-") {
		return s
	}
	return ""
}

// cleanTag keeps a title tag printable and short, for manifests and notes.
func cleanTag(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '"' {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	if r := []rune(s); len(r) > 64 {
		s = string(r[:64])
	}
	return s
}
