package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// BuildInfo says which build is running: the version (ldflags, else the
// module version, else "dev") and, when the binary was built from a git
// checkout, the commit, its time and whether the tree had changes.
type BuildInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	CommitAt  string `json:"commit_time,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"go_version"`
}

// Commit names the source commit when the build has no VCS stamp (a
// container build without .git): -ldflags "-X ...cli.Commit=<sha>".
var Commit = ""

// ReadBuildInfo returns the running binary's BuildInfo.
func ReadBuildInfo() BuildInfo {
	b := BuildInfo{Version: Version, Commit: Commit, GoVersion: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if b.Version == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		b.Version = info.Main.Version
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.time":
			b.CommitAt = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// String is the one-line form: "v1.2.3 (commit abcdef1, 2026-12-01, modified) go1.26".
func (b BuildInfo) String() string {
	s := b.Version
	if b.Commit != "" {
		c := b.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		s += " (commit " + c
		if b.CommitAt != "" {
			s += ", " + b.CommitAt
		}
		if b.Modified {
			s += ", modified"
		}
		s += ")"
	}
	return s + " " + b.GoVersion
}

func (e *env) versionCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version of this build",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			b := ReadBuildInfo()
			if asJSON {
				return printJSON(e.stdout, b)
			}
			_, err := fmt.Fprintf(e.stdout, "gatehouse %s\n", b)
			return err
		},
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}
