package bench

import (
	"testing"
)

func TestGoPackage(t *testing.T) {
	tests := map[string]string{
		"github.com/keeptrusts/gateway/pkg/router.(*Router).Do": "github.com/keeptrusts/gateway/pkg/router",
		"runtime.mallocgc":                  "runtime",
		"internal/runtime/maps.(*Map).get":  "internal/runtime/maps",
		"encoding/json.sliceEncoder.encode": "encoding/json",
		"net/http.(*conn).serve.func1":      "net/http",
		"gopkg.in/yaml%2ev3.(*parser).node": "gopkg.in/yaml%2ev3",
		"__vdso_clock_gettime":              "",
		"gcWriteBarrier":                    "",
	}
	for sym, want := range tests {
		if got := goPackage(sym); got != want {
			t.Errorf("goPackage(%q) = %q, want %q", sym, got, want)
		}
	}
}

func TestSummarizePerf(t *testing.T) {
	report := `# Samples: 1K of event 'cpu-clock:ppp'
#
# Overhead  Symbol
# ........  ......
#
    30.00%  [k] _raw_spin_unlock_irqrestore                 -      -
    20.00%  [.] runtime.mallocgc                             -      -
    15.00%  [.] github.com/tidwall/gjson.validstring         -      -
    10.00%  [.] runtime.memmove                              -      -
     5.00%  [.] __vdso_clock_gettime                         -      -

not a line
`
	want := `kernel 30.0%, user 50.0%

top symbols (self):
 30.00%  [k] _raw_spin_unlock_irqrestore
 20.00%  [.] runtime.mallocgc

user time by package (self):
 30.00%  runtime
 15.00%  github.com/tidwall/gjson`
	if got := summarizePerf(report, 2, 2); got != want {
		t.Errorf("summarizePerf =\n%s\nwant\n%s", got, want)
	}
}
