package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"time"
)

var echoUpstreamCmd = &command{
	name:     "echo-upstream",
	synopsis: "echo-upstream [--listen 127.0.0.1:8080]",
	summary:  "serve an upstream that echoes each request as JSON (demo, development)",
	help: `
Echo-upstream is the upstream of the Envoy demo (make run): it answers every
request with 200 and a JSON object of the method, path and headers it
received, so that you can see what the filter forwarded: the identity
headers it set, the credential it removed, the pagination it rewrote. It
logs nothing. Stop it with Ctrl-C.
`,
	run: runEchoUpstream,
}

// echoed is the body of an echo-upstream response.
type echoed struct {
	Method  string              `json:"method"`
	Path    string              `json:"path"`
	Headers map[string][]string `json:"headers"`
}

func runEchoUpstream(c *command, e *env, args []string) int {
	fs := c.newFlagSet()
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on")
	if done, status := c.parseFlags(e, fs, args); done {
		return status
	}
	if fs.NArg() > 0 {
		return c.usageError(e, "unexpected arguments: "+strings.Join(fs.Args(), " "))
	}
	srv := &http.Server{
		Addr:              *listen,
		Handler:           http.HandlerFunc(echo),
		ReadHeaderTimeout: 10 * time.Second,
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	go func() {
		<-stop
		srv.Close()
	}()
	fmt.Fprintf(e.stderr, "apiguard echo-upstream: listening on http://%s\n", *listen)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return c.errorf(e, "%v", err)
	}
	return exitOK
}

// echo answers with the request it received.
func echo(w http.ResponseWriter, r *http.Request) {
	out := echoed{Method: r.Method, Path: r.URL.RequestURI(), Headers: map[string][]string{}}
	names := make([]string, 0, len(r.Header))
	for name := range r.Header {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		out.Headers[strings.ToLower(name)] = r.Header[name]
	}
	w.Header().Set("content-type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(out)
}
