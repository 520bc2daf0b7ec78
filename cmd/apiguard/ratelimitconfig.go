package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/apiguard/apiguard/internal/ratelimitconf"
	"github.com/apiguard/apiguard/policy"
)

var rateLimitConfigCmd = &command{
	name:     "ratelimit-config",
	synopsis: "ratelimit-config --config FILE [--format ratelimit|envoy-gateway] [--domain apiguard] [--gateway eg] [--namespace NS] [--out FILE]",
	summary:  "write the envoyproxy/ratelimit configuration for the quotas of a configuration",
	help: `
Ratelimit-config compiles the plugin configuration FILE (JSON, as the filter
would) and writes the configuration of the envoyproxy/ratelimit service for
its quotas: one descriptor per quota, keyed (` + ratelimitconf.DescriptorQuota + `, quota name),
with a nested (` + ratelimitconf.DescriptorConsumer + `) descriptor without a value, so that the
service counts each consumer of a quota apart. Envoy's ratelimit filter
builds the same descriptor from apiguard's quota and consumer headers with
request_headers actions (see envoy.yaml); its domain must be --domain.

Put the output in the service's RUNTIME_ROOT/RUNTIME_SUBDIRECTORY/config/
directory.

With --format envoy-gateway it writes an Envoy Gateway BackendTrafficPolicy
instead (Envoy Gateway runs the rate-limit service and configures it
itself): one global rate-limit rule per quota, selecting the quota header
exactly and the consumer header as Distinct, with the quota's limit and
shared: true, targeting the Gateway --gateway (in --namespace). Envoy
Gateway puts Wasm filters before its rate-limit filter, so the rules see
the headers apiguard sets (docs/deploy/envoy-gateway.md). Exit status: 0 written; 1 the configuration is invalid (every
problem is printed); 2 bad usage or a file cannot be read or written.
`,
	run: runRateLimitConfig,
}

func runRateLimitConfig(c *command, e *env, args []string) int {
	fs := c.newFlagSet()
	config := fs.String("config", "", "the apiguard plugin configuration (JSON); - for stdin")
	domain := fs.String("domain", ratelimitconf.DefaultDomain, "the rate-limit domain (the domain of Envoy's ratelimit filter)")
	out := fs.String("out", "", "write to this file instead of stdout")
	format := fs.String("format", "ratelimit", "ratelimit (envoyproxy/ratelimit's configuration) or envoy-gateway (a BackendTrafficPolicy)")
	gateway := fs.String("gateway", "eg", "with --format envoy-gateway: the Gateway the BackendTrafficPolicy targets")
	namespace := fs.String("namespace", "", "with --format envoy-gateway: the BackendTrafficPolicy's namespace (that of the Gateway)")
	if done, status := c.parseFlags(e, fs, args); done {
		return status
	}
	switch {
	case fs.NArg() > 0:
		return c.usageError(e, "unexpected argument "+fs.Arg(0))
	case *config == "":
		return c.usageError(e, "--config is required")
	case *domain == "" || strings.ContainsAny(*domain, " \t\r\n"):
		return c.usageError(e, "--domain must be a non-empty name without spaces")
	case *format != "ratelimit" && *format != "envoy-gateway":
		return c.usageError(e, "--format must be ratelimit or envoy-gateway")
	}
	data, err := readInput(e, *config)
	if err != nil {
		return c.errorf(e, "%v", err)
	}
	yml, p, err := ratelimitconf.Generate(data, *domain)
	if err == nil && *format == "envoy-gateway" {
		yml, err = ratelimitconf.EnvoyGatewayYAML(p, ratelimitconf.EGTarget{Namespace: *namespace, Target: *gateway})
	}
	if err != nil {
		var ce *policy.ConfigError
		if errors.As(err, &ce) {
			fmt.Fprintf(e.stderr, "%s: invalid configuration, %d problem(s):\n", *config, len(ce.Errors))
			for _, fe := range ce.Errors {
				fmt.Fprintf(e.stderr, "%s: %s\n", *config, fe.Error())
			}
			return exitFail
		}
		return c.errorf(e, "%v", err)
	}
	if len(p.Quotas()) == 0 {
		fmt.Fprintf(e.stderr, "apiguard %s: warning: %s defines no quotas; the output counts nothing\n", c.name, *config)
	}
	if *out == "" {
		_, err = e.stdout.Write(yml)
	} else {
		err = os.WriteFile(*out, yml, 0o644)
	}
	if err != nil {
		return c.errorf(e, "writing: %v", err)
	}
	return exitOK
}
