package main

import (
	"strings"
	"unsafe"

	"github.com/apiguard/apiguard/policy"
)

// bucketFields are the parts of a bucket's RateLimit-Policy and RateLimit
// fields that depend only on its limit and partition (policy.Fields), with
// the bucket they are of.
type bucketFields struct {
	bucket, partition string
	limit             *policy.Limit
	policy.Fields
}

// bucketFieldsCache keeps the fields of recent buckets, found by where
// their bucket key lives: bucket keys come from the compiled policy, so
// the requests of one consumer find their entry again without hashing the
// key. A miss (or a collision) builds the entry again.
type bucketFieldsCache [64]*bucketFields

// of returns the fields of bucket under limit l and partition.
func (c *bucketFieldsCache) of(bucket string, l *policy.Limit, partition string) *bucketFields {
	i := (uintptr(unsafe.Pointer(unsafe.StringData(bucket)))>>3 ^ uintptr(len(bucket))) % uintptr(len(c))
	if f := c[i]; f != nil && f.limit == l && sameString(f.bucket, bucket) && sameString(f.partition, partition) {
		return f
	}
	// Copies: the keys may be views of a key snapshot, which the cache
	// must not keep alive after a reload.
	f := &bucketFields{bucket: strings.Clone(bucket), partition: strings.Clone(partition), limit: l,
		Fields: l.Fields(partition)}
	c[i] = f
	return f
}
