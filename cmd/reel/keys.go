package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/reel-video/reel/pipeline"
	"github.com/reel-video/reel/playtoken"
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
	data, err := os.ReadFile(path)
	if err == nil {
		keys := strings.TrimSpace(string(data))
		if _, err := playtoken.ParseKeys(keys); err != nil {
			return "", fmt.Errorf("playback key file %s: %w", path, err)
		}
		return keys, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("playback key file: %w", err)
	}
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return "", err
	}
	keys := "dev1:" + hex.EncodeToString(secret[:])
	return keys, writeSecret(path, keys)
}
