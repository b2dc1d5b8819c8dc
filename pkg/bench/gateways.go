package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// startGateways writes, lints and starts every kt the selected scenarios
// need. A variant whose config does not lint is skipped with the reason.
func (b *bench) startGateways(ctx context.Context, cpu int, needMain bool, variants []variantDef) error {
	upstream := b.up.url + "/v1"
	on, off := true, false
	mainCfg := ktConfig{upstream: upstream, events: &on, eventsPath: filepath.Join(b.work, "events-kt.db")}
	eventsErr := b.lint(ctx, targetKt, mainCfg)
	if eventsErr != nil {
		// This kt has no events section (yet): run it as it ships.
		b.logf("events section does not lint, main kt runs without it: %v", eventsErr)
		mainCfg.events = nil
		if err := b.lint(ctx, targetKt, mainCfg); err != nil {
			return fmt.Errorf("the base gateway config does not lint: %w", err)
		}
		b.rep.Notes = append(b.rep.Notes, "kt runs without an events section: "+eventsErr.Error())
	}
	type want struct {
		name string
		cfg  ktConfig
		env  []string
	}
	wants := map[string]*want{}
	need := func(name string, cfg ktConfig, env ...string) {
		if _, ok := wants[name]; !ok {
			wants[name] = &want{name: name, cfg: cfg, env: env}
		}
	}
	if needMain {
		need(targetKt, mainCfg)
	}
	for _, v := range variants {
		vr := VariantResult{Name: v.name, Title: v.title, Off: v.off, On: v.on, OffLabel: v.offLabel, OnLabel: v.onLabel}
		switch v.name {
		case ScenarioFailover:
			dead, err := freePort() // free a moment ago, nobody listens there
			if err != nil {
				return err
			}
			c := mainCfg
			c.dead = "http://127.0.0.1:" + strconv.Itoa(dead) + "/v1"
			c.eventsPath = filepath.Join(b.work, "events-"+targetKtFailover+".db")
			need(targetKtFailover, c)
		case ScenarioTelemetry, ScenarioTelemetrySampled:
			if b.sink == nil {
				b.sink = &otlpSink{}
				sv, err := startServer("127.0.0.1:0", b.sink)
				if err != nil {
					return fmt.Errorf("otlp sink: %w", err)
				}
				b.sinkSv = sv
			}
			name, env := targetKtOTel, []string(nil)
			if v.name == ScenarioTelemetrySampled {
				name, env = targetKtOTel10, []string{"OTEL_TRACES_SAMPLER=parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG=0.1"}
			}
			c := mainCfg
			c.eventsPath = filepath.Join(b.work, "events-"+name+".db")
			need(name, c, append(env,
				"OTEL_EXPORTER_OTLP_ENDPOINT="+b.sinkSv.url,
				"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
				"OTEL_TRACES_EXPORTER=otlp",
				"OTEL_METRICS_EXPORTER=otlp")...)
		case ScenarioMetrics:
			c := mainCfg
			c.prometheus = true
			c.eventsPath = filepath.Join(b.work, "events-"+targetKtMetrics+".db")
			need(targetKtMetrics, c)
		case ScenarioEvents:
			if eventsErr != nil {
				vr.Skipped = "events section does not lint: " + eventsErr.Error()
				break
			}
			c := mainCfg
			c.events = &off
			c.eventsPath = filepath.Join(b.work, "events-"+targetKtNoEvents+".db")
			need(targetKtNoEvents, c)
		case ScenarioContentFilter:
			c := mainCfg
			c.contentFilter = true
			c.eventsPath = filepath.Join(b.work, "events-"+targetKtCF+".db")
			need(targetKtCF, c)
		}
		b.rep.Variants = append(b.rep.Variants, vr)
	}
	if len(variants) > 0 {
		need(targetKt, mainCfg) // every variant but events compares against it
	}
	// Start in a fixed order so that runs are alike.
	for _, name := range ktTargets {
		w, ok := wants[name]
		if !ok {
			continue
		}
		if err := b.lint(ctx, name, w.cfg); err != nil {
			b.skipVariantsUsing(name, "config does not lint: "+err.Error())
			continue
		}
		if err := b.startKt(ctx, name, w.env, cpu); err != nil {
			return err
		}
	}
	if _, ok := b.targets[targetKtFailover]; ok {
		b.openBreaker(ctx)
	}
	return nil
}

