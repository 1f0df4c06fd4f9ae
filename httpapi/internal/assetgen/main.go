// Command assetgen makes the static files that apexd embeds (httpapi/static):
//
//	assetgen dsfr -package DIR -source httpapi -out httpapi/static/dsfr
//
// writes the part of the DSFR that the pages use, out of its npm package
// unpacked in DIR (make dsfr fetches it): one stylesheet and one script,
// the fonts and icons the stylesheet names, each font's Latin subset (by
// fontTools' pyftsubset), the favicon and the licence.
//
//	assetgen compress DIR
//
// writes beside every text file of DIR its gzip (.gz) and brotli (.br)
// forms, which apexd serves to the browsers that accept them, and removes
// those whose file is gone (go generate ./httpapi runs it).
package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/andybalholm/brotli"

	"github.com/dgfip/apex-partenaires/httpapi/internal/dsfr"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "assetgen:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: assetgen dsfr -package DIR -source DIR -out DIR | assetgen compress DIR")
	}
	switch args[0] {
	case "dsfr":
		fs := flag.NewFlagSet("dsfr", flag.ContinueOnError)
		pkg := fs.String("package", "", "the unpacked npm package @gouvfr/dsfr (holds package.json and dist/)")
		source := fs.String("source", "httpapi", "the folder whose templates/ and Go files emit the classes")
		out := fs.String("out", "httpapi/static/dsfr", "where to write the bundle")
		subsetter := fs.String("pyftsubset", "pyftsubset", "fontTools' subsetter, which makes the fonts' Latin subsets")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *pkg == "" {
			return errors.New("dsfr: -package is required")
		}
		return writeDSFR(*pkg, *source, *out, *subsetter)
	case "compress":
		if len(args) != 2 {
			return errors.New("usage: assetgen compress DIR")
		}
		return compressTree(args[1])
	}
	return fmt.Errorf("unknown command %q", args[0])
}

// writeDSFR replaces out with the bundle of the classes that source uses.
func writeDSFR(pkg, source, out, subsetter string) error {
	used, err := dsfr.Used(os.DirFS(source))
	if err != nil {
		return err
	}
	b, err := dsfr.Build(pkg, used)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	dist := filepath.Join(pkg, "dist")
	copies := map[string]string{
		"LICENSE.md":          filepath.Join(pkg, "LICENSE.md"),
		"favicon/favicon.svg": filepath.Join(dist, "favicon/favicon.svg"),
		"favicon/favicon.ico": filepath.Join(dist, "favicon/favicon.ico"),
	}
	for _, f := range b.Files {
		copies[f] = filepath.Join(dist, f)
	}
	for to, from := range copies {
		src, err := os.ReadFile(from)
		if err != nil {
			return err
		}
		if err := write(filepath.Join(out, to), src); err != nil {
			return err
		}
	}
	// Each font's Latin subset, hinting kept (Windows renders with it).
	err = b.SplitFonts(func(file string) (string, error) {
		latin := strings.TrimSuffix(file, ".woff2") + "-latin.woff2"
		cmd := exec.Command(subsetter, filepath.Join(dist, file), "--unicodes="+dsfr.Latin, "--flavor=woff2",
			"--layout-features=*", "--output-file="+filepath.Join(out, latin))
		if msg, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("%s: %w\n%s", subsetter, err, msg)
		}
		return latin, nil
	})
	if err != nil {
		return err
	}
	// The version, and what of it the bundle holds.
	version := fmt.Sprintf("@gouvfr/dsfr %s\nparts: %s\nunstyled: %s\n", b.Version, strings.Join(b.Parts, ", "), strings.Join(b.Unstyled, ", "))
	if err := write(filepath.Join(out, "VERSION"), []byte(version)); err != nil {
		return err
	}
	if err := write(filepath.Join(out, "dsfr.min.css"), []byte(b.CSS)); err != nil {
		return err
	}
	if err := write(filepath.Join(out, "dsfr.module.min.js"), []byte(b.JS)); err != nil {
		return err
	}
	for _, c := range used.Sorted() {
		owner := b.Owners[c]
		if owner == "" {
			owner = "(no part of the DSFR styles it: a hook of its markup, or a typo?)"
		}
		fmt.Printf("%-40s %s\n", c, owner)
	}
	fmt.Printf("DSFR %s: %s (%d bytes of styles, %d of scripts, %d files)\n", b.Version, strings.Join(b.Parts, ", "), len(b.CSS), len(b.JS), len(b.Files))
	return nil
}

func write(name string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	return os.WriteFile(name, data, 0o644)
}

// compressible are the kinds of files worth compressing: text. Fonts in
// WOFF and WOFF2 and PNG images are compressed already.
var compressible = map[string]bool{".css": true, ".js": true, ".svg": true, ".ico": true, ".md": true, ".txt": true, ".json": true}

// compressTree writes NAME.gz and NAME.br beside every compressible file
// of dir that they make smaller, and removes the others.
func compressTree(dir string) error {
	var stale []string
	err := filepath.WalkDir(dir, func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if ext := filepath.Ext(name); ext == ".gz" || ext == ".br" {
			if _, err := os.Stat(strings.TrimSuffix(name, ext)); errors.Is(err, fs.ErrNotExist) {
				stale = append(stale, name)
			}
			return nil
		}
		src, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		for _, enc := range []struct {
			ext      string
			compress func([]byte) ([]byte, error)
		}{{".gz", gzipped}, {".br", brotlied}} {
			var out []byte
			if compressible[filepath.Ext(name)] {
				if out, err = enc.compress(src); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
			}
			if out == nil || len(out) >= len(src) {
				if err := os.Remove(name + enc.ext); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return err
				}
				continue
			}
			if old, err := os.ReadFile(name + enc.ext); err == nil && bytes.Equal(old, out) {
				continue
			}
			if err := os.WriteFile(name+enc.ext, out, 0o644); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, name := range stale {
		if err := os.Remove(name); err != nil {
			return err
		}
	}
	return nil
}

// gzipped is src at gzip's best compression, with no name nor time in its
// header, so that the same file always gives the same bytes.
func gzipped(src []byte) ([]byte, error) {
	var b bytes.Buffer
	w, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(src); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// brotlied is src at brotli's best compression.
func brotlied(src []byte) ([]byte, error) {
	var b bytes.Buffer
	w := brotli.NewWriterLevel(&b, brotli.BestCompression)
	if _, err := io.Copy(w, bytes.NewReader(src)); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
