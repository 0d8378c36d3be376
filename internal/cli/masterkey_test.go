package cli

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/app"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/keys"
)

// TestSecondNodeWithAnotherMasterKey: a node started without the master
// key that sealed the store's signing keys (a second PostgreSQL node
// without GATEHOUSE_MASTER_KEY, here on SQLite, where the path is the
// same) is refused with keys.ErrSealedKey and told what to do, both by
// serve (app.New) and by the key verbs.
func TestSecondNodeWithAnotherMasterKey(t *testing.T) {
	dir := t.TempDir()
	const first = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
	const second = "HwECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
	const advice = "the signing keys in the store were sealed with another master key (or altered): " +
		"give every node the same GATEHOUSE_MASTER_KEY (or master_key_file)"

	t.Setenv("GATEHOUSE_MASTER_KEY", first)
	mustRun(t, nil, "keys", "rotate", "--data-dir", dir) // creates the keys under the first master key

	t.Setenv("GATEHOUSE_MASTER_KEY", second)
	code, _, stderr := runCLI(t, "keys", "rotate", "--data-dir", dir)
	if code != exitError || !strings.Contains(stderr, advice) {
		t.Errorf("keys rotate under another master key: exit %d, stderr %q; want exit 1 and the advice", code, stderr)
	}

	cfg, err := config.Load(config.FromProcess("", map[string]string{"data_dir": dir}))
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(t.Context(), cfg, slog.New(slog.DiscardHandler), app.Options{})
	if err == nil {
		_ = a.Close()
		t.Fatal("a server started under another master key")
	}
	if !errors.Is(err, keys.ErrSealedKey) || !strings.Contains(err.Error(), advice) {
		t.Errorf("app.New under another master key: %v; want keys.ErrSealedKey with the advice", err)
	}
}
