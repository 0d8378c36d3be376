package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
)

// Migrate applies every pending goose SQL migration found at the root of
// fsys to db and returns the versions it applied, oldest first (empty when
// the schema was already current). On failure it returns the versions that
// were applied before the failing one alongside the error.
//
// It uses goose's Provider so that no goose package-level state is touched;
// the global Go-migration registry is explicitly ignored. Backends add
// dialect-specific options such as a session locker.
func Migrate(ctx context.Context, db *sql.DB, dialect goose.Dialect, fsys fs.FS, opts ...goose.ProviderOption) ([]int64, error) {
	opts = append([]goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}, opts...)
	p, err := goose.NewProvider(dialect, db, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migrate: %w", err)
	}
	// p.Close is deliberately not called: it would close db, which the
	// caller still owns.
	results, err := p.Up(ctx)
	if err != nil {
		var partial *goose.PartialError
		if errors.As(err, &partial) {
			results = partial.Applied
		}
		return versions(results), fmt.Errorf("sqlstore: migrate: %w", err)
	}
	return versions(results), nil
}

func versions(results []*goose.MigrationResult) []int64 {
	vs := make([]int64, 0, len(results))
	for _, r := range results {
		vs = append(vs, r.Source.Version)
	}
	return vs
}
