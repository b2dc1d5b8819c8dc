package config

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/providers/rawbytes"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
)

// delim separates koanf key levels internally. It is not "." because model
// names (gpt-4.1, claude-3.5-sonnet) are map keys under
// failover.model_mapping and must stay whole.
const delim = "::"

// envPrefix starts every configuration override variable (matched
// case-insensitively); "__" separates levels.
const envPrefix = "KT_"

// flagKey maps a CLI flag that overrides configuration to its key.
func flagKey(name string) ([]string, bool) {
	switch name {
	case "port":
		return []string{"server", "port"}, true
	case "host":
		return []string{"server", "host"}, true
	case "log-format":
		return []string{"logging", "format"}, true
	case "log-level":
		return []string{"logging", "level"}, true
	}
	return nil, false
}

// LoadOptions says where the configuration comes from.
type LoadOptions struct {
	// File is the path of the YAML file; required unless Data is set, and
	// used to name the source in errors either way.
	File string
	// Data is YAML to use instead of reading File (the --demo embedded config).
	Data []byte
	// Environ is the environment as os.Environ returns it, read for KT_
	// overrides and to check that referenced secret variables are set.
	// nil means no environment: no overrides and no secret checks.
	Environ []string
	// Flags, when set, override the file and the environment with the flags
	// the user changed: port, host, log-format, log-level.
	Flags *pflag.FlagSet
}

// Load reads the configuration from the YAML source, then KT_ environment
// overrides, then changed flags; decodes it strictly; applies defaults; and
// validates it. The error is non-nil only when the source cannot be read or
// parsed at all. Otherwise the File (with defaults applied) is returned
// with every problem found, errors and warnings, in a stable order.
func Load(opts LoadOptions) (*File, Problems, error) {
	name := opts.File
	data := opts.Data
	if data == nil {
		if opts.File == "" {
			return nil, nil, errors.New("load config: no file given")
		}
		b, err := file.Provider(opts.File).ReadBytes()
		if err != nil {
			return nil, nil, fmt.Errorf("read config: %w", err)
		}
		data = b
	}
	if name == "" {
		name = "config"
	}

	k := koanf.NewWithConf(koanf.Conf{Delim: delim})
	if err := k.Load(rawbytes.Provider(data), normalizingParser{}); err != nil {
		return nil, nil, fmt.Errorf("parse config %s: %w", name, err)
	}

	var ps Problems
	if opts.Environ != nil {
		ps = append(ps, loadEnv(k, opts.Environ)...)
	}
	if opts.Flags != nil {
		ps = append(ps, loadFlags(k, opts.Flags)...)
	}

	raw := rawTree(k.Raw())
	f := skeleton(raw)
	decodeProblems := decode(k, f)
	ps = append(ps, decodeProblems...)

	failoverPath := placeFailover(f, raw, &ps)

	applyDefaults(f, raw, failoverPath)
	resolveRouteFailovers(f, raw, failoverPath)

	v := &validator{raw: raw, environ: opts.Environ, failoverPath: failoverPath}
	for _, p := range decodeProblems {
		v.suppress = append(v.suppress, p.Path)
	}
	v.file(f)
	ps = append(ps, v.problems...)
	return f, ps, nil
}

// skeleton pre-allocates the pointers and list elements the file sets.
// mapstructure decodes into an existing value in place but drops a freshly
// allocated one when any field inside it fails, which would turn one typo
// in a failover section into "no failover section" as well.
func skeleton(raw rawTree) *File {
	f := &File{}
	if _, ok := raw["failover"].(map[string]any); ok {
		f.Failover = &Failover{}
	}
	if v, _ := raw.get("providers", "failover"); v != nil {
		if _, ok := v.(map[string]any); ok {
			f.Providers.Failover = &Failover{}
		}
	}
	targets, _ := raw.get("providers", "targets")
	if list, ok := targets.([]any); ok {
		f.Providers.Targets = make([]Target, len(list))
		for i, t := range list {
			if m, ok := t.(map[string]any); ok {
				if _, ok := m["secret_key_ref"].(map[string]any); ok {
					f.Providers.Targets[i].SecretKeyRef = &SecretKeyRef{}
				}
			}
		}
	}
	routes, _ := raw.get("routes")
	if list, ok := routes.([]any); ok {
		f.Routes = make([]Route, len(list))
		for i, r := range list {
			if m, ok := r.(map[string]any); ok {
				if _, ok := m["failover"].(map[string]any); ok {
					f.Routes[i].Failover = &Failover{}
				}
			}
		}
	}
	return f
}

