package app

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/postgres"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
)

// Store is a storage backend with versioned migrations.
type Store interface {
	store.Store
	// Migrate applies pending migrations and returns the versions applied.
	Migrate(ctx context.Context) ([]int64, error)
}

// OpenStore opens the backend cfg.Store names and applies pending
// migrations. For SQLite it first creates the data directory.
func OpenStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (Store, error) {
	st, err := OpenStoreNoMigrate(ctx, cfg)
	if err != nil {
		return nil, err
	}
	applied, err := st.Migrate(ctx)
	if err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("migrate store: %w", err)
	}
	if len(applied) > 0 {
		log.Info("applied store migrations", slog.Any("versions", applied))
	}
	return st, nil
}

// OpenStoreNoMigrate opens the backend without touching its schema.
func OpenStoreNoMigrate(ctx context.Context, cfg *config.Config) (Store, error) {
	kind, addr := cfg.StoreKind()
	switch kind {
	case "sqlite":
		if err := ensureDir(filepath.Dir(addr)); err != nil {
			return nil, err
		}
		st, err := sqlite.Open(ctx, addr)
		if err != nil {
			return nil, fmt.Errorf("open sqlite store %s: %w", addr, err)
		}
		return st, nil
	case "postgres":
		st, err := postgres.Open(ctx, addr)
		if err != nil {
			return nil, fmt.Errorf("open postgres store %s: %w", cfg.RedactedStore(), err)
		}
		return st, nil
	}
	return nil, fmt.Errorf("store: unsupported %q", cfg.RedactedStore())
}
