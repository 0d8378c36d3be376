package sdk

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCoreDependencies keeps the SDK's core package light and safe to import
// into any API: no Gatehouse server internals, no database driver, no Redis
// client (those belong in optional sub-packages such as sdk/redisrevocation).
func TestCoreDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := []string{
		"github.com/gatehouse/gatehouse/internal",
		"database/sql",
		"github.com/jackc/",
		"modernc.org/sqlite",
		"github.com/redis/",
		"github.com/go-redis/",
		"github.com/gomodule/redigo",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("sdk core imports %s (matches forbidden %s)", dep, f)
			}
		}
	}
}
