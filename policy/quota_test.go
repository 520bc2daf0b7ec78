package policy

import (
	"errors"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/policy/keymat"
)

// quotaConfig has two consumers on different plans, a route with its own
// quota, a public route and a default quota.
func quotaConfig(extra string) string {
	return `{
	"consumers": [
		{"id": "gold-co", "quota": "gold-daily", "keys": [{"id": "g1", "sha256": "` + keymat.Hash("agk_gold") + `"}]},
		{"id": "free-co", "keys": [{"id": "f1", "sha256": "` + keymat.Hash("agk_free") + `"}]}
	],
	"routes": [
		{"name": "reports", "path": "/v1/reports", "quota": "reports-hourly"},
		{"name": "orders", "path": "/v1/orders"},
		{"name": "health", "path": "/healthz", "public": true}
	],
	"quotas": {
		"gold-daily": {"requests": 100000, "per": "day"},
		"free-minute": {"requests": 60, "per": "minute"},
		"reports-hourly": {"requests": 10, "per": "hour"},
		"yearly": {"requests": 4294967295, "per": "year"}
	},
	"default_quota": "free-minute"` + extra + `
}`
}

func TestQuotaAssignment(t *testing.T) {
	p := mustCompile(t, quotaConfig(""))
	cases := []struct {
		path, key, want string
	}{
		{"/v1/orders", "agk_gold", "gold-daily"},      // the consumer's plan
		{"/v1/orders", "agk_free", "free-minute"},     // default_quota
		{"/v1/reports", "agk_gold", "reports-hourly"}, // the route's quota wins
		{"/v1/reports", "agk_free", "reports-hourly"}, // for every consumer
		{"/healthz", "", ""},                          // public: no consumer, no quota
		{"/healthz", "agk_gold", ""},                  // a key on a public route is ignored
		{"/v1/unknown", "agk_gold", ""},               // denied (no_route): nothing to count
		{"/v1/orders", "agk_nope", ""},                // denied (unknown key)
	}
	for _, c := range cases {
		var r Request
		if c.key == "" {
			r = get(c.path)
		} else {
			r = get(c.path, "x-api-key", c.key)
		}
		d := p.Decide(r)
		got := ""
		if d.RateLimit.Quota != nil {
			got = d.RateLimit.Quota.Name
		}
		if got != c.want {
			t.Errorf("%s with %q: quota %q, want %q (decision %s)", c.path, c.key, got, c.want, d.Reason)
		}
		if d.RateLimit.Quota != nil && !d.Allow {
			t.Errorf("%s with %q: a denial names quota %q", c.path, c.key, got)
		}
	}
	qs := p.Quotas()
	var names []string
	for _, q := range qs {
		names = append(names, q.Name+"="+q.Per)
	}
	if got, want := strings.Join(names, " "), "free-minute=minute gold-daily=day reports-hourly=hour yearly=year"; got != want {
		t.Errorf("Quotas() = %s, want %s", got, want)
	}
	if qs[1].Requests != 100000 || qs[3].Requests != 1<<32-1 {
		t.Errorf("requests: %+v %+v", qs[1], qs[3])
	}
	if p.QuotaHeader() != "x-apiguard-quota" {
		t.Errorf("QuotaHeader() = %q", p.QuotaHeader())
	}
}

func TestQuotaHeaderName(t *testing.T) {
	p := mustCompile(t, quotaConfig(`, "forward": {"quota_header": "X-Plan"}`))
	if p.QuotaHeader() != "x-plan" {
		t.Errorf("QuotaHeader() = %q", p.QuotaHeader())
	}
	if d := p.Decide(get("/v1/orders", "x-api-key", "agk_gold")); !d.Allow || d.RateLimit.Quota == nil || d.RateLimit.Quota.Name != "gold-daily" {
		t.Errorf("decision %+v", d)
	}
}

