package replay

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/apiguard/apiguard/internal/accesslog"
	"github.com/apiguard/apiguard/internal/driver"
	"github.com/apiguard/apiguard/internal/metricname"
	"github.com/apiguard/apiguard/policy"
)

// clientPort is the source port every replayed request comes from.
const clientPort = 50000

// defaultAuthority is the :authority of requests that record none.
const defaultAuthority = "api.example.com"

// A Result is what the filter did with one request. Its strings never
// contain a resolved key.
type Result struct {
	Line     int       `json:"line"`
	Method   string    `json:"method"`
	Path     string    `json:"path"`
	Note     string    `json:"note,omitempty"`
	At       time.Time `json:"at"`
	ClientIP string    `json:"client_ip"`
	Outcome
	// Consumer and KeyID identify the accepted key, as the filter logged
	// them (also set for insufficient_scope and rate_limited).
	Consumer string `json:"consumer,omitempty"`
	KeyID    string `json:"key_id,omitempty"`
	// RetryAfter is the Retry-After header of a 429.
	RetryAfter string `json:"retry_after,omitempty"`
}

// Outcome is the part of a Result that a baseline comparison looks at
// (Decision, Status, Reason), and the route the request matched.
type Outcome struct {
	// Decision is what the filter did; in JSON its word ("allow",
	// "deny", "shadow_deny").
	Decision policy.Outcome `json:"decision"`
	// Status is the status the filter answered with, 200 when it forwarded
	// the request, or the status it would have answered with in shadow mode.
	Status int `json:"status"`
	// Reason is the filter's reason code (see package policy), or
	// policy.ReasonInternalError.
	Reason string `json:"reason"`
	// Route is the name of the route matched, "" for none.
	Route string `json:"route,omitempty"`
	// UpstreamPath is the :path forwarded upstream, for forwarded requests.
	UpstreamPath string `json:"upstream_path,omitempty"`
	// UpstreamIdentity holds the identity headers forwarded upstream (by
	// name), for forwarded requests that carried any.
	UpstreamIdentity map[string]string `json:"upstream_identity,omitempty"`
}

// Report is the result of one run.
type Report struct {
	// Shadow reports whether the configuration runs in shadow mode.
	Shadow  bool
	Results []Result
	// Counts counts the results by reason.
	Counts map[string]int
	// Counters are the filter's apiguard.decision.<reason> counters after
	// the run, by reason.
	Counters map[string]uint64
	// Inconsistencies lists disagreements between the filter's response,
	// its decision log line and its counters. There should be none.
	Inconsistencies []string
}

// Options tunes Run.
type Options struct {
	// Config is the plugin configuration (JSON).
	Config []byte
	// Keys redacts keys from the report; use the Keys the requests were
	// parsed with.
	Keys Keys
	// Progress, when set, is called after each request.
	Progress func(done, total int)
	// KeySnapshot is the key snapshot (apiguard keys build) a configuration
	// with a key_store serves: Run answers the filter's fetches on the
	// key_store's cluster with it and waits until the filter has loaded it
	// before the first request. It is not used without a key_store, and
	// is required with one (ErrNoKeySnapshot).
	KeySnapshot []byte
}

