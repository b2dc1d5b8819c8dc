package health

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// maxProbeBody bounds how much of a probe's answer is read; the body is only
// drained so the connection can be reused.
const maxProbeBody = 64 << 10

// Check performs one probe; nil means the target passed.
type Check func(ctx context.Context) error

// Probe pairs a target with its check.
type Probe struct {
	// Target receives the results.
	Target *Target
	// Check is the probe itself.
	Check Check
}

// HTTPCheck returns a Check that sends the request built by newReq with
// client and passes on a 2xx answer. The body is read through a limit and
// drained so the connection is reused; it is never logged (it may echo
// account details).
func HTTPCheck(client *http.Client, newReq func(ctx context.Context) (*http.Request, error)) Check {
	return func(ctx context.Context) error {
		req, err := newReq(ctx)
		if err != nil {
			return fmt.Errorf("build probe: %w", err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("probe: %w", err)
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxProbeBody))
		_ = resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return fmt.Errorf("probe: status %d", resp.StatusCode)
		}
		return nil
	}
}

// Checker runs one probing goroutine per target until its context ends.
type Checker struct {
	wg        sync.WaitGroup
	firstDone sync.WaitGroup
}

// StartChecker starts probing every target whose probe is enabled: the first
// probe at once, then every interval with ±10% jitter so that many gateways
// do not probe a provider in lockstep.
func StartChecker(ctx context.Context, probes []Probe) *Checker {
	c := &Checker{}
	for _, p := range probes {
		if !p.Target.probe.Enabled {
			continue
		}
		c.wg.Add(1)
		c.firstDone.Add(1)
		go c.run(ctx, p)
	}
	return c
}

// WaitFirstRound blocks until every target finished its first probe or ctx ends.
func (c *Checker) WaitFirstRound(ctx context.Context) {
	done := make(chan struct{})
	go func() { c.firstDone.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// Wait blocks until every probing goroutine has exited.
func (c *Checker) Wait() { c.wg.Wait() }

func (c *Checker) run(ctx context.Context, p Probe) {
	defer c.wg.Done()
	first := true
	markFirst := func() {
		if first {
			first = false
			c.firstDone.Done()
		}
	}
	defer markFirst()
	t := p.Target
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		probeOnce(ctx, p)
		markFirst()
		timer.Reset(jitter(t.probe.Interval))
	}
}

func probeOnce(ctx context.Context, p Probe) {
	t := p.Target
	timeout := t.probe.Timeout
	if timeout <= 0 {
		// A zero timeout would fail every probe at once.
		timeout = interval(t.probe.Interval)
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	err := safeCheck(pctx, p.Check)
	if ctx.Err() != nil {
		// Shutting down: a cancelled probe says nothing about the provider.
		return
	}
	t.RecordProbe(time.Now(), time.Since(start), err)
}

// safeCheck runs a check, turning a panic into a failed probe so that one bad
// target cannot take the checker down.
func safeCheck(ctx context.Context, check Check) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("probe panicked: %v", r)
		}
	}()
	return check(ctx)
}

// interval is the probe interval to use for a configured one: a second when
// it is not positive, rather than probing in a tight loop.
func interval(d time.Duration) time.Duration {
	if d <= 0 {
		return time.Second
	}
	return d
}

// jitter spreads d by ±10%.
func jitter(d time.Duration) time.Duration {
	d = interval(d)
	span := int64(d) / 5
	if span <= 0 {
		return d
	}
	return d - time.Duration(span/2) + time.Duration(rand.Int64N(span))
}
