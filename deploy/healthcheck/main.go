// Command healthcheck is the container healthcheck of the gateway image: the
// runtime image has no shell, curl or wget, so docker-compose.yaml's
// healthchecks run this static binary instead. It GETs each URL given and
// exits 0 when every answer is a 2xx, 1 otherwise.
//
//	healthcheck http://127.0.0.1:41002/readyz
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := run(ctx, http.DefaultClient, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		cancel()
		os.Exit(1)
	}
}

// run checks every URL in turn and returns the first failure.
func run(ctx context.Context, client *http.Client, urls []string) error {
	if len(urls) == 0 {
		return errors.New("usage: healthcheck URL [URL]")
	}
	for _, u := range urls {
		if err := check(ctx, client, u); err != nil {
			return err
		}
	}
	return nil
}

// check GETs url and wants a 2xx.
func check(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("check %s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("check %s: %w", url, err)
	}
	// Drained so the connection closes cleanly; bounded in case the
	// endpoint streams.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("check %s: status %d", url, resp.StatusCode)
	}
	return nil
}
