package main

import (
	"bytes"
	"io"
	"io/fs"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	cranecmd "github.com/google/go-containerregistry/cmd/crane/cmd"
	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/apiguard/apiguard/internal/wasmoci"
	"github.com/apiguard/apiguard/internal/wasmvm"
)

// The push commands as the README and docs/ write them.
var (
	cranePush = regexp.MustCompile(`(?m)^\s*crane push build/oci (\S+)`)
	orasCopy  = regexp.MustCompile(`(?m)^\s*oras cp --from-oci-layout build/oci:(\S+) (\S+)`)
)

// repoRoot is the repository's root directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := wasmvm.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// versionFile returns the contents of VERSION.
func versionFile(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	v := strings.TrimSpace(string(data))
	if v == "" || strings.ContainsAny(v, " \t\n") || tagOf(v) != v {
		t.Fatalf("VERSION %q is not one word that is a valid OCI tag", v)
	}
	return v
}

// docsText returns README.md and every Markdown file under docs/, by path.
func docsText(t *testing.T) map[string]string {
	t.Helper()
	root := repoRoot(t)
	out := map[string]string{}
	add := func(path string) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, path)
		out[rel] = string(data)
	}
	add(filepath.Join(root, "README.md"))
	_ = filepath.WalkDir(filepath.Join(root, "docs"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".md") {
			add(path)
		}
		return nil
	})
	return out
}

// swapHost replaces the registry host of ref with host.
func swapHost(t *testing.T, ref, host string) string {
	t.Helper()
	i := strings.Index(ref, "/")
	if i < 0 {
		t.Fatalf("%q names no registry", ref)
	}
	return host + ref[i:]
}

// TestDocumentedPushCommands: make oci's layout (ocipack with the tag
// VERSION, as the Makefile runs it) pushed by every crane and oras command
// the README and docs/ show, as written but for the registry host, lands
// in a registry (go-containerregistry's in-memory one) under the tag the
// command names, with the layout's manifest digest, and gives back the
// module. crane runs as its own command-line code (cmd/crane/cmd); oras is
// not a Go module here, so its layout selection (the image whose
// org.opencontainers.image.ref.name is TAG) is checked and the image
// pushed with go-containerregistry.
func TestDocumentedPushCommands(t *testing.T) {
	version := versionFile(t)
	var craneRefs, orasCmds [][]string
	for file, text := range docsText(t) {
		// $(cat VERSION) in a command is the version, as the shell makes it.
		text = strings.ReplaceAll(text, "$(cat VERSION)", version)
		for _, m := range cranePush.FindAllStringSubmatch(text, -1) {
			craneRefs = append(craneRefs, []string{file, m[1]})
		}
		for _, m := range orasCopy.FindAllStringSubmatch(text, -1) {
			orasCmds = append(orasCmds, []string{file, m[1], m[2]})
		}
	}
	if len(craneRefs) == 0 {
		t.Fatal("neither README.md nor docs/ shows a `crane push build/oci REF` command")
	}

	module := append([]byte("\x00asm\x01\x00\x00\x00"), bytes.Repeat([]byte("apiguard"), 100)...)
	dir := t.TempDir()
	wasmPath := filepath.Join(dir, "apiguard.wasm")
	if err := os.WriteFile(wasmPath, module, 0o644); err != nil {
		t.Fatal(err)
	}
	layoutDir := filepath.Join(dir, "oci")
	if err := run(wasmPath, layoutDir, tagOf(version), wasmoci.Compat, wasmoci.Meta{Version: version}); err != nil {
		t.Fatal(err)
	}
	idx, err := layout.ImageIndexFromPath(layoutDir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	want := im.Manifests[0].Digest

	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	// pulled checks that ref holds the image with the module.
	pulled := func(ref string) {
		t.Helper()
		r, err := name.ParseReference(ref, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		img, err := remote.Image(r)
		if err != nil {
			t.Fatalf("pull %s: %v", ref, err)
		}
		d, _ := img.Digest()
		if d != want {
			t.Errorf("%s has digest %s, the layout %s", ref, d, want)
		}
		got, err := wasmoci.Extract(img)
		if err != nil || !bytes.Equal(got, module) {
			t.Errorf("%s: the module does not come back: %v", ref, err)
		}
	}

	for _, c := range craneRefs {
		file, ref := c[0], c[1]
		if !strings.HasSuffix(ref, ":"+version) {
			t.Errorf("%s: crane push ... %s: the tag is not VERSION (%s), the tag make oci gives the image", file, ref, version)
		}
		local := swapHost(t, ref, host)
		cmd := cranecmd.NewCmdPush(&[]crane.Option{crane.Insecure})
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(io.Discard)
		cmd.SetArgs([]string{layoutDir, local})
		if err := cmd.Execute(); err != nil {
			t.Errorf("%s: crane push %s %s: %v", file, layoutDir, local, err)
			continue
		}
		if printed := strings.TrimSpace(out.String()); !strings.HasSuffix(printed, "@"+want.String()) {
			t.Errorf("%s: crane push printed %q, want REPO@%s", file, printed, want)
		}
		pulled(local)
	}
	for _, c := range orasCmds {
		file, tag, ref := c[0], c[1], c[2]
		if tag != version || !strings.HasSuffix(ref, ":"+version) {
			t.Errorf("%s: oras cp --from-oci-layout build/oci:%s %s: the tags are not VERSION (%s)", file, tag, ref, version)
		}
		var found bool
		for _, m := range im.Manifests {
			if m.Annotations[wasmoci.RefNameAnnotation] == tag {
				found = true
				img, err := idx.Image(m.Digest)
				if err != nil {
					t.Fatal(err)
				}
				r, err := name.ParseReference(swapHost(t, ref, host), name.Insecure)
				if err != nil {
					t.Fatal(err)
				}
				if err := remote.Write(r, img); err != nil {
					t.Fatal(err)
				}
				pulled(r.String())
			}
		}
		if !found {
			t.Errorf("%s: oras cp --from-oci-layout build/oci:%s: the layout names no image %q (it has %q)",
				file, tag, tag, im.Manifests[0].Annotations[wasmoci.RefNameAnnotation])
		}
	}
}
