package sim

import (
	"net"
	"net/http"
	"time"
)

// drainWait bounds how long a reset waits for data already written to reach
// the client, so that "N chunks then a reset" holds off loopback too.
const drainWait = 250 * time.Millisecond

// reset ends the exchange with a TCP reset: it hijacks the connection and
// closes it with SO_LINGER 0, which sends RST instead of FIN, so the client
// sees "connection reset by peer" rather than a clean end of body.
func (s *Sim) reset(x *exchange) {
	conn, _, err := x.rc.Hijack()
	if err != nil {
		// HTTP/2 or a test recorder cannot be hijacked; aborting the handler
		// is the nearest thing (the server drops the stream or connection).
		panic(http.ErrAbortHandler)
	}
	x.w.hijacked = true
	if tc, ok := conn.(*net.TCPConn); ok {
		waitSent(x.r.Context(), tc, drainWait)
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// closeConn ends the exchange by closing the TCP connection cleanly (FIN)
// where it stands: a chunked body gets no terminating chunk and a
// Content-Length body stays short, so the client sees an unexpected EOF
// rather than a reset.
func (s *Sim) closeConn(x *exchange) {
	_ = x.rc.Flush()
	conn, _, err := x.rc.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	x.w.hijacked, x.w.closed = true, true
	_ = conn.Close()
}