// placeFailover moves a top-level failover section under providers, where
// the rest of the gateway reads it, and returns the path the user wrote it
// at so problems point at their own lines.
func placeFailover(f *File, raw rawTree, ps *Problems) string {
	top := f.Failover
	f.Failover = nil
	switch {
	case top != nil && f.Providers.Failover != nil:
		*ps = append(*ps, Problem{Path: "failover", Message: "set failover under providers or at the top level, not both"})
	case top != nil:
		f.Providers.Failover = top
		return "failover"
	case f.Providers.Failover == nil:
		f.Providers.Failover = &Failover{}
		if raw.has("failover") && !raw.has("providers", "failover") {
			// The top-level section failed to decode; keep pointing at it.
			return "failover"
		}
	}
	return "providers.failover"
}

// normalizingParser parses YAML and turns every map[any]any the YAML
// library returns for non-string keys into map[string]any, also inside
// lists, so that koanf and mapstructure only ever see string keys.
type normalizingParser struct{}

// Unmarshal implements koanf.Parser.
func (normalizingParser) Unmarshal(b []byte) (map[string]any, error) {
	m, err := yaml.Parser().Unmarshal(b)
	if err != nil {
		return nil, err
	}
	for k, v := range m {
		m[k] = normalize(v)
	}
	return m, nil
}

// Marshal implements koanf.Parser.
func (normalizingParser) Marshal(m map[string]any) ([]byte, error) {
	return yaml.Parser().Marshal(m)
}

func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
		return x
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = normalize(e)
		}
		return out
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
		return x
	}
	return v
}

// loadEnv merges KT_ variables into k. Each variable's path is checked
// against the schema first, so a misspelt variable is reported by its own
// name instead of as an unknown key that is nowhere in the file, and its
// value is converted to the field's type (the environment only has strings).
func loadEnv(k *koanf.Koanf, environ []string) Problems {
	var ps Problems
	snapshot := rawTree(k.Raw())
	known := envNames()
	p := env.Provider(delim, env.Opt{
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(name, value string) (string, any) {
			if len(name) < len(envPrefix) || !strings.EqualFold(name[:len(envPrefix)], envPrefix) {
				return "", nil
			}
			segs := strings.Split(strings.ToLower(name[len(envPrefix):]), "__")
			segs = routeFailover(segs, snapshot)
			t, msg := resolveSettable(segs, snapshot)
			if msg != "" {
				ps = append(ps, unknownEnv(name, segs, msg, known))
				return "", nil
			}
			val, err := convertString(t, value)
			if err != nil {
				ps = append(ps, Problem{Path: name, Message: fmt.Sprintf("%s (for %s)", err, dotted(segs)), Severity: Error})
				return "", nil
			}
			return strings.Join(segs, delim), val
		},
	})
	if err := k.Load(p, nil, koanf.WithMergeFunc(mergeIndexed)); err != nil {
		ps = append(ps, Problem{Message: fmt.Sprintf("load environment overrides: %v", err)})
	}
	return ps
}

// unknownEnv builds the problem for a KT_ variable that names no setting.
// Variables that look like a configuration path (their first level is a
// top-level key, or they are a near miss of one) are errors; anything else
// under KT_ may belong to another tool and is only a warning.
func unknownEnv(name string, segs []string, msg string, known []string) Problem {
	p := Problem{Path: name, Message: msg, Severity: Error}
	if s := suggest(strings.ToUpper(name), known); s != "" && !strings.EqualFold(s, name) {
		p.Message += fmt.Sprintf(" (did you mean %s?)", s)
		return p
	}
	if _, ok := fieldByTag(fileType, segs[0]); !ok {
		p.Severity = Warning
		p.Message = "not a configuration setting; ignored"
	}
	return p
}

