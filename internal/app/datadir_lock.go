package app

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/internal/config"
)

// DataDirLockFile is the name of the lock file a server holds in the folder
// of its SQLite store.
const DataDirLockFile = "gatehouse.lock"

// ErrDataDirInUse reports that another `gatehouse serve` holds the lock of
// the folder of the SQLite store.
var ErrDataDirInUse = errors.New("in use by another gatehouse serve")

// DataDirLock is an advisory lock on the folder of a SQLite store, held by
// the one server allowed to run on it. The operating system releases it
// when the process ends, however it ends.
type DataDirLock struct {
	f *os.File
}

// LockDataDir takes the lock of the folder holding cfg's SQLite store, so
// that a second server on the same folder is refused (ErrDataDirInUse)
// instead of starting beside the first: two servers would write one SQLite
// file, race to create the dev master key and serve the same issuer. Only
// `serve` takes it: the admin verbs are short-lived and rely on SQLite's
// own locking, so they keep working while a server runs. For PostgreSQL,
// which many nodes share by design, it takes nothing and returns a nil
// lock (Release on it does nothing).
func LockDataDir(cfg *config.Config) (*DataDirLock, error) {
	kind, addr := cfg.StoreKind()
	if kind != "sqlite" {
		return nil, nil //nolint:nilnil // no lock is needed, and that is not an error
	}
	dir := filepath.Dir(addr)
	if err := ensureDir(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, DataDirLockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600) //nolint:gosec // G304: the path comes from the configuration
	if err != nil {
		return nil, fmt.Errorf("data directory %s: lock file: %w", dir, err)
	}
	busy, err := tryLock(f)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("data directory %s: lock %s: %w", dir, path, err)
	}
	if busy {
		pid := readPID(f)
		_ = f.Close()
		return nil, fmt.Errorf("data directory %s is %w (pid %s): stop it first, or give this server its own --data-dir "+
			"(several nodes share one store only on PostgreSQL)", dir, ErrDataDirInUse, pid)
	}
	// The pid is for the message above, in the next server that tries.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &DataDirLock{f: f}, nil
}

// Release gives the lock up. The file stays: removing it would let a
// server that opened it just before lock a file no longer in the folder.
func (l *DataDirLock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := errors.Join(unlock(l.f), l.f.Close())
	l.f = nil
	return err
}

// readPID returns the pid the holder wrote, or "unknown".
func readPID(f *os.File) string {
	b, err := io.ReadAll(io.LimitReader(f, 32))
	if err != nil {
		return "unknown"
	}
	s := strings.TrimSpace(string(b))
	if _, err := strconv.Atoi(s); err != nil {
		return "unknown"
	}
	return s
}
