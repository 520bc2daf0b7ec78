// Command manifests renders the manifests under deploy/ into build/deploy/
// pinned to the image make oci built (make manifests):
//
//	go run ./tools/manifests -oci build/oci -in deploy -out build/deploy -image registry.example.com/apiguard
//
// The shipped manifests name the module by the placeholder
// registry.example.com/apiguard:v0.1.0. In every "url:" line that holds it
// the reference becomes IMAGE@sha256:<digest> (keeping an oci:// scheme),
// and the url's sibling "sha256:" field is set to the same digest, added
// when missing: the image's manifest digest, which is what each API
// compares that field with for an OCI image (Istio's WasmPlugin and
// TrafficExtension: istio/istio pkg/wasm/imagefetcher.go, PrepareFetch,
// and pkg/wasm/cache.go, getOrFetch; Envoy Gateway's EnvoyExtensionPolicy
// image.sha256: envoyproxy/gateway internal/wasm/imagefetcher.go and
// cache.go at v1.9.0; Higress hands its WasmPlugin to Istio's fetcher).
// The digest is read from the OCI image layout that make oci wrote. Other
// files are copied as they are. Every rendered file is then validated
// (internal/configcheck) and any error fails the run.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/apiguard/apiguard/internal/configcheck"
)

// Placeholder is the image reference the shipped manifests use.
const Placeholder = "registry.example.com/apiguard:v0.1.0"

func main() {
	ociDir := flag.String("oci", "build/oci", "the OCI image layout make oci wrote")
	in := flag.String("in", "deploy", "the directory of manifest templates")
	out := flag.String("out", "build/deploy", "where to write the rendered manifests (replaced)")
	image := flag.String("image", "registry.example.com/apiguard", "the repository the image is pushed to (without tag)")
	flag.Parse()
	d, files, err := render(*in, *out, *ociDir, *image)
	if err != nil {
		fmt.Fprintln(os.Stderr, "manifests:", err)
		os.Exit(1)
	}
	fmt.Printf("%s: %d manifests pinned to %s@%s\n", *out, len(files), *image, d)
	for _, f := range files {
		fmt.Println("  " + f)
	}
}

// layoutDigest returns the manifest digest of the one image of an OCI
// image layout.
func layoutDigest(dir string) (v1.Hash, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("reading the OCI layout %s (run make oci): %w", dir, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("reading %s/index.json: %w", dir, err)
	}
	if len(im.Manifests) != 1 {
		return v1.Hash{}, fmt.Errorf("%s holds %d images, want exactly 1", dir, len(im.Manifests))
	}
	return im.Manifests[0].Digest, nil
}

// render writes every file under in to out, pinned to the image of the
// layout ociDir, and returns the digest and the files it pinned.
func render(in, out, ociDir, image string) (v1.Hash, []string, error) {
	d, err := layoutDigest(ociDir)
	if err != nil {
		return d, nil, err
	}
	if !strings.Contains(image, "/") || strings.ContainsAny(image, "@ \t") || strings.Contains(image[strings.LastIndex(image, "/"):], ":") {
		return d, nil, fmt.Errorf("-image %q: give the repository only (host/path), without tag or digest", image)
	}
	if err := os.RemoveAll(out); err != nil {
		return d, nil, err
	}
	var pinned []string
	var problems []string
	err = filepath.WalkDir(in, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, err := filepath.Rel(in, path)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		text, n := pin(data, image, d.Hex)
		dst := filepath.Join(out, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, text, 0o644); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		pinned = append(pinned, rel)
		for _, doc := range configcheck.ValidateDocuments(text, configcheck.EnvoyOptions{}) {
			for _, p := range configcheck.Errors(doc.Problems) {
				problems = append(problems, fmt.Sprintf("%s: %s", dst, p))
			}
		}
		return nil
	})
	if err != nil {
		return d, nil, err
	}
	if len(problems) > 0 {
		return d, pinned, errors.New("rendered manifests are invalid:\n" + strings.Join(problems, "\n"))
	}
	return d, pinned, nil
}

// urlLine matches a url field holding the placeholder: indent, optional
// oci:// scheme.
var urlLine = regexp.MustCompile(`^( *)url: *(oci://)?` + regexp.QuoteMeta(Placeholder) + ` *$`)

// sha256Line matches a sha256 field at any indent.
var sha256Line = regexp.MustCompile(`^( *)sha256:.*$`)

// pin rewrites the url lines that hold the placeholder and their sibling
// sha256 fields, and returns the text and how many urls it pinned.
func pin(data []byte, image, hex string) ([]byte, int) {
	lines := strings.SplitAfter(string(data), "\n")
	var out []string
	n := 0
	for i := 0; i < len(lines); i++ {
		m := urlLine.FindStringSubmatch(strings.TrimRight(lines[i], "\r\n"))
		if m == nil {
			out = append(out, lines[i])
			continue
		}
		n++
		indent := m[1]
		out = append(out, indent+"url: "+m[2]+image+"@sha256:"+hex+"\n", indent+"sha256: "+hex+"\n")
		// Drop a sha256 sibling further down the same mapping: the lines
		// up to the next one indented less.
		for j := i + 1; j < len(lines); j++ {
			l := strings.TrimRight(lines[j], "\r\n")
			if strings.TrimSpace(l) == "" || strings.HasPrefix(strings.TrimSpace(l), "#") {
				continue
			}
			ind := len(l) - len(strings.TrimLeft(l, " "))
			if ind < len(indent) {
				break
			}
			if sm := sha256Line.FindStringSubmatch(l); sm != nil && sm[1] == indent {
				lines = append(lines[:j], lines[j+1:]...)
				break
			}
		}
	}
	return []byte(strings.Join(out, "")), n
}
