package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/reel-video/reel/config"
	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/playtoken"
	"github.com/reel-video/reel/protect"
	"github.com/reel-video/reel/store"
)

// ensureAdminKey makes sure the key in path is a registered admin key:
// a key already in the file is registered if Redis lost it; with no file,
// a new key is created and written there, readable by its owner only.
func ensureAdminKey(ctx context.Context, keys *store.Keys, path string) (string, error) {
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		key := strings.TrimSpace(string(data))
		if _, err := keys.Lookup(ctx, key); err == nil {
			return key, nil
		} else if !errors.Is(err, pipeline.ErrNoKey) {
			return "", err
		}
		if _, err := keys.Register(ctx, key, pipeline.AdminTenant, true); err != nil {
			return "", fmt.Errorf("admin key file %s: %w", path, err)
		}
		return key, nil
	case !errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("admin key file: %w", err)
	}
	key, _, err := keys.Create(ctx, pipeline.AdminTenant, true)
	if err != nil {
		return "", err
	}
	return key, writeSecret(path, key)
}

// writeSecret writes secret to path whole (through a temporary file),
// readable by its owner only.
func writeSecret(path, secret string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(secret+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ensurePlaybackKeys returns the playback keys kept in path (reel dev's),
// creating the file with one new key when it is missing.
func ensurePlaybackKeys(path string) (string, error) {
	return ensureSecretFile(path, "playback key", "dev1:", func(s string) error {
		_, err := playtoken.ParseKeys(s)
		return err
	})
}

// ensureKeyMaster returns the master key of encrypted titles kept in path
// (reel dev's), creating the file with a new key when it is missing.
func ensureKeyMaster(path string) (string, error) {
	return ensureSecretFile(path, "master key", "", func(s string) error {
		_, err := protect.ParseMaster(s)
		return err
	})
}

// ensureSecretFile returns the secret (what) kept in path once check
// passes it, or writes a new one there when the file is missing: prefix
// and 32 random bytes in hex.
func ensureSecretFile(path, what, prefix string, check func(string) error) (string, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		secret := strings.TrimSpace(string(data))
		if err := check(secret); err != nil {
			return "", fmt.Errorf("%s file %s: %w", what, path, err)
		}
		return secret, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%s file: %w", what, err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	secret := prefix + hex.EncodeToString(raw[:])
	return secret, writeSecret(path, secret)
}

// keyMaster is the master key of encrypted titles from the validated
// settings; nil when none is set.
func keyMaster(c *config.Config) (*protect.Master, error) {
	if c.KeyMaster == "" {
		return nil, nil
	}
	m, err := protect.ParseMaster(c.KeyMaster)
	if err != nil {
		return nil, fmt.Errorf("REEL_KEY_MASTER: %w", err)
	}
	return m, nil
}

// localURL is the http URL a process on this machine reaches a server
// listening on addr at (an unspecified host is this machine).
func localURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}
