// KSOPS STAND-IN. THIS IS NOT KSOPS.
//
// KSOPS (github.com/viaduct-ai/kustomize-sops, image viaductoss/ksops) is served by no registry the
// offline machines reach, so lib/tools/kind-images builds this program and tags its image
// viaductoss/ksops:<pinned version> for an offline kind cluster. It keeps KSOPS's contract as the
// platform uses it, nothing more:
//
//   - `ksops install <dir>`: copies the running binary to <dir>/ksops (mode 0755) and exits 0. The
//     argo-cd repo-server's init containers run exactly `/usr/local/bin/ksops install /custom-tools`,
//     as uid 65534, with no shell in the image.
//   - `ksops <generator file>`: kustomize's legacy exec plugin call, from the kustomization's
//     directory. The generator is YAML with a `files:` list; each file is decrypted with sops's own
//     Go library (github.com/getsops/sops/v3/decrypt; the age key comes from SOPS_AGE_KEY_FILE, as
//     for sops) and printed, the documents separated by `---`. `secretFrom` is not implemented and
//     is an error. Any failure names the file and exits 1.
//
// What a render through it proves: the overlay layout, kustomize's plugin lookup, the init
// containers' copy, the age key Secret and that the committed files are encrypted to it. What it
// does NOT prove: KSOPS itself (its parsing, secretFrom, generator options, KRM mode). Compare
// lib/local/ksops-standin.sh, the local tier's shell stand-in with the same contract.
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/getsops/sops/v3/decrypt"
	"go.yaml.in/yaml/v3"
)

type generator struct {
	Files      []string `yaml:"files"`
	SecretFrom any      `yaml:"secretFrom"`
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "ksops stand-in: "+format+"\n", args...)
	os.Exit(1)
}

func install(dir string) {
	self, err := os.Executable()
	if err != nil {
		fail("cannot find the running binary: %v", err)
	}
	in, err := os.Open(self)
	if err != nil {
		fail("cannot read %s: %v", self, err)
	}
	defer in.Close()
	target := filepath.Join(dir, "ksops")
	out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		fail("cannot write %s: %v", target, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		fail("cannot copy to %s: %v", target, err)
	}
	if err := out.Close(); err != nil {
		fail("cannot write %s: %v", target, err)
	}
	if err := os.Chmod(target, 0o755); err != nil {
		fail("cannot make %s executable: %v", target, err)
	}
	fmt.Printf("ksops stand-in installed at %s\n", target)
}

func generate(file string) {
	raw, err := os.ReadFile(file)
	if err != nil {
		fail("cannot read the generator file %s: %v", file, err)
	}
	var gen generator
	if err := yaml.Unmarshal(raw, &gen); err != nil {
		fail("the generator file %s is not YAML: %v", file, err)
	}
	if gen.SecretFrom != nil {
		fail("the generator in %s uses secretFrom, which this stand-in does not implement", file)
	}
	if !strings.Contains(string(raw), "files:") {
		fail("the generator in %s has no files: key", file)
	}
	cwd, _ := os.Getwd()
	var docs []string
	for _, path := range gen.Files {
		if _, err := os.Stat(path); err != nil {
			fail("%s: no such file (listed in the generator; paths are relative to %s)", path, cwd)
		}
		clear, err := decrypt.File(path, "")
		if err != nil {
			fail("sops could not decrypt %s: %v", path, err)
		}
		docs = append(docs, strings.TrimRight(string(clear), "\n")+"\n")
	}
	fmt.Print(strings.Join(docs, "---\n"))
}

func main() {
	args := os.Args[1:]
	switch {
	case len(args) == 2 && args[0] == "install":
		install(args[1])
	case len(args) == 1 && args[0] != "install":
		generate(args[0])
	default:
		fail("usage: ksops install <dir> | ksops <generator file> (this is a STAND-IN, not KSOPS)")
	}
}
