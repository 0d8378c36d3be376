package keys

import (
	"cmp"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse/internal/store"
)

// MinHMACSecretSize is the shortest accepted HS256 secret: RFC 7518 section
// 3.2 requires a key at least as long as the hash output.
const MinHMACSecretSize = 32

// DefaultRefreshInterval is Run's interval when given none.
const DefaultRefreshInterval = 30 * time.Second

// Manager errors.
var (
	// ErrInvalidConfig reports a Config that NewManager refuses.
	ErrInvalidConfig = errors.New("keys: invalid configuration")
	// ErrNoSigningKey reports that no active key exists for the algorithm
	// Sign was asked to use.
	ErrNoSigningKey = errors.New("keys: no active signing key for algorithm")
	// ErrRotationPending reports a Rotate while the algorithm's previous
	// rotation has not activated yet.
	ErrRotationPending = errors.New("keys: a rotation is already pending")
)

// Store is the part of store.SigningKeys the Manager uses.
type Store interface {
	CreateSigningKey(ctx context.Context, k store.SigningKey) error
	ListSigningKeys(ctx context.Context) ([]store.SigningKey, error)
	RotateSigningKey(ctx context.Context, next store.SigningKey, publishUntil time.Time) error
	ActivateSigningKey(ctx context.Context, id string, publishUntil time.Time) error
	PruneSigningKeys(ctx context.Context, now time.Time) (int, error)
}

// Config holds a Manager's dependencies and settings.
type Config struct {
	// Store persists the keys; required.
	Store Store
	// MasterKey is the 32-byte key sealing private keys at rest; required.
	// See ParseMasterKey and LoadOrCreateMasterKeyFile.
	MasterKey []byte
	// AccessTokenAlg is the access-token algorithm: ES256 (default when
	// empty), RS256, EdDSA or HS256.
	AccessTokenAlg string
	// HMACSecret is the HS256 secret, at least MinHMACSecretSize bytes. It
	// is required when AccessTokenAlg is HS256 and refused otherwise (a
	// secret set for no reason is a configuration mistake worth reporting).
	HMACSecret []byte
	// MaxTokenTTL is how long a retired key stays published: the longest
	// lifetime of anything it signed, plus verifier leeway, plus the refresh
	// interval (a node may sign with a just-retired key until its next
	// refresh). Required.
	MaxTokenTTL time.Duration
	// Prepublish is how long Rotate publishes a new key before it signs:
	// at least one refresh interval, so that every node accepts the key
	// before any node signs with it, plus what verifiers outside need to
	// see it (their refetch cooldown, HTTP caching of the JWKS). Zero
	// makes Rotate act like RotateNow.
	Prepublish time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives key-lifecycle events and Run's refresh failures; nil
	// discards them.
	Logger *slog.Logger
}

// KeyInfo describes a stored key, for operators (the keys CLI).
type KeyInfo struct {
	KID          string         `json:"kid"`
	Algorithm    string         `json:"alg"`
	State        store.KeyState `json:"state"`
	CreatedAt    time.Time      `json:"created_at"`
	RetiredAt    time.Time      `json:"retired_at,omitzero"`
	PublishUntil time.Time      `json:"publish_until,omitzero"`
	// ActivateAt is when a next key starts signing.
	ActivateAt time.Time `json:"activate_at,omitzero"`
}

// Manager holds the signing keys of one node: it creates missing keys,
// rotates them, follows rotations made by other nodes through the store, and
// signs and verifies tokens.
//
// Readers (JWKS, Sign, Verify) take no lock: they load an immutable
// snapshot through an atomic pointer. Writers (Refresh, Rotate) serialize on
// a mutex and replace the snapshot whole.
type Manager struct {
	store       Store
	sealer      *sealer
	accessAlg   string
	required    []string // asymmetric algorithms that must have an active key
	hmacSecret  []byte
	hmacHeaders sync.Map // encoded HS256 headers by typ (cachedHeader)
	maxTokenTTL time.Duration
	prepublish  time.Duration
	now         func() time.Time
	log         *slog.Logger

	mu   sync.Mutex // serializes store reads that end in a snapshot swap
	snap atomic.Pointer[snapshot]

	// soundHeaders remembers encoded JOSE headers of verified tokens that
	// name no member twice (see checkHeaderMembers).
	soundHeaders     sync.Map
	soundHeaderCount atomic.Int64
}

