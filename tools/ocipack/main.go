// Command ocipack writes build/apiguard.wasm as an OCI image layout that
// Istio's WasmPlugin can pull once it is pushed to a registry (make oci):
//
//	go run ./tools/ocipack -wasm build/apiguard.wasm -out build/oci [-tag v0.1.0] [-variant compat|artifact]
//
// The tag defaults to the contents of the file VERSION in the working
// directory (the repository's root, where make runs it), the version every
// build embeds.
//
// It prints the image's manifest digest (the sha256 to pin in the
// WasmPlugin for an oci:// url) and the module's sha256. See package
// internal/wasmoci for the image shapes.
package main

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/apiguard/apiguard/internal/wasmoci"
)

func main() {
	wasmPath := flag.String("wasm", "build/apiguard.wasm", "the module to pack")
	out := flag.String("out", "build/oci", "directory of the OCI image layout (replaced)")
	tag := flag.String("tag", "", "name of the image in the layout (the tag to push it as; default: the file VERSION); characters a tag cannot hold become _")
	variant := flag.String("variant", string(wasmoci.Compat), "image shape: compat (one tar+gzip layer) or artifact (Wasm media types)")
	version := flag.String("version", "", "org.opencontainers.image.version annotation")
	revision := flag.String("revision", "", "org.opencontainers.image.revision annotation")
	flag.Parse()
	if *tag == "" {
		v, err := os.ReadFile("VERSION")
		if err != nil {
			fmt.Fprintln(os.Stderr, "ocipack: no -tag and no VERSION file:", err)
			os.Exit(1)
		}
		*tag = strings.TrimSpace(string(v))
	}
	if err := run(*wasmPath, *out, tagOf(*tag), wasmoci.Variant(*variant), wasmoci.Meta{Version: *version, Revision: *revision}); err != nil {
		fmt.Fprintln(os.Stderr, "ocipack:", err)
		os.Exit(1)
	}
}

// tagOf makes s a valid OCI tag ([A-Za-z0-9_][A-Za-z0-9._-]{0,127}), so that
// any git describe output (a '+', a '/' in a tag name) can name the image.
func tagOf(s string) string {
	t := invalidTagChar.ReplaceAllString(s, "_")
	if t == "" || t[0] == '.' || t[0] == '-' {
		t = "_" + t
	}
	if len(t) > 128 {
		t = t[:128]
	}
	return t
}

var invalidTagChar = regexp.MustCompile(`[^A-Za-z0-9._-]`)

func run(wasmPath, out, tag string, v wasmoci.Variant, m wasmoci.Meta) error {
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		return fmt.Errorf("reading the module: %w", err)
	}
	img, err := wasmoci.Image(wasm, v, m)
	if err != nil {
		return fmt.Errorf("%s: %w", wasmPath, err)
	}
	d, err := wasmoci.WriteLayout(out, img, tag)
	if err != nil {
		return err
	}
	fmt.Printf("%s: OCI image layout (%s variant), image %q\n", out, v, tag)
	fmt.Printf("  manifest digest %s  (pin: url oci://REGISTRY/apiguard@%s, or sha256: %s)\n", d, d, d.Hex)
	fmt.Printf("  module sha256   %x  (%s)\n", sha256.Sum256(wasm), wasmPath)
	return nil
}
