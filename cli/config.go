package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
	ucli "github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"
	"gopkg.in/yaml.v3"
)

// configFlag: a file of settings for a long-running command (serve).
func configFlag() ucli.Flag {
	return &ucli.StringFlag{Name: "config", EnvVars: env("config"),
		Usage: "read settings from a YAML (.yaml, .yml) or TOML (.toml) `FILE`: its keys are the flags' names; a flag or environment variable given too wins"}
}

// configurable makes every flag settable from the --config file
// (urfave/cli's altsrc) and returns them with the Before that reads it.
func configurable(flags []ucli.Flag) ([]ucli.Flag, ucli.BeforeFunc) {
	out := make([]ucli.Flag, 0, len(flags)+1)
	for _, f := range flags {
		switch f := f.(type) {
		case *ucli.StringFlag:
			out = append(out, altsrc.NewStringFlag(f))
		case *ucli.StringSliceFlag:
			out = append(out, altsrc.NewStringSliceFlag(f))
		case *ucli.BoolFlag:
			out = append(out, altsrc.NewBoolFlag(f))
		case *ucli.IntFlag:
			out = append(out, altsrc.NewIntFlag(f))
		case *ucli.DurationFlag:
			out = append(out, altsrc.NewDurationFlag(f))
		default:
			panic(fmt.Sprintf("configurable: no config-file form of flag %T", f)) // a programming error, caught by the tests
		}
	}
	out = append(out, configFlag())
	read := altsrc.InitInputSourceWithContext(out, func(c *ucli.Context) (altsrc.InputSourceContext, error) {
		path := c.String("config")
		if path == "" {
			return &altsrc.MapInputSource{}, nil
		}
		if err := checkConfigKeys(path, out); err != nil {
			return nil, err
		}
		if isTOML(path) {
			return altsrc.NewTomlSourceFromFile(path)
		}
		return altsrc.NewYamlSourceFromFile(path)
	})
	return out, func(c *ucli.Context) error {
		if err := read(c); err != nil {
			return usageError("--config: %v", strings.TrimPrefix(err.Error(), "Unable to create input source with context: inner error: \n"))
		}
		return nil
	}
}

func isTOML(path string) bool { return strings.EqualFold(filepath.Ext(path), ".toml") }

// checkConfigKeys refuses a config file with a key that names no flag: a
// misspelt setting is an error, not a silent default.
func checkConfigKeys(path string, flags []ucli.Flag) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var keys map[string]any
	if isTOML(path) {
		err = toml.Unmarshal(b, &keys)
	} else {
		err = yaml.Unmarshal(b, &keys)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var known []string
	for _, f := range flags {
		known = append(known, f.Names()...)
	}
	for k := range keys {
		if k == "config" || !slices.Contains(known, k) {
			return fmt.Errorf("%s: unknown setting %q (the settings are the flags' names: %s)", path, k, strings.Join(known, ", "))
		}
	}
	return nil
}