// snapshot is one immutable view of the key set.
type snapshot struct {
	// signers holds the active key per algorithm.
	signers map[string]*signingKey
	// byKID holds every published key: active ones, and retired ones until
	// their PublishUntil.
	byKID map[string]*signingKey
	// jwks is the pre-rendered JWK Set of byKID.
	jwks []byte
	// versions identifies the store rows the snapshot was built from, to
	// skip rebuilding when nothing changed.
	versions []keyVersion
	// nextDrop is the earliest PublishUntil among published retired keys
	// (zero when none): the instant the snapshot goes stale by the clock
	// alone.
	nextDrop time.Time
}

// keyVersion is what can change about a stored key row.
type keyVersion struct {
	id           string
	state        store.KeyState
	retiredAt    int64 // Unix microseconds, the store's precision
	publishUntil int64
}

// signingKey is a usable key. Its fields never change after construction.
type signingKey struct {
	id           string
	alg          string
	method       jwt.SigningMethod
	private      crypto.Signer // nil once retired: retired keys only verify
	public       crypto.PublicKey
	createdAt    time.Time
	publishUntil time.Time // zero while active
	// headers caches the encoded JOSE header per typ (see header). The
	// typs are Gatehouse's own constants, so it stays small.
	headers sync.Map
}

// NewManager validates cfg, loads the stored keys, and creates an active key
// for each algorithm it needs (the access-token algorithm if asymmetric, and
// RS256 for id_tokens). When another node creates one first, it uses that
// one. It fails, without creating anything, when a stored key cannot be
// opened with cfg.MasterKey (ErrSealedKey): generating fresh keys would hide
// a wrong master key until every token in flight failed.
func NewManager(ctx context.Context, cfg Config) (*Manager, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s, err := newSealer(cfg.MasterKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	alg := cmp.Or(cfg.AccessTokenAlg, ES256)
	// RS256 and ES256 sign id_tokens (OpenID Connect's default, and the
	// cheap one clients may register), whatever signs access tokens.
	required := []string{RS256, ES256}
	if asymmetric(alg) && !slices.Contains(required, alg) {
		required = append(required, alg)
	}
	m := &Manager{
		store:       cfg.Store,
		sealer:      s,
		accessAlg:   alg,
		required:    required,
		maxTokenTTL: cfg.MaxTokenTTL,
		prepublish:  cfg.Prepublish,
		now:         cfg.Now,
		log:         cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)),
	}
	if m.now == nil {
		m.now = time.Now
	}
	if alg == HS256 {
		m.hmacSecret = slices.Clone(cfg.HMACSecret)
	}
	if err := m.reload(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

func (cfg *Config) validate() error {
	var errs []error
	if cfg.Store == nil {
		errs = append(errs, errors.New("missing Store"))
	}
	if len(cfg.MasterKey) != MasterKeySize {
		errs = append(errs, fmt.Errorf("the MasterKey must be %d bytes, got %d", MasterKeySize, len(cfg.MasterKey)))
	}
	switch alg := cmp.Or(cfg.AccessTokenAlg, ES256); {
	case alg == HS256:
		if len(cfg.HMACSecret) < MinHMACSecretSize {
			errs = append(errs, fmt.Errorf("HS256 needs an HMACSecret of at least %d bytes, got %d", MinHMACSecretSize, len(cfg.HMACSecret)))
		}
	case asymmetric(alg):
		if len(cfg.HMACSecret) != 0 {
			errs = append(errs, fmt.Errorf("an HMACSecret is set but AccessTokenAlg is %s, not HS256", alg))
		}
	default:
		errs = append(errs, fmt.Errorf("the AccessTokenAlg %q is not one of ES256, RS256, EdDSA, HS256", alg))
	}
	if cfg.MaxTokenTTL <= 0 {
		errs = append(errs, errors.New("the MaxTokenTTL must be positive"))
	}
	if cfg.Prepublish < 0 {
		errs = append(errs, errors.New("the Prepublish must not be negative"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return nil
}

// JWKS returns the JWK Set document ({"keys":[...]}) of every published key:
// public parameters, kid, alg and use only. The bytes are rendered once per
// key-set change and shared: callers must not modify them.
func (m *Manager) JWKS() []byte {
	return m.snap.Load().jwks
}

// AccessTokenAlg returns the algorithm access tokens are signed with.
func (m *Manager) AccessTokenAlg() string { return m.accessAlg }

// Refresh prunes retired keys past their PublishUntil from the store, then
// re-reads the key set and replaces the snapshot if it changed (another
// node rotated) or if a retired key's PublishUntil has passed by the clock.
// Like NewManager it creates a required key that has no active key (which
// only manual store edits can cause). On error the previous snapshot stays
// in place, so a store outage never empties the JWKS or stops signing.
func (m *Manager) Refresh(ctx context.Context) error {
	var pruneErr error
	if n, err := m.store.PruneSigningKeys(ctx, m.now()); err != nil {
		pruneErr = fmt.Errorf("keys: pruning expired keys: %w", err)
	} else if n > 0 {
		m.log.LogAttrs(ctx, slog.LevelInfo, "pruned retired signing keys", slog.Int("count", n))
	}
	return errors.Join(pruneErr, m.reload(ctx))
}

// Run calls Refresh every interval (DefaultRefreshInterval when interval
// <= 0) until ctx ends. Failures are logged and the last good snapshot is
// kept.
func (m *Manager) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultRefreshInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.Refresh(ctx); err != nil && ctx.Err() == nil {
				m.log.LogAttrs(ctx, slog.LevelError, "refreshing signing keys failed; keeping the last good key set",
					slog.Any("error", err))
			}
		}
	}
}

// Rotate starts a rotation of alg's key: a new key is stored as the next
// key, published at once (on every node within a refresh interval) and
// accepted everywhere, and it becomes the active key Prepublish later, when
// the key it replaces retires and stays published for MaxTokenTTL. No node
// signs with a key that other nodes and verifiers have not been able to
// learn. ErrRotationPending when alg's previous rotation has not activated
// yet. HS256 cannot be rotated here: its secret is configuration.
func (m *Manager) Rotate(ctx context.Context, alg string) (store.SigningKey, error) {
	if m.prepublish <= 0 {
		return m.RotateNow(ctx, alg)
	}
	if !asymmetric(alg) {
		return store.SigningKey{}, errNotRotatable(alg)
	}
	now := m.now()
	next, err := m.sealer.newSigningKey(alg, now)
	if err != nil {
		return store.SigningKey{}, err
	}
	next.State, next.ActivateAt = store.KeyNext, now.Add(m.prepublish)
	switch err := m.store.CreateSigningKey(ctx, next); {
	case errors.Is(err, store.ErrConflict):
		return store.SigningKey{}, fmt.Errorf("%w for %s: wait until its key activates (keys list shows when)", ErrRotationPending, alg)
	case err != nil:
		return store.SigningKey{}, fmt.Errorf("keys: storing the next %s key: %w", alg, err)
	}
	m.log.LogAttrs(ctx, slog.LevelInfo, "published the next signing key",
		slog.String("kid", next.ID), slog.String("alg", alg), slog.Time("activate_at", next.ActivateAt))
	if err := m.Refresh(ctx); err != nil {
		return next, fmt.Errorf("keys: stored the next %s key %s, but reloading failed: %w", alg, next.ID, err)
	}
	return next, nil
}

// RotateNow makes a new key the active key for alg at once, for a key that
// must stop signing now (compromise). The previous key, and a next key of a
// pending rotation, retire but stay published for MaxTokenTTL, so tokens
// they signed keep verifying. Other nodes switch at their next Refresh, and
// until they do, and until verifiers refetch the JWKS, tokens signed by the
// new key may be refused: prefer Rotate.
func (m *Manager) RotateNow(ctx context.Context, alg string) (store.SigningKey, error) {
	if !asymmetric(alg) {
		return store.SigningKey{}, errNotRotatable(alg)
	}
	now := m.now()
	next, err := m.sealer.newSigningKey(alg, now)
	if err != nil {
		return store.SigningKey{}, err
	}
	publishUntil := next.CreatedAt.Add(m.maxTokenTTL)
	if err := m.store.RotateSigningKey(ctx, next, publishUntil); err != nil {
		return store.SigningKey{}, fmt.Errorf("keys: rotating %s key: %w", alg, err)
	}
	m.log.LogAttrs(ctx, slog.LevelInfo, "rotated signing key",
		slog.String("kid", next.ID), slog.String("alg", alg), slog.Time("previous_publish_until", publishUntil))
	if err := m.Refresh(ctx); err != nil {
		return next, fmt.Errorf("keys: rotated %s key %s, but reloading failed: %w", alg, next.ID, err)
	}
	return next, nil
}

func errNotRotatable(alg string) error {
	return fmt.Errorf("%w: cannot rotate %q (only ES256, RS256 and EdDSA keys are stored)", ErrUnsupportedAlgorithm, alg)
}

// activateDue activates the next keys in rows whose time has come and
// reports whether it changed anything. Every node does this at its
// refresh; the store makes all but the first a no-op.
func (m *Manager) activateDue(ctx context.Context, rows []store.SigningKey) (bool, error) {
	now, changed := m.now(), false
	for _, r := range rows {
		if r.State != store.KeyNext || now.Before(r.ActivateAt) {
			continue
		}
		if err := m.store.ActivateSigningKey(ctx, r.ID, r.ActivateAt.Add(m.maxTokenTTL)); err != nil {
			return changed, fmt.Errorf("keys: activating the next %s key %s: %w", r.Algorithm, r.ID, err)
		}
		m.log.LogAttrs(ctx, slog.LevelInfo, "next signing key is now active",
			slog.String("kid", r.ID), slog.String("alg", r.Algorithm))
		changed = true
	}
	return changed, nil
}

// Active returns the keys this node signs with now, one per algorithm,
// from memory (no store read): for the key-age metric.
func (m *Manager) Active() []KeyInfo {
	snap := m.snap.Load()
	out := make([]KeyInfo, 0, len(snap.signers))
	for alg, k := range snap.signers {
		out = append(out, KeyInfo{KID: k.id, Algorithm: alg, State: store.KeyActive, CreatedAt: k.createdAt})
	}
	slices.SortFunc(out, func(a, b KeyInfo) int { return cmp.Compare(a.Algorithm, b.Algorithm) })
	return out
}

// List returns every stored key, oldest first, read from the store.
func (m *Manager) List(ctx context.Context) ([]KeyInfo, error) {
	rows, err := m.store.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: listing signing keys: %w", err)
	}
	out := make([]KeyInfo, 0, len(rows))
	for _, r := range rows {
		out = append(out, KeyInfo{
			KID: r.ID, Algorithm: r.Algorithm, State: r.State,
			CreatedAt: r.CreatedAt, RetiredAt: r.RetiredAt, PublishUntil: r.PublishUntil, ActivateAt: r.ActivateAt,
		})
	}
	return out, nil
}