// Run starts the filter on vm with opts.Config in a fresh host emulator
// (with a key_store, has it load opts.KeySnapshot first) and sends it reqs
// in order, each with its time (the request.time property) and client
// address (source.address). The emulator's shared data, and with it the
// rate-limit buckets, last for the run.
//
// The decision of each request is read from what the emulator saw: a local
// response (its status and the reason at the end of the problem type) or a
// forwarded request (its :path and identity headers). The filter's decision
// log line, which Run turns on for allowed requests too, gives the route and
// is checked against it, as are the filter's counters at the end.
//
// Run holds the process-wide emulator until it returns. An error means the
// run could not be done: the filter refused the configuration or trapped.
func Run(vm types.VMContext, reqs []Request, opts Options) (rep *Report, err error) {
	ci := readConfigInfo(opts.Config)
	if ci.keyStoreCluster != "" && opts.KeySnapshot == nil {
		return nil, ErrNoKeySnapshot
	}
	line := 0
	defer func() {
		if r := recover(); r != nil {
			where := "starting"
			if line > 0 {
				where = "on the request of line " + strconv.Itoa(line)
			}
			err = fmt.Errorf("the filter failed %s: %v", where, r)
		}
	}()

	start := time.Now()
	if len(reqs) > 0 {
		start = reqs[0].At
	}
	c := driver.Config{Configuration: withLogAllowed(opts.Config),
		Properties: map[string][]byte{"request.time": driver.TimeProperty(start)}}
	if ci.keyStoreCluster != "" {
		c.Clusters = map[string]http.Handler{ci.keyStoreCluster: newSnapshotStore(opts.KeySnapshot)}
	}
	host, err := driver.StartEmulator(vm, c)
	if err != nil {
		return nil, err
	}
	defer host.Close()
	if host.Failed() {
		msg := "the filter refused the configuration"
		if logs := host.Logs(driver.LogCritical); len(logs) > 0 {
			msg += ":\n  " + strings.Join(logs, "\n  ")
		}
		return nil, errors.New(msg)
	}
	if ci.keyStoreCluster != "" {
		if err := loadKeySnapshot(host, opts.KeySnapshot); err != nil {
			return nil, err
		}
	}

	rep = &Report{Shadow: ci.shadow, Counts: make(map[string]int), Counters: make(map[string]uint64)}
	for i, req := range reqs {
		line = req.Line
		res, problems, err := replayOne(host, req, ci, opts.Keys)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", req.Line, err)
		}
		for _, p := range problems {
			rep.Inconsistencies = append(rep.Inconsistencies, fmt.Sprintf("line %d: %s", req.Line, p))
		}
		rep.Results = append(rep.Results, res)
		rep.Counts[res.Reason]++
		if opts.Progress != nil {
			opts.Progress(i+1, len(reqs))
		}
	}
	line = 0
	rep.checkCounters(host)
	return rep, nil
}

// replayOne sends one request and reads its outcome, with any
// inconsistencies found on the way.
func replayOne(host driver.Env, req Request, ci configInfo, keys Keys) (Result, []string, error) {
	if err := setTime(host, req.At); err != nil {
		return Result{}, nil, err
	}
	src := netip.AddrPortFrom(req.ClientIP, clientPort).String()
	if err := host.SetProperty("source.address", []byte(src)); err != nil {
		return Result{}, nil, fmt.Errorf("setting source.address: %w", err)
	}
	headers := requestHeaders(req)
	infoBefore, warnBefore := len(host.Logs(driver.LogInfo)), len(host.Logs(driver.LogWarn))

	out, err := host.Do(driver.Request{Headers: headers})
	if err != nil {
		return Result{}, nil, err
	}
	action, local, upstream := out.Action, out.Local, out.Upstream

	res := Result{
		Line:     req.Line,
		Method:   req.Method,
		Path:     ci.redactQuery(keys.redact(req.Path)),
		Note:     req.Note,
		At:       req.At,
		ClientIP: req.ClientIP.String(),
	}
	var problems []string
	logged := findDecisionLog(host.Logs(driver.LogInfo)[infoBefore:], host.Logs(driver.LogWarn)[warnBefore:])
	if local != nil {
		res.Decision, res.Status = policy.OutcomeDeny, local.Status
		res.Reason = problemReason(local.Body)
		if res.Reason == "" {
			problems = append(problems, fmt.Sprintf("the %d response has no problem type", local.Status))
		}
		res.RetryAfter, _ = header(local.Headers, "retry-after")
		if action != types.ActionPause {
			problems = append(problems, fmt.Sprintf("the filter answered %d but returned action %v", local.Status, action))
		}
	} else {
		if action != types.ActionContinue {
			problems = append(problems, fmt.Sprintf("the filter neither answered nor continued (action %v)", action))
		}
		p, _ := header(upstream, ":path")
		res.UpstreamPath = ci.redactQuery(keys.redact(p))
		for _, name := range []string{ci.consumerHeader, ci.keyIDHeader, ci.scopesHeader} {
			if v, ok := header(upstream, name); ok {
				if res.UpstreamIdentity == nil {
					res.UpstreamIdentity = map[string]string{}
				}
				res.UpstreamIdentity[name] = v
			}
		}
		res.Decision, res.Status, res.Reason = policy.OutcomeAllow, 200, string(policy.ReasonAllowed)
		if logged != nil && logged.Decision == policy.OutcomeShadowDeny {
			res.Decision, res.Status, res.Reason = policy.OutcomeShadowDeny, logged.Status, string(logged.Reason)
		}
	}

	switch {
	case logged != nil:
		res.Route, res.Consumer, res.KeyID = logged.Route, logged.Consumer, logged.KeyID
		if string(logged.Reason) != res.Reason || logged.Status != res.Status {
			problems = append(problems, fmt.Sprintf("the filter logged %s %d but its response says %s %d",
				logged.Reason, logged.Status, res.Reason, res.Status))
		}
		if res.Decision == policy.OutcomeAllow && !ci.shadow {
			for _, h := range [][2]string{{ci.consumerHeader, logged.Consumer}, {ci.keyIDHeader, logged.KeyID}} {
				if got, _ := header(upstream, h[0]); got != h[1] {
					problems = append(problems, fmt.Sprintf("upstream %s is %q, the filter logged %q", h[0], got, h[1]))
				}
			}
		}
	case res.Reason != string(policy.ReasonInternalError):
		problems = append(problems, "the filter logged no decision")
	}
	return res, problems, nil
}

