package policy

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/keeptrusts/gateway/pkg/config"
	"github.com/keeptrusts/gateway/pkg/provider"
)

// prompt2KB is an ordinary support conversation of about 2 KB.
const systemPrompt = "You are a helpful assistant for an online store. Answer politely and briefly, cite the order number when you know it, and never invent tracking details. If the customer is upset, apologise once and offer a concrete next step."

const userPrompt = `Hi, I ordered a pair of running shoes last Tuesday (order 48213) and the tracking page still says the parcel is waiting at the depot. ` +
	`I paid for express delivery because I have a half marathon on Sunday and I wanted to break them in before the race. ` +
	`Could you check with the courier what is going on? I also noticed that the confirmation e-mail listed size 42 while I selected 43 on the product page; ` +
	`if the wrong size was shipped I would rather you cancel the parcel now and send the right one, even if that means paying the difference. ` +
	`Last time I contacted support the chat window closed before anyone answered, so please reply here with the options. ` +
	`By the way, the discount code SPRING10 did not apply at checkout although the banner on the home page said it was valid until the end of the month. ` +
	`Can the ten percent be refunded to my card? I am happy to send a screenshot of the banner and of the checkout page. ` +
	`One more question: do you sell the same model in a wide fit? My left foot is slightly wider and the regular fit pinched a little in the shop. ` +
	`If a wide fit exists, I would exchange the pair when it arrives instead of returning it, as long as the exchange does not reset the delivery time. ` +
	`Finally, your app kept logging me out every few minutes yesterday; I had to reinstall it twice. Is that a known problem? ` +
	`Thanks a lot for your help, and sorry for the long message, I just want to make sure everything is sorted before the weekend. ` +
	`I have been a customer for years and I usually love the service, so I am confident we can fix this quickly. Best regards, Sam.`

func benchBody(b *testing.B, user string) []byte {
	b.Helper()
	body, err := json.Marshal(map[string]any{
		"model": "gpt-4o-mini",
		"messages": []map[string]any{
			{"role": "system", "content": systemPrompt},
			{"role": "user", "content": user},
		},
		"temperature": 0.2,
	})
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// withHits puts three phrases that hit into the prompt.
func withHits(s string) string {
	s = strings.Replace(s, "Could you check", "I will kill you if you don't check", 1)
	s = strings.Replace(s, "Finally,", "you are worthless, and finally,", 1)
	return strings.Replace(s, "Best regards", "Heil Hitler, best regards", 1)
}

func BenchmarkEvaluateRequest2KB(b *testing.B) {
	tutorial := []config.Policy{pol("content-filter", "flag", "hate", "violence")}
	all := []config.Policy{pol("flag-all", "flag", allCategories...), pol("block-violence", "block", "violence")}
	redact := []config.Policy{pol("redact-all", "redact", allCategories...)}
	cases := []struct {
		name     string
		policies []config.Policy
		user     string
	}{
		{"clean/tutorial", tutorial, userPrompt},
		{"clean/all", all, userPrompt},
		{"clean/redact", redact, userPrompt},
		{"hits/tutorial", tutorial, withHits(userPrompt)},
		{"hits/all", all, withHits(userPrompt)},
		{"hits/redact", redact, withHits(userPrompt)},
	}
	for _, tc := range cases {
		e, err := New(tc.policies)
		if err != nil {
			b.Fatal(err)
		}
		body := benchBody(b, tc.user)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, _, _, err := e.EvaluateRequest(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkNormalize2KB(b *testing.B) {
	var nb normBuf
	b.SetBytes(int64(len(userPrompt)))
	b.ReportAllocs()
	for b.Loop() {
		nb.normalize(userPrompt, false)
	}
}

func BenchmarkNew(b *testing.B) {
	for _, tc := range []struct {
		name string
		cats []string
	}{{"tutorial", []string{"hate", "violence"}}, {"all", allCategories}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := New([]config.Policy{pol("p", "flag", tc.cats...)}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// apiBody is the 2 KB conversation of benchBody in api's wire format.
func apiBody(b *testing.B, api provider.API, user string) []byte {
	b.Helper()
	var v map[string]any
	switch api {
	case provider.APIMessages:
		v = map[string]any{"model": "claude-sonnet-4", "max_tokens": 512, "system": systemPrompt,
			"messages": []map[string]any{{"role": "user", "content": []map[string]any{{"type": "text", "text": user}}}}}
	case provider.APIResponses:
		v = map[string]any{"model": "gpt-4o-mini", "instructions": systemPrompt,
			"input": []map[string]any{{"role": "user", "content": []map[string]any{{"type": "input_text", "text": user}}}}}
	case provider.APIEmbeddings:
		v = map[string]any{"model": "text-embedding-3-small", "input": []string{systemPrompt, user}}
	case provider.APICompletions:
		v = map[string]any{"model": "gpt-3.5-turbo-instruct", "prompt": systemPrompt + "\n\n" + user}
	default:
		return benchBody(b, user)
	}
	body, err := json.Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	return body
}

func BenchmarkEvaluateRequestAPI2KB(b *testing.B) {
	tutorial := []config.Policy{pol("content-filter", "flag", "hate", "violence")}
	redact := []config.Policy{pol("redact-all", "redact", allCategories...)}
	for _, api := range []provider.API{provider.APIChat, provider.APIMessages, provider.APIResponses, provider.APIEmbeddings, provider.APICompletions} {
		for _, tc := range []struct {
			name     string
			policies []config.Policy
			user     string
		}{
			{"clean/tutorial", tutorial, userPrompt},
			{"hits/redact", redact, withHits(userPrompt)},
		} {
			e, err := New(tc.policies)
			if err != nil {
				b.Fatal(err)
			}
			body := apiBody(b, api, tc.user)
			b.Run(api.String()+"/"+tc.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(body)))
				for b.Loop() {
					if _, _, _, err := e.EvaluateRequestAPI(api, body); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
