package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/adminclient"
	"github.com/gatehouse/gatehouse/internal/config"
)

var _ adminBackend = (*adminclient.Client)(nil)

// localOnlyFlags are the flags that choose the local store or its
// configuration; they make no sense with --server.
var localOnlyFlags = []string{"config", "data-dir", "store"}

// newRemote checks --server, the flags given with it and the API key in
// the environment, and returns a client of the server's admin API.
func (e *env) newRemote(cmd *cobra.Command) (*adminclient.Client, error) {
	for _, f := range localOnlyFlags {
		if cmd.Flags().Changed(f) {
			return nil, usageError{fmt.Errorf("--%s selects the local store: it cannot be combined with --server", f)}
		}
	}
	key, ok := config.ProcessAPIKey()
	c, err := adminclient.New(adminclient.Config{Server: e.server, APIKey: key,
		KeyName: "the API key in " + config.APIKeyEnv, UserAgent: "gatehouse-cli/" + Version})
	if err != nil {
		return nil, usageError{fmt.Errorf("--server: %w", err)}
	}
	if !ok {
		return nil, usageError{errNoServerKey}
	}
	return c, nil
}
