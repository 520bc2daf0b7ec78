// Package wasmoci packs a Wasm module as an OCI image that Istio's
// WasmPlugin can pull (oci://...), and writes it as an OCI image layout that
// crane, oras or skopeo push to a registry.
//
// Istio's fetcher (istio/istio pkg/wasm/imagefetcher.go, PrepareFetch)
// accepts three shapes, tried in this order:
//
//   - a Docker image (manifest application/vnd.docker.distribution.manifest.v2+json)
//     whose last layer is application/vnd.docker.image.rootfs.diff.tar.gzip
//     holding a file named plugin.wasm;
//   - the "compat" variant: an OCI image whose last layer is
//     application/vnd.oci.image.layer.v1.tar+gzip holding plugin.wasm;
//   - the "oci" (artifact) variant: exactly two layers, one of them
//     application/vnd.module.wasm.content.layer.v1+wasm, the raw module.
//
// Compat is the default here: any OCI registry stores it, and it is the
// first OCI shape Istio tries. Artifact follows the two-layer shape Istio's
// own test builds (pkg/wasm/imagefetcher_test.go): the module layer and a
// application/vnd.module.wasm.config.v1+json layer.
package wasmoci

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media types of the artifact variant, and the file name of the compat one.
const (
	WasmLayerMediaType  types.MediaType = "application/vnd.module.wasm.content.layer.v1+wasm"
	WasmConfigMediaType types.MediaType = "application/vnd.module.wasm.config.v1+json"
	CompatFileName                      = "plugin.wasm"
)

// Variant is the shape of the image.
type Variant string

// The variants Istio's fetcher accepts that this package builds.
const (
	Compat   Variant = "compat"
	Artifact Variant = "artifact"
)

// Meta is what the image says about the module, as OCI annotations.
type Meta struct {
	Version  string // org.opencontainers.image.version
	Revision string // org.opencontainers.image.revision (the commit)
}

// Image returns the module as an image of the given variant. The image is
// reproducible: the same module and meta give the same manifest digest.
func Image(wasm []byte, v Variant, m Meta) (v1.Image, error) {
	if len(wasm) < 4 || !bytes.Equal(wasm[:4], []byte("\x00asm")) {
		return nil, fmt.Errorf("wasmoci: not a Wasm module (no \\0asm magic)")
	}
	var img v1.Image
	var err error
	switch v {
	case Compat:
		img, err = compatImage(wasm)
	case Artifact:
		img, err = artifactImage(wasm, m)
	default:
		return nil, fmt.Errorf("wasmoci: unknown variant %q (want %s or %s)", v, Compat, Artifact)
	}
	if err != nil {
		return nil, err
	}
	anns := map[string]string{"org.opencontainers.image.title": CompatFileName}
	if m.Version != "" {
		anns["org.opencontainers.image.version"] = m.Version
	}
	if m.Revision != "" {
		anns["org.opencontainers.image.revision"] = m.Revision
	}
	return mutate.Annotations(img, anns).(v1.Image), nil
}

// compatImage: one tar+gzip layer holding plugin.wasm, in an OCI manifest.
func compatImage(wasm []byte) (v1.Image, error) {
	tarBytes, err := tarOf(CompatFileName, wasm)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(tarBytes)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("wasmoci: making the layer: %w", err)
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return nil, fmt.Errorf("wasmoci: adding the layer: %w", err)
	}
	return img, nil
}

// artifactImage: the raw module layer and a Wasm config layer.
func artifactImage(wasm []byte, m Meta) (v1.Image, error) {
	cfg, err := json.Marshal(map[string]string{"version": m.Version, "revision": m.Revision})
	if err != nil {
		return nil, fmt.Errorf("wasmoci: encoding the config layer: %w", err)
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), WasmConfigMediaType)
	img, err := mutate.Append(base,
		mutate.Addendum{Layer: static.NewLayer(wasm, WasmLayerMediaType)},
		mutate.Addendum{Layer: static.NewLayer(cfg, WasmConfigMediaType)})
	if err != nil {
		return nil, fmt.Errorf("wasmoci: adding the layers: %w", err)
	}
	return img, nil
}

// tarOf returns a tar archive holding one file, with fixed metadata so that
// the archive depends on the content only.
func tarOf(name string, data []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, fmt.Errorf("wasmoci: writing the tar header: %w", err)
	}
	if _, err := tw.Write(data); err != nil {
		return nil, fmt.Errorf("wasmoci: writing the tar: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("wasmoci: closing the tar: %w", err)
	}
	return buf.Bytes(), nil
}
