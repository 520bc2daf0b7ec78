package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/apiguard/apiguard/internal/configcheck"
	"github.com/apiguard/apiguard/internal/wasmoci"
)

// minimalWasm is the smallest valid module: the magic and version 1.
var minimalWasm = []byte("\x00asm\x01\x00\x00\x00")

// TestRenderPinsToTheBuiltImage builds an image as make oci does (in
// process, through internal/wasmoci) and renders deploy/ against it: every
// template url holding the placeholder is pinned to that image's manifest
// digest, the url's sha256 field holds the same digest, nothing is left
// unpinned, and every rendered manifest validates without a pinning
// warning.
func TestRenderPinsToTheBuiltImage(t *testing.T) {
	dir := t.TempDir()
	wasm := minimalWasm
	if b, err := os.ReadFile("../../build/apiguard.wasm"); err == nil {
		wasm = b // the real module when make build ran; the digest differs, the checks do not
	}
	img, err := wasmoci.Image(wasm, wasmoci.Compat, wasmoci.Meta{Version: "test", Revision: "0000000"})
	if err != nil {
		t.Fatal(err)
	}
	ociDir := filepath.Join(dir, "oci")
	built, err := wasmoci.WriteLayout(ociDir, img, "test")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "deploy")
	const image = "ghcr.io/acme/apiguard"
	got, files, err := render(filepath.Join("..", "..", "deploy"), out, ociDir, image)
	if err != nil {
		t.Fatal(err)
	}
	if got != built {
		t.Fatalf("render pinned %s, but the layout's image is %s", got, built)
	}
	want := []string{
		"envoy-gateway/extensionpolicy.yaml", "envoy-gateway/identity-token.yaml", "higress/wasmplugin.yaml",
		"istio/ambient/trafficextension-service.yaml", "istio/ambient/trafficextension-waypoint.yaml",
		"istio/ambient/wasmplugin-service.yaml", "istio/ambient/wasmplugin-waypoint.yaml",
		"istio/identity-token.yaml", "istio/trafficextension-gateway.yaml", "istio/trafficextension.yaml",
		"istio/wasmplugin-gateway.yaml", "istio/wasmplugin.yaml",
	}
	if strings.Join(files, " ") != strings.Join(want, " ") {
		t.Errorf("pinned files:\n%v\nwant\n%v", files, want)
	}
	urlRe := regexp.MustCompile(`(?m)^( *)url: (oci://)?(\S+)$`)
	shaRe := regexp.MustCompile(`(?m)^ *sha256: (\S+)$`)
	for _, f := range files {
		text, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		tmpl, err := os.ReadFile(filepath.Join("..", "..", "deploy", f))
		if err != nil {
			t.Fatal(err)
		}
		urls := urlRe.FindAllStringSubmatch(string(text), -1)
		if n := len(urlRe.FindAllString(string(tmpl), -1)); len(urls) != 1 || n != 1 {
			t.Fatalf("%s: %d url lines rendered from %d, want 1", f, len(urls), n)
		}
		if ref := urls[0][3]; ref != image+"@"+built.String() {
			t.Errorf("%s: url %s, want %s@%s", f, ref, image, built)
		}
		shas := shaRe.FindAllStringSubmatch(string(text), -1)
		if len(shas) != 1 || shas[0][1] != built.Hex {
			t.Errorf("%s: sha256 fields %v, want one with %s", f, shas, built.Hex)
		}
		for _, line := range strings.Split(string(text), "\n") {
			if strings.Contains(line, Placeholder) && !strings.HasPrefix(strings.TrimSpace(line), "#") {
				t.Errorf("%s: placeholder left: %q", f, line)
			}
		}
		for _, doc := range configcheck.ValidateDocuments(text, configcheck.EnvoyOptions{}) {
			for _, p := range doc.Problems {
				if !p.Warning || strings.Contains(p.Msg, "sha256") {
					t.Errorf("%s: %s", f, p)
				}
			}
		}
	}
}

// TestPinReplacesAStaleSHA256: a template that already has a sha256 next
// to its url gets the new digest instead, once.
func TestPinReplacesAStaleSHA256(t *testing.T) {
	in := "spec:\n  url: oci://" + Placeholder + "\n  phase: AUTHN\n  sha256: " + strings.Repeat("0", 64) +
		"\n  nested:\n    sha256: keep\nother: 1\n"
	hex := strings.Repeat("a", 64)
	got, n := pin([]byte(in), "r.example/apiguard", hex)
	want := "spec:\n  url: oci://r.example/apiguard@sha256:" + hex + "\n  sha256: " + hex + "\n  phase: AUTHN\n" +
		"  nested:\n    sha256: keep\nother: 1\n"
	if n != 1 || string(got) != want {
		t.Errorf("pin: n=%d\n%s\nwant\n%s", n, got, want)
	}
}

// TestRenderRefusesBadInput: no layout, and an image with a tag.
func TestRenderRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := render("../../deploy", filepath.Join(dir, "out"), filepath.Join(dir, "none"), "r.example/apiguard"); err == nil ||
		!strings.Contains(err.Error(), "make oci") {
		t.Errorf("missing layout: err %v, want one that says to run make oci", err)
	}
	img, err := wasmoci.Image(minimalWasm, wasmoci.Compat, wasmoci.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wasmoci.WriteLayout(filepath.Join(dir, "oci"), img, "t"); err != nil {
		t.Fatal(err)
	}
	for _, image := range []string{"r.example/apiguard:1.0", "r.example/apiguard@sha256:00", "apiguard"} {
		if _, _, err := render("../../deploy", filepath.Join(dir, "out"), filepath.Join(dir, "oci"), image); err == nil {
			t.Errorf("-image %q accepted", image)
		}
	}
}
