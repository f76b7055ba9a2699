// Package static embeds the fpserver web assets: the style sheet, the page
// script that runs the initiator probes and copy buttons, and the icons.
//
// The files are served under /static/ by package web. They contain no
// request data, so they may be cached; Version gives a content hash that the
// pages append to asset URLs so a new build is never served stale assets.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
)

// files holds the embedded assets. embed.FS is read-only, so this is
// constant data rather than mutable package state.
//
//go:embed assets
var files embed.FS

// FS returns the assets with paths relative to the asset root, e.g.
// "app.css", "app.js", "favicon.svg".
func FS() fs.FS { return assetFS{} }

// assetFS is the "assets" directory of files seen as a file system root.
type assetFS struct{}

var _ fs.FS = assetFS{}

// Open implements fs.FS.
func (assetFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	return files.Open(path.Join("assets", name))
}

// Version returns the first 12 hex digits of a SHA-256 over every asset's
// path and content, in path order. It changes whenever any asset changes.
func Version() (string, error) {
	fsys := FS()
	var paths []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("static: listing assets: %w", err)
	}
	sort.Strings(paths)
	h := sha256.New()
	for _, p := range paths {
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return "", fmt.Errorf("static: reading %s: %w", p, err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}
