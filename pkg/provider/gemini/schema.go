package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"

	"github.com/tidwall/gjson"
)

// Gemini's Schema is a subset of OpenAPI 3.0's, not JSON Schema: it
// rejects keys it does not know. cleanSchema keeps what it takes and
// rewrites what it can:
//   - type is upper-cased (OBJECT, STRING, ...); a type list such as
//     ["string","null"] becomes the one type plus nullable: true;
//   - const becomes a one-value enum, oneOf becomes anyOf;
//   - local references ($ref to #/$defs/... or #/definitions/...) are
//     inlined; a schema nesting deeper than maxSchemaDepth (a recursive
//     one) or another reference is refused, naming the field;
//   - a response schema gets propertyOrdering in the order the client wrote
//     its properties (Gemini otherwise orders them alphabetically);
//   - every other key is dropped: additionalProperties, $schema, $id,
//     $defs, definitions, allOf, not, patternProperties, examples, strict,
//     readOnly, writeOnly, ...
//
// An empty top-level object schema (a tool without arguments) is left
// out: Gemini refuses an OBJECT without properties.

// maxSchemaDepth bounds nesting and $ref inlining.
const maxSchemaDepth = 32

// keptKeys are the Schema keys whose values are copied as they are.
var keptKeys = map[string]bool{
	"format": true, "title": true, "description": true, "nullable": true, "enum": true,
	"maxItems": true, "minItems": true, "required": true, "minProperties": true,
	"maxProperties": true, "minLength": true, "maxLength": true, "pattern": true,
	"example": true, "default": true, "minimum": true, "maximum": true,
}

var errSchemaDepth = errors.New("schema nests deeper than 32 levels")

// cleanSchema rewrites a JSON Schema into Gemini's Schema; nil for an
// absent or empty one.
func cleanSchema(raw json.RawMessage, ordering bool) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] != '{' || !gjson.ValidBytes(raw) {
		return nil, errors.New("schema must be a JSON object")
	}
	root := gjson.ParseBytes(raw)
	c := schemaCleaner{root: root, ordering: ordering}
	out, err := c.clean(root, 0)
	if err != nil {
		return nil, err
	}
	if !ordering {
		if props, ok := out["properties"].(map[string]any); !ok || len(props) == 0 {
			if t, _ := out["type"].(string); t == "OBJECT" || t == "" {
				return nil, nil
			}
		}
	}
	b, err := marshal(out)
	if err != nil {
		return nil, err
	}
	return b, nil
}

type schemaCleaner struct {
	root     gjson.Result
	ordering bool
}

func (c *schemaCleaner) clean(v gjson.Result, depth int) (map[string]any, error) {
	if depth > maxSchemaDepth {
		return nil, errSchemaDepth
	}
	out := map[string]any{}
	if !v.IsObject() {
		return out, nil
	}
	if ref := v.Get(`\$ref`); ref.Type == gjson.String {
		target, ok := c.resolve(ref.Str)
		if !ok {
			return nil, errors.New("$ref " + ref.Str + " is not a local reference to $defs or definitions")
		}
		return c.clean(target, depth+1)
	}
	var err error
	v.ForEach(func(k, val gjson.Result) bool {
		key := k.Str
		switch {
		case key == "type":
			typ, nullable := schemaType(val)
			if typ != "" {
				out["type"] = typ
			}
			if nullable {
				out["nullable"] = true
			}
		case key == "const":
			out["enum"] = []any{val.Value()}
		case key == "properties" && val.IsObject():
			props := map[string]any{}
			var order []string
			val.ForEach(func(pk, pv gjson.Result) bool {
				var s map[string]any
				if s, err = c.clean(pv, depth+1); err != nil {
					return false
				}
				props[pk.Str] = s
				order = append(order, pk.Str)
				return true
			})
			out["properties"] = props
			if c.ordering && len(order) > 1 {
				out["propertyOrdering"] = order
			}
		case key == "items" && val.IsObject():
			out["items"], err = c.clean(val, depth+1)
		case (key == "anyOf" || key == "oneOf") && val.IsArray():
			var alts []any
			val.ForEach(func(_, av gjson.Result) bool {
				var s map[string]any
				if s, err = c.clean(av, depth+1); err != nil {
					return false
				}
				alts = append(alts, s)
				return true
			})
			out["anyOf"] = alts
		case keptKeys[key]:
			out[key] = val.Value()
		}
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// resolve finds a local reference's target.
func (c *schemaCleaner) resolve(ref string) (gjson.Result, bool) {
	var p string
	switch {
	case strings.HasPrefix(ref, "#/$defs/"):
		p = `\$defs.` + escapePath(strings.TrimPrefix(ref, "#/$defs/"))
	case strings.HasPrefix(ref, "#/definitions/"):
		p = "definitions." + escapePath(strings.TrimPrefix(ref, "#/definitions/"))
	default:
		return gjson.Result{}, false
	}
	r := c.root.Get(p)
	return r, r.IsObject()
}

// escapePath escapes gjson's path syntax in one key.
func escapePath(k string) string {
	var b strings.Builder
	for _, r := range k {
		switch r {
		case '.', '*', '?', '|', '#', '@', '\\', '!', '=', '<', '>', '%':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// schemaType upper-cases a type, or picks the one non-null type of a list.
func schemaType(v gjson.Result) (typ string, nullable bool) {
	if v.Type == gjson.String {
		return strings.ToUpper(v.Str), false
	}
	if v.IsArray() {
		v.ForEach(func(_, t gjson.Result) bool {
			if t.Str == "null" {
				nullable = true
			} else if typ == "" && t.Type == gjson.String {
				typ = strings.ToUpper(t.Str)
			}
			return true
		})
	}
	return typ, nullable
}
