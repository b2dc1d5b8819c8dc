// Package limits enforces per-team rate limits and budgets for the gateway:
// requests per minute, tokens per minute, and a USD budget per UTC day and
// per UTC month. The rate limits are token buckets from golang.org/x/time/rate
// refilled continuously, with a full minute's worth usable at once.
//
// The gateway calls [Set.Admit] before routing a request and [Set.Charge]
// once the request ended, when its tokens and cost are known. Because usage
// is known only afterwards, a team with budget or token-bucket room left is
// admitted even if that one request then overshoots the limit; the next
// request is refused. Every method takes the current time explicitly, so
// callers (and tests) control the clock.
//
// # Replicas
//
// Limits and spend are state of one gateway process (single node). With N
// replicas each replica enforces its own buckets, so a team may reach N times
// its limits: divide the configured limits by N, or route each team to one
// replica with a sticky load balancer (for example hashing on the gateway
// key). Budgets are seeded from the local event store only ([Set.Seed]), so
// each replica sees only the spend it recorded itself. The plan for shared
// state is a shared store behind the same Set API: Redis with a GCRA limiter
// (such as go-redis/redis_rate) for the rate limits, and budgets summed from
// a shared event sink.
package limits