// reload reads the key set, installs it, and creates any missing required
// key. Existing keys are installed first so that a wrong master key fails
// before anything is written.
func (m *Manager) reload(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	rows, err := m.store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: listing signing keys: %w", err)
	}
	// Open what is stored before writing anything (a wrong master key
	// must fail first), then activate next keys that are due.
	if err := m.install(rows); err != nil {
		return err
	}
	switch activated, err := m.activateDue(ctx, rows); {
	case err != nil:
		return err
	case activated:
		if rows, err = m.store.ListSigningKeys(ctx); err != nil {
			return fmt.Errorf("keys: listing signing keys: %w", err)
		}
		if err := m.install(rows); err != nil {
			return err
		}
	}
	created := false
	for _, alg := range m.required {
		if m.snap.Load().signers[alg] != nil {
			continue
		}
		k, err := m.sealer.newSigningKey(alg, m.now())
		if err != nil {
			return err
		}
		switch err := m.store.CreateSigningKey(ctx, k); {
		case err == nil:
			m.log.LogAttrs(ctx, slog.LevelInfo, "created signing key", slog.String("kid", k.ID), slog.String("alg", alg))
		case errors.Is(err, store.ErrConflict):
			// Another node created the first key meanwhile; use theirs.
		default:
			return fmt.Errorf("keys: creating %s key: %w", alg, err)
		}
		created = true
	}
	if !created {
		return nil
	}
	if rows, err = m.store.ListSigningKeys(ctx); err != nil {
		return fmt.Errorf("keys: listing signing keys: %w", err)
	}
	if err := m.install(rows); err != nil {
		return err
	}
	for _, alg := range m.required {
		if m.snap.Load().signers[alg] == nil {
			return fmt.Errorf("%w %s after creating one", ErrNoSigningKey, alg)
		}
	}
	return nil
}

