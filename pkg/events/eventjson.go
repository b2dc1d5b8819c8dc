package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"

	"github.com/keeptrusts/gateway/pkg/jsonw"
)

// appendJSON appends e's JSON to dst, byte for byte what encoding/json
// makes of the Event (through MarshalJSON, without HTML escaping). Every
// request's event is encoded once on the writer's goroutine; encoding/json
// spent most of that time on reflection and on re-scanning MarshalJSON's
// output, a third of the whole insert. The fields are written in struct
// order with the same omitempty rules; TestAppendJSONMatchesReflection and
// FuzzAppendJSON hold it to encoding/json's output, so a field added to
// Event without a line here fails them.
func appendJSON(dst []byte, e *Event) ([]byte, error) {
	var err error
	dst = append(dst, `{"id":`...)
	dst = jsonw.AppendString(dst, e.ID)
	dst = append(dst, `,"timestamp":"`...)
	if dst, err = e.Timestamp.AppendText(dst); err != nil {
		return nil, fmt.Errorf("marshal event: timestamp: %w", err)
	}
	dst = append(dst, `","request_id":`...)
	dst = jsonw.AppendString(dst, e.RequestID)
	dst = append(dst, `,"endpoint":`...)
	dst = jsonw.AppendString(dst, e.Endpoint)
	if e.ResponseID != "" {
		dst = append(dst, `,"response_id":`...)
		dst = jsonw.AppendString(dst, e.ResponseID)
	}
	if e.Team != "" {
		dst = append(dst, `,"team":`...)
		dst = jsonw.AppendString(dst, e.Team)
	}
	if e.KeyName != "" {
		dst = append(dst, `,"key_name":`...)
		dst = jsonw.AppendString(dst, e.KeyName)
	}
	if e.TraceID != "" {
		dst = append(dst, `,"trace_id":`...)
		dst = jsonw.AppendString(dst, e.TraceID)
	}
	dst = append(dst, `,"provider":`...)
	dst = jsonw.AppendString(dst, e.Provider)
	dst = append(dst, `,"model":`...)
	dst = jsonw.AppendString(dst, e.Model)
	dst = append(dst, `,"requested_model":`...)
	dst = jsonw.AppendString(dst, e.RequestedModel)
	if e.Route != "" {
		dst = append(dst, `,"route":`...)
		dst = jsonw.AppendString(dst, e.Route)
	}
	dst = append(dst, `,"status":`...)
	dst = strconv.AppendInt(dst, int64(e.Status), 10)
	dst = append(dst, `,"latency_ms":`...)
	if dst, err = appendJSONFloat(dst, e.LatencyMS); err != nil {
		return nil, err
	}
	dst = append(dst, `,"gateway_latency_ms":`...)
	if dst, err = appendJSONFloat(dst, e.GatewayLatencyMS); err != nil {
		return nil, err
	}
	dst = append(dst, `,"stream":`...)
	dst = strconv.AppendBool(dst, e.Stream)

	dst = append(dst, `,"failover":{"triggered":`...)
	dst = strconv.AppendBool(dst, e.Failover.Triggered)
	if e.Failover.OriginalProvider != "" {
		dst = append(dst, `,"original_provider":`...)
		dst = jsonw.AppendString(dst, e.Failover.OriginalProvider)
	}
	if e.Failover.Reason != "" {
		dst = append(dst, `,"reason":`...)
		dst = jsonw.AppendString(dst, e.Failover.Reason)
	}

	// Never null: see MarshalJSON.
	dst = append(dst, `},"attempts":[`...)
	for i := range e.Attempts {
		a := &e.Attempts[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"target":`...)
		dst = jsonw.AppendString(dst, a.Target)
		dst = append(dst, `,"model":`...)
		dst = jsonw.AppendString(dst, a.Model)
		dst = append(dst, `,"outcome":`...)
		dst = jsonw.AppendString(dst, a.Outcome)
		if a.Status != 0 {
			dst = append(dst, `,"status":`...)
			dst = strconv.AppendInt(dst, int64(a.Status), 10)
		}
		if a.Skipped {
			dst = append(dst, `,"skipped":true`...)
		}
		if a.Retry != 0 {
			dst = append(dst, `,"retry":`...)
			dst = strconv.AppendInt(dst, int64(a.Retry), 10)
		}
		dst = append(dst, `,"duration_ms":`...)
		if dst, err = appendJSONFloat(dst, a.DurationMS); err != nil {
			return nil, err
		}
		if len(a.DroppedParams) > 0 {
			dst = append(dst, `,"dropped_params":`...)
			dst = jsonw.AppendStrings(dst, a.DroppedParams)
		}
		if len(a.MappedParams) > 0 {
			dst = append(dst, `,"mapped_params":`...)
			dst = jsonw.AppendStrings(dst, a.MappedParams)
		}
		dst = append(dst, '}')
	}

	dst = append(dst, ']')
	if len(e.DroppedParams) > 0 {
		dst = append(dst, `,"dropped_params":`...)
		dst = jsonw.AppendStrings(dst, e.DroppedParams)
	}
	if len(e.MappedParams) > 0 {
		dst = append(dst, `,"mapped_params":`...)
		dst = jsonw.AppendStrings(dst, e.MappedParams)
	}
	u := &e.Usage
	dst = append(dst, `,"usage":{"input_tokens":`...)
	dst = strconv.AppendInt(dst, u.InputTokens, 10)
	dst = append(dst, `,"output_tokens":`...)
	dst = strconv.AppendInt(dst, u.OutputTokens, 10)
	dst = append(dst, `,"total_tokens":`...)
	dst = strconv.AppendInt(dst, u.TotalTokens, 10)
	if u.CacheReadTokens != 0 {
		dst = append(dst, `,"cache_read_tokens":`...)
		dst = strconv.AppendInt(dst, u.CacheReadTokens, 10)
	}
	if u.CacheCreationTokens != 0 {
		dst = append(dst, `,"cache_creation_tokens":`...)
		dst = strconv.AppendInt(dst, u.CacheCreationTokens, 10)
	}
	dst = append(dst, `},"cost_usd":`...)
	if dst, err = appendJSONFloat(dst, e.CostUSD); err != nil {
		return nil, err
	}

	if len(e.Policies) > 0 {
		dst = append(dst, `,"policies":[`...)
		for i := range e.Policies {
			p := &e.Policies[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"name":`...)
			dst = jsonw.AppendString(dst, p.Name)
			dst = append(dst, `,"type":`...)
			dst = jsonw.AppendString(dst, p.Type)
			dst = append(dst, `,"action":`...)
			dst = jsonw.AppendString(dst, p.Action)
			dst = append(dst, `,"outcome":`...)
			dst = jsonw.AppendString(dst, p.Outcome)
			if len(p.Categories) > 0 {
				dst = append(dst, `,"categories":`...)
				dst = jsonw.AppendStrings(dst, p.Categories)
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if e.Error != "" {
		dst = append(dst, `,"error":`...)
		dst = jsonw.AppendString(dst, e.Error)
	}
	if len(e.RequestBody) > 0 {
		dst = append(dst, `,"request_body":`...)
		dst = appendJSONBody(dst, e.RequestBody)
	}
	if len(e.ResponseBody) > 0 {
		dst = append(dst, `,"response_body":`...)
		dst = appendJSONBody(dst, e.ResponseBody)
	}
	if m := e.Midstream; m != nil {
		dst = append(dst, `,"midstream":{"from":`...)
		dst = jsonw.AppendString(dst, m.From)
		if m.To != "" {
			dst = append(dst, `,"to":`...)
			dst = jsonw.AppendString(dst, m.To)
		}
		dst = append(dst, `,"chars":`...)
		dst = strconv.AppendInt(dst, int64(m.Chars), 10)
		dst = append(dst, `,"interruption":`...)
		dst = jsonw.AppendString(dst, m.Interruption)
		dst = append(dst, `,"outcome":`...)
		dst = jsonw.AppendString(dst, m.Outcome)
		dst = append(dst, '}')
	}
	return append(dst, '}'), nil
}

// appendJSONBody appends a body compacted, as encoding/json does with a
// RawMessage, or as a string when it is not valid JSON (see validJSON).
func appendJSONBody(dst []byte, b json.RawMessage) []byte {
	buf := bytes.NewBuffer(dst)
	// Compact validates as it goes and leaves buf as it was on an error,
	// so a valid body (the usual case) is scanned once.
	if json.Compact(buf, b) == nil {
		return buf.Bytes()
	}
	return append(dst, validJSON(b)...)
}

// appendJSONFloat is encoding/json's float64 encoding: shortest
// representation, exponent form only outside [1e-6, 1e21), e-09 written
// e-9. NaN and infinities are an error, as they are there.
func appendJSONFloat(dst []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, fmt.Errorf("marshal event: %w",
			&json.UnsupportedValueError{Value: reflect.ValueOf(f), Str: strconv.FormatFloat(f, 'g', -1, 64)})
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, nil
}