// lint writes cfg as <name>.yaml and lints it.
func (b *bench) lint(ctx context.Context, name string, cfg ktConfig) error {
	p, err := writeConfig(b.work, name, cfg)
	if err != nil {
		return err
	}
	return lintConfig(ctx, b.kt, p, b.env)
}

func (b *bench) skipVariantsUsing(name, reason string) {
	for i := range b.rep.Variants {
		v := &b.rep.Variants[i]
		if v.Skipped == "" && (v.On == name || v.Off == name) {
			v.Skipped = reason
			b.logf("%s: skipped: %s", v.Name, reason)
		}
	}
}

// startKt starts `kt gateway run` on the config lint just wrote.
func (b *bench) startKt(ctx context.Context, name string, extraEnv []string, cpu int) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	u := "http://127.0.0.1:" + strconv.Itoa(port)
	c, err := b.start(ctx, childSpec{
		name: name,
		argv: []string{b.kt, "gateway", "run", "--policy-config", filepath.Join(b.work, name+".yaml"), "--port", strconv.Itoa(port)},
		env:  append(slices.Clone(b.env), extraEnv...),
		dir:  b.work,
		cpu:  cpu,
		// /readyz answers 200 once the first probe round is done.
		readyURL: u + "/readyz",
		url:      u,
	})
	if err != nil {
		return err
	}
	b.targets[name] = &target{name: name, url: u + chatPath, pid: c.pid, child: c}
	return nil
}

// openBreaker sends requests to the failover gateway until one reports that
// the dead primary was skipped because its circuit is open, so the measured
// requests all take the steady failover path.
func (b *bench) openBreaker(ctx context.Context) {
	t := b.targets[targetKtFailover]
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	const tries = 50
	for i := 1; i <= tries; i++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, strings.NewReader(chatBody))
		if err != nil {
			break
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.Header.Get("X-Keeptrusts-Failover-Reason") == "circuit_open" || bytes.Contains(body, []byte(`"circuit_open"`)) {
			b.noteVariant(ScenarioFailover, fmt.Sprintf("breaker open after %d warm-up requests", i))
			return
		}
	}
	b.noteVariant(ScenarioFailover, fmt.Sprintf("no request reported circuit_open within %d warm-up requests: the measured path may retry the dead primary", tries))
}

func (b *bench) noteVariant(name, note string) {
	for i := range b.rep.Variants {
		if b.rep.Variants[i].Name == name {
			b.rep.Variants[i].Notes = append(b.rep.Variants[i].Notes, note)
		}
	}
}

// variantTargets lists, in run order, the targets the variants not skipped
// need.
func (b *bench) variantTargets() []string {
	need := map[string]bool{}
	for _, v := range b.rep.Variants {
		if v.Skipped == "" {
			need[v.Off], need[v.On] = true, true
		}
	}
	var out []string
	for _, name := range ktTargets {
		if need[name] {
			out = append(out, name)
		}
	}
	return out
}

// finishVariants adds what the run learned about each variant.
func (b *bench) finishVariants() {
	for i := range b.rep.Variants {
		v := &b.rep.Variants[i]
		if v.Skipped != "" {
			continue
		}
		switch v.Name {
		case ScenarioTelemetry, ScenarioTelemetrySampled:
			// One sink serves both variants: its totals are theirs together.
			n, kib := b.sink.posts.Load(), b.sink.bytes.Load()/1024
			if n == 0 {
				v.Notes = append(v.Notes, "the sink received no export: this kt does not export yet, so on = off")
			} else {
				v.Notes = append(v.Notes, fmt.Sprintf("the sink received %d exports (%d KiB)", n, kib))
			}
		case ScenarioEvents:
			if fi, err := os.Stat(filepath.Join(b.work, "events-kt.db")); err == nil {
				v.Notes = append(v.Notes, fmt.Sprintf("events-kt.db is %d KiB after the run", fi.Size()/1024))
			} else {
				v.Notes = append(v.Notes, "no events-kt.db was written: events may not be recorded yet")
			}
		}
	}
}
