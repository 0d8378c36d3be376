package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/gatehouse/gatehouse/internal/keys"
	"github.com/gatehouse/gatehouse/internal/store"
)

// RotatableAlgs are the signing algorithms whose keys rotate (HS256 is a
// configured secret, not a stored key).
func RotatableAlgs() []string { return []string{keys.ES256, keys.RS256, keys.EdDSA} }

// ListSigningKeys returns the signing keys, active, next and retired but
// still published, without their key material.
func (a Actions) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	list, err := a.s.cfg.Store.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	for i := range list {
		list[i].PublicJWK, list[i].SealedPrivate = nil, nil
	}
	return list, nil
}

// RotateSigningKeys rotates the keys of algs in order, or when algs is
// empty of RS256 (id_tokens) and the access-token algorithm, and returns
// the new keys without key material: next keys that every node publishes
// at once and that sign after the configured pre-publication, or with
// immediate active keys at once (a compromised key).
func (a Actions) RotateSigningKeys(ctx context.Context, algs []string, immediate bool) ([]store.SigningKey, error) {
	if a.s.cfg.Signing == nil {
		return nil, errors.New("admin: no signing key manager configured")
	}
	if len(algs) == 0 {
		algs = []string{keys.RS256}
		if alg := a.s.cfg.Signing.AccessTokenAlg(); alg != keys.HS256 && alg != keys.RS256 {
			algs = append(algs, alg)
		}
	}
	for _, alg := range algs {
		if !slices.Contains(RotatableAlgs(), alg) {
			return nil, refuse(ErrInvalid, `alg must be "ES256", "RS256" or "EdDSA"`)
		}
	}
	rotate := a.s.cfg.Signing.Rotate
	if immediate {
		rotate = a.s.cfg.Signing.RotateNow
	}
	var rotated []store.SigningKey
	for _, alg := range algs {
		k, err := rotate(ctx, alg)
		if errors.Is(err, keys.ErrRotationPending) {
			return nil, &Error{Kind: ErrRotationPending, Err: err,
				Message: fmt.Sprintf("a rotation of %s is pending; its key activates at the time keys list shows", alg)}
		}
		if err != nil {
			return nil, fmt.Errorf("rotate %s: %w", alg, err)
		}
		a.record(ctx, nil, "signing_key.rotate", target{kind: "kid", id: k.ID,
			details: map[string]string{"alg": alg, "immediate": fmt.Sprint(immediate)}})
		k.PublicJWK, k.SealedPrivate = nil, nil
		rotated = append(rotated, k)
	}
	return rotated, nil
}

// ListAuditEvents returns audit events, newest first, as q selects.
func (a Actions) ListAuditEvents(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error) {
	es, err := a.s.cfg.Store.ListAuditEvents(ctx, q)
	return es, fail(err)
}