// install builds a snapshot from rows and swaps it in, unless the rows are
// the ones the current snapshot was built from and no retired key has left
// publication since. Keys already opened are reused, so a rotation only
// opens the new key. Callers hold m.mu.
func (m *Manager) install(rows []store.SigningKey) error {
	now := m.now()
	versions := make([]keyVersion, len(rows))
	for i, r := range rows {
		versions[i] = keyVersion{
			id: r.ID, state: r.State,
			retiredAt: r.RetiredAt.UnixMicro(), publishUntil: r.PublishUntil.UnixMicro(),
		}
	}
	// Order-independent comparison: the store lists oldest first, but the
	// snapshot must not depend on that.
	slices.SortFunc(versions, func(a, b keyVersion) int { return cmp.Compare(a.id, b.id) })
	old := m.snap.Load()
	if old != nil && slices.Equal(old.versions, versions) && (old.nextDrop.IsZero() || now.Before(old.nextDrop)) {
		return nil
	}

	next := &snapshot{
		signers:  make(map[string]*signingKey),
		byKID:    make(map[string]*signingKey),
		versions: versions,
	}
	published := make([]*signingKey, 0, len(rows))
	for _, r := range rows {
		if !isPublished(r, now) {
			continue
		}
		k, err := m.loadKey(old, r)
		if err != nil {
			return err
		}
		if r.State == store.KeyActive {
			if prev := next.signers[r.Algorithm]; prev != nil {
				return fmt.Errorf("%w: two active %s keys (%s, %s)", ErrCorruptKey, r.Algorithm, prev.id, r.ID)
			}
			next.signers[r.Algorithm] = k
		} else if next.nextDrop.IsZero() || k.publishUntil.Before(next.nextDrop) {
			next.nextDrop = k.publishUntil
		}
		next.byKID[k.id] = k
		published = append(published, k)
	}
	jwks, err := renderJWKS(published)
	if err != nil {
		return err
	}
	next.jwks = jwks
	m.snap.Store(next)
	return nil
}

