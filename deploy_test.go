package gatehouse_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestDeployArtifacts checks what can be checked of the deployment files
// without a container registry or systemd here (issue 12; building and
// running them is in their header comments and docs/operations.md): the
// Dockerfile builds a static binary in a separate
// stage, stamps the version and commit the CLI reports, and runs it as a
// non-root user; the compose demo has three nodes on one PostgreSQL and one
// Redis and publishes on loopback only; the systemd unit is sandboxed.
func TestDeployArtifacts(t *testing.T) {
	docker := readFile(t, "Dockerfile")
	for _, want := range []string{
		"CGO_ENABLED=0",
		"-X github.com/gatehouse/gatehouse/internal/cli.Version=",
		"-X github.com/gatehouse/gatehouse/internal/cli.Commit=",
		"COPY --from=build",
	} {
		if !strings.Contains(docker, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if n := len(regexp.MustCompile(`(?m)^FROM `).FindAllString(docker, -1)); n < 2 {
		t.Errorf("Dockerfile has %d stages, want a build stage and a runtime stage", n)
	}
	final := docker[strings.LastIndex(docker, "\nFROM "):]
	if !regexp.MustCompile(`(?m)^USER nonroot`).MatchString(final) {
		t.Error("the Dockerfile's final stage does not run as nonroot")
	}

	var compose struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			ReadOnly    bool              `yaml:"read_only"`
			Ports       []string          `yaml:"ports"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, "deploy/compose.yaml")), &compose); err != nil {
		t.Fatalf("deploy/compose.yaml: %v", err)
	}
	nodes := 0
	for name, s := range compose.Services {
		if strings.HasPrefix(name, "gatehouse-") {
			nodes++
			if !s.ReadOnly || s.Environment["GATEHOUSE_STORE"] == "" || s.Environment["GATEHOUSE_REDIS"] == "" {
				t.Errorf("compose node %s: read_only %v, store %q, redis %q", name, s.ReadOnly,
					s.Environment["GATEHOUSE_STORE"], s.Environment["GATEHOUSE_REDIS"])
			}
		}
		for _, p := range s.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("compose service %s publishes %q beyond loopback", name, p)
			}
		}
	}
	if _, pg := compose.Services["postgres"]; nodes != 3 || !pg {
		t.Errorf("compose: %d Gatehouse nodes and postgres %v, want three nodes on one PostgreSQL", nodes, pg)
	}
	if _, ok := compose.Services["redis"]; !ok {
		t.Error("compose has no redis service")
	}

	unit := readFile(t, "deploy/gatehouse.service")
	for _, want := range []string{"DynamicUser=yes", "NoNewPrivileges=yes", "ProtectSystem=strict",
		"ProtectHome=yes", "PrivateTmp=yes", "CapabilityBoundingSet=\n", "RestrictAddressFamilies=", "KillSignal=SIGTERM"} {
		if !strings.Contains(unit, want) {
			t.Errorf("deploy/gatehouse.service lacks %q", strings.TrimSpace(want))
		}
	}
}

// TestDocsLinksStayInTheRepository: every relative link in the README and
// docs/ names a file of this repository (docs once pointed outside it).
func TestDocsLinksStayInTheRepository(t *testing.T) {
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "README.md", "examples/products/README.md")
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, f := range files {
		text, err := os.ReadFile(f)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(text), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "#") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			target, _, _ = strings.Cut(target, "#")
			path := filepath.Join(filepath.Dir(f), target)
			abs, err := filepath.Abs(path)
			if err != nil {
				t.Fatal(err)
			}
			if rel, err := filepath.Rel(root, abs); err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%s links outside the repository: %s", f, m[1])
				continue
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s links to a missing file: %s", f, m[1])
			}
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