// envNames lists every KT_ variable that names a fixed setting.
func envNames() []string {
	var paths [][]string
	leafPaths(fileType, nil, &paths)
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		out = append(out, envPrefix+strings.ToUpper(strings.Join(p, "__")))
	}
	return out
}

// routeFailover sends failover overrides to wherever the file put the
// failover section, so an override never creates the "both places" error.
func routeFailover(segs []string, raw rawTree) []string {
	topOnly := raw.has("failover") && !raw.has("providers", "failover")
	switch {
	case len(segs) >= 2 && segs[0] == "providers" && segs[1] == "failover" && topOnly:
		return segs[1:]
	case len(segs) >= 1 && segs[0] == "failover" && !topOnly:
		return append([]string{"providers"}, segs...)
	}
	return segs
}

// resolveSettable checks that segs names one scalar (or list of strings)
// setting and returns its type, or a message saying why it does not.
// List elements must already exist in raw: an override changes a target,
// it cannot create one.
func resolveSettable(segs []string, raw rawTree) (reflect.Type, string) {
	t := reflect.Type(fileType)
	var walked []any
	for i, seg := range segs {
		t = deref(t)
		if seg == "" {
			return nil, fmt.Sprintf("empty level in %s", dotted(segs))
		}
		switch {
		case t.Kind() == reflect.Struct:
			ft, ok := fieldByTag(t, seg)
			if !ok {
				return nil, fmt.Sprintf("unknown setting %s", dotted(segs[:i+1]))
			}
			t = ft
			walked = append(walked, seg)
		case t.Kind() == reflect.Map:
			t = t.Elem()
			walked = append(walked, seg)
		case t.Kind() == reflect.Slice && deref(t.Elem()).Kind() == reflect.Struct:
			idx, err := strconv.Atoi(seg)
			if err != nil || idx < 0 {
				return nil, fmt.Sprintf("%s needs a list index, got %q", dotted(segs[:i]), seg)
			}
			list, _ := raw.get(walked...)
			l, _ := list.([]any)
			if idx >= len(l) {
				return nil, fmt.Sprintf("%s has no element %d (%d in the file)", dotted(segs[:i]), idx, len(l))
			}
			t = t.Elem()
			walked = append(walked, idx)
		default:
			return nil, fmt.Sprintf("unknown setting %s", dotted(segs[:i+1]))
		}
	}
	t = deref(t)
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return nil, fmt.Sprintf("%s is a section; set one of its fields", dotted(segs))
	case reflect.Slice:
		if t.Elem().Kind() != reflect.String {
			return nil, fmt.Sprintf("%s is a list of sections; set a field of one element", dotted(segs))
		}
	}
	return t, ""
}

