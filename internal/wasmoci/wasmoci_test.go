package wasmoci

import (
	"bytes"
	"crypto/sha256"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/apiguard/apiguard/internal/wasmvm"
)

// fakeModule is a valid module header followed by bytes that make it
// recognisable.
var fakeModule = append([]byte("\x00asm\x01\x00\x00\x00"), bytes.Repeat([]byte("apiguard"), 1000)...)

// roundTrip reads the image named tag from the layout in dir, pushes it to
// an in-memory registry, pulls it back by tag as istio-agent would, and
// returns the module Istio's fetcher finds in it and the pulled digest. An
// empty tag takes the name the layout gives its one image.
func roundTrip(t *testing.T, dir, tag string) ([]byte, v1.Hash) {
	t.Helper()
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("reading the layout %s: %v", dir, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) == 1 && tag == "" {
		tag = im.Manifests[0].Annotations[RefNameAnnotation]
	}
	if len(im.Manifests) != 1 || tag == "" || im.Manifests[0].Annotations[RefNameAnnotation] != tag {
		t.Fatalf("layout index %+v: want one image named %q", im.Manifests, tag)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}

	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	ref, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://")+"/apiguard:"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("push: %v", err)
	}
	desc, err := remote.Get(ref)
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	pulled, err := desc.Image()
	if err != nil {
		t.Fatal(err)
	}
	wasm, err := Extract(pulled)
	if err != nil {
		t.Fatalf("Istio's fetcher would refuse the image: %v", err)
	}
	d, err := pulled.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if d != im.Manifests[0].Digest {
		t.Errorf("pulled digest %s, layout says %s", d, im.Manifests[0].Digest)
	}
	return wasm, d
}

// TestBothVariantsRoundTrip: each variant, written as a layout, pushed and
// pulled, gives back the module byte for byte; the digest WriteLayout
// returns is the one the registry serves (the value Istio compares sha256
// with for oci:// URLs).
func TestBothVariantsRoundTrip(t *testing.T) {
	for _, v := range []Variant{Compat, Artifact} {
		t.Run(string(v), func(t *testing.T) {
			img, err := Image(fakeModule, v, Meta{Version: "v1.2.3", Revision: "abc"})
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), "oci")
			d, err := WriteLayout(dir, img, "v1.2.3")
			if err != nil {
				t.Fatal(err)
			}
			wasm, pulled := roundTrip(t, dir, "v1.2.3")
			if sha256.Sum256(wasm) != sha256.Sum256(fakeModule) {
				t.Errorf("pulled module differs from the packed one (%d bytes, want %d)", len(wasm), len(fakeModule))
			}
			if pulled != d {
				t.Errorf("WriteLayout returned %s, the registry serves %s", d, pulled)
			}
		})
	}
}

// TestReproducible: the same module packs to the same digest, so a pinned
// sha256 stays valid when make oci runs again on the same build.
func TestReproducible(t *testing.T) {
	for _, v := range []Variant{Compat, Artifact} {
		a, _ := Image(fakeModule, v, Meta{Version: "x"})
		b, _ := Image(fakeModule, v, Meta{Version: "x"})
		da, err := a.Digest()
		if err != nil {
			t.Fatal(err)
		}
		db, _ := b.Digest()
		if da != db {
			t.Errorf("%s: digests %s and %s for the same module", v, da, db)
		}
	}
}

func TestRefusesWhatIsNotWasm(t *testing.T) {
	if _, err := Image([]byte("#!/bin/sh\n"), Compat, Meta{}); err == nil {
		t.Error("packed a shell script")
	}
	if _, err := Image(fakeModule, "docker", Meta{}); err == nil {
		t.Error("accepted an unknown variant")
	}
}

// TestMakeOCIOutput: the layout make oci wrote round-trips and carries
// build/apiguard.wasm. make test runs make oci first; go test alone skips
// when the layout is missing and says how to make it.
func TestMakeOCIOutput(t *testing.T) {
	root, err := wasmvm.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "build", "oci")
	index, err := os.Stat(filepath.Join(dir, "index.json"))
	if os.IsNotExist(err) {
		t.Skip("build/oci is missing: run make oci (make test does)")
	} else if err != nil {
		t.Fatal(err)
	}
	modulePath := filepath.Join(root, "build", "apiguard.wasm")
	built, err := os.Stat(modulePath)
	if err != nil {
		t.Fatal(err)
	}
	// A make build after make oci leaves build/oci behind the module: that
	// is the developer's loop (make check), not a wrong image; make test
	// builds both in order, so there the comparison runs.
	if index.ModTime().Before(built.ModTime()) {
		t.Skip("build/oci is older than build/apiguard.wasm: run make oci (make test does)")
	}
	module, err := os.ReadFile(modulePath)
	if err != nil {
		t.Fatal(err)
	}
	wasm, _ := roundTrip(t, dir, "")
	if got, want := sha256.Sum256(wasm), sha256.Sum256(module); got != want {
		t.Errorf("module in build/oci has sha256 %x, build/apiguard.wasm %x: run make oci", got, want)
	}
}
