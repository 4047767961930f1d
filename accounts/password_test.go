package accounts

import (
	"strings"
	"testing"
)

func TestPasswordHash(t *testing.T) {
	h, err := DefaultHash.Hash("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not a PHC argon2id string with OWASP's costs", h)
	}
	if ok, err := VerifyPassword(h, "correct horse battery"); !ok || err != nil {
		t.Fatalf("the right password: %v, %v", ok, err)
	}
	if ok, _ := VerifyPassword(h, "correct horse batterY"); ok {
		t.Fatal("a wrong password verified")
	}
	h2, _ := DefaultHash.Hash("correct horse battery")
	if h2 == h {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AAAA$AAAA", "$argon2id$v=19$m=x$AAAA$AAAA", "$argon2id$v=19$m=8,t=1,p=1$!!$AAAA"} {
		if ok, err := VerifyPassword(bad, "x"); ok || err == nil {
			t.Errorf("VerifyPassword(%q) = %v, %v; want an error", bad, ok, err)
		}
	}
}

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
