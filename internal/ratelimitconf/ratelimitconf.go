// Package ratelimitconf writes the envoyproxy/ratelimit service's
// configuration for the quotas of an apiguard configuration, and names the
// descriptor that Envoy's rate_limits actions and that configuration share.
//
// The descriptor of a request is two entries, in this order:
//
//	(DescriptorQuota,    value of the quota header:    the quota name)
//	(DescriptorConsumer, value of the consumer header: the consumer id)
//
// Envoy builds it with two request_headers actions (see envoy.yaml). The
// service configuration has one descriptor per quota, keyed by its name,
// with a nested consumer descriptor without a value, so that the service
// counts every consumer of a quota apart.
package ratelimitconf

import (
	"bytes"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/apiguard/apiguard/policy"
)

// Descriptor keys, the descriptor_key of Envoy's request_headers actions.
const (
	DescriptorQuota    = "apiguard_quota"
	DescriptorConsumer = "apiguard_consumer"
)

// DefaultDomain is the rate-limit domain of apiguard's quotas: the domain
// of Envoy's ratelimit filter and of the service configuration.
const DefaultDomain = "apiguard"

// File is an envoyproxy/ratelimit configuration file, with only the fields
// apiguard writes.
type File struct {
	Domain      string       `yaml:"domain"`
	Descriptors []Descriptor `yaml:"descriptors"`
}

// Descriptor is one descriptor level of File.
type Descriptor struct {
	Key         string       `yaml:"key"`
	Value       string       `yaml:"value,omitempty"`
	RateLimit   *RateLimit   `yaml:"rate_limit,omitempty"`
	Descriptors []Descriptor `yaml:"descriptors,omitempty"`
}

// RateLimit is the limit of a Descriptor.
type RateLimit struct {
	Name            string `yaml:"name,omitempty"`
	Unit            string `yaml:"unit"`
	RequestsPerUnit int64  `yaml:"requests_per_unit"`
}

// ForPolicy returns the service configuration for the quotas of p in
// domain, one descriptor per quota in name order.
func ForPolicy(p *policy.Policy, domain string) File {
	f := File{Domain: domain, Descriptors: []Descriptor{}}
	for _, q := range p.Quotas() {
		f.Descriptors = append(f.Descriptors, Descriptor{
			Key:   DescriptorQuota,
			Value: q.Name,
			Descriptors: []Descriptor{{
				Key:       DescriptorConsumer,
				RateLimit: &RateLimit{Name: q.Name, Unit: q.Per, RequestsPerUnit: q.Requests},
			}},
		})
	}
	return f
}

// YAML encodes f, with a comment saying where it comes from.
func (f File) YAML() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# envoyproxy/ratelimit configuration written by `apiguard ratelimit-config`\n" +
		"# from the quotas of an apiguard configuration. Do not edit: regenerate it.\n" +
		"# Descriptor: (" + DescriptorQuota + ", quota name), (" + DescriptorConsumer + ", consumer id),\n" +
		"# built by Envoy's request_headers actions from apiguard's quota and consumer headers.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return nil, fmt.Errorf("encoding the ratelimit configuration: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Generate compiles the apiguard configuration and returns the service
// configuration of its quotas in domain. A configuration the filter would
// refuse is an error (a *policy.ConfigError).
func Generate(config []byte, domain string) ([]byte, *policy.Policy, error) {
	p, err := policy.Compile(config)
	if err != nil {
		return nil, nil, err
	}
	out, err := ForPolicy(p, domain).YAML()
	return out, p, err
}
