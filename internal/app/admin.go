package app

import (
	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/adminapi"
	"github.com/gatehouse/gatehouse/internal/login"
)

// newAdminAPI builds the admin service of this server, whose revocations
// apply to the node's own list at once and whose federation policy changes
// reach its federator, and the admin API in front of it.
func (a *App) newAdminAPI(federation admin.FederationCache) *adminapi.API {
	svc := admin.New(admin.Config{
		Issuer:      a.cfg.Issuer,
		Store:       a.store,
		APIKeys:     a.apiKeys,
		Signing:     a.keys,
		Passwords:   login.NewHasher(login.OWASPParams(), 0),
		Audit:       a.audit,
		Revocations: a.revocations,
		Federation:  federation,
		AccessTTL:   a.cfg.Tokens.AccessTTL,
		Now:         a.now,
	})
	return adminapi.New(adminapi.Config{
		Issuer:  a.cfg.Issuer,
		Admin:   svc,
		Tokens:  a.token,
		APIKeys: a.apiKeys,
		Roles:   a.store,
		Now:     a.now,
		Logger:  a.log,
	})
}
