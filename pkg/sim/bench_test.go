package sim

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkChat measures a zero-latency round trip through a real listener,
// the simulator's cost when it stands in for a provider in gateway benchmarks.
func BenchmarkChat(b *testing.B) {
	for _, k := range kinds {
		for _, stream := range []bool{false, true} {
			name := string(k) + "/non-stream"
			if stream {
				name = string(k) + "/stream"
			}
			b.Run(name, func(b *testing.B) {
				srv, err := Start(context.Background(), "127.0.0.1:0", "", New(Options{Kind: k}))
				if err != nil {
					b.Fatal(err)
				}
				defer srv.Close()
				tr := &http.Transport{MaxIdleConnsPerHost: 64}
				defer tr.CloseIdleConnections()
				client := &http.Client{Transport: tr}
				body := validChat(k, stream)
				url := srv.URL() + chatPath(k)
				hdr := authHeaders(k, testKey)
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
						req.Header = hdr.Clone()
						resp, err := client.Do(req)
						if err != nil {
							b.Error(err)
							return
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != 200 {
							b.Errorf("status %d", resp.StatusCode)
							return
						}
					}
				})
			})
		}
	}
}
