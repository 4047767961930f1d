package sqlstore

import (
	"strings"
	"testing"
)

func TestStatements(t *testing.T) {
	got := statements("-- a comment\nCREATE TABLE a (\n  x INT\n);\n\nCREATE INDEX i ON a (x);\n")
	if len(got) != 2 || got[0] != "CREATE TABLE a (\n  x INT\n)" || got[1] != "CREATE INDEX i ON a (x)" {
		t.Fatalf("statements: %q", got)
	}
}

func TestGTIDBehind(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int64
	}{
		{"1-1-10", "1-1-10", 0},
		{"1-1-10,2-2-5", "1-1-7", 8},
		{"1-1-10", "1-1-12,2-2-3", 0},
		{"", "", 0},
	} {
		if got := gtidBehind(c.a, c.b); got != c.want {
			t.Errorf("gtidBehind(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestRedact(t *testing.T) {
	if got := redact("mysql://reel:secret@db:3306/reel"); strings.Contains(got, "secret") {
		t.Fatalf("redact left the password: %s", got)
	}
}
