package packager

import (
	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
)

// LanguageName is a BCP 47 tag's name in English ("fr" is "French",
// "pt-BR" is "Brazilian Portuguese"), or "" for an empty or unknown tag.
func LanguageName(tag string) string {
	if tag == "" {
		return ""
	}
	t, err := language.Parse(tag)
	if err != nil {
		return ""
	}
	return display.English.Tags().Name(t)
}
