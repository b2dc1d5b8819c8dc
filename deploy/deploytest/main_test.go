package deploytest

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind (the e2e waits on
// the processes it starts).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