// dotted renders key segments the way problems print paths.
func dotted(segs []string) string {
	var b strings.Builder
	for i, s := range segs {
		if _, err := strconv.Atoi(s); err == nil && i > 0 {
			b.WriteString("[" + s + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

// convertString turns an environment or flag string into a value of type
// t. Errors never include the value: an override might hold a secret.
func convertString(t reflect.Type, s string) (any, error) {
	s2 := strings.TrimSpace(s)
	switch t.Kind() {
	case reflect.String:
		return s, nil
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s2, 10, 64)
		if err != nil {
			return nil, errors.New("not an integer")
		}
		return int(n), nil
	case reflect.Float64:
		n, err := strconv.ParseFloat(s2, 64)
		if err != nil || math.IsInf(n, 0) || math.IsNaN(n) {
			return nil, errors.New("not a number")
		}
		return n, nil
	case reflect.Bool:
		b, err := strconv.ParseBool(s2)
		if err != nil {
			return nil, errors.New("not true or false")
		}
		return b, nil
	case reflect.Slice:
		var out []any
		for _, part := range strings.Split(s, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("cannot be set from a string (type %s)", t)
}

// loadFlags merges the changed configuration flags into k.
func loadFlags(k *koanf.Koanf, fs *pflag.FlagSet) Problems {
	var ps Problems
	snapshot := rawTree(k.Raw())
	p := posflag.ProviderWithFlag(fs, delim, k, func(fl *pflag.Flag) (string, any) {
		segs, ok := flagKey(fl.Name)
		if !ok || !fl.Changed {
			return "", nil
		}
		t, msg := resolveSettable(segs, snapshot)
		if msg != "" {
			ps = append(ps, Problem{Path: "--" + fl.Name, Message: msg})
			return "", nil
		}
		val, err := convertString(t, fl.Value.String())
		if err != nil {
			ps = append(ps, Problem{Path: "--" + fl.Name, Message: fmt.Sprintf("%s (for %s)", err, dotted(segs))})
			return "", nil
		}
		return strings.Join(segs, delim), val
	})
	if err := k.Load(p, nil, koanf.WithMergeFunc(mergeIndexed)); err != nil {
		ps = append(ps, Problem{Message: fmt.Sprintf("load flag overrides: %v", err)})
	}
	return ps
}

// mergeIndexed merges src into dest like koanf's default merge, except that
// numeric keys under a list address its elements (KT_PROVIDERS__TARGETS__0__...)
// instead of replacing the whole list with a map.
func mergeIndexed(src, dest map[string]any) error {
	for k, v := range src {
		dest[k] = mergeValue(dest[k], v)
	}
	return nil
}

func mergeValue(dest, src any) any {
	sm, ok := src.(map[string]any)
	if !ok {
		return src
	}
	switch d := dest.(type) {
	case map[string]any:
		for k, v := range sm {
			d[k] = mergeValue(d[k], v)
		}
		return d
	case []any:
		for k, v := range sm {
			if i, err := strconv.Atoi(k); err == nil && i >= 0 && i < len(d) {
				d[i] = mergeValue(d[i], v)
			}
		}
		return d
	}
	out := map[string]any{}
	for k, v := range sm {
		out[k] = mergeValue(nil, v)
	}
	return out
}

// decode unmarshals k into f strictly and turns every decoding failure
// into a Problem with a clean path.
func decode(k *koanf.Koanf, f *File) Problems {
	dc := &mapstructure.DecoderConfig{
		DecodeHook:       strictHook,
		ErrorUnused:      true,
		WeaklyTypedInput: false,
		TagName:          "koanf",
		// Keys are case-sensitive in YAML; "Port" is a typo, not an alias.
		MatchName: func(mapKey, fieldName string) bool { return mapKey == fieldName },
	}
	err := k.UnmarshalWithConf("", f, koanf.UnmarshalConf{DecoderConfig: dc})
	if err == nil {
		return nil
	}
	var ps Problems
	collectDecodeErrors(err, &ps)
	sortProblems(ps)
	return ps
}

// sortProblems orders problems by path so map-iteration order inside the
// decoder never changes the output.
func sortProblems(ps Problems) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		switch {
		case naturalLess(a.Path, b.Path):
			return -1
		case naturalLess(b.Path, a.Path):
			return 1
		}
		return 0
	})
}

// collectDecodeErrors flattens mapstructure's joined errors into problems.
func collectDecodeErrors(err error, ps *Problems) {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			collectDecodeErrors(e, ps)
		}
		return
	}
	if de, ok := err.(*mapstructure.DecodeError); ok {
		inner := de.Unwrap()
		if _, joined := inner.(interface{ Unwrap() []error }); joined {
			collectDecodeErrors(inner, ps)
			return
		}
		*ps = append(*ps, decodeProblems(de.Name(), inner)...)
		return
	}
	// mapstructure wraps the joined list in "decoding failed due to...".
	if inner := errors.Unwrap(err); inner != nil {
		collectDecodeErrors(inner, ps)
		return
	}
	*ps = append(*ps, Problem{Message: err.Error()})
}

// decodeProblems converts one mapstructure error at name into problems.
func decodeProblems(name string, err error) Problems {
	if name == fileType.String() {
		name = ""
	}
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "has invalid keys: "); ok {
		candidates := keysOf(typeAtPath(name))
		var ps Problems
		for _, key := range strings.Split(rest, ", ") {
			m := "unknown key"
			if s := suggest(key, candidates); s != "" {
				m += fmt.Sprintf(" (did you mean %q?)", s)
			}
			ps = append(ps, Problem{Path: joinKey(name, key), Message: m, Severity: Error})
		}
		return ps
	}
	path := cleanPath(name)
	var te *typeError
	if errors.As(err, &te) {
		return Problems{{Path: path, Message: te.message(!isHeaderPath(path)), Severity: Error}}
	}
	return Problems{{Path: path, Message: msg, Severity: Error}}
}

