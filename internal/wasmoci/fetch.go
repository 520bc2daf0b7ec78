package wasmoci

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Extract returns the module in img the way Istio's fetcher finds it
// (istio/istio pkg/wasm/imagefetcher.go): a Docker manifest must end in a
// Docker tar+gzip layer; otherwise the compat shape (last layer OCI
// tar+gzip holding plugin.wasm) is tried, then the artifact shape (exactly
// two layers, one of them the raw module). It is here to test that what
// Image builds is what Istio takes; istio-agent, not apiguard, pulls in a
// mesh.
func Extract(img v1.Image) ([]byte, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading the manifest: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("reading the layers: %w", err)
	}
	if m.MediaType == types.DockerManifestSchema2 {
		return lastTarLayer(layers, types.DockerLayer)
	}
	wasm, errCompat := lastTarLayer(layers, types.OCILayer)
	if errCompat == nil {
		return wasm, nil
	}
	wasm, errArtifact := wasmLayer(layers)
	if errArtifact == nil {
		return wasm, nil
	}
	return nil, fmt.Errorf("neither shape Istio accepts: compat: %v; artifact: %v", errCompat, errArtifact)
}

// lastTarLayer reads plugin.wasm from the last layer, which must be a
// gzip-compressed tar of media type mt.
func lastTarLayer(layers []v1.Layer, mt types.MediaType) ([]byte, error) {
	if len(layers) == 0 {
		return nil, errors.New("no layers")
	}
	l := layers[len(layers)-1]
	got, err := l.MediaType()
	if err != nil {
		return nil, fmt.Errorf("media type of the last layer: %w", err)
	}
	if got != mt {
		return nil, fmt.Errorf("last layer is %s, want %s", got, mt)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, fmt.Errorf("reading the last layer: %w", err)
	}
	defer rc.Close()
	gz, err := gzip.NewReader(rc)
	if err != nil {
		return nil, fmt.Errorf("the last layer is not gzip: %w", err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("no %s in the last layer", CompatFileName)
		}
		if err != nil {
			return nil, fmt.Errorf("reading the tar: %w", err)
		}
		if path.Base(h.Name) == CompatFileName {
			var buf bytes.Buffer
			if _, err := io.Copy(&buf, tr); err != nil {
				return nil, fmt.Errorf("reading %s: %w", h.Name, err)
			}
			return buf.Bytes(), nil
		}
	}
}

// wasmLayer reads the raw module layer of a two-layer artifact.
func wasmLayer(layers []v1.Layer) ([]byte, error) {
	if len(layers) != 2 {
		return nil, fmt.Errorf("%d layers, want 2", len(layers))
	}
	for _, l := range layers {
		mt, err := l.MediaType()
		if err != nil {
			return nil, fmt.Errorf("media type of a layer: %w", err)
		}
		if mt != WasmLayerMediaType {
			continue
		}
		rc, err := l.Compressed() // the layer is the raw module, not compressed
		if err != nil {
			return nil, fmt.Errorf("reading the module layer: %w", err)
		}
		defer rc.Close()
		return io.ReadAll(rc)
	}
	return nil, fmt.Errorf("no layer of type %s", WasmLayerMediaType)
}
