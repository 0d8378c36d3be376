//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package app

import "os"

// tryLock takes no lock on systems without flock: the data directory of a
// SQLite store is then not guarded against a second server.
func tryLock(*os.File) (busy bool, err error) { return false, nil }

func unlock(*os.File) error { return nil }
