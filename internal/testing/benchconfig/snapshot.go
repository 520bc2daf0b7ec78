package benchconfig

import (
	"strconv"

	"github.com/apiguard/apiguard/policy/keysnap"
)

// SnapshotConsumers returns the consumers of a key snapshot with nKeys
// keys in the shape of Config's: ten keys per consumer, each consumer with
// three scopes and the rate limit "gold", ids "consumer-<i>".
func SnapshotConsumers(nKeys int) []keysnap.Consumer {
	scopes := []string{"orders:read", "orders:write", "files:read"}
	cs := make([]keysnap.Consumer, 0, nKeys/10)
	for c := 0; c < nKeys/10; c++ {
		cs = append(cs, keysnap.Consumer{ID: "consumer-" + strconv.Itoa(c), Scopes: scopes, RateLimit: "gold"})
	}
	return cs
}