// requestHeaders returns the headers the filter sees for req.
func requestHeaders(req Request) [][2]string {
	hs := make([][2]string, 0, 5+len(req.headers))
	hs = append(hs, [2]string{":method", req.Method}, [2]string{":path", req.path}, [2]string{":scheme", "http"})
	if _, ok := header(req.headers, ":authority"); !ok {
		hs = append(hs, [2]string{":authority", defaultAuthority})
	}
	hs = append(hs, req.headers...)
	if _, ok := header(req.headers, "x-request-id"); !ok {
		hs = append(hs, [2]string{"x-request-id", "replay-line-" + strconv.Itoa(req.Line)})
	}
	return hs
}

// checkCounters compares the filter's per-reason counters with the
// outcomes seen.
func (rep *Report) checkCounters(host driver.Env) {
	for _, r := range policy.Reasons() {
		name := metricname.Decision(r)
		n, err := host.Counter(name)
		if err != nil {
			rep.Inconsistencies = append(rep.Inconsistencies, fmt.Sprintf("counter %s: %v", name, err))
			continue
		}
		rep.Counters[string(r)] = n
		if n != uint64(rep.Counts[string(r)]) {
			rep.Inconsistencies = append(rep.Inconsistencies, fmt.Sprintf(
				"counter %s is %d, but %d responses had that reason", name, n, rep.Counts[string(r)]))
		}
	}
}

func setTime(host driver.Env, at time.Time) error {
	if err := host.SetProperty("request.time", driver.TimeProperty(at)); err != nil {
		return fmt.Errorf("setting request.time: %w", err)
	}
	return nil
}

// findDecisionLog returns the last decision log line among lines, or nil.
func findDecisionLog(lines ...[]string) *accesslog.Record {
	var found *accesslog.Record
	for _, ls := range lines {
		for _, l := range ls {
			if !strings.HasPrefix(l, "{") {
				continue
			}
			if r, err := accesslog.Parse([]byte(l)); err == nil {
				found = &r
			}
		}
	}
	return found
}

// problemReason returns the reason at the end of an RFC 9457 problem's type
// URI, or "".
func problemReason(body []byte) string {
	var p struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(body, &p) != nil {
		return ""
	}
	i := strings.LastIndexByte(p.Type, '/')
	return p.Type[i+1:]
}

// header returns the first value of name in hs.
func header(hs [][2]string, name string) (string, bool) {
	for _, h := range hs {
		if strings.EqualFold(h[0], name) {
			return h[1], true
		}
	}
	return "", false
}