func TestQuotaWithoutQuotas(t *testing.T) {
	p := mustCompile(t, `{"consumers": [{"id": "a", "keys": [{"id": "k", "sha256": "`+keymat.Hash("agk_a")+`"}]}]}`)
	d := p.Decide(get("/x", "x-api-key", "agk_a"))
	if d.RateLimit.Quota != nil || len(p.Quotas()) != 0 {
		t.Errorf("quota %+v, quotas %v", d.RateLimit.Quota, p.Quotas())
	}
}

func TestQuotaConfigErrors(t *testing.T) {
	cases := []struct {
		config string
		want   []string
	}{
		{`{"quotas": {"q": {"requests": 0, "per": "day"}}}`, []string{"quotas.q.requests: must be between 1 and 4294967295, got 0"}},
		{`{"quotas": {"q": {"requests": 4294967296, "per": "day"}}}`, []string{"quotas.q.requests: must be between 1 and 4294967295"}},
		{`{"quotas": {"q": {"requests": 5, "per": "1d"}}}`, []string{`quotas.q.per: must be one of "second", "minute", "hour", "day", "week", "month", "year", got "1d"`}},
		{`{"quotas": {"q": {"per": "day"}}}`, []string{"quotas.q.requests: is required"}},
		{`{"quotas": {"q": {"requests": 5}}}`, []string{"quotas.q.per: is required"}},
		{`{"quotas": {"q": {"requests": 5, "per": "day", "burst": 3}}}`, []string{"quotas.q.burst: unknown field"}},
		{`{"quotas": {"a b": {"requests": 5, "per": "day"}}}`, []string{`quotas["a b"]: quota name must be`}},
		{`{"quotas": []}`, []string{"quotas: must be an object, got array"}},
		{`{"default_quota": "nope"}`, []string{`default_quota: unknown quota "nope"`}},
		{`{"consumers": [{"id": "a", "quota": "nope", "keys": []}]}`, []string{`consumers[0].quota: unknown quota "nope"`}},
		{`{"routes": [{"name": "r", "path": "/r", "quota": "nope"}]}`, []string{`routes[0].quota: unknown quota "nope"`}},
		{`{"quotas": {"q": {"requests": 5, "per": "day"}}, "routes": [{"name": "h", "path": "/h", "public": true, "quota": "q"}]}`,
			[]string{"routes[0].quota: is not allowed on a public route"}},
		{`{"forward": {"quota_header": "x-apiguard-consumer"}}`, []string{`forward.quota_header: must differ from consumer_header ("x-apiguard-consumer")`}},
		{`{"forward": {"consumer_header": "x-apiguard-quota"}}`, []string{`forward.quota_header: must differ from consumer_header ("x-apiguard-quota")`}},
		{`{"forward": {"quota_header": "x-api-key"}}`, []string{`forward.quota_header: must differ from the key source header "x-api-key"`}},
		{`{"forward": {"quota_header": "bad header"}}`, []string{`forward.quota_header: must be a valid header name`}},
	}
	for _, c := range cases {
		_, err := Compile([]byte(c.config))
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("%s: err = %v, want a ConfigError", c.config, err)
			continue
		}
		for _, w := range c.want {
			found := false
			for _, fe := range ce.Errors {
				if strings.HasPrefix(fe.Error(), w) {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: no error starting %q in %v", c.config, w, ce.Errors)
			}
		}
	}
}

func TestQuotaUnusedWarning(t *testing.T) {
	p := mustCompile(t, `{"quotas": {"used": {"requests": 1, "per": "day"}, "spare": {"requests": 1, "per": "day"}}, "default_quota": "used"}`)
	var got []string
	for _, w := range p.Warnings() {
		got = append(got, w.Error())
	}
	want := `quotas.spare: quota "spare" is not used by any route, consumer or default_quota`
	if len(got) != 1 || got[0] != want {
		t.Errorf("warnings %q, want [%q]", got, want)
	}
	if w := mustCompile(t, quotaConfig("")).Warnings(); len(w) != 1 || w[0].Path != "quotas.yearly" {
		t.Errorf("quotaConfig warnings: %v, want one for quotas.yearly", w)
	}
}
