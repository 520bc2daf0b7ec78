// Command server is the key store of examples/key-store: it serves one
// file, a key snapshot, over HTTP as an object store would, for a filter
// whose key_store names it:
//
//	go run ./examples/key-store/server -listen 127.0.0.1:8090 -file build/key-store/keys.snap -path /keys.snap
//
// GET and HEAD of -path answer with the file, an ETag (the SHA-256 of its
// content, so that a refresh of an unchanged snapshot is a 304), and
// support for Range and If-Range (so that the filter can fetch a large
// snapshot in ranges). The file is read at every request, so a snapshot
// rebuilt in place (apiguard keys build renames the new file into place) is
// served at once. Before the file exists the answer is 503; any other path
// is 404. One log line per request goes to stderr.
//
// It is a demo and test tool: in production, serve the snapshot from any
// HTTP server or object store, over TLS when it leaves the host.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"net/http"
	"os"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8090", "the address to listen on")
	file := flag.String("file", "build/key-store/keys.snap", "the snapshot file to serve")
	path := flag.String("path", "/keys.snap", "the request path the snapshot is served at")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: server [-listen ADDR] [-file FILE] [-path /PATH]")
		os.Exit(2)
	}
	srv := &http.Server{Addr: *listen, Handler: logged(snapshotHandler(*file, *path)), ReadHeaderTimeout: 5 * time.Second}
	log.Printf("key store: serving %s at http://%s%s", *file, *listen, *path)
	if err := srv.ListenAndServe(); err != nil {
		log.Fatal(err)
	}
}

// snapshotHandler serves the file at path.
func snapshotHandler(file, path string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		data, err := os.ReadFile(file)
		if err != nil {
			status := http.StatusInternalServerError
			if errors.Is(err, fs.ErrNotExist) {
				status = http.StatusServiceUnavailable
			}
			http.Error(w, "no snapshot to serve yet", status)
			return
		}
		sum := sha256.Sum256(data)
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:16])+`"`)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Cache-Control", "no-cache")
		// ServeContent answers If-None-Match (304), Range (206) and
		// If-Range from the ETag set above.
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	})
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// logged logs one line per request: method, path, range, status.
func logged(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		rng := ""
		if v := r.Header.Get("Range"); v != "" {
			rng = " " + v
		}
		log.Printf("%s %s%s: %d", r.Method, r.URL.Path, rng, sw.status)
	})
}
