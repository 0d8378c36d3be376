package federation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Document is a policy as people write it: the admin API's JSON and the
// YAML (or JSON) files of `gatehouse federation apply`. Durations are whole
// seconds and the static key set is a JSON object.
type Document struct {
	Name                string            `json:"name"`
	Issuer              string            `json:"issuer"`
	JWKSURI             string            `json:"jwks_uri,omitempty"`
	JWKS                json.RawMessage   `json:"jwks,omitempty"`
	Audience            string            `json:"audience"`
	Algorithms          []string          `json:"algorithms,omitempty"`
	Conditions          map[string]string `json:"conditions,omitempty"`
	Subject             string            `json:"subject,omitempty"`
	Roles               []string          `json:"roles,omitempty"`
	Scopes              []string          `json:"scopes,omitempty"`
	Audiences           []string          `json:"audiences,omitempty"`
	TokenTTLSeconds     int64             `json:"token_ttl_seconds,omitempty"`
	MaxLifetimeSeconds  int64             `json:"max_lifetime_seconds,omitempty"`
	AllowReuse          bool              `json:"allow_reuse,omitempty"`
	AllowPrivateNetwork bool              `json:"allow_private_network,omitempty"`
	// CreatedAt and UpdatedAt are read-only.
	CreatedAt *time.Time `json:"created_at,omitempty"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
}

// Policy returns d as a store policy (not yet normalized).
func (d Document) Policy() store.FederationPolicy {
	return store.FederationPolicy{
		Name: d.Name, Issuer: d.Issuer, JWKSURI: d.JWKSURI, JWKS: []byte(d.JWKS), Audience: d.Audience,
		Algorithms: d.Algorithms, Conditions: d.Conditions, Subject: d.Subject, Roles: d.Roles, Scopes: d.Scopes,
		Audiences: d.Audiences, TokenTTL: time.Duration(d.TokenTTLSeconds) * time.Second,
		MaxLifetime: time.Duration(d.MaxLifetimeSeconds) * time.Second, AllowReuse: d.AllowReuse,
		AllowPrivateNetwork: d.AllowPrivateNetwork,
	}
}

// DocumentOf returns p as a Document.
func DocumentOf(p store.FederationPolicy) Document {
	d := Document{
		Name: p.Name, Issuer: p.Issuer, JWKSURI: p.JWKSURI, JWKS: json.RawMessage(p.JWKS), Audience: p.Audience,
		Algorithms: p.Algorithms, Conditions: p.Conditions, Subject: p.Subject, Roles: p.Roles, Scopes: p.Scopes,
		Audiences: p.Audiences, TokenTTLSeconds: int64(p.TokenTTL / time.Second),
		MaxLifetimeSeconds: int64(p.MaxLifetime / time.Second), AllowReuse: p.AllowReuse,
		AllowPrivateNetwork: p.AllowPrivateNetwork,
	}
	if !p.CreatedAt.IsZero() {
		c, u := p.CreatedAt.UTC(), p.UpdatedAt.UTC()
		d.CreatedAt, d.UpdatedAt = &c, &u
	}
	return d
}

// ParseDocuments reads policies from YAML or JSON: a list of policies, or
// an object whose "policies" member is one. Unknown fields are errors.
func ParseDocuments(data []byte) ([]Document, error) {
	var raw any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("federation: not YAML or JSON: %w", err)
	}
	if m, ok := raw.(map[string]any); ok {
		if len(m) != 1 || m["policies"] == nil {
			return nil, errors.New("federation: want a list of policies, or an object with only a policies list")
		}
		raw = m["policies"]
	}
	if _, ok := raw.([]any); !ok {
		return nil, errors.New("federation: want a list of policies")
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, fmt.Errorf("federation: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var docs []Document
	if err := dec.Decode(&docs); err != nil {
		return nil, fmt.Errorf("federation: %w", err)
	}
	return docs, nil
}
