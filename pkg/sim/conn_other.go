//go:build !linux

package sim

import (
	"context"
	"net"
	"time"
)

// waitSent cannot see the send queue on this platform; loopback delivery is
// immediate enough that a reset right after the last write keeps the data.
func waitSent(context.Context, *net.TCPConn, time.Duration) {}
