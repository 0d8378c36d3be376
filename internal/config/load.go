package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

// EnvPrefix starts every environment variable Gatehouse reads.
const EnvPrefix = "GATEHOUSE_"

// APIKeyEnv is the one GATEHOUSE_* variable that is not a setting: the
// admin API key the command line sends with --server. Load skips it (the
// server never reads it) and the command line reads it with
// ProcessAPIKey; it is never a flag, since flags leak into shell history
// and process listings.
const APIKeyEnv = EnvPrefix + "API_KEY"

// ProcessAPIKey returns the admin API key in the process environment
// (APIKeyEnv) and whether it is set and not empty.
func ProcessAPIKey() (string, bool) { return APIKey(os.Environ()) }

// APIKey returns the value of APIKeyEnv in environ ("KEY=value" strings)
// and whether it is set and not empty.
func APIKey(environ []string) (string, bool) {
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, APIKeyEnv+"="); ok {
			return v, v != ""
		}
	}
	return "", false
}

// Sources are the layers Load reads on top of the defaults.
type Sources struct {
	// File is a YAML file path; empty means none.
	File string
	// Environ is the process environment as "KEY=value" strings
	// (os.Environ()). Only GATEHOUSE_* entries are read.
	Environ []string
	// Flags maps config keys (such as "listen") to values given on the
	// command line; only flags the user actually set belong here.
	Flags map[string]string
}

// FromProcess returns Sources reading the process environment, for the
// command-line entry point.
func FromProcess(file string, flags map[string]string) Sources {
	return Sources{File: file, Environ: os.Environ(), Flags: flags}
}

// Load builds a Config from defaults, then src.File, then src.Environ, then
// src.Flags. Every unknown key and undecodable value is reported, joined in
// the returned error; the Config is still returned when only some values
// were bad, so a checker can validate the rest. The result is not
// validated: call Validate.
func Load(src Sources) (*Config, error) {
	k := koanf.New(".")
	if src.File != "" {
		if err := k.Load(file.Provider(src.File), yaml.Parser()); err != nil {
			return nil, fmt.Errorf("config file %s: %w", src.File, err)
		}
	}

	known := Keys()
	isKnown := make(map[string]bool, len(known))
	byEnv := make(map[string]string, len(known))
	for _, key := range known {
		isKnown[key] = true
		byEnv[EnvName(key)] = key
	}
	var errs []error
	for _, key := range k.Keys() {
		if !isKnown[key] {
			errs = append(errs, fmt.Errorf("%s: unknown setting in %s", key, src.File))
			k.Delete(key)
		}
	}
	for _, kv := range src.Environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) || name == APIKeyEnv {
			continue
		}
		key, ok := byEnv[name]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: unknown environment variable", name))
			continue
		}
		if err := k.Set(key, value); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	for key, value := range src.Flags {
		if !isKnown[key] {
			errs = append(errs, fmt.Errorf("flag for unknown setting %s", key))
			continue
		}
		if err := k.Set(key, value); err != nil {
			errs = append(errs, fmt.Errorf("flag for %s: %w", key, err))
		}
	}

	cfg := Default()
	// Decode key by key so one bad value does not hide the others.
	for _, key := range k.Keys() {
		one := koanf.New(".")
		_ = one.Set(key, k.Get(key))
		err := one.UnmarshalWithConf("", &cfg, koanf.UnmarshalConf{
			Tag: "koanf",
			DecoderConfig: &mapstructure.DecoderConfig{
				Result:           &cfg,
				TagName:          "koanf",
				ErrorUnused:      true,
				WeaklyTypedInput: true,
				DecodeHook:       mapstructure.StringToTimeDurationHookFunc(),
			},
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: invalid value %s", key, describe(k.Get(key))))
		}
	}
	if !k.Exists("issuer") {
		// No layer set the issuer: a loopback listen address names the dev
		// issuer (the default one for the default address); any other has
		// none, and Validate says what to set.
		cfg.Issuer = DevIssuer(cfg.Listen)
	}
	cfg.resolve()
	return &cfg, errors.Join(errs...)
}

// describe renders a rejected value for an error message without echoing
// secrets at length.
func describe(v any) string {
	s := fmt.Sprintf("%v", v)
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// EnvName returns the environment variable that sets key.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// Keys returns every configuration key, sorted, as dotted paths.
func Keys() []string {
	var keys []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for f := range t.Fields() {
			name := prefix + f.Tag.Get("koanf")
			if f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == t.PkgPath() {
				walk(f.Type, name+".")
				continue
			}
			keys = append(keys, name)
		}
	}
	walk(reflect.TypeFor[Config](), "")
	sort.Strings(keys)
	return keys
}
