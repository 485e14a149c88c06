package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// The tenantctl config file, as tenantctl reads it (tenantctl/internal/cliconfig): devstack
// writes the "local" context into it so tenantctl works in a second terminal.

type tenantctlContext struct {
	Name          string `yaml:"name"`
	URL           string `yaml:"url"`
	OperatorToken string `yaml:"operator_token,omitempty"`
	Tenant        string `yaml:"tenant,omitempty"`
	TenantToken   string `yaml:"tenant_token,omitempty"`
}

type tenantctlConfig struct {
	CurrentContext string             `yaml:"current-context,omitempty"`
	Contexts       []tenantctlContext `yaml:"contexts"`
}

// tenantctlConfigPath mirrors tenantctl: $ATRIUM_CONFIG, $XDG_CONFIG_HOME/atrium/tenantctl.yaml,
// ~/.config/atrium/tenantctl.yaml.
func tenantctlConfigPath(getenv func(string) string) (string, error) {
	if p := getenv("ATRIUM_CONFIG"); p != "" {
		return p, nil
	}
	if x := getenv("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "atrium", "tenantctl.yaml"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", errors.New("no home directory: set ATRIUM_CONFIG")
	}
	return filepath.Join(home, ".config", "atrium", "tenantctl.yaml"), nil
}

func readTenantctlConfig(path string) (*tenantctlConfig, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &tenantctlConfig{}, nil
	}
	if err != nil {
		return nil, err
	}
	var c tenantctlConfig
	if err := yaml.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

func (c *tenantctlConfig) context(name string) tenantctlContext {
	for _, x := range c.Contexts {
		if x.Name == name {
			return x
		}
	}
	return tenantctlContext{Name: name}
}

// upsert stores ctx and makes it current unless the user picked another context themselves.
// It reports whether ctx is now the current context.
func (c *tenantctlConfig) upsert(ctx tenantctlContext) bool {
	found := false
	for i := range c.Contexts {
		if c.Contexts[i].Name == ctx.Name {
			c.Contexts[i], found = ctx, true
		}
	}
	if !found {
		c.Contexts = append(c.Contexts, ctx)
	}
	if c.CurrentContext == "" {
		c.CurrentContext = ctx.Name
	}
	return c.CurrentContext == ctx.Name
}

// write saves the file owner-only (it holds secrets), atomically.
func (c *tenantctlConfig) write(path string) error {
	data, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
