package sim_test

import (
	"context"
	"fmt"

	"github.com/keeptrusts/gateway/pkg/sim"
)

// A failover drill: an OpenAI-shaped primary that fails its next three chat
// requests with 503, then recovers.
func ExampleStart() {
	s := sim.New(sim.Options{Kind: sim.KindOpenAI, ExpectKey: "sk-test"})
	srv, err := sim.Start(context.Background(), "127.0.0.1:0", "127.0.0.1:0", s)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	f, err := sim.ParseFault("error:503,count=3")
	if err != nil {
		fmt.Println(err)
		return
	}
	s.SetFault(f)
	fmt.Println("gateway base_url:", srv.BaseURL())
	fmt.Println("admin API:", srv.AdminURL()+"/fault")
}