// cleanPath quotes the key in mapstructure's "model_mapping[gpt-4.1]" so
// it cannot be mistaken for a list index and odd keys print safely.
func cleanPath(name string) string {
	best := -1
	var marker string
	for _, m := range []string{"model_mapping[", "headers[", "deployments["} {
		if i := strings.Index(name, m); i >= 0 && (best < 0 || i < best) {
			best, marker = i, m
		}
	}
	if best < 0 || !strings.HasSuffix(name, "]") {
		return name
	}
	start := best + len(marker)
	if start > len(name)-1 {
		return name
	}
	return name[:start] + quote(name[start:len(name)-1]) + "]"
}

// isHeaderPath reports whether a path is inside a target's headers, whose
// values may be credentials and are never printed.
func isHeaderPath(path string) bool { return strings.Contains(path, ".headers") }

// typeError is a value of the wrong YAML type for its field.
type typeError struct {
	want  reflect.Type
	value any
}

func (e *typeError) Error() string { return e.message(false) }

// message says what was expected and what was found, with the value only
// when showValue is set and it is a short scalar.
func (e *typeError) message(showValue bool) string {
	msg := "want " + describeType(e.want) + ", got " + describeValue(e.value)
	if showValue {
		switch v := e.value.(type) {
		case string:
			msg += " " + quote(v)
		case int, int64, uint64, float64, bool:
			msg += fmt.Sprintf(" %v", v)
		}
	}
	return msg
}

func describeType(t reflect.Type) string {
	switch deref(t).Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64:
		return "an integer"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return t.String()
}

func describeValue(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int, int64, uint64:
		return "an integer"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	case time.Time:
		return "a timestamp"
	}
	return fmt.Sprintf("%T", v)
}

// strictHook enforces YAML types before mapstructure sees a value: no
// string-to-number guessing ("abc" for a port is an error with its path),
// no silently truncated fractions. It is lenient in one direction only:
// scalars become strings, so `version: 1` and unquoted dates such as
// `anthropic_version: 2023-06-01` mean what the user wrote.
func strictHook(from, to reflect.Value) (any, error) {
	data := from.Interface()
	want := deref(to.Type())
	bad := &typeError{want: want, value: data}
	switch want.Kind() {
	case reflect.String:
		switch v := data.(type) {
		case string:
			return v, nil
		case int:
			return strconv.Itoa(v), nil
		case int64:
			return strconv.FormatInt(v, 10), nil
		case uint64:
			return strconv.FormatUint(v, 10), nil
		case float64:
			if math.IsInf(v, 0) || math.IsNaN(v) {
				return nil, bad
			}
			return strconv.FormatFloat(v, 'f', -1, 64), nil
		case bool:
			return strconv.FormatBool(v), nil
		case time.Time:
			if v.Equal(v.Truncate(24*time.Hour)) && v.Location() == time.UTC {
				return v.Format(time.DateOnly), nil
			}
			return v.Format(time.RFC3339Nano), nil
		}
		return nil, bad
	case reflect.Int, reflect.Int64:
		switch v := data.(type) {
		case int:
			return v, nil
		case int64:
			return int(v), nil
		case uint64:
			if v <= math.MaxInt64 {
				return int(v), nil
			}
		case float64:
			if v == math.Trunc(v) && v >= math.MinInt64 && v < math.MaxInt64 {
				return int(v), nil
			}
		}
		return nil, bad
	case reflect.Float64:
		switch v := data.(type) {
		case int:
			return float64(v), nil
		case int64:
			return float64(v), nil
		case uint64:
			return float64(v), nil
		case float64:
			if !math.IsInf(v, 0) && !math.IsNaN(v) {
				return v, nil
			}
		}
		return nil, bad
	case reflect.Bool:
		if _, ok := data.(bool); ok {
			return data, nil
		}
		return nil, bad
	case reflect.Slice:
		if from.Kind() == reflect.Slice {
			return data, nil
		}
		return nil, bad
	case reflect.Map, reflect.Struct:
		if from.Kind() == reflect.Map {
			return data, nil
		}
		return nil, bad
	}
	return data, nil
}
