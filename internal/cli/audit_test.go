package cli

import (
	"strings"
	"testing"
	"time"
)

// testAuditEvent is an event of audit list --json.
type testAuditEvent struct {
	Type     string            `json:"type"`
	ClientID string            `json:"client_id"`
	UserID   string            `json:"user_id"`
	Details  map[string]string `json:"details"`
}

// TestLocalChangesAreAudited: a change made on the command line against
// the local store is an admin_change event naming the operator, as the
// same change through the admin API names its API key; bootstrap is
// audited too, and reads are not.
func TestLocalChangesAreAudited(t *testing.T) {
	f := newRemoteFixture(t, nil)
	mustRun(t, nil, "clients", "create", "--id", "local-ci", "--name", "CI", "--grant-types", "client_credentials", "--data-dir", f.dir)
	if r := f.remote(t, "", "clients", "create", "--id", "remote-ci", "--name", "CI", "--grant-types", "client_credentials"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	mustRun(t, nil, "clients", "list", "--data-dir", f.dir)

	// The server stores its events in the background: wait for them.
	var events []testAuditEvent
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		var out struct{ Events []testAuditEvent }
		mustRun(t, &out, "audit", "list", "--type", "admin_change", "--json", "--data-dir", f.dir)
		events = out.Events
		if len(events) >= 4 || time.Since(start) > 5*time.Second {
			break
		}
	}
	byClient := map[string]testAuditEvent{}
	var bootstrap []string
	for _, e := range events {
		if e.Type != "admin_change" {
			t.Errorf("audit list --type admin_change lists a %s event", e.Type)
		}
		if e.ClientID != "" {
			byClient[e.ClientID] = e
		} else {
			bootstrap = append(bootstrap, e.Details["action"])
		}
	}
	operator := "operator:" + operatorName()
	local, remote := byClient["local-ci"], byClient["remote-ci"]
	if local.Details["actor"] != operator || local.Details["action"] != "client.create" || local.Details["client"] != "local-ci" {
		t.Errorf("local clients create: event %+v, want actor %s and action client.create", local, operator)
	}
	if !strings.HasPrefix(remote.Details["actor"], "apikey:ak_") || remote.Details["action"] != "client.create" ||
		remote.Details["route"] != "POST /admin/v1/clients" {
		t.Errorf("remote clients create: event %+v, want the API key as actor and the route", remote)
	}
	// bootstrap --api-key: the admin role, then the key.
	if strings.Join(bootstrap, ",") != "apikey.create,role.create" {
		t.Errorf("bootstrap's events (newest first): %v, want apikey.create,role.create", bootstrap)
	}
	if len(events) != 4 {
		t.Errorf("%d admin_change events, want 4 (a read is not a change): %+v", len(events), events)
	}
}