// isPublished reports whether r belongs in the JWKS at now. A retired row
// without PublishUntil is malformed and treated as expired (fail closed).
func isPublished(r store.SigningKey, now time.Time) bool {
	switch r.State {
	case store.KeyActive, store.KeyNext:
		return true
	case store.KeyRetired:
		return !r.PublishUntil.IsZero() && now.Before(r.PublishUntil)
	}
	return false
}

// loadKey returns the usable key for row r, reusing the one in old when the
// kid is known: a kid is the thumbprint of its key, and the sealed private
// key is bound to it, so a known kid names the same key material.
func (m *Manager) loadKey(old *snapshot, r store.SigningKey) (*signingKey, error) {
	var priv crypto.Signer
	var pub crypto.PublicKey
	if prev := oldKey(old, r.ID); prev != nil && prev.alg == r.Algorithm && (prev.private != nil || r.State != store.KeyActive) {
		priv, pub = prev.private, prev.public
	} else {
		p, err := m.sealer.openSigningKey(r)
		if err != nil {
			return nil, err
		}
		priv, pub = p, p.Public()
	}
	k := &signingKey{
		id:        r.ID,
		alg:       r.Algorithm,
		method:    signingMethod(r.Algorithm),
		public:    pub,
		createdAt: r.CreatedAt,
	}
	if r.State == store.KeyActive {
		k.private = priv
	} else {
		// Retired keys only verify; drop the private half from memory.
		k.publishUntil = r.PublishUntil
	}
	return k, nil
}

func oldKey(old *snapshot, kid string) *signingKey {
	if old == nil {
		return nil
	}
	return old.byKID[kid]
}

// renderJWKS encodes keys as a JWK Set in a deterministic order: by
// algorithm, then creation time, then kid.
func renderJWKS(keys []*signingKey) ([]byte, error) {
	sorted := slices.Clone(keys)
	slices.SortFunc(sorted, func(a, b *signingKey) int {
		return cmp.Or(cmp.Compare(a.alg, b.alg), a.createdAt.Compare(b.createdAt), cmp.Compare(a.id, b.id))
	})
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(sorted))}
	for _, k := range sorted {
		set.Keys = append(set.Keys, publicJWK(k.public, k.id, k.alg))
	}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("keys: rendering JWKS: %w", err)
	}
	return b, nil
}
