// Package cliconfig reads and writes tenantctl's config file: named contexts, each a gateway
// URL with the credentials to use there, and the current one.
//
//	current-context: local
//	contexts:
//	  - name: local
//	    url: http://localhost:8080
//	    operator_token: atr_op_...
//	    tenant: demo
//	    tenant_token: atr_pat_...
package cliconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"gopkg.in/yaml.v3"
)

// EnvConfig names the config file explicitly.
const EnvConfig = "ATRIUM_CONFIG"

// Context is one named place tenantctl can talk to.
type Context struct {
	Name string `yaml:"name" json:"name"`
	URL  string `yaml:"url" json:"url"`
	// OperatorToken ("atr_op_...") is for the operator commands.
	OperatorToken string `yaml:"operator_token,omitempty" json:"operator_token,omitempty"`
	// Tenant is the slug TenantToken belongs to.
	Tenant string `yaml:"tenant,omitempty" json:"tenant,omitempty"`
	// TenantToken ("atr_pat_..." API token of a tenant user) is for commands that act inside a
	// tenant (catalog import/export): operators cannot act as tenant users.
	TenantToken string `yaml:"tenant_token,omitempty" json:"tenant_token,omitempty"`
}

// Config is the whole file.
type Config struct {
	CurrentContext string    `yaml:"current-context,omitempty"`
	Contexts       []Context `yaml:"contexts"`
}

// Path returns where the config file lives: $ATRIUM_CONFIG, else
// $XDG_CONFIG_HOME/atrium/tenantctl.yaml, else ~/.config/atrium/tenantctl.yaml.
func Path(getenv func(string) string) (string, error) {
	if p := getenv(EnvConfig); p != "" {
		return p, nil
	}
	if x := getenv("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "atrium", "tenantctl.yaml"), nil
	}
	home := getenv("HOME")
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			return "", fmt.Errorf("cannot find the config file: set %s or HOME", EnvConfig)
		}
	}
	return filepath.Join(home, ".config", "atrium", "tenantctl.yaml"), nil
}

// Load reads the file at path. A missing file is an empty config, not an error.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Config{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var c Config
	if err := yaml.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	seen := map[string]bool{}
	for i, ctx := range c.Contexts {
		if ctx.Name == "" {
			return nil, fmt.Errorf("config %s: contexts[%d] has no name", path, i)
		}
		if seen[ctx.Name] {
			return nil, fmt.Errorf("config %s: context %q is listed twice", path, ctx.Name)
		}
		seen[ctx.Name] = true
	}
	return &c, nil
}

// Save writes the config to path, readable only by its owner (it holds secrets). The write
// goes through a temporary file so a crash never leaves half a config.
func (c *Config) Save(path string) error {
	data, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tenantctl-*.yaml")
	if err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write config: %w", err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write config: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

// Lookup returns the context called name.
func (c *Config) Lookup(name string) (Context, bool) {
	for _, ctx := range c.Contexts {
		if ctx.Name == name {
			return ctx, true
		}
	}
	return Context{}, false
}

// Current returns the current context, if one is set and exists.
func (c *Config) Current() (Context, bool) {
	if c.CurrentContext == "" {
		return Context{}, false
	}
	return c.Lookup(c.CurrentContext)
}

// Upsert replaces the context of the same name or appends it.
func (c *Config) Upsert(ctx Context) {
	i := slices.IndexFunc(c.Contexts, func(x Context) bool { return x.Name == ctx.Name })
	if i < 0 {
		c.Contexts = append(c.Contexts, ctx)
		return
	}
	c.Contexts[i] = ctx
}
