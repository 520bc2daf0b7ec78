package wasmoci

import (
	"fmt"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// RefNameAnnotation names an image inside an OCI layout's index.json; oras
// (--from-oci-layout DIR:TAG) and skopeo (oci:DIR:TAG) select it by this.
const RefNameAnnotation = "org.opencontainers.image.ref.name"

// WriteLayout replaces dir with an OCI image layout holding img alone,
// named tag in the index, and returns the image's manifest digest: the
// value to pin in a WasmPlugin (url ...@sha256:<hex>, or spec.sha256).
func WriteLayout(dir string, img v1.Image, tag string) (v1.Hash, error) {
	if err := os.RemoveAll(dir); err != nil {
		return v1.Hash{}, fmt.Errorf("wasmoci: clearing %s: %w", dir, err)
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("wasmoci: creating the layout %s: %w", dir, err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{RefNameAnnotation: tag})); err != nil {
		return v1.Hash{}, fmt.Errorf("wasmoci: writing the image to %s: %w", dir, err)
	}
	d, err := img.Digest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("wasmoci: digest of the image: %w", err)
	}
	return d, nil
}
