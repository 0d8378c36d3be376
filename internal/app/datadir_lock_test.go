//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package app

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
)

func lockConfig(t *testing.T, flags map[string]string) *config.Config {
	t.Helper()
	cfg, err := config.Load(config.Sources{Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestDataDirLockRefusesSecondServer: while one server holds the folder
// of its SQLite store, a second is refused with ErrDataDirInUse naming the
// folder and the holder's pid; once released, the folder can be taken
// again. flock conflicts between two open files of one process too, so
// one test process stands for two servers.
func TestDataDirLockRefusesSecondServer(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // created by the lock
	cfg := lockConfig(t, map[string]string{"data_dir": dir})

	first, err := LockDataDir(cfg)
	if err != nil || first == nil {
		t.Fatalf("first lock: %v, %v", first, err)
	}
	_, err = LockDataDir(cfg)
	if !errors.Is(err, ErrDataDirInUse) {
		t.Fatalf("second lock: %v, want ErrDataDirInUse", err)
	}
	for _, want := range []string{"data directory " + dir + " is in use by another gatehouse serve", "(pid " + strconv.Itoa(os.Getpid()) + ")"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}

	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	again, err := LockDataDir(cfg)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	if err := again.Release(); err != nil {
		t.Fatal(err)
	}
}

// TestDataDirLockFollowsStore: the lock is in the folder of the SQLite
// file, wherever store puts it; a PostgreSQL store takes no lock.
func TestDataDirLockFollowsStore(t *testing.T) {
	other := t.TempDir()
	cfg := lockConfig(t, map[string]string{"data_dir": t.TempDir(), "store": "sqlite:" + filepath.Join(other, "gh.db")})
	l, err := LockDataDir(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Release() }()
	if _, err := os.Stat(filepath.Join(other, DataDirLockFile)); err != nil {
		t.Errorf("no lock file beside the store: %v", err)
	}

	pg := lockConfig(t, map[string]string{"data_dir": t.TempDir(), "store": "postgres://u@127.0.0.1:1/db"})
	l2, err := LockDataDir(pg)
	if err != nil || l2 != nil {
		t.Fatalf("postgres: lock %v, err %v; want none", l2, err)
	}
	if err := l2.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(pg.DataDir, DataDirLockFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("postgres store left a lock file: %v", err)
	}
}
