package config

import (
	"os"
	"strings"
	"testing"
)

// TestConfigurationDocListsEveryKey keeps docs/configuration.md in step with
// the Config struct.
func TestConfigurationDocListsEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range Keys() {
		if !strings.Contains(string(doc), "| `"+key+"` |") {
			t.Errorf("docs/configuration.md has no row for %s", key)
		}
	}
}
